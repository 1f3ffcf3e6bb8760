//! The OCI target: `oci/config.json`, a complete runtime-spec bundle configuration for runc,
//! crun and youki, for policies with `isolation container`.
//!
//! **What the spec holds.** Every field is set explicitly, in a fixed order (the oci-spec
//! builders start from non-empty defaults, which are all overridden):
//!
//! - `root`: `rootfs`, read-only. The image is the launcher's; it must not lie inside the
//!   home directory (the simulator assumes no host object of the home is reachable through
//!   it).
//! - `process`: `args` is a placeholder (`/bin/sh`, or [`Options::args`]): the command is
//!   chosen when the bundle runs, and launchers replace it. `cwd` is `/`, the environment is
//!   `PATH` only, `noNewPrivileges` is true, all five capability sets are empty (the language
//!   has no way to grant one), `RLIMIT_NOFILE` comes from `limits { files }` (1024 when
//!   unset) and `RLIMIT_CORE` is 0. There is no `RLIMIT_NPROC`: it counts every process of
//!   the user on the host; `limits { pids }` becomes the cgroup's pids limit instead. The
//!   user is uid 0, gid 0 by default ([`Options`] sets another): with no user namespace that
//!   is host root without a single capability, so file permissions apply to it like to any
//!   other user (mode-000 masks stop it). Launchers should run the agent as the owner of the
//!   mounted folders. `umask` is 077. `apparmorProfile` is `policyc.<policy name>`, the
//!   profile the AppArmor target emits; the runtime refuses to start when it is not loaded.
//! - `mounts`: runc's standard `/proc`, `/dev` (read-only and `noexec` here), `/dev/pts`,
//!   `/dev/shm`, `/dev/mqueue` and `/sys` (read-only), then the policy's mounts in guest-path
//!   order (parents first): bind mounts as `rbind` with recursive `ro`/`rw`, `nosuid`,
//!   `nodev` and `noexec` unless `exec` (runc 1.1 and kernel 5.12 for the recursive flags);
//!   scratch areas and tmpfs as `tmpfs` with `size=` and `mode=700` owned by the process
//!   user, never executable.
//! - `linux`: fresh pid, network, ipc, uts, mount and cgroup namespaces and no user
//!   namespace; runc's masked and read-only paths; device nodes and the device cgroup limited
//!   to null, zero, full, random, urandom and tty; the memory (and memory+swap), pids and CPU
//!   limits; and the `seccomp` section the seccomp target emits, verbatim.
//! - `annotations`: `dev.policyc.policy`, `dev.policyc.home` (the home directory bind
//!   sources were resolved with) and `dev.policyc.network` (`none`: nothing adds interfaces to
//!   the fresh network namespace, which then has only `lo`; `launcher`: the launcher must
//!   connect it to the egress proxy).
//!
//! **Rules that are checked.** Mount sources that would hand the program the host
//! (`/`, `/proc`, `/sys`, `/dev`, runtime and privileged daemons' sockets, `/run/user`, the
//! home directory itself and credential folders), guest paths where the runtime mounts its
//! own file systems, paths through `/proc/<pid>/fd`, a missing home directory, a syscall
//! filter that allows creating a user namespace, and a source inside the home directory
//! spelled as an absolute path (denies written with `~` would not match it in `decide`) all
//! fail the build (`P1001`-`P1009`, `P1014`); see `check`. The report (`P1010`-`P1012`) says
//! what the bundle leaves to other layers and what the host and launcher must provide,
//! including syscalls the filter denies that runc itself calls after installing it (runc
//! 1.1 needs `fstatfs` to close inherited descriptors; without it the container does not
//! start).
//!
//! **Denies.** Denies name host objects, which reach the program only through bind mounts
//! (see `plan`): a deny covering a whole bind mount's source narrows the mount (read-only,
//! `noexec`, or an empty mode-000 read-only tmpfs instead of the bind when reading is
//! denied); a deny beneath a read-only bind mount's source masks its guest path
//! (`linux.maskedPaths`); a deny beneath a writable bind mount fails the build (`P1008`),
//! since a program that can rename the parents of a masked path can re-create it.
//!
//! **Simulator.** `sim` reads the emitted JSON back, never the IR.

mod check;
mod emit;
mod plan;
mod report;
mod sim;

pub use check::RUNTIME_SYSCALLS;
pub use sim::{simulate_spec, FILE};

use crate::{Artifacts, EmitContext, Emitted, Target};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeMap;

/// The annotation naming the policy.
pub const ANNOTATION_POLICY: &str = "dev.policyc.policy";
/// The annotation holding the home directory `~` bind sources were resolved with.
pub const ANNOTATION_HOME: &str = "dev.policyc.home";
/// The annotation saying what the network namespace gets: `none` or `launcher`.
pub const ANNOTATION_NETWORK: &str = "dev.policyc.network";

/// Choices a launcher makes that the policy does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `process.args`: a placeholder the launcher replaces with the agent's command.
    pub args: Vec<String>,
    /// `process.user.uid`.
    pub uid: u32,
    /// `process.user.gid`.
    pub gid: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: vec!["/bin/sh".to_string()],
            uid: 0,
            gid: 0,
        }
    }
}

