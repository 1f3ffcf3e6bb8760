//! `policyc diff`: the change in effective permissions between two versions of policies,
//! from two files or folders, or from a git revision and the working tree. The diff itself
//! is `policyc_verify::diff`; this file finds and compiles the two sides.

use super::diff_artifacts::{self, SidePolicy};
use crate::inputs;
use crate::output::{print_diagnostics, print_usage_error, ErrorFormat, Status};
use policyc_compiler::{compile, Compiled, Diagnostics, Severity, SourceMap};
use policyc_verify::diff::render::{render, Format};
use policyc_verify::diff::{self, Input, Report};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Show what the agent may do after a change that it could not do before, and what it no
/// longer may: per policy, paths, endpoints, DNS names, syscalls, tokens, limits,
/// isolation, threats and audit, decided by the reference semantics. Exits 0 when nothing
/// widens, 1 when something does (see `--fail-on`), 2 on usage errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// OLD and NEW (files or folders); with `--git`, the paths to compare (default: `.`).
    paths: Vec<PathBuf>,
    /// Compare the policies at this git revision (read with `git show REV:path`) with the
    /// working tree.
    #[arg(long, value_name = "REV")]
    git: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    format: DiffFormat,
    /// What makes the exit status 1: any widening change, only a change against a threat
    /// the policy declares, or nothing.
    #[arg(long, value_enum, default_value_t = FailOn::Widen)]
    fail_on: FailOn,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also build both sides' policies in memory and show a unified diff of every emitted
    /// artifact that changed, per policy and target, each hunk naming the rules
    /// (`file:line`, old and new) of the lines it changes. With `--format json` the output
    /// is `{"permissions": ..., "artifacts": [...]}`; markdown folds each diff; not with
    /// `--format sarif`.
    #[arg(long)]
    artifacts: bool,
    /// With `--artifacts`: the home directory `~` stands for in the artifacts.
    #[command(flatten)]
    home: super::Home,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Text for a terminal.
    Human,
    /// A pull-request comment: summary table, widening first, collapsible details.
    Markdown,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Widen,
    Threat,
    None,
}

/// One compiled side: each file's policies and sources.
type Compiled1 = Vec<(Compiled, SourceMap)>;

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let sides = match &args.git {
        Some(rev) => git_sides(rev, &args.paths, format),
        None => match args.paths.as_slice() {
            [old, new] => folder_sides(old, new, format),
            _ => {
                print_usage_error(
                    "give OLD and NEW (files or folders), or `--git REV [PATH...]`",
                    format,
                );
                return Status::Usage;
            }
        },
    };
    if args.artifacts && args.format == DiffFormat::Sarif {
        print_usage_error(
            "`--artifacts` shows text diffs, which SARIF has no place for; use `--format human`, `markdown` or `json`",
            format,
        );
        return Status::Usage;
    }
    let Ok((old, new)) = sides else {
        return Status::Usage;
    };
    let report = diff::diff(&inputs(&old), &inputs(&new));
    let mut text = render(&report, args.format.into());
    if args.artifacts {
        let ctx = args.home.ctx();
        let diffs = diff_artifacts::diff(&pairs(&old, &new), &ctx);
        text = match args.format {
            DiffFormat::Json => {
                let permissions: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or_default();
                let doc = serde_json::json!({ "permissions": permissions, "artifacts": diffs });
                let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
                s.push('\n');
                s
            }
            DiffFormat::Markdown => text + &diff_artifacts::render_markdown(&diffs),
            _ => text + "\n" + &diff_artifacts::render_text(&diffs),
        };
    }
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                crate::output::print_io_error(path, "write", &e, format);
                return Status::Usage;
            }
        }
        None => print!("{text}"),
    }
    status(&report, args.fail_on)
}

impl From<DiffFormat> for Format {
    fn from(f: DiffFormat) -> Format {
        match f {
            DiffFormat::Human => Format::Human,
            DiffFormat::Markdown => Format::Markdown,
            DiffFormat::Json => Format::Json,
            DiffFormat::Sarif => Format::Sarif,
        }
    }
}

fn status(report: &Report, fail_on: FailOn) -> Status {
    let failed = match fail_on {
        FailOn::Widen => report.widens(),
        FailOn::Threat => report.violates_threat(),
        FailOn::None => false,
    };
    if failed {
        Status::Failed
    } else {
        Status::Ok
    }
}

/// The diff's view of one compiled side.
fn inputs(side: &Compiled1) -> Vec<Input<'_>> {
    side.iter()
        .map(|(c, s)| Input {
            policies: &c.policies,
            sources: s,
        })
        .collect()
}

