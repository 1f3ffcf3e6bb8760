//! `policyc build`: compile policies and write every target's artifacts and a manifest.
//! Every artifact says where it comes from (see `policyc_targets::provenance`): text ones in
//! a header and `file:line` comments, all of them in the manifest's `origins`.
//!
//! Everything is built in memory first. Only when every policy of every file compiled and
//! every target emitted does anything touch the output directory; each policy's folder is
//! then replaced whole (staged beside it, swapped in by rename), so a failed build leaves
//! earlier outputs intact and a reader never sees half a folder.
//!
//! With `--check` nothing is written: the artifacts are compared with those already in the
//! output directory, and every file that differs, is missing or should not be there is named
//! (drift between a committed build and its policy).

use super::compile_file;
use crate::inputs;
use crate::output::progress::{shown_here, Progress};
use crate::output::{print_diagnostics, ErrorFormat, Level, Status};
use policyc_compiler::{Diagnostics, SourceMap};
use policyc_targets::{build_targets, provenance, registry, EmitContext, Target};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Compile policies into sandbox artifacts: one folder per policy with a manifest and the
/// exec plan `policyc exec --from` runs (`exec.json`). Text
/// artifacts start with a header naming the policy, its file's sha256 and the policyc
/// version, and carry a `# FILE:LINE` comment before each rule's lines; `manifest.json`
/// maps the entries of every artifact to their rules.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to build.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where to write `NAME/` folders.
    #[arg(long, short)]
    out: PathBuf,
    /// Comma-separated targets to build (default: the stack of each policy's isolation
    /// level: process = seccomp, landlock, apparmor; container = seccomp, apparmor, oci;
    /// wasm = wasi; plus egress, squid and dnsmasq for every policy).
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    #[command(flatten)]
    home: super::Home,
    /// Write nothing; exit 1 naming every artifact under `--out` whose bytes differ from
    /// what the policies compile to now (the manifest and provenance comments included;
    /// missing and extra files too), 0 when all are current.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    deny_warnings: super::DenyWarnings,
}

/// One policy's build, ready to write.
struct Built {
    name: String,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    policyc: &'static str,
    policy: &'a str,
    isolation: &'static str,
    source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    home: Option<&'a str>,
    artifacts: Vec<ArtifactEntry>,
    targets: BTreeMap<&'static str, TargetReport>,
}

#[derive(Serialize)]
struct Source {
    file: String,
    sha256: String,
    /// The file's id in the compilation's source map.
    #[serde(skip)]
    root: policyc_compiler::FileId,
}

#[derive(Serialize)]
struct ArtifactEntry {
    path: String,
    target: &'static str,
    bytes: usize,
    sha256: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    stats: BTreeMap<String, u64>,
    /// The parts of the artifact that come from a rule of the policy, in the order they
    /// appear, each with the rule's `file:line`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    origins: Vec<OriginEntry>,
}

/// One part of an artifact and the rule it comes from.
#[derive(Serialize)]
struct OriginEntry {
    /// The JSON pointer of the entry, in a JSON artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    /// Its first and last line, in a text artifact (JSON included).
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<[usize; 2]>,
    /// Its first and last instruction (0-based), in a BPF program.
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<[usize; 2]>,
    /// What those instructions are: `SYSCALL: deny N` or `SYSCALL: allow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<String>,
    /// The rule: `file:line`.
    rule: String,
}

#[derive(Serialize, Default)]
struct TargetReport {
    /// Rules enforced more narrowly than written, and requests left to other layers.
    report: Vec<ReportLine>,
}

