//! The build report: what the preopens enforce more narrowly than written (`P1104`) and
//! what a WASI host leaves to other layers (`P1105`). Host formats that were not emitted
//! (`P1106`) are reported by [`super::formats`].

use super::emit::{Planned, TARGET};
use super::manifest::Manifest;
use crate::common::{cited, net_span};
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{MountKind, Policy};
use policyc_compiler::{Code, Diagnostic};

/// Every report entry for a manifest that was emitted.
pub(crate) fn report(policy: &Policy, planned: &[Planned<'_>], m: &Manifest) -> Vec<Diagnostic> {
    let mut out = narrowed(planned);
    out.extend(not_mediated(policy, m));
    out
}

/// `P1104`: exec grants, and preopens that denies narrowed or left out.
fn narrowed(planned: &[Planned<'_>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for p in planned {
        if !p.narrowed_by.is_empty() {
            let what = match p.perms() {
                None => "is left out (a WASI preopen cannot withhold reading)".to_string(),
                Some(perms) => format!("is preopened {}", perms_word(perms)),
            };
            out.push(Diagnostic::new(
                Code::WasiNarrowed,
                p.mount.span,
                format!(
                    "{TARGET}: `{}` {what}, since {} covers its whole host directory",
                    p.mount,
                    cited(&p.narrowed_by)
                ),
            ));
        }
        if p.written.contains(&Access::Exec) && p.perms().is_some() {
            out.push(
                Diagnostic::new(
                    Code::WasiNarrowed,
                    p.mount.span,
                    format!(
                        "{TARGET}: `{}` is preopened read-only: WASI has no way to execute a file, so its `exec` right cannot be used",
                        p.mount
                    ),
                )
                .with_hint("a wasm module runs no programs; grant `read` to say what it can do"),
            );
        }
    }
    out
}

fn perms_word(p: super::manifest::Perms) -> &'static str {
    match p {
        super::manifest::Perms::ReadOnly => "read-only",
        super::manifest::Perms::ReadWrite => "read-write",
    }
}

/// `P1105`: what a WASI host leaves to other layers.
fn not_mediated(policy: &Policy, m: &Manifest) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::WasiNotMediated,
        policy.span,
        format!("{TARGET}: the WASI host mediates what the module imports, not syscalls: the host process's own syscalls are left to the layers that confine it"),
    )];
    if let Some(m) = policy
        .fs
        .mounts
        .iter()
        .find(|m| matches!(m.kind, MountKind::Scratch { .. } | MountKind::Tmpfs { .. }))
    {
        out.push(Diagnostic::new(
            Code::WasiNotMediated,
            m.span,
            format!("{TARGET}: scratch and tmpfs sizes (`{}` and any others) are not enforced by a WASI host: the launcher makes a fresh host directory for each, wiped after the run, but with no quota", m),
        ));
    }
    if m.network.egress {
        out.push(Diagnostic::new(
            Code::WasiNotMediated,
            net_span(policy),
            format!("{TARGET}: a WASI preview 1 module has no sockets, so these rules give it no network. Under `policyc exec` a preview 2 component's sockets reach only the egress supervisor's listeners, at the addresses its own name lookup gives allowed names; the broker enforces hosts and ports from the rules there, not the WASI host"),
        ));
    }
    let l = &policy.limits;
    let mut unenforced = Vec::new();
    if l.pids.is_some() {
        unenforced.push("`pids` (a module has no processes)");
    }
    if l.millicpus.is_some() {
        unenforced.push("`cpus`");
    }
    if l.files.is_some() {
        unenforced.push("`files`");
    }
    if !unenforced.is_empty() {
        out.push(Diagnostic::new(
            Code::WasiNotMediated,
            policy.span,
            format!(
                "{TARGET}: the limits {} are not enforced by a WASI host; `memory` is",
                unenforced.join(", ")
            ),
        ));
    }
    out
}

/// The report for a policy that is not `wasm`: no manifest.
pub(crate) fn not_wasm(policy: &Policy) -> Diagnostic {
    Diagnostic::new(
        Code::WasiNotMediated,
        policy.span,
        format!(
            "{TARGET}: no wasi.json for a `{}` policy: WASI preopens enforce only `wasm` isolation",
            policy.isolation.keyword()
        ),
    )
}
