//! Coverage: which rules and which declared threats a policy's tests never exercise.
//!
//! A rule is exercised when some test case is decided by it (the reference decision cites
//! its span): a mount by an allowed or refused access through it, a deny by a request it
//! denies, an egress rule by a connection it decides, a syscall rule by a call it decides.
//! A file-system deny is also exercised by a case expecting the denial of an access it
//! names on a path beneath it, even when something else (no mount reaches the object)
//! decides first: the test is there, and would catch the deny's loss if the mounts changed.
//! A threat is exercised by a test that expects a denial of its kind:
//!
//! | threat                 | exercised by a `deny` case of            |
//! |------------------------|------------------------------------------|
//! | `exfiltration`         | `connect` or `resolve`                   |
//! | `tampering`            | `write`                                  |
//! | `persistence`          | `write` or `exec`                        |
//! | `privilege_escalation` | `syscall`                                |
//! | `credential_theft`     | `read` beneath a file-system `deny`      |
//! | `denial_of_service`    | none: limits are not requests            |

use crate::run::CaseRun;
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Policy, Threat};
use policyc_compiler::{FileId, Request, Span};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A rule no test exercises.
#[derive(Debug, Clone, Serialize)]
pub struct Untested {
    /// The rule as the report shows it (`mount "/mnt/docs"`, `deny "~/.ssh"`, ...).
    pub rule: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub rules_total: usize,
    pub untested_rules: Vec<Untested>,
    pub untested_threats: Vec<Threat>,
    /// Declared threats no request can exercise (`denial_of_service`).
    pub untestable_threats: Vec<Threat>,
}

/// Coverage of `policy` by the outcomes of its test cases.
pub fn coverage(policy: &Policy, cases: &[CaseRun]) -> Coverage {
    let mut cited: BTreeSet<(FileId, u32, u32)> = cases
        .iter()
        .filter_map(|c| c.reference.span.map(Span::key))
        .collect();
    for d in &policy.fs.denies {
        if cases.iter().any(|c| aims_at(d, c)) {
            cited.insert(d.span.key());
        }
    }
    let rules = rules(policy);
    let rules_total = rules.len();
    let mut seen = BTreeSet::new();
    let untested_rules = rules
        .into_iter()
        .filter(|u| !cited.contains(&u.span.key()) && seen.insert(u.span.key()))
        .collect();
    let mut untested_threats = Vec::new();
    let mut untestable_threats = Vec::new();
    for t in &policy.threats {
        match exercised(*t, policy, cases) {
            Some(true) => {}
            Some(false) => untested_threats.push(*t),
            None => untestable_threats.push(*t),
        }
    }
    Coverage {
        rules_total,
        untested_rules,
        untested_threats,
        untestable_threats,
    }
}

/// Every rule with its own span (rules from one statement, such as the paths of
/// `deny secrets`, share it and count once).
fn rules(policy: &Policy) -> Vec<Untested> {
    let mut out = Vec::new();
    let mut spans = BTreeSet::new();
    let mut add = |rule: String, span: Span| {
        if spans.insert(span.key()) {
            out.push(Untested { rule, span });
        }
    };
    for m in &policy.fs.mounts {
        add(format!("mount \"{}\"", m.guest), m.span);
    }
    for d in &policy.fs.denies {
        let what = d
            .list
            .as_ref()
            .map_or(format!("\"{}\"", d.path), |l| l.clone());
        add(format!("deny {what}"), d.span);
    }
    for r in &policy.net.rules {
        let verb = if r.allow { "allow" } else { "deny" };
        let port = r.port.map_or("*".to_string(), |p| p.to_string());
        add(format!("egress {verb} \"{}\":{port}", r.host), r.span);
    }
    // One `allow` statement may name a whole set: label it by its first name and count.
    let mut allows: BTreeMap<(FileId, u32, u32), (Span, Vec<&str>)> = BTreeMap::new();
    for (name, r) in &policy.syscalls.rules {
        if let Some(s) = r.allow_span {
            allows
                .entry(s.key())
                .or_insert((s, Vec::new()))
                .1
                .push(name);
        }
    }
    for (span, names) in allows.into_values() {
        let first = names.first().copied().unwrap_or_default();
        let label = match names.len() {
            1 => format!("syscalls allow {first}"),
            n => format!("syscalls allow {first} and {} more (one statement)", n - 1),
        };
        add(label, span);
    }
    for (name, r) in &policy.syscalls.rules {
        for d in &r.deny {
            add(format!("syscalls deny {name}"), d.span);
        }
    }
    out
}

/// True when `c` expects the denial of an access `d` names, on a path beneath `d`.
fn aims_at(d: &policyc_compiler::ir::FsDeny, c: &CaseRun) -> bool {
    let crate::Probe::Request(Request::Fs { access, path }) = &c.probe else {
        return false;
    };
    !c.expect_allow && d.access.contains(access) && path.starts_with(&d.path)
}

/// `Some(true)` when a test exercises the threat, `None` when no request can.
fn exercised(t: Threat, policy: &Policy, cases: &[CaseRun]) -> Option<bool> {
    let denied = cases.iter().filter(|c| !c.expect_allow);
    let by_deny_rule = |c: &CaseRun| policy.fs.denies.iter().any(|d| aims_at(d, c));
    let hit = |c: &CaseRun| match (t, &c.probe) {
        (Threat::Exfiltration, crate::Probe::Request(r)) => {
            matches!(r, Request::Connect { .. } | Request::Resolve { .. })
        }
        (Threat::Tampering, crate::Probe::Request(Request::Fs { access, .. })) => {
            *access == Access::Write
        }
        (Threat::Persistence, crate::Probe::Request(Request::Fs { access, .. })) => {
            matches!(access, Access::Write | Access::Exec)
        }
        (Threat::PrivilegeEscalation, crate::Probe::Request(r)) => {
            matches!(r, Request::Syscall { .. })
        }
        (Threat::CredentialTheft, crate::Probe::Request(Request::Fs { access, .. })) => {
            *access == Access::Read && by_deny_rule(c)
        }
        _ => false,
    };
    if t == Threat::DenialOfService {
        return None;
    }
    let mut denied = denied;
    Some(denied.any(hit))
}