#[derive(Serialize)]
struct ReportLine {
    code: &'static str,
    severity: policyc_compiler::Severity,
    message: String,
    location: String,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let targets = match select_targets(&args.target) {
        Ok(t) => t,
        Err(unknown) => {
            let known: Vec<&str> = registry().iter().map(|t| t.name()).collect();
            crate::output::print_usage_error(
                &format!(
                    "unknown target `{unknown}`; known targets: {}",
                    known.join(", ")
                ),
                format,
            );
            return Status::Usage;
        }
    };
    let Ok(files) = inputs::collect(&args.paths, format) else {
        return Status::Usage;
    };
    if args.out.exists() && !args.out.is_dir() {
        crate::output::print_usage_error(
            &format!(
                "`--out {}` names a file; it must be a directory (created if missing) to hold one folder per policy",
                args.out.display()
            ),
            format,
        );
        return Status::Usage;
    }
    let ctx = args.home.ctx();
    let mut built = Vec::new();
    let mut status = Status::Ok;
    let json = format == ErrorFormat::Json;
    let progress = Progress::new(Some(files.len() as u64), "building", shown_here(json));
    for (i, f) in files.iter().enumerate() {
        progress.set_message(&format!("building {}", inputs::display(f)));
        match build_file(f, targets.as_deref(), &ctx, args.deny_warnings, format) {
            Ok(mut b) => built.append(&mut b),
            Err(s) => status = status.max(s),
        }
        progress.set_position(i as u64 + 1);
    }
    drop(progress);
    if status != Status::Ok {
        let message = format!(
            "build failed; nothing was written to `{}`",
            args.out.display()
        );
        crate::output::say("", "build", Level::Error, &message);
        return status;
    }
    if built.is_empty() {
        crate::output::print_usage_error(
            &format!(
                "no policy to build in {}; nothing was written to `{}`",
                inputs::shown(&args.paths),
                args.out.display()
            ),
            format,
        );
        return Status::Usage;
    }
    if let Some(dup) = duplicate_name(&built) {
        let message = format!("two policies are named `{dup}`; each needs its own output folder");
        crate::output::say("error: ", "build", Level::Error, &message);
        return Status::Failed;
    }
    if args.check {
        return check_drift(&args.out, &built);
    }
    for b in &built {
        if let Err(e) = write_policy_dir(&args.out, b) {
            crate::output::print_io_error(&args.out.join(&b.name), "write", &e, format);
            return Status::Usage;
        }
    }
    let message = format!(
        "built {} polic{} into `{}`",
        built.len(),
        if built.len() == 1 { "y" } else { "ies" },
        args.out.display()
    );
    crate::output::say("", "build", Level::Note, &message);
    Status::Ok
}

/// The targets named on the command line; `None` (no `--target`) means each policy's own
/// stack, chosen by its isolation level.
fn select_targets(names: &[String]) -> Result<Option<Vec<&'static dyn Target>>, String> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<&'static dyn Target> = Vec::new();
    for n in names {
        let t = registry()
            .iter()
            .find(|t| t.name() == n)
            .ok_or_else(|| n.clone())?;
        if !out.iter().any(|o| o.name() == t.name()) {
            out.push(*t);
        }
    }
    Ok(Some(out))
}

fn duplicate_name(built: &[Built]) -> Option<&str> {
    let mut names: Vec<&str> = built.iter().map(|b| b.name.as_str()).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|w| w.first() == w.get(1))
        .and_then(|w| w.first().copied())
}

