//! The build report: what the bundle enforces more narrowly than written (`P1011`), what it
//! leaves to other layers (`P1010`), and what the host or launcher must provide (`P1012`).

use super::plan::{Plan, Planned};
use super::{apparmor_profile_name, Options};
use crate::common::{cited, net_span, ticked};
use crate::index::PathIndex;
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Accesses, Isolation, Policy};
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeSet;

const TARGET: &str = "oci";

/// The report for a policy that is not `container`: no bundle.
pub(crate) fn not_container(policy: &Policy) -> Diagnostic {
    let why = match policy.isolation {
        Isolation::Wasm => "the WASI host's preopens enforce the file system",
        _ => "Landlock and seccomp confine the process on the host",
    };
    Diagnostic::new(
        Code::OciNotMediated,
        policy.span,
        format!(
            "{TARGET}: no bundle for a `{}` policy: {why}",
            policy.isolation.keyword()
        ),
    )
}

/// Every report entry for a bundle that was emitted.
pub(crate) fn report(
    policy: &Policy,
    plan: &Plan<'_>,
    opts: &Options,
    runtime_denied: &[&str],
) -> Vec<Diagnostic> {
    let mut out = narrowed(plan);
    out.extend(not_mediated(policy));
    out.extend(requirements(policy, plan, opts));
    if !runtime_denied.is_empty() {
        let names = ticked(runtime_denied);
        out.push(
            Diagnostic::new(
                Code::OciRuntimeRequirement,
                policy.syscalls.span,
                format!(
                    "{TARGET}: the syscall filter denies {}, which runc calls after installing it (to close inherited descriptors, then to start the program), so the container does not start (runc 1.1.5 without `fstatfs`: \"ensure /proc/self/fd is on procfs: operation not permitted\")",
                    names
                ),
            )
            .with_hint(format!("allow {names} in the policy's `syscalls` block (`fstatfs` only reads a file system's statistics)")),
        );
    }
    out
}

/// `P1011`: mounts narrowed by denies over their whole source, and masks wider than a deny.
fn narrowed(plan: &Plan<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for pm in plan.mounts.iter().filter(|p| !p.narrowed_by.is_empty()) {
        let what = match &pm.kind {
            Planned::Mask => {
                "is replaced by an empty, read-only, mode-000 tmpfs (nothing of it can be read, written or run)".to_string()
            }
            _ => {
                let kept = pm.granted();
                format!("grants only {}", Accesses(&kept))
            }
        };
        let lost_extra: BTreeSet<Access> = pm
            .written
            .difference(&pm.granted())
            .filter(|a| !pm.narrowed_by.iter().any(|d| d.access.contains(a)))
            .copied()
            .collect();
        let mut msg = format!(
            "{TARGET}: `{}` {what}, since {} covers its source",
            pm.mount,
            cited(&pm.narrowed_by)
        );
        if !lost_extra.is_empty() {
            msg.push_str(&format!(
                "; {} is lost too, which the deny does not name",
                Accesses(&lost_extra)
            ));
        }
        out.push(Diagnostic::new(Code::OciNarrowed, pm.mount.span, msg));
    }
    for k in &plan.masks {
        let mut parts = Vec::new();
        if !k.also_hides.is_empty() {
            parts.push(format!(
                "it also takes away {}, which the deny leaves",
                Accesses(&k.also_hides)
            ));
        }
        if !k.hides_mounts.is_empty() {
            let hidden: Vec<String> = k.hides_mounts.iter().map(|m| format!("`{}`", m)).collect();
            parts.push(format!("it hides {} beneath it", hidden.join(", ")));
        }
        if parts.is_empty() {
            continue;
        }
        out.push(Diagnostic::new(
            Code::OciNarrowed,
            k.deny.span,
            format!(
                "{TARGET}: {} masks `{}` in `{}`: {}",
                k.deny.cited(),
                k.guest,
                k.mount,
                parts.join("; ")
            ),
        ));
    }
    out
}

