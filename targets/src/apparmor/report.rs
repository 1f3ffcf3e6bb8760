//! The build report: where the profile denies more than the policy (`P0904`) and what it
//! leaves to other layers (`P0905`).

use super::emit::{Cause, Grant, TARGET};
use super::text::socket_needs;
use crate::common::{net_span, ticked};
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Accesses, Isolation, Policy};
use policyc_compiler::{Code, Diagnostic};

/// Every report entry for a profile that was emitted.
pub(crate) fn report(policy: &Policy, grants: &[Grant<'_>]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = grants.iter().flat_map(losses).collect();
    out.extend(permissions(grants));
    out.extend(not_mediated(policy));
    out
}

/// `P0904`: one entry per deny that takes from a grant more than the policy does, and one
/// per grant that reaches the fixed kernel-interface denies.
fn losses(g: &Grant<'_>) -> Vec<Diagnostic> {
    let hint = "AppArmor's deny wins over every allow and cannot be carved out; move the nested mount out of the denied tree, or accept the narrower grant";
    let mut out = Vec::new();
    let mut system: Vec<&str> = Vec::new();
    for (lost, cause) in &g.losses {
        let (span, why) = match cause {
            Cause::System(glob) => {
                system.push(glob);
                continue;
            }
            Cause::Deny(d, at) => (
                d.span,
                format!(
                    "`{d:#}` is denied at `{}`, the guest path of a bind mount that maps it; AppArmor's deny also covers the mount `{:#}` nested beneath it",
                    at.as_str().escape_debug(),
                    g.mount
                ),
            ),
            Cause::Nested { outer, inner } => (
                inner.span,
                format!(
                    "`{inner:#}` lies inside `{outer:#}`, so its tree denies what the outer mount grants and it does not; that deny also covers the mount `{:#}` nested inside it",
                    g.mount
                ),
            ),
        };
        out.push(
            Diagnostic::new(
                Code::AppArmorNarrowed,
                span,
                format!("{TARGET}: {why}, which loses {} there", Accesses(lost)),
            )
            .with_hint(hint),
        );
    }
    if !system.is_empty() {
        out.push(
            Diagnostic::new(
                Code::AppArmorNarrowed,
                g.mount.span,
                format!(
                    "{TARGET}: `{:#}` reaches kernel interfaces that every policyc profile denies: {}",
                    g.mount,
                    ticked(&system)
                ),
            )
            .with_hint("these denies win over any grant (ADVERSARIAL 16): no agent needs process memory, security attributes, kernel symbols or sysfs writes"),
        );
    }
    out
}

/// `P0904`: permissions the profile never grants, on the first mount they matter for.
fn permissions(grants: &[Grant<'_>]) -> Vec<Diagnostic> {
    let first = |a: Access| {
        grants
            .iter()
            .find(|g| g.access.contains(&a))
            .map(|g| g.mount.span)
    };
    let mut out = Vec::new();
    if let Some(span) = first(Access::Write) {
        out.push(Diagnostic::new(
            Code::AppArmorNarrowed,
            span,
            format!("{TARGET}: writable trees get `w` and `k` (locks) but never `l`: hard links cannot be created"),
        ).with_hint("a hard link would give a second name to a file, which AppArmor then mediates by that name; policyc grants only what `write` needs"));
    }
    let read_only = grants
        .iter()
        .find(|g| g.access.contains(&Access::Read) && !g.access.contains(&Access::Write))
        .map(|g| g.mount.span);
    if let Some(span) = read_only {
        out.push(Diagnostic::new(
            Code::AppArmorNarrowed,
            span,
            format!("{TARGET}: trees that are not writable get no `k` (file locks), and only exec trees get `m`: code is mapped executable only from them"),
        ));
    }
    out
}

/// `P0905`: what AppArmor leaves to other layers.
fn not_mediated(policy: &Policy) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::AppArmorNotMediated,
        policy.span,
        format!("{TARGET}: syscalls are seccomp's; UNIX sockets may be created (`network unix`), pathname sockets are mediated as files, and abstract ones are not mediated by the pinned features ABI (the network namespace or Landlock's scoping must isolate them)"),
    )];
    if policy.isolation == Isolation::Container {
        out.push(Diagnostic::new(
            Code::AppArmorNotMediated,
            policy.span,
            format!("{TARGET}: under container isolation the profile names guest paths; which host objects (`~` paths) are reachable is decided by the mount table"),
        ));
    }
    let (stream, dgram) = socket_needs(&policy.net);
    if stream || dgram {
        out.push(Diagnostic::new(
            Code::AppArmorNotMediated,
            net_span(policy),
            format!("{TARGET}: AppArmor (this parser and features ABI) filters sockets by family and type only: which hosts, ports and names are reached is decided by the egress layer (`egress.json`, enforced by the egress supervisor's resolver and broker in the network namespace)"),
        ));
    }
    out
}

/// The report for a `wasm` policy: no profile.
pub(crate) fn wasm(policy: &Policy) -> Diagnostic {
    Diagnostic::new(
        Code::AppArmorNotMediated,
        policy.span,
        format!("{TARGET}: no profile for a wasm policy: the WASI host's preopens enforce the filesystem, and the module has no sockets of its own"),
    )
}