/// Each policy name either side has, sorted, with its policy on each side.
fn pairs<'a>(
    old: &'a Compiled1,
    new: &'a Compiled1,
) -> Vec<(Option<SidePolicy<'a>>, Option<SidePolicy<'a>>)> {
    let index = |side: &'a Compiled1| {
        let mut out = std::collections::BTreeMap::new();
        for (c, sources) in side {
            for policy in &c.policies {
                out.entry(policy.name.clone())
                    .or_insert(SidePolicy { policy, sources });
            }
        }
        out
    };
    let (mut o, mut n) = (index(old), index(new));
    let mut names: Vec<String> = o.keys().chain(n.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| (o.remove(&name), n.remove(&name)))
        .collect()
}

/// Compile one file's text, with the module paths of the file at `path` (its working-tree
/// `policyc.toml` and `--lib`); print its errors (not its warnings: the diff is about
/// effect). `None` when it has errors.
fn compile_text(
    name: String,
    path: &Path,
    text: String,
    format: ErrorFormat,
) -> Option<(Compiled, SourceMap)> {
    let loader = inputs::loader(path, format)?;
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &loader);
    if out.diagnostics.has_errors() {
        let errors = out
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .cloned()
            .collect();
        print_diagnostics(&Diagnostics(errors), &sources, format);
        return None;
    }
    Some((out, sources))
}

/// Compile files read from disk.
fn compile_files(files: &[PathBuf], format: ErrorFormat) -> Result<Compiled1, ()> {
    let mut out = Vec::new();
    let mut ok = true;
    for f in files {
        let compiled = inputs::read(f, format)
            .and_then(|text| compile_text(inputs::display(f), f, text, format));
        match compiled {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    if ok {
        Ok(out)
    } else {
        Err(())
    }
}

fn folder_sides(old: &Path, new: &Path, format: ErrorFormat) -> Result<(Compiled1, Compiled1), ()> {
    let old_files = inputs::collect(&[old.to_path_buf()], format)?;
    let new_files = inputs::collect(&[new.to_path_buf()], format)?;
    Ok((
        compile_files(&old_files, format)?,
        compile_files(&new_files, format)?,
    ))
}

/// Run git and return its stdout, or print why it failed.
fn git(args: &[&str], format: ErrorFormat) -> Result<Vec<u8>, ()> {
    match Command::new("git").args(args).output() {
        Ok(o) if o.status.success() => Ok(o.stdout),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            print_usage_error(
                &format!("`git {}` failed: {}", args.join(" "), why.trim()),
                format,
            );
            Err(())
        }
        Err(e) => {
            print_usage_error(&format!("cannot run git: {e}"), format);
            Err(())
        }
    }
}

fn git_sides(
    rev: &str,
    paths: &[PathBuf],
    format: ErrorFormat,
) -> Result<(Compiled1, Compiled1), ()> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    git(
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        format,
    )?;
    let mut ls = vec!["ls-tree", "-r", "--name-only", "-z", rev, "--"];
    let shown: Vec<String> = paths.iter().map(|p| inputs::display(p)).collect();
    ls.extend(shown.iter().map(String::as_str));
    let listed = git(&ls, format)?;
    let mut old = Vec::new();
    let mut ok = true;
    for name in listed
        .split(|b| *b == 0)
        .filter(|n| n.ends_with(b".policy"))
    {
        let name = String::from_utf8_lossy(name).into_owned();
        let bytes = git(&["show", &format!("{rev}:./{name}")], format)?;
        let Ok(text) = String::from_utf8(bytes) else {
            print_usage_error(&format!("`{rev}:{name}` is not UTF-8 text"), format);
            ok = false;
            continue;
        };
        match compile_text(format!("{rev}:{name}"), Path::new(&name), text, format) {
            Some(c) => old.push(c),
            None => ok = false,
        }
    }
    let existing: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
    let new_files: Vec<PathBuf> = if existing.is_empty() {
        Vec::new()
    } else {
        inputs::collect(&existing, format).unwrap_or_default()
    };
    // Named as `git ls-tree` names the old side: `policies/a.policy`, not `./policies/...`.
    let new_files: Vec<PathBuf> = new_files
        .into_iter()
        .map(|f| f.strip_prefix(".").map(Path::to_path_buf).unwrap_or(f))
        .collect();
    let new = compile_files(&new_files, format);
    if !ok {
        return Err(());
    }
    Ok((old, new?))
}
