//! `policyc exec`: run a command under a policy: a process under its Landlock ruleset and
//! seccomp filter ([`process`]), a container under runc with the policy's bundle
//! ([`container`]), or a WASI module under its WASI manifest ([`wasm`]).
//!
//! Exit status: the command's own (128 + N when killed by signal N); otherwise
//! 125 when policyc could not set the sandbox up (a policy error, a kernel or host that
//! cannot enforce the policy, runc missing or failing, a scratch folder in the way), 126
//! when the command cannot be executed (including when the policy is too narrow for it to
//! start, or denies executing it), and 127 when it is not found (see [`exit`]).

mod container;
mod egress;
mod exit;
mod load;
pub(crate) mod plan;
mod preflight;
mod process;
mod trace;
mod wasm;

use super::compile_file_with;
use crate::output::ErrorFormat;
use exit::fail;
use load::Loaded;
use policyc_compiler::ir::{Isolation, Policy};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a command under a policy: process isolation (Landlock, seccomp, namespaces),
/// container isolation (runc with the policy's bundle) or wasm isolation (wasmtime-wasi).
///
/// Started as root, the program runs as the owner of the `--home` directory (no
/// supplementary groups, no capabilities), or as uid 0 without capabilities when the home
/// is root's.
///
/// Exit status: the command's own (128 + N when signal N killed it); 125 when policyc could
/// not run it (a policy error, a kernel or host that cannot enforce the policy, runc
/// missing or failing); 126 when the command cannot execute, or the policy is too narrow
/// for it to start; 127 when it is not found. policyc's own failures always print a
/// `policyc exec:` line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file (or `--from DIR`).
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    policy_file: Option<PathBuf>,
    /// Which policy of the file (needed when it holds more than one).
    #[arg(long, conflicts_with = "from")]
    policy: Option<String>,
    /// Run the policy of a folder `policyc build` wrote (`--from out/NAME`), without parsing
    /// or compiling it: every artifact exec reads (and the exec plan, `exec.json`) is checked
    /// against the sha256 in its `manifest.json`, and a folder that is incomplete, changed
    /// since, or built by another policyc or for another home is refused (status 125).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
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
        Ok(loaded) => run_loaded(args, &loaded),
        Err(code) => Err(code),
    };
    result.unwrap_or_else(ExitCode::from)
}

/// Run the command under a loaded policy: the one path `exec POLICY` and `exec --from DIR`
/// share.
fn run_loaded(args: &Args, loaded: &Loaded) -> Result<ExitCode, u8> {
    let policy = &loaded.policy;
    if args.trace_denials.is_some() && policy.isolation != Isolation::Process {
        return Err(fail(format!(
            "--trace-denials traces process policies only; policy `{}` has {} isolation",
            policy.name,
            policy.isolation.keyword()
        )));
    }
    match policy.isolation {
        Isolation::Wasm => wasm::run(loaded, &args.command, args.best_effort, &args.egress),
        Isolation::Container => container::run(
            loaded,
            &args.command,
            &args.container,
            args.best_effort,
            &args.egress,
        ),
        Isolation::Process => {
            let denials = match &args.trace_denials {
                Some(file) => Some(std::sync::Arc::new(trace::Denials::open(
                    loaded,
                    file.as_deref(),
                )?)),
                None => None,
            };
            process::run(
                loaded,
                &args.command,
                args.best_effort,
                &args.egress,
                denials.as_ref(),
            )
        }
    }
}

/// Compile the policy file and pick the policy to run, or read the built folder.
fn load(args: &Args, format: ErrorFormat) -> Result<Loaded, u8> {
    let home = args.home.get();
    let Some(file) = &args.policy_file else {
        let dir = args
            .from
            .as_deref()
            .ok_or_else(|| fail("no policy file given"))?;
        return Loaded::folder(dir, &home);
    };
    let (out, sources, _) = compile_file_with(file, format, args.quiet).ok_or(exit::SETUP)?;
    if out.diagnostics.has_errors() {
        return Err(exit::SETUP);
    }
    let policy = pick(&out.policies, args.policy.as_deref())?.clone();
    // A `~/...` path too long once `~` is the home is P0204 on the path, as in `check`.
    let long = super::home_lengths(std::slice::from_ref(&policy), &home);
    if !long.is_empty() {
        crate::output::print_diagnostics(&long, &sources, format);
        return Err(exit::SETUP);
    }
    Ok(Loaded::compiled(policy, args.home.ctx(), sources))
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
