//! `policyc diff`: the change in effective permissions between two versions of policies,
//! from two files or folders, or from a git revision and the working tree. The diff itself
//! is `policyc_verify::diff`; this file finds and compiles the two sides.

use super::diff_artifacts::{self, SidePolicy};
use super::diff_builds::{self, Build};
use super::diff_effect::{self, EffectReport, Sampling};
use super::diff_effect_render;
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
    /// Compare the emitted artifacts too. `--artifacts` (or `--artifacts=effect`): by their
    /// simulators: each target's simulator reads the OLD and NEW artifacts and answers
    /// requests drawn from both versions' test blocks and adversarial requests (at most
    /// `--samples`, picked by `--seed`); every request a layer now allows that it denied
    /// before (or the reverse) is listed with what the policy's reference decision did, and
    /// a change the policy did not make is drift. The artifacts are those of `--build`
    /// folders, or else both sides' policies built in memory. `--artifacts=text`: a
    /// unified diff of every artifact's text, each hunk naming its rules (not with SARIF).
    /// With `--format json` the output is `{"permissions": ..., "artifacts": ...}`.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "effect", value_name = "VIEW")]
    artifacts: Option<ArtifactsView>,
    /// A build folder (what `policyc build --out` wrote) to compare by simulation: give it
    /// twice (OLD, then NEW) with two policy paths, or once with `--git REV` (the folder at
    /// REV against the working tree's; skipped, with a note, when REV has no such folder).
    /// Implies `--artifacts`.
    #[arg(long = "build", value_name = "DIR")]
    builds: Vec<PathBuf>,
    /// With `--artifacts`: at most this many requests per policy (every test request is
    /// always asked; the adversarial ones are sampled when there are more).
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    /// With `--artifacts`: the seed that picks the sampled requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
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

/// `--artifacts=VIEW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArtifactsView {
    /// What the artifacts allow and deny, by their simulators.
    Effect,
    /// A unified diff of the artifacts' text.
    Text,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any change that widens what the agent may do, or (with `--artifacts`) any layer
    /// that now denies less.
    Widen,
    /// A widening change against a threat the policy declares, or (with `--artifacts`) a
    /// layer that now allows what its policy did not newly allow (drift).
    Threat,
    /// Nothing: always exit 0 unless the inputs are wrong.
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
    let view = args
        .artifacts
        .or_else(|| (!args.builds.is_empty()).then_some(ArtifactsView::Effect));
    if let Err(why) = usage(args, view) {
        print_usage_error(why, format);
        return Status::Usage;
    }
    let Ok((old, new)) = sides else {
        return Status::Usage;
    };
    let report = diff::diff(&inputs(&old), &inputs(&new));
    let mut text = render(&report, args.format.into());
    let mut effect = None;
    match view {
        Some(ArtifactsView::Text) => text = with_text_diffs(args, text, &old, &new),
        Some(ArtifactsView::Effect) => {
            let Ok(e) = effect_report(args, &old, &new, format) else {
                return Status::Usage;
            };
            if let Some(e) = &e {
                text = with_effect(args.format, text, e);
            }
            effect = e;
        }
        None => {}
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
    status(&report, effect.as_ref(), args.fail_on)
}

/// Why the flags do not go together, if they do not.
fn usage(args: &Args, view: Option<ArtifactsView>) -> Result<(), &'static str> {
    if view == Some(ArtifactsView::Text) && args.format == DiffFormat::Sarif {
        return Err("`--artifacts=text` shows text diffs, which SARIF has no place for; use `--format human`, `markdown` or `json`, or `--artifacts` (by simulation)");
    }
    if view == Some(ArtifactsView::Text) && !args.builds.is_empty() {
        return Err("`--build` folders are compared by simulation; drop `=text`");
    }
    match (args.git.is_some(), args.builds.len()) {
        (_, 0) | (true, 1) | (false, 2) => Ok(()),
        (true, _) => Err("with `--git REV`, give `--build DIR` once: the folder at REV is compared with the working tree's"),
        (false, _) => Err("give `--build OLD --build NEW`: two build folders, in the order of the policy paths"),
    }
}

