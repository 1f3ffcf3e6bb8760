//! `policyc exec`: run a command under a policy's Landlock ruleset and seccomp filter.
//!
//! Exit status: the command's own (128 + N when killed by signal N); otherwise
//! 125 when policyc could not set the sandbox up (a policy error, a kernel that cannot
//! enforce the policy, a scratch folder in the way), 126 when the command cannot be
//! executed (including when the policy denies executing it), and 127 when it is not found.

use super::compile_file;
use crate::report::ErrorFormat;
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::SourceMap;
use policyc_host::sandbox::{self, Area, LaunchError, Plan};
use policyc_targets::{landlock, registry, EmitContext};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// policyc could not set the sandbox up.
pub const EXIT_SETUP: u8 = 125;
/// The command exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// Run a command under a policy (process isolation: Landlock, seccomp, namespaces).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    policy_file: PathBuf,
    /// Which policy of the file (needed when it holds more than one).
    #[arg(long)]
    policy: Option<String>,
    /// The home directory `~` stands for (default: $HOME).
    #[arg(long)]
    home: Option<String>,
    /// Run even when the kernel cannot enforce every rule, printing exactly what is not
    /// enforced. Without it, policyc refuses to run.
    #[arg(long)]
    best_effort: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn run(args: &Args, format: ErrorFormat) -> ExitCode {
    let result = match load(args, format) {
        Ok((policy, ctx, sources)) if policy.isolation == Isolation::Wasm => {
            super::exec_wasm::run(&policy, &ctx, &sources, &args.command)
        }
        Ok((policy, ctx, sources)) => prepare(args, &policy, &ctx, &sources)
            .and_then(|(plan, cmd, rest)| launch(&plan, &cmd, &rest)),
        Err(code) => Err(code),
    };
    result.unwrap_or_else(ExitCode::from)
}

pub(crate) fn fail(msg: impl std::fmt::Display) -> u8 {
    eprintln!("policyc exec: {msg}");
    EXIT_SETUP
}

/// Compile the policy file and pick the policy to run.
fn load(args: &Args, format: ErrorFormat) -> Result<(Policy, EmitContext, SourceMap), u8> {
    let (out, sources) = compile_file(&args.policy_file, format).ok_or(EXIT_SETUP)?;
    if out.diagnostics.has_errors() {
        return Err(EXIT_SETUP);
    }
    let policy = pick(&out.policies, args.policy.as_deref())?.clone();
    let home = args.home.clone().or_else(|| std::env::var("HOME").ok());
    Ok((policy, EmitContext { home }, sources))
}

fn prepare(
    args: &Args,
    policy: &Policy,
    ctx: &EmitContext,
    sources: &SourceMap,
) -> Result<(Plan, String, Vec<String>), u8> {
    if policy.isolation != Isolation::Process {
        return Err(fail(format!(
            "policy `{}` has {} isolation; `policyc exec` runs process and wasm isolation (container policies run under an OCI runtime with the built bundle)",
            policy.name,
            policy.isolation.keyword()
        )));
    }
    let seccomp = artifact(policy, ctx, "seccomp", seccomp_file(), sources)?;
    let landlock_json = artifact(policy, ctx, "landlock", "landlock.json", sources)?;
    let ruleset =
        landlock::parse(&landlock_json).map_err(|e| fail(format!("landlock.json: {e}")))?;
    check_abi(&ruleset, args.best_effort)?;
    let areas = policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| match m.kind {
            MountKind::Scratch { size } | MountKind::Tmpfs { size } => Some(Area {
                path: PathBuf::from(m.guest.as_str()),
                size,
            }),
            MountKind::Bind { .. } => None,
        })
        .collect();
    if !policy.net.egress_none && policy.net.rules.iter().any(|r| r.allow) {
        eprintln!("policyc exec: note: egress is limited to the policy's ports; which hosts are reached is not enforced without the policy proxy");
    }
    let plan = Plan {
        seccomp,
        landlock: Some(ruleset),
        isolate_network: policy.net.egress_none,
        areas,
        best_effort: args.best_effort,
    };
    let (cmd, rest) = args
        .command
        .split_first()
        .ok_or_else(|| fail("no command given"))?;
    Ok((plan, cmd.clone(), rest.to_vec()))
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

fn seccomp_file() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "seccomp.aarch64.bpf"
    } else {
        "seccomp.x86_64.bpf"
    }
}

pub(crate) fn artifact(
    policy: &Policy,
    ctx: &EmitContext,
    target: &str,
    file: &str,
    sources: &SourceMap,
) -> Result<Vec<u8>, u8> {
    let t = registry()
        .iter()
        .find(|t| t.name() == target)
        .ok_or_else(|| fail(format!("no `{target}` target")))?;
    let mut emitted = t.emit(policy, ctx).map_err(|diags| {
        let mut diags = policyc_compiler::Diagnostics(diags);
        diags.sort();
        crate::report::print_diagnostics(&diags, sources, ErrorFormat::Human);
        fail(format!("the {target} target cannot enforce this policy"))
    })?;
    emitted
        .artifacts
        .remove(file)
        .ok_or_else(|| fail(format!("the {target} target emitted no `{file}`")))
}

fn check_abi(ruleset: &landlock::Ruleset, best_effort: bool) -> Result<(), u8> {
    let gaps = policyc_host::landlock::unenforced(ruleset);
    if gaps.is_empty() {
        return Ok(());
    }
    for g in &gaps {
        eprintln!("policyc exec: not enforced by this kernel: {g}");
    }
    if best_effort {
        eprintln!("policyc exec: --best-effort: running without the rights above");
        Ok(())
    } else {
        Err(fail("this kernel cannot enforce the whole policy; refusing to run (use --best-effort to run anyway)"))
    }
}

fn launch(plan: &Plan, cmd: &str, args: &[String]) -> Result<ExitCode, u8> {
    match sandbox::run(plan, cmd, args) {
        Ok(status) => Ok(ExitCode::from(exit_code(status))),
        Err(LaunchError::Spawn { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("policyc exec: `{cmd}`: command not found");
            Err(EXIT_NOT_FOUND)
        }
        Err(LaunchError::Spawn { err, .. }) => {
            eprintln!("policyc exec: `{cmd}`: cannot execute: {err}");
            Err(EXIT_CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(e)),
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + (sig & 0x7f)).unwrap_or(255),
        (None, None) => 1,
    }
}
