//! `policyc check`: parse and check policy files, print every diagnostic.

use super::{compile_file, status_of};
use crate::inputs;
use crate::output::{ErrorFormat, Status};
use policyc_compiler::Severity;
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
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let Ok(files) = inputs::collect(&args.paths, format) else {
        return Status::Usage;
    };
    let mut status = Status::Ok;
    let (mut policies, mut errors, mut warnings) = (0, 0, 0);
    for f in &files {
        let Some((out, _)) = compile_file(f, format) else {
            status = status.max(Status::Usage);
            continue;
        };
        status = status.max(status_of(&out));
        policies += out.policies.len();
        for d in out.diagnostics.iter() {
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

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
