//! `policyc exec`: run a command under a policy: a process under its Landlock ruleset and
//! seccomp filter ([`process`]), a container under runc with the policy's bundle
//! ([`container`]), or a WASI module under its WASI manifest ([`wasm`]).
//!
//! Exit status: the command's own (128 + N when killed by signal N); otherwise
//! 125 when policyc could not set the sandbox up (a policy error, a kernel or host that
//! cannot enforce the policy, runc missing or failing, a scratch folder in the way), 126
//! when the command cannot be executed (including when the policy is too narrow for it to
//! start, or denies executing it), and 127 when it is not found (see [`exit`]).

mod artifact;
mod container;
mod egress;
mod exit;
mod preflight;
mod process;
mod trace;
mod wasm;

use super::compile_file_with;
use crate::output::ErrorFormat;
use exit::fail;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::SourceMap;
use policyc_targets::EmitContext;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a command under a policy: process isolation (Landlock, seccomp, namespaces),
/// container isolation (runc with the policy's bundle) or wasm isolation (wasmtime-wasi).
///
/// Exit status: the command's own (128 + N when signal N killed it); 125 when policyc could
/// not run it (a policy error, a kernel or host that cannot enforce the policy, runc
/// missing or failing); 126 when the command cannot execute, or the policy is too narrow
/// for it to start; 127 when it is not found. policyc's own failures always print a
/// `policyc exec:` line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    policy_file: PathBuf,
    /// Which policy of the file (needed when it holds more than one).
    #[arg(long)]
    policy: Option<String>,
    #[command(flatten)]
    home: super::Home,
    /// Run even when the kernel cannot enforce every rule (or, for a container policy, the
    /// host does not enforce AppArmor), printing exactly what is not enforced. Without it,
    /// policyc refuses to run.
    #[arg(long)]
    best_effort: bool,
    /// Print no checker warnings (errors, and what is not enforced, are always printed).
    #[arg(long, short)]
    quiet: bool,
    /// Report each syscall the seccomp filter refuses and each connection the egress
    /// supervisor refuses, with the layer and the rule (`file:line`) that refused it: on
    /// stderr, or as JSON lines appended to FILE (`--trace-denials=FILE`). Landlock's
    /// refusals are not observable (see the book's audit chapter). Process policies only.
    /// A policy whose audit block names `denials` has them written to the audit log with
    /// or without this option (and `writes`: the files it changes under its write grants).
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    trace_denials: Option<Option<PathBuf>>,
    #[command(flatten)]
    egress: egress::Flags,
    #[command(flatten)]
    container: container::ContainerFlags,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn run(args: &Args, format: ErrorFormat) -> ExitCode {
    let result = match load(args, format) {
        Ok((policy, ..))
            if args.trace_denials.is_some() && policy.isolation != Isolation::Process =>
        {
            Err(fail(format!(
                "--trace-denials traces process policies only; policy `{}` has {} isolation",
                policy.name,
                policy.isolation.keyword()
            )))
        }
        Ok((policy, ctx, sources)) if policy.isolation == Isolation::Wasm => wasm::run(
            &policy,
            &ctx,
            &sources,
            &args.command,
            args.best_effort,
            &args.egress,
        ),
        Ok((policy, ctx, sources)) if policy.isolation == Isolation::Container => container::run(
            &policy,
            &ctx,
            &sources,
            &args.command,
            &args.container,
            args.best_effort,
            &args.egress,
        ),
        Ok((policy, ctx, sources)) => {
            let denials = match &args.trace_denials {
                Some(file) => match trace::Denials::open(&policy, &sources, file.as_deref()) {
                    Ok(d) => Some(std::sync::Arc::new(d)),
                    Err(code) => return ExitCode::from(code),
                },
                None => None,
            };
            process::run(
                &policy,
                &ctx,
                &sources,
                &args.command,
                args.best_effort,
                &args.egress,
                denials.as_ref(),
            )
        }
        Err(code) => Err(code),
    };
    result.unwrap_or_else(ExitCode::from)
}

/// Compile the policy file and pick the policy to run.
fn load(args: &Args, format: ErrorFormat) -> Result<(Policy, EmitContext, SourceMap), u8> {
    let (out, sources, _) =
        compile_file_with(&args.policy_file, format, args.quiet).ok_or(exit::SETUP)?;
    if out.diagnostics.has_errors() {
        return Err(exit::SETUP);
    }
    let policy = pick(&out.policies, args.policy.as_deref())?.clone();
    // A `~/...` path too long once `~` is the home is P0204 on the path, as in `check`.
    let long = super::home_lengths(std::slice::from_ref(&policy), &args.home.get());
    if !long.is_empty() {
        crate::output::print_diagnostics(&long, &sources, format);
        return Err(exit::SETUP);
    }
    Ok((policy, args.home.ctx(), sources))
}

fn pick<'p>(policies: &'p [Policy], name: Option<&str>) -> Result<&'p Policy, u8> {
    match (name, policies) {
        (None, [one]) => Ok(one),
        (None, _) => Err(fail(format!(
            "the file holds {} policies; choose one with --policy ({})",
            policies.len(),
            policies
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (Some(n), _) => policies
            .iter()
            .find(|p| p.name == n)
            .ok_or_else(|| fail(format!("no policy `{n}` in the file"))),
    }
}