/// `P1010`: what the bundle leaves to other layers.
fn not_mediated(policy: &Policy) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::OciNotMediated,
        policy.span,
        format!(
            "{TARGET}: outside the policy's mounts the program sees the image (the read-only rootfs, readable and executable) and the runtime's /proc, /sys (read-only) and /dev (read-only, with runc's masked and read-only paths), plus private writable /dev/shm and /dev/mqueue; the bundle does not deny reading or running what they hold, so AppArmor must; runc also appends device cgroup rules of its own (mknod of any device, which needs the CAP_MKNOD the process lacks, and the private /dev/pts instance); syscalls are decided by the embedded seccomp filter"
        ),
    )];
    if !policy.net.egress_none {
        out.push(
            Diagnostic::new(
                Code::OciNotMediated,
                net_span(policy),
                format!("{TARGET}: the container gets a fresh network namespace that the launcher must hand to the egress supervisor (`dev.policyc.network: launcher`); which hosts are reached and which names resolve is decided by the egress layer (`egress.json`), not by the bundle"),
            )
            .with_hint("with `egress none` the namespace has only `lo` and the bundle itself denies every connection"),
        );
    }
    out
}

/// `P1012`: what the host or the launcher must provide.
fn requirements(policy: &Policy, plan: &Plan<'_>, opts: &Options) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::OciRuntimeRequirement,
        policy.span,
        format!(
            "{TARGET}: `process.apparmorProfile` is `{}`, the AppArmor target's profile: load it (`apparmor_parser -r`) before the bundle runs; the runtime refuses to start without it, and a launcher on a host without AppArmor must remove the field and loses that layer; `process.args` is a placeholder (`{}`) for the launcher to replace",
            apparmor_profile_name(policy),
            opts.args.join(" ")
        ),
    )];
    if opts.uid == 0 {
        out.push(Diagnostic::new(
            Code::OciRuntimeRequirement,
            policy.span,
            format!("{TARGET}: the process runs as uid 0 with no capability and no user namespace, so host file permissions apply to it as to any user; a launcher should run it as the owner of the mounted folders"),
        ));
    }
    let binds: Vec<_> = plan
        .mounts
        .iter()
        .filter(|p| matches!(p.kind, Planned::Bind { .. }))
        .collect();
    if let Some(first) = binds.first() {
        out.push(Diagnostic::new(
            Code::OciRuntimeRequirement,
            first.mount.span,
            format!("{TARGET}: bind sources are resolved when the container starts and must exist; a source that is a symbolic link is followed wherever it points, so the launcher must check that none is (the build cannot see the host); the recursive flags (`rro`, `rnosuid`, `rnodev`, `rnoexec`) need a runtime that knows them (runc 1.1 or later) and Linux 5.12; runc refuses to start without them"),
        ));
    }
    let index = PathIndex::new(policy.fs.mounts.iter().map(|m| &m.guest));
    for outer in &binds {
        let Planned::Bind {
            source,
            write: false,
            ..
        } = &outer.kind
        else {
            continue;
        };
        let beneath = index.at_or_below(&outer.mount.guest);
        for inner in beneath.into_iter().filter_map(|i| policy.fs.mounts.get(i)) {
            let Some(rest) = inner
                .guest
                .strip_prefix(&outer.mount.guest)
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            let nearest = policy
                .fs
                .mounts
                .iter()
                .filter(|m| m.guest != inner.guest && inner.guest.starts_with(&m.guest))
                .max_by_key(|m| m.guest.depth());
            if nearest.map(|m| &m.guest) != Some(&outer.mount.guest) {
                continue;
            }
            out.push(Diagnostic::new(
                Code::OciRuntimeRequirement,
                inner.span,
                format!(
                    "{TARGET}: the mount point of `{}` lies inside the read-only bind `{}`, so `{}` must already exist on the host: the runtime cannot create it",
                    inner,
                    outer.mount,
                    source.join(rest)
                ),
            ));
        }
    }
    if let Some(first) = plan.masks.first() {
        let shown: Vec<String> = plan
            .masks
            .iter()
            .map(|k| format!("`{}`", k.guest))
            .collect();
        out.push(
            Diagnostic::new(
                Code::OciRuntimeRequirement,
                first.deny.span,
                format!(
                    "{TARGET}: denies beneath read-only bind mounts are masked when the container starts ({}): a path that does not exist then is not masked, so an object the host creates there later is reachable (the program itself cannot create it)",
                    shown.join(", ")
                ),
            )
            .with_hint("keep denied objects out of mounted folders, or mount narrower folders"),
        );
    }
    out
}