/// A `config.json` the target emitted with the default [`Options`] (as `policyc build`
/// writes it), made the one [`emit_with`] writes for `opts`: the command, the user, and the
/// owner of the scratch areas (the `mode=700` tmpfs mounts).
pub fn with_options(config: &mut serde_json::Value, opts: &Options) {
    use serde_json::{json, Value};
    if let Some(p) = config.get_mut("process").and_then(Value::as_object_mut) {
        p.insert("args".into(), json!(opts.args));
        if let Some(u) = p.get_mut("user").and_then(Value::as_object_mut) {
            u.insert("uid".into(), json!(opts.uid));
            u.insert("gid".into(), json!(opts.gid));
        }
    }
    let defaults = Options::default();
    let (uid0, gid0) = (
        format!("uid={}", defaults.uid),
        format!("gid={}", defaults.gid),
    );
    let mounts = config.get_mut("mounts").and_then(Value::as_array_mut);
    for m in mounts.into_iter().flatten() {
        let Some(options) = m.get_mut("options").and_then(Value::as_array_mut) else {
            continue;
        };
        if !options.iter().any(|o| o.as_str() == Some("mode=700")) {
            continue;
        }
        for o in options.iter_mut() {
            if o.as_str() == Some(uid0.as_str()) {
                *o = json!(format!("uid={}", opts.uid));
            } else if o.as_str() == Some(gid0.as_str()) {
                *o = json!(format!("gid={}", opts.gid));
            }
        }
    }
}

/// The AppArmor profile the AppArmor target emits for a policy.
pub fn apparmor_profile_name(policy: &Policy) -> String {
    format!("policyc.{}", policy.name)
}

/// Emit the bundle configuration with launcher choices.
pub fn emit_with(
    policy: &Policy,
    ctx: &EmitContext,
    opts: &Options,
) -> Result<Emitted, Vec<Diagnostic>> {
    if policy.isolation != Isolation::Container {
        return Ok(Emitted::nothing(report::not_container(policy)));
    }
    let home = check::home(policy, ctx.home.as_deref())?;
    let mut errors = check::mounts(policy, home.as_ref());
    let plan = plan::plan(policy, home.as_ref());
    let plan = match plan {
        Ok(p) if errors.is_empty() => p,
        Ok(_) => return Err(sorted(errors)),
        Err(e) => {
            errors.extend(e);
            return Err(sorted(errors));
        }
    };
    let seccomp = check::seccomp(policy, ctx)?;
    let spec = emit::spec(policy, &plan, &seccomp.section, opts)?;
    let bytes = emit::to_bytes(policy, &spec)?;
    let report = report::report(policy, &plan, opts, &seccomp.runtime_denied);
    Ok(Emitted::one(FILE, bytes, stats(&spec), report))
}

/// Errors in source order.
fn sorted(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    d.sort_by_key(|d| (d.span.file, d.span.start, d.code));
    d
}

/// Figures for the build manifest.
fn stats(spec: &oci_spec::runtime::Spec) -> BTreeMap<String, u64> {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_ref())
        .map_or(0, Vec::len);
    let syscall_rules = linux
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.syscalls().as_ref())
        .map_or(0, Vec::len);
    crate::common::counts([
        ("mounts", n(spec.mounts().as_ref().map_or(0, Vec::len))),
        ("masked_paths", n(masked)),
        ("seccomp_rules", n(syscall_rules)),
    ])
}

/// An internal error: the spec could not be built or read back.
fn internal(policy: &Policy, why: impl std::fmt::Display) -> Vec<Diagnostic> {
    vec![Diagnostic::new(
        Code::OciInternal,
        policy.span,
        format!("target `oci`: {why}"),
    )]
}

/// The oci target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Oci;

impl Target for Oci {
    fn name(&self) -> &'static str {
        "oci"
    }

    fn in_stack(&self, isolation: Isolation) -> bool {
        isolation == Isolation::Container
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        emit_with(policy, ctx, &Options::default())
    }

    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn crate::Simulator> {
        sim::READ_BACK.simulator(artifacts)
    }
}

#[cfg(test)]
mod launcher_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A launcher that starts from the built `config.json` gets the bytes' meaning
    /// `emit_with` gives for its options: the same JSON, for every stdlib container policy.
    #[test]
    fn with_options_makes_the_built_config_the_launchers() {
        let ctx = EmitContext {
            home: Some("/home/user".into()),
        };
        let opts = Options {
            args: vec!["/usr/bin/python3".into(), "-c".into(), "pass".into()],
            uid: 1234,
            gid: 5678,
        };
        let mut seen = 0;
        for (_, policy) in policyc_testkit::stdlib::policies() {
            if policy.isolation != Isolation::Container {
                continue;
            }
            seen += 1;
            let built = Oci.emit(&policy, &ctx).unwrap().artifacts[FILE].clone();
            let mut got: serde_json::Value = serde_json::from_slice(&built).unwrap();
            with_options(&mut got, &opts);
            let want = emit_with(&policy, &ctx, &opts).unwrap().artifacts[FILE].clone();
            let want: serde_json::Value = serde_json::from_slice(&want).unwrap();
            assert_eq!(got, want, "{}", policy.name);
            assert!(
                got.to_string().contains("uid=1234"),
                "{}: a scratch area owned by the user",
                policy.name
            );
        }
        assert!(seen >= 2, "the stdlib's container policies");
    }
}
