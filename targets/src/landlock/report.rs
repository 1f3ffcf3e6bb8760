//! The build report: what the ruleset enforces more narrowly than written (`P0806`), what it
//! needs a newer kernel for (`P0804`), and what it leaves to other layers (`P0805`).

use super::emit::{first_granting, Grant};
use super::json::parse;
use super::json::Ruleset;
use super::rights::{consequence, linux_release, NetRight};
use super::sim::{decide, FILE};
use crate::common::{cited, net_span, ticked};
use crate::{Artifacts, Verdict};
use policyc_compiler::ast::{Access, EgressVia};
use policyc_compiler::ir::{Accesses, Isolation, Policy};
use policyc_compiler::{Code, Diagnostic, Request};
use std::collections::BTreeSet;

/// Every report entry for a ruleset that was emitted.
pub(crate) fn report(
    policy: &Policy,
    grants: &[Grant<'_>],
    rs: &Ruleset,
    artifacts: &Artifacts,
) -> Vec<Diagnostic> {
    let mut out = narrowed(grants);
    out.extend(abi_report(policy, rs, artifacts));
    out.extend(not_mediated(policy, rs));
    out
}

/// `P0806`: grants that denies narrowed, and rights that writable trees do not get.
fn narrowed(grants: &[Grant<'_>]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = grants
        .iter()
        .filter(|g| !g.narrowed_by.is_empty())
        .map(|g| {
            let what = if g.access.is_empty() {
                "is left out of the ruleset".to_string()
            } else {
                format!("grants only {}", Accesses(&g.access))
            };
            Diagnostic::new(
                Code::LandlockNarrowed,
                g.mount.span,
                format!(
                    "landlock: `{}` {what}, since {} covers it",
                    g.mount,
                    cited(&g.narrowed_by)
                ),
            )
        })
        .collect();
    if let Some(span) = first_granting(grants, Access::Write) {
        out.push(
            Diagnostic::new(
                Code::LandlockNarrowed,
                span,
                "landlock: writable trees get no `refer`, `make_char` or `make_block` right: moving or hard-linking a file into another directory fails with EXDEV (mv falls back to copy and delete), and device nodes cannot be created",
            )
            .with_hint("`refer` would let a file move between directories; policyc grants only what the policy's `write` needs"),
        );
    }
    out
}

/// The rights of the ruleset introduced by `abi`, by name.
fn rights_at(rs: &Ruleset, abi: u32) -> Vec<&'static str> {
    let fs = rs
        .handled_fs
        .iter()
        .filter(|r| r.abi() == abi)
        .map(|r| r.name());
    let net = rs
        .handled_net
        .iter()
        .filter(|r| r.abi() == abi)
        .map(|r| r.name());
    let scoped = rs
        .scoped
        .iter()
        .filter(|r| r.abi() == abi)
        .map(|r| r.name());
    fs.chain(net).chain(scoped).collect()
}

/// `P0804`: one entry per ABI above 1 that the ruleset uses, with the policy's own deny
/// tests that a kernel just below it no longer enforces (by simulation).
fn abi_report(policy: &Policy, rs: &Ruleset, artifacts: &Artifacts) -> Vec<Diagnostic> {
    (2..=rs.abi)
        .filter_map(|abi| {
            let rights = rights_at(rs, abi);
            if rights.is_empty() {
                return None;
            }
            let lost = lost_tests(policy, artifacts, abi);
            let mut msg = format!(
                "landlock: {} need{} ABI {abi} (Linux {}); below it, best-effort mode drops {}: {}",
                ticked(&rights),
                if rights.len() == 1 { "s" } else { "" },
                linux_release(abi),
                if rights.len() == 1 { "it" } else { "them" },
                consequence(abi),
            );
            if let Some(first) = lost.first() {
                msg.push_str(&format!(
                    " (then not enforced by Landlock: {} of this policy's deny tests, e.g. `{first}`)",
                    lost.len()
                ));
            }
            let span = if abi == NetRight::BindTcp.abi() {
                net_span(policy)
            } else {
                policy.span
            };
            Some(Diagnostic::new(Code::LandlockAbi, span, msg).with_hint(
                "without `--best-effort`, `policyc exec` refuses to run on an older kernel",
            ))
        })
        .collect()
}

/// The deny tests the ruleset enforces at its own ABI but not at `abi - 1`.
fn lost_tests(policy: &Policy, artifacts: &Artifacts, abi: u32) -> Vec<String> {
    // The ruleset read once for every case: what `simulate_with_abi` does per call.
    let ruleset = crate::common::read(artifacts, FILE, |b| parse(b).ok());
    let at = |request: &Request, abi: u32| match &ruleset {
        Ok(rs) => decide(rs, request, abi),
        Err(v) => *v,
    };
    policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter())
        .filter(|c| !c.expect_allow)
        .filter(|c| {
            let full = at(&c.request, abi);
            let older = at(&c.request, abi - 1);
            full == Verdict::Deny && older != Verdict::Deny
        })
        .map(|c| c.request.to_string())
        .collect()
}

/// `P0805`: what Landlock leaves to other layers.
fn not_mediated(policy: &Policy, rs: &Ruleset) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::LandlockNotMediated,
        policy.span,
        "landlock: Landlock does not restrict stat, chmod, chown, extended attributes, timestamps, connecting to pathname UNIX sockets, UDP (so DNS), or files opened before the ruleset applies; these are left to seccomp, the network namespace and the launcher (which must close inherited descriptors)",
    )];
    if policy.isolation == Isolation::Container {
        out.push(Diagnostic::new(
            Code::LandlockNotMediated,
            policy.span,
            "landlock: under container isolation the ruleset names guest paths; which host objects (`~` paths) are reachable is decided by the mount table, not Landlock",
        ));
    }
    out.extend(net_report(policy, rs));
    out
}

fn net_report(policy: &Policy, rs: &Ruleset) -> Option<Diagnostic> {
    let net = &policy.net;
    if net.egress_none {
        return None;
    }
    let msg = if !rs.handled_net.contains(&NetRight::ConnectTcp) {
        "landlock: an egress rule allows every port, so Landlock does not restrict TCP connects at all; which hosts and ports are reached is decided by the egress layer (`egress.json`)".to_string()
    } else {
        let ports: BTreeSet<String> = rs.ports.iter().map(|p| p.port.to_string()).collect();
        let via_proxy = net
            .rules
            .iter()
            .any(|r| r.allow && r.via == EgressVia::Proxy);
        let mut m = format!(
            "landlock: Landlock filters TCP connects by port only ({}): which hosts are reached is decided by the egress layer (`egress.json`)",
            ports.into_iter().collect::<Vec<_>>().join(", ")
        );
        if via_proxy {
            m.push_str("; the launcher must add the egress supervisor's proxy port");
        }
        m
    };
    Some(Diagnostic::new(
        Code::LandlockNotMediated,
        net_span(policy),
        msg,
    ))
}

/// The report for a `wasm` policy: no ruleset.
pub(crate) fn wasm(policy: &Policy) -> Diagnostic {
    Diagnostic::new(
        Code::LandlockNotMediated,
        policy.span,
        "landlock: no ruleset for a wasm policy: the WASI host's preopens enforce the filesystem, and the module has no sockets of its own",
    )
}
