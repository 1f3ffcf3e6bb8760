//! `policyc check`: parse and check policy files, print every diagnostic.

use super::compile_file;
use crate::inputs;
use crate::output::{print_diagnostics, suppressions, ErrorFormat, Status};
use policyc_compiler::ir::Policy;
use policyc_compiler::{check_home_lengths, Diagnostics, Severity};
use policyc_targets::{build_targets, EmitContext};
use std::path::PathBuf;

/// Check policy files (or every `*.policy` file in directories) for errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to check.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the checked IR of every policy as JSON on stdout.
    #[arg(long)]
    emit_ir: bool,
    /// The checks `build` runs for each target of the stack run here too, for this home
    /// directory, so a clean check means a successful build.
    #[command(flatten)]
    home: super::Home,
    /// List every `allow warning` each policy applies, with its reason and the warnings it
    /// silences (on stdout).
    #[arg(long)]
    explain_suppressions: bool,
    /// `json`: print one JSON document on stdout with the counts and every suppression
    /// (`--explain-suppressions` as data).
    #[arg(long, value_enum, default_value_t = Format::Human, conflicts_with = "emit_ir")]
    format: Format,
    #[command(flatten)]
    deny_warnings: super::DenyWarnings,
}

/// What `check` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Nothing but `--emit-ir` and `--explain-suppressions` output.
    Human,
    /// One JSON document: files, policies, errors, warnings and suppressions.
    Json,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let Ok(files) = inputs::collect(&args.paths, format) else {
        return Status::Usage;
    };
    let ctx = args.home.ctx();
    let mut status = Status::Ok;
    let (mut policies, mut errors, mut warnings) = (0, 0, 0);
    let mut blank = 0;
    let mut suppressed = Vec::new();
    for f in &files {
        let Some((out, sources)) = compile_file(f, format) else {
            // An unreadable file is an error the summary counts.
            status = status.max(Status::Usage);
            errors += 1;
            continue;
        };
        if sources
            .get(out.root)
            .is_some_and(|s| inputs::is_blank(&s.text))
        {
            blank += 1;
        }
        let mut found = out.diagnostics.clone();
        if !out.diagnostics.has_errors() {
            let targets = stack_errors(&out.policies, &ctx);
            print_diagnostics(&targets, &sources, format);
            found.extend(targets);
        }
        status = status.max(if found.has_errors() {
            Status::Failed
        } else {
            Status::Ok
        });
        policies += out.policies.len();
        suppressed.extend(suppressions::entries(&out.suppressions, &sources));
        for d in found.iter() {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
        }
        if args.emit_ir {
            for p in &out.policies {
                println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
            }
        }
    }
    if blank == files.len() {
        inputs::print_nothing_in(&args.paths, format);
        return Status::Usage;
    }
    if args.explain_suppressions && args.format == Format::Human {
        print!("{}", suppressions::human(&suppressed));
    }
    if args.format == Format::Json {
        let doc = serde_json::json!({
            "files": files.len(),
            "policies": policies,
            "errors": errors,
            "warnings": warnings,
            "suppressions": suppressed,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    if args.deny_warnings.fails(warnings, format) {
        status = status.max(Status::Failed);
    }
    if format == ErrorFormat::Human {
        eprintln!(
            "checked {} file{}: {policies} polic{}, {errors} error{}, {warnings} warning{}",
            files.len(),
            plural(files.len()),
            if policies == 1 { "y" } else { "ies" },
            plural(errors),
            plural(warnings)
        );
    }
    status
}

/// The errors `build` would report for these policies: each target `build` emits for a
/// policy (its stack, and the operators' proxy configurations) emits it here, and what a
/// target cannot express fails here as it would there.
fn stack_errors(policies: &[Policy], ctx: &EmitContext) -> Diagnostics {
    let mut found = Diagnostics::default();
    for policy in policies {
        // A `~/...` path too long once `~` is the home: one error on the path, not the
        // targets' failures to emit it.
        let home = ctx.home.as_deref().map(|h| check_home_lengths(policy, h));
        if let Some(long) = home.filter(|d| !d.is_empty()) {
            found.extend(long);
            continue;
        }
        for target in build_targets(policy) {
            if let Err(diags) = target.emit(policy, ctx) {
                found.0.extend(diags);
            }
        }
    }
    found.sort();
    found
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
