//! `policyc exec` for `process` policies: the command runs under the policy's Landlock
//! ruleset and seccomp filter, in its own namespaces.

use super::exit::{self, fail};
use super::load::{Loaded, ARCH};
use super::plan::Sites;
use super::preflight;
use super::trace::Denials;
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_host::sandbox::{self, Area, Environment, LaunchError, Plan, View};
use policyc_targets::landlock::{self, FsRight, Landlock};
use policyc_targets::seccomp::{bpf_artifact, Seccomp};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Set the sandbox up and run `command` in it; `best_effort` runs even when the kernel
/// cannot enforce every rule.
pub fn run(
    loaded: &Loaded,
    command: &[String],
    best_effort: bool,
    egress: &super::egress::Flags,
    denials: Option<&Arc<Denials>>,
) -> Result<ExitCode, u8> {
    let (cmd, rest) = command
        .split_first()
        .ok_or_else(|| fail("no command given"))?;
    let mut plan = prepare(loaded, best_effort, cmd)?;
    plan.egress = super::egress::supervisor(loaded, egress, best_effort)?;
    if let Some(d) = denials {
        if let Some(s) = &plan.egress {
            s.on_denial(d.egress());
        }
    }
    let (audit, traced) = super::trace::audit_plan(loaded, egress, &plan, best_effort, denials)?;
    plan.trace = traced.map(|d| d.seccomp());
    if let (Some(s), Some(rs)) = (&plan.egress, plan.landlock.as_mut()) {
        policyc_host::egress::admit_own_ports(rs, s);
    }
    launch(&plan, &audit, cmd, rest)
}

fn prepare(loaded: &Loaded, best_effort: bool, cmd: &str) -> Result<Plan, u8> {
    let (policy, ctx) = (&loaded.policy, &loaded.ctx);
    if policy.isolation != Isolation::Process {
        return Err(fail(format!(
            "policy `{}` has {} isolation, not process isolation",
            policy.name,
            policy.isolation.keyword()
        )));
    }
    let mut seccomp_all = loaded.artifacts(&Seccomp)?;
    let env = Environment::for_policy(&policy.env, ctx.home.as_deref(), |n| std::env::var_os(n));
    let files = preflight::Files::Host;
    if let Some(program) = files.find(cmd, env.get("PATH")) {
        too_narrow(
            policy,
            &loaded.sites,
            &preflight::missing(&seccomp_all, &files, program),
            cmd,
        )?;
    }
    let seccomp = seccomp_all
        .remove(&bpf_artifact(ARCH))
        .ok_or_else(|| fail(format!("no `{}`", bpf_artifact(ARCH))))?;
    let landlock_json = loaded.artifact(&Landlock, "landlock.json")?;
    let ruleset =
        landlock::parse(&landlock_json).map_err(|e| fail(format!("landlock.json: {e}")))?;
    check_abi(&ruleset, best_effort)?;
    let areas: Vec<Area> = policy
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
    let view = view(&ruleset, &areas)?;
    Ok(Plan {
        view: Some(view),
        trace: None,
        seccomp,
        landlock: Some(ruleset),
        isolate_network: policy.net.egress_none,
        areas,
        best_effort,
        egress: None,
        env,
        run_as: sandbox::run_as(ctx.home.as_deref().map(std::path::Path::new)),
    })
}

/// The sandbox's file system: the ruleset's paths (writable where it grants a write right),
/// and mount points for the scratch areas and tmpfs.
fn view(ruleset: &landlock::Ruleset, areas: &[Area]) -> Result<View, u8> {
    let grants: Vec<(PathBuf, bool)> = ruleset
        .paths
        .iter()
        .map(|r| {
            // Exactly where a write (and so a metadata change) is allowed.
            let writable = r.allowed.contains(&FsRight::WriteFile);
            (PathBuf::from(r.path.as_str()), writable)
        })
        .collect();
    let points: Vec<PathBuf> = areas.iter().map(|a| a.path.clone()).collect();
    View::new(&grants, &points).map_err(|e| fail(format!("the sandbox's file system: {e}")))
}

/// Refuse to run when the filter denies what `cmd` needs to start (see [`preflight`]).
pub(super) fn too_narrow(
    policy: &Policy,
    sites: &Sites,
    missing: &[&str],
    cmd: &str,
) -> Result<(), u8> {
    if missing.is_empty() {
        return Ok(());
    }
    let message = format!(
        "`{cmd}` cannot start under policy `{}` ({}): its syscall filter denies {}; add {} to `syscalls {{ allow ... }}` or use a runtime set such as `std::runtime::base`",
        policy.name,
        sites.syscalls,
        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
        if missing.len() == 1 { "it" } else { "them" },
    );
    crate::output::say(
        "policyc exec: ",
        "exec",
        crate::output::Level::Error,
        &message,
    );
    Err(exit::CANNOT_EXECUTE)
}

fn check_abi(ruleset: &landlock::Ruleset, best_effort: bool) -> Result<(), u8> {
    let gaps = policyc_host::landlock::unenforced(ruleset);
    if gaps.is_empty() {
        return Ok(());
    }
    for g in &gaps {
        crate::output::say(
            "policyc exec: ",
            "exec",
            crate::output::Level::Warning,
            &format!("not enforced by this kernel: {g}"),
        );
    }
    if best_effort {
        crate::output::say(
            "policyc exec: ",
            "exec",
            crate::output::Level::Warning,
            "--best-effort: running without the rights above",
        );
        Ok(())
    } else {
        Err(fail("this kernel cannot enforce the whole policy; refusing to run (use --best-effort to run anyway)"))
    }
}

fn launch(plan: &Plan, audit: &sandbox::Audit, cmd: &str, args: &[String]) -> Result<ExitCode, u8> {
    match sandbox::run_audited(plan, audit, cmd, args) {
        Ok(status) => Ok(ExitCode::from(exit::of_process(status))),
        Err(LaunchError::Spawn { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            crate::output::say(
                "policyc exec: ",
                "exec",
                crate::output::Level::Error,
                &format!("`{cmd}`: command not found"),
            );
            Err(exit::NOT_FOUND)
        }
        Err(LaunchError::Spawn { err, .. }) => {
            crate::output::say(
                "policyc exec: ",
                "exec",
                crate::output::Level::Error,
                &format!("`{cmd}`: cannot execute: {err}"),
            );
            Err(exit::CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(e)),
    }
}
