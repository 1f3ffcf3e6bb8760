//! `policyc exec` for `process` policies: the command runs under the policy's Landlock
//! ruleset and seccomp filter, in its own namespaces.

use super::artifact::artifact;
use super::exit::{self, fail};
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::SourceMap;
use policyc_host::sandbox::{self, Area, LaunchError, Plan};
use policyc_targets::landlock::{self, Landlock};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::EmitContext;
use std::path::PathBuf;
use std::process::ExitCode;

/// Set the sandbox up and run `command` in it; `best_effort` runs even when the kernel
/// cannot enforce every rule.
pub fn run(
    policy: &Policy,
    ctx: &EmitContext,
    sources: &SourceMap,
    command: &[String],
    best_effort: bool,
    egress: &super::egress::Flags,
) -> Result<ExitCode, u8> {
    let mut plan = prepare(policy, ctx, sources, best_effort)?;
    plan.egress = super::egress::supervisor(policy, ctx, sources, egress, best_effort)?;
    if let (Some(s), Some(rs)) = (&plan.egress, plan.landlock.as_mut()) {
        policyc_host::egress::admit_own_ports(rs, s);
    }
    let (cmd, rest) = command
        .split_first()
        .ok_or_else(|| fail("no command given"))?;
    launch(&plan, cmd, rest)
}

fn prepare(
    policy: &Policy,
    ctx: &EmitContext,
    sources: &SourceMap,
    best_effort: bool,
) -> Result<Plan, u8> {
    if policy.isolation != Isolation::Process {
        return Err(fail(format!(
            "policy `{}` has {} isolation; `policyc exec` runs process and wasm isolation (container policies run under an OCI runtime with the built bundle)",
            policy.name,
            policy.isolation.keyword()
        )));
    }
    let seccomp = artifact(policy, ctx, &Seccomp, seccomp_file(), sources)?;
    let landlock_json = artifact(policy, ctx, &Landlock, "landlock.json", sources)?;
    let ruleset =
        landlock::parse(&landlock_json).map_err(|e| fail(format!("landlock.json: {e}")))?;
    check_abi(&ruleset, best_effort)?;
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
    Ok(Plan {
        seccomp,
        landlock: Some(ruleset),
        isolate_network: policy.net.egress_none,
        areas,
        best_effort,
        egress: None,
    })
}

fn seccomp_file() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "seccomp.aarch64.bpf"
    } else {
        "seccomp.x86_64.bpf"
    }
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
        Ok(status) => Ok(ExitCode::from(exit::of_process(status))),
        Err(LaunchError::Spawn { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("policyc exec: `{cmd}`: command not found");
            Err(exit::NOT_FOUND)
        }
        Err(LaunchError::Spawn { err, .. }) => {
            eprintln!("policyc exec: `{cmd}`: cannot execute: {err}");
            Err(exit::CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(e)),
    }
}
