//! `policyc test`: run every policy's test blocks on the reference semantics and on every
//! layer of its stack (simulated from the emitted bytes, and with `--live` for real), check
//! the stack against adversarial requests, report leaks and coverage.

use super::{each_policy, Home};
use crate::inputs;
use crate::output::progress::{shown_here, Progress};
use crate::output::results::{self, PolicyResult, Totals};
use crate::output::{ErrorFormat, Status};
use policyc_compiler::ir::Policy;
use policyc_compiler::{ModuleLoader, SourceMap};
use policyc_targets::stack_for;
use policyc_verify::suite::{verify, Origin};
use std::path::PathBuf;

/// Run the test blocks of policies on the reference semantics and every target, and check
/// that the artifacts leak nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories whose policies to test.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print only failures, leaks, gaps, coverage and the summary.
    #[arg(long, short)]
    quiet: bool,
    /// How to print results: `human` lines, or one `json` document.
    #[arg(long, value_enum, default_value_t = results::Format::Human)]
    format: results::Format,
    /// Also write a JUnit XML report to this file (for CI systems).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also run every case for real: Landlock and seccomp in the running kernel, the OCI
    /// bundle under runc, WASI modules under wasmtime, AppArmor profiles through
    /// `apparmor_parser` (compile only where the kernel lacks AppArmor), and connects and
    /// lookups through the egress supervisor (root: it makes network namespaces). A layer
    /// that cannot run here is reported, and fails the run when POLICYC_REQUIRE_LIVE=1.
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    home: Home,
    #[command(flatten)]
    deny_warnings: super::DenyWarnings,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    // A report that cannot be written fails now, not after the whole run.
    let junit = match &args.junit {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path, f)),
            Err(e) => {
                crate::output::print_io_error(path, "write", &e, format);
                return Status::Usage;
            }
        },
        None => None,
    };
    let ctx = args.home.ctx();
    let require_live = policyc_verify::live::required();
    let mut totals = Totals::default();
    let mut all = Vec::new();
    let json = args.format == results::Format::Json || format == ErrorFormat::Json;
    let progress = Progress::new(None, "testing", shown_here(json));
    let each = |policy: &Policy, sources: &SourceMap, source: &str, loader: &dyn ModuleLoader| {
        progress.set_message(&format!("testing {} ({} done)", policy.name, all.len()));
        let origin = Origin { source, loader };
        let v = verify(policy, &stack_for(policy), &ctx, Some(origin));
        let live = if args.live {
            Some(policyc_host::live::run(policy, &live_requests(&v)))
        } else {
            None
        };
        let r = PolicyResult::new(policy, v, live, sources, require_live);
        totals.add(&r);
        if args.format == results::Format::Human {
            progress.println(|| results::human::print(&r, args.quiet));
        }
        all.push(r);
    };
    let listed = each_policy(&args.paths, &args.home.get(), format, each);
    drop(progress);
    let Ok(skipped) = listed else {
        return Status::Usage;
    };
    let mut status = skipped.status();
    totals.broken_files += skipped.broken;
    if all.is_empty() && skipped.broken == 0 && status == Status::Ok {
        crate::output::print_usage_error(
            &format!("no policy to test in {}", inputs::shown(&args.paths)),
            format,
        );
        return Status::Usage;
    }
    match args.format {
        results::Format::Human => println!("{}", totals.line()),
        results::Format::Json => println!("{}", results::json::document(&all, &totals)),
    }
    if let Some((path, mut file)) = junit {
        let untested: Vec<results::junit::Untested> = skipped
            .files
            .iter()
            .map(|(file, why)| results::junit::Untested {
                file: file.clone(),
                why: (*why).to_string(),
            })
            .collect();
        let xml = results::junit::document(&all, &untested);
        if let Err(e) = std::io::Write::write_all(&mut file, xml.as_bytes()) {
            crate::output::print_io_error(path, "write", &e, format);
            status = status.max(Status::Usage);
        }
    }
    if totals.failed() || args.deny_warnings.fails(skipped.warnings, format) {
        status = status.max(Status::Failed);
    }
    status
}

/// The requests a live run tries: every test case, in order.
fn live_requests(v: &policyc_verify::suite::Verification) -> Vec<policyc_compiler::Request> {
    v.cases
        .iter()
        .filter_map(|c| match &c.probe {
            policyc_verify::Probe::Request(r) => Some(r.clone()),
            policyc_verify::Probe::Raw { .. } => None,
        })
        .collect()
}