/// The permission diff followed by the text diffs of the artifacts.
fn with_text_diffs(args: &Args, text: String, old: &Compiled1, new: &Compiled1) -> String {
    let ctx = args.home.ctx();
    let diffs = diff_artifacts::diff(&pairs(old, new), &ctx);
    match args.format {
        DiffFormat::Json => {
            let permissions: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            json_doc(
                permissions,
                &serde_json::to_value(&diffs).unwrap_or_default(),
            )
        }
        DiffFormat::Markdown => text + &diff_artifacts::render_markdown(&diffs),
        _ => text + "\n" + &diff_artifacts::render_text(&diffs),
    }
}

fn json_doc(permissions: serde_json::Value, artifacts: &serde_json::Value) -> String {
    let doc = serde_json::json!({ "permissions": permissions, "artifacts": artifacts });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The permission diff followed by the simulator view of the artifacts.
fn with_effect(format: DiffFormat, text: String, e: &EffectReport) -> String {
    match format {
        DiffFormat::Json => {
            let permissions: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            json_doc(permissions, &serde_json::to_value(e).unwrap_or_default())
        }
        DiffFormat::Markdown => text + &diff_effect_render::markdown(e),
        DiffFormat::Sarif => diff_effect_render::add_to_sarif(&text, e),
        DiffFormat::Human => text + "\n" + &diff_effect_render::text(e),
    }
}

/// The two builds compared by simulation; `None` (with a note on stderr) when `--git`'s
/// revision has no such build folder.
fn effect_report(
    args: &Args,
    old: &Compiled1,
    new: &Compiled1,
    format: ErrorFormat,
) -> Result<Option<EffectReport>, ()> {
    let ctx = args.home.ctx();
    let (a, b) = match (args.git.as_deref(), args.builds.as_slice()) {
        (_, []) => (
            diff_builds::in_memory(policies(old), &ctx),
            diff_builds::in_memory(policies(new), &ctx),
        ),
        (Some(rev), [dir]) => {
            let Some(a) = git_build(rev, dir, format)? else {
                eprintln!(
                    "note: `{rev}` has no build folder `{}`; artifacts not compared",
                    inputs::display(dir)
                );
                return Ok(None);
            };
            (a, diff_builds::read_dir(dir, format)?)
        }
        (_, [x, y]) => (
            diff_builds::read_dir(x, format)?,
            diff_builds::read_dir(y, format)?,
        ),
        _ => return Err(()),
    };
    let versions = pairs(old, new)
        .into_iter()
        .filter_map(|(o, n)| {
            let name = n.as_ref().or(o.as_ref())?.policy.name.clone();
            Some((name, (o, n)))
        })
        .collect();
    let sampling = Sampling {
        max: args.samples,
        seed: args.seed,
    };
    Ok(Some(diff_effect::compare(
        &a,
        &b,
        &versions,
        ctx.home.as_deref(),
        sampling,
    )))
}

fn policies(side: &Compiled1) -> impl Iterator<Item = &policyc_compiler::ir::Policy> {
    side.iter().flat_map(|(c, _)| &c.policies)
}

/// A build folder as committed at `rev`; `None` when `rev` has no file under it.
fn git_build(rev: &str, dir: &Path, format: ErrorFormat) -> Result<Option<Build>, ()> {
    let shown = inputs::display(dir);
    let shown = shown
        .strip_prefix("./")
        .unwrap_or(&shown)
        .trim_end_matches('/');
    let listed = git(
        &["ls-tree", "-r", "--name-only", "-z", rev, "--", shown],
        format,
    )?;
    let mut files = diff_builds::Files::new();
    for name in listed.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let bytes = git(&["show", &format!("{rev}:./{name}")], format)?;
        let rel = name
            .strip_prefix(shown)
            .map_or(name.as_str(), |r| r.trim_start_matches('/'));
        files.insert(rel.to_string(), bytes);
    }
    if files.is_empty() {
        return Ok(None);
    }
    Ok(Some(diff_builds::parse(format!("{rev}:{shown}"), &files)))
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

fn status(report: &Report, effect: Option<&EffectReport>, fail_on: FailOn) -> Status {
    let failed = match fail_on {
        FailOn::Widen => report.widens() || effect.is_some_and(EffectReport::widens),
        FailOn::Threat => {
            report.violates_threat() || effect.is_some_and(EffectReport::drift_widens)
        }
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
