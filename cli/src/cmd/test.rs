//! `policyc test`: run every policy's test blocks, one line per case and a summary.

use super::compile_file;
use crate::inputs;
use crate::report::{ErrorFormat, Status};
use policyc_compiler::run_tests;
use std::path::PathBuf;

/// Run the test blocks of policies against the reference semantics.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories whose policies to test.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let Ok(files) = inputs::collect(&args.paths, format) else {
        return Status::Usage;
    };
    let mut status = Status::Ok;
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        let Some((out, sources)) = compile_file(f, format) else {
            status = status.max(Status::Usage);
            continue;
        };
        if out.diagnostics.has_errors() {
            status = status.max(Status::Failed);
            continue;
        }
        for policy in &out.policies {
            for case in run_tests(policy) {
                let verdict = if case.expect_allow { "allow" } else { "deny" };
                let line = format!(
                    "{} > {} > {verdict} {}",
                    policy.name, case.test, case.request
                );
                if case.passed() {
                    passed += 1;
                    if !args.quiet {
                        println!("PASS  {line}");
                    }
                } else {
                    failed += 1;
                    println!("FAIL  {line}");
                    println!(
                        "      at {}: {}",
                        sources.location(case.span),
                        case.decision.reason
                    );
                }
            }
        }
    }
    if failed > 0 {
        status = status.max(Status::Failed);
    }
    println!("summary: {passed} passed, {failed} failed");
    status
}