fn build_file(
    path: &Path,
    targets: Option<&[&'static dyn Target]>,
    ctx: &EmitContext,
    deny_warnings: super::DenyWarnings,
    format: ErrorFormat,
) -> Result<Vec<Built>, Status> {
    let (out, sources) = compile_file(path, format).ok_or(Status::Usage)?;
    if out.diagnostics.has_errors() {
        return Err(Status::Failed);
    }
    if deny_warnings.fails(super::warnings(&out.diagnostics), format) {
        return Err(Status::Failed);
    }
    let text = sources.get(out.root).map_or("", |f| f.text.as_str());
    let source = Source {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_hex(text.as_bytes()),
        root: out.root,
    };
    let mut built = Vec::new();
    let mut failed = false;
    for policy in &out.policies {
        match build_policy(policy, &source, targets, ctx, &sources, format) {
            Some(b) => built.push(b),
            None => failed = true,
        }
    }
    if failed {
        Err(Status::Failed)
    } else {
        Ok(built)
    }
}

fn build_policy(
    policy: &policyc_compiler::ir::Policy,
    source: &Source,
    targets: Option<&[&'static dyn Target]>,
    ctx: &EmitContext,
    sources: &SourceMap,
    format: ErrorFormat,
) -> Option<Built> {
    let mut files = BTreeMap::new();
    let mut artifacts = Vec::new();
    let mut reports = BTreeMap::new();
    let mut ok = true;
    let long = ctx
        .home
        .as_deref()
        .map(|h| policyc_compiler::check_home_lengths(policy, h))
        .unwrap_or_default();
    if !long.is_empty() {
        print_diagnostics(&long, sources, format);
        return None;
    }
    let chosen = targets.map_or_else(|| build_targets(policy), <[_]>::to_vec);
    for t in &chosen {
        match t.emit(policy, ctx) {
            Ok(emitted) => {
                for (path, bytes) in emitted.artifacts {
                    let (bytes, origins) =
                        with_provenance(*t, policy, &path, bytes, source, ctx, sources);
                    artifacts.push(ArtifactEntry {
                        target: t.name(),
                        bytes: bytes.len(),
                        sha256: sha256_hex(&bytes),
                        stats: emitted.stats.get(&path).cloned().unwrap_or_default(),
                        origins,
                        path: path.clone(),
                    });
                    files.insert(path, bytes);
                }
                let lines = emitted
                    .report
                    .iter()
                    .map(|d| ReportLine {
                        code: d.code.as_str(),
                        severity: d.severity,
                        message: d.message.clone(),
                        location: location(sources, d.span, source),
                    })
                    .collect();
                reports.insert(t.name(), TargetReport { report: lines });
            }
            Err(diags) => {
                let mut diags = Diagnostics(diags);
                diags.sort();
                print_diagnostics(&diags, sources, format);
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    // The exec plan: what `policyc exec --from` runs besides the artifacts.
    let home = ctx.home.as_deref().unwrap_or(super::DEFAULT_HOME);
    let plan = super::exec::plan::Plan::new(policy, home, sources)
        .to_bytes()
        .ok()?;
    artifacts.push(ArtifactEntry {
        path: super::exec::plan::FILE.to_string(),
        target: super::exec::plan::TARGET,
        bytes: plan.len(),
        sha256: sha256_hex(&plan),
        stats: BTreeMap::new(),
        origins: Vec::new(),
    });
    files.insert(super::exec::plan::FILE.to_string(), plan);
    let uses_home = policy_mentions_home(policy);
    let manifest = Manifest {
        policyc: provenance::POLICYC_VERSION,
        policy: &policy.name,
        isolation: policy.isolation.keyword(),
        source: Source {
            file: source.file.clone(),
            sha256: source.sha256.clone(),
            root: source.root,
        },
        home: if uses_home { ctx.home.as_deref() } else { None },
        artifacts,
        targets: reports,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).ok()?;
    json.push(b'\n');
    files.insert("manifest.json".to_string(), json);
    Some(Built {
        name: policy.name.clone(),
        files,
    })
}

/// An artifact as `build` writes it, and where its parts come from: a text artifact gets
/// the provenance header and a `file:line` comment before the lines of each rule (see
/// [`provenance::stamp`]); the origins are read from the bytes written.
fn with_provenance(
    target: &dyn Target,
    policy: &policyc_compiler::ir::Policy,
    path: &str,
    bytes: Vec<u8>,
    source: &Source,
    ctx: &EmitContext,
    sources: &SourceMap,
) -> (Vec<u8>, Vec<OriginEntry>) {
    let home = ctx.home.as_deref();
    let locate = |span| rule_line(sources, span, source);
    let bytes = match (target.comment_leader(path), String::from_utf8(bytes)) {
        (Some(leader), Ok(text)) => {
            let from = provenance::Source {
                policy: &policy.name,
                file: &source.file,
                sha256: &source.sha256,
            };
            provenance::stamp(policy, target.name(), &text, leader, &from, home, &locate)
                .into_bytes()
        }
        (_, Ok(text)) => text.into_bytes(),
        (_, Err(e)) => e.into_bytes(),
    };
    let origins = provenance::origins(policy, target.name(), path, &bytes, home)
        .into_iter()
        .map(|o| OriginEntry {
            pointer: o.pointer,
            lines: o.lines.map(|(a, b)| [a, b]),
            instructions: o.instructions.as_ref().map(|(a, b, _)| [*a, *b]),
            part: o.instructions.map(|(_, _, what)| what),
            rule: locate(o.span),
        })
        .collect();
    (bytes, origins)
}

/// `file:line` of a rule: in the policy file, by its file name (as `source.file` names
/// it); in a module, by the module's name.
fn rule_line(sources: &SourceMap, span: policyc_compiler::Span, source: &Source) -> String {
    match sources.get(span.file) {
        Some(f) => {
            let (line, _) = f.line_col(span.start);
            let name = if span.file == source.root {
                source.file.as_str()
            } else {
                f.name.as_str()
            };
            format!("{name}:{line}")
        }
        None => "<unknown>".to_string(),
    }
}

/// True when some mount or deny names a `~` path, so artifacts may depend on `--home`.
fn policy_mentions_home(policy: &policyc_compiler::ir::Policy) -> bool {
    policy
        .fs
        .mounts
        .iter()
        .any(|m| m.host().is_some_and(|h| h.is_home()))
        || policy.fs.denies.iter().any(|d| d.path.is_home())
}

/// `file:line:col` for the manifest: the policy file by its file name (as `source.file`
/// names it), so the manifest does not depend on the directory the build ran from.
fn location(sources: &SourceMap, span: policyc_compiler::Span, source: &Source) -> String {
    match sources.get(span.file) {
        Some(f) if span.file == source.root => {
            let (line, col) = f.line_col(span.start);
            format!("{}:{line}:{col}", source.file)
        }
        _ => sources.location(span),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a committed artifact differs from the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drift {
    Differs,
    Missing,
    Extra,
}

/// `--check`: compare each policy's folder under `out` with its build, print every
/// difference, and return `Failed` when there is one.
fn check_drift(out: &Path, built: &[Built]) -> Status {
    let mut drifts = Vec::new();
    let mut current = 0usize;
    for b in built {
        let dir = out.join(&b.name);
        let mut present = Vec::new();
        if let Err(e) = list_files(&dir, &dir, &mut present) {
            if e.kind() != std::io::ErrorKind::NotFound {
                crate::output::print_io_error(&dir, "read", &e, crate::output::error_format());
                return Status::Usage;
            }
        }
        for (rel, bytes) in &b.files {
            match std::fs::read(dir.join(rel)) {
                Ok(have) if have == *bytes => current += 1,
                Ok(_) => drifts.push((dir.join(rel), Drift::Differs)),
                Err(_) => drifts.push((dir.join(rel), Drift::Missing)),
            }
        }
        for rel in present.iter().filter(|r| !b.files.contains_key(*r)) {
            drifts.push((dir.join(rel), Drift::Extra));
        }
    }
    for (path, drift) in &drifts {
        let what = match drift {
            Drift::Differs => "differs from what its policy compiles to now",
            Drift::Missing => "is missing",
            Drift::Extra => "is not produced by its policy",
        };
        println!("drift: `{}` {what}", path.display());
    }
    if drifts.is_empty() {
        let message = format!("all {current} artifacts in `{}` are current", out.display());
        crate::output::say("", "build", Level::Note, &message);
        Status::Ok
    } else {
        let message = format!(
            "{} artifact{} in `{}` out of date; rebuild with `policyc build` and commit the result",
            drifts.len(),
            if drifts.len() == 1 { "" } else { "s" },
            out.display()
        );
        crate::output::say("", "build", Level::Error, &message);
        Status::Failed
    }
}

/// Every file under `dir`, relative to `root` with `/` separators, sorted.
fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            list_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Stage the folder beside its final place, then swap it in.
fn write_policy_dir(out: &Path, b: &Built) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let final_dir = out.join(&b.name);
    let stage = out.join(format!(".{}.staging", b.name));
    let old = out.join(format!(".{}.old", b.name));
    for leftover in [&stage, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)?;
        }
    }
    std::fs::create_dir_all(&stage)?;
    for (rel, bytes) in &b.files {
        let path = stage.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old)?;
    }
    std::fs::rename(&stage, &final_dir)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}
