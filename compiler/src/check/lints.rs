//! Threat-aware checks and conflict lints over a policy that lowered without errors.
//! Declared threats turn some warnings into errors: a policy that says it defends against a
//! threat may not contain the very hole that threat walks through.

use super::stdlib::{StdModules, PYTHON};
use crate::ast::{Access, DnsMode, EgressVia, Stmt, SysRule};
use crate::diag::{Code, Diagnostic, Diagnostics, Severity};
use crate::hosts::HostPattern;
use crate::ir::{self, Isolation, MountKind, Policy, Threat};
use crate::paths::CanonPath;
use std::collections::{BTreeMap, BTreeSet};

/// Longest token lifetime accepted: one hour.
pub const MAX_TOKEN_TTL_MS: u64 = 3_600_000;

pub(super) fn run(p: &Policy, stmts: &[&Stmt], std: &StdModules<'_>, diags: &mut Diagnostics) {
    exfiltration(p, diags);
    tokens(p, stmts, diags);
    writable_nesting(p, diags);
    shadowed(p, diags);
    duplicates(p, diags);
    syscalls(p, stmts, std, diags);
    egress(p, diags);
}

/// `d` as an error with `error_hint` when the policy declares `threat`, else as it is.
fn escalate(p: &Policy, threat: Threat, d: Diagnostic, error_hint: &str) -> Diagnostic {
    if p.threats.contains(&threat) {
        d.with_severity(Severity::Error).with_hint(error_hint)
    } else {
        d
    }
}

fn exfiltration(p: &Policy, diags: &mut Diagnostics) {
    if !p.threats.contains(&Threat::Exfiltration) {
        return;
    }
    for r in p
        .net
        .rules
        .iter()
        .filter(|r| r.allow && r.via == EgressVia::Direct)
    {
        diags.push(
            Diagnostic::new(
                Code::ExfiltrationDirectEgress,
                r.span,
                format!(
                    "policy `{}` defends against exfiltration but allows direct egress to `{}`",
                    p.name, r.host
                ),
            )
            .with_hint(
                "route it through `egress via proxy { ... }` so the proxy can audit and scope it",
            ),
        );
    }
    if p.net.dns == DnsMode::Any {
        diags.push(
            Diagnostic::new(
                Code::ExfiltrationOpenDns,
                p.net.span,
                format!(
                    "policy `{}` defends against exfiltration but resolves any name",
                    p.name
                ),
            )
            .with_hint("DNS queries carry data out; use `dns allow-listed-only`"),
        );
    }
}

fn tokens(p: &Policy, stmts: &[&Stmt], diags: &mut Diagnostics) {
    for (name, t) in &p.tokens {
        if t.ttl_ms > MAX_TOKEN_TTL_MS {
            diags.push(
                Diagnostic::new(
                    Code::LongTokenTtl,
                    t.span,
                    format!(
                        "token `{name}` lives {}s; the limit is one hour",
                        t.ttl_ms / 1000
                    ),
                )
                .with_hint("short-lived tokens limit what a leaked token is worth; use minutes"),
            );
        }
    }
    for r in &p.net.rules {
        let Some(t) = r
            .token
            .as_ref()
            .and_then(|n| p.tokens.get(n).map(|t| (n, t)))
        else {
            continue;
        };
        let aud = HostPattern::parse(&t.1.audience);
        if !aud.as_ref().is_ok_and(|a| r.host.within(a)) {
            diags.push(
                Diagnostic::new(
                    Code::TokenAudienceMismatch,
                    r.span,
                    format!(
                        "token `{}` is for `{}`, but this rule sends it to `{}`",
                        t.0, t.1.audience, r.host
                    ),
                )
                .with_hint("a token should only travel to its audience"),
            );
        }
    }
    let used: BTreeSet<&str> = p
        .net
        .rules
        .iter()
        .filter_map(|r| r.token.as_deref())
        .collect();
    for s in stmts {
        if let Stmt::Token(t) = s {
            if !used.contains(t.name.node.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::UnusedToken,
                        t.name.span,
                        format!("token `{}` is not used by any egress rule", t.name.node),
                    )
                    .with_hint("use it with `allow \"host\":443 with token NAME`, or remove it"),
                );
            }
        }
    }
}

fn writable(kind: &MountKind) -> bool {
    !matches!(
        kind,
        MountKind::Bind {
            access: Access::Read | Access::Exec,
            ..
        }
    )
}

/// Writable mounts nested in read-only ones, found by walking each writable mount's
/// ancestors (linear in the number of mounts times path depth).
fn writable_nesting(p: &Policy, diags: &mut Diagnostics) {
    let ro = |m: &&ir::Mount| !writable(&m.kind);
    let ro_guest: BTreeMap<&CanonPath, &ir::Mount> =
        p.fs.mounts
            .iter()
            .filter(ro)
            .map(|m| (&m.guest, m))
            .collect();
    let ro_host: BTreeMap<&CanonPath, &ir::Mount> =
        p.fs.mounts
            .iter()
            .filter(ro)
            .filter_map(|m| m.host().map(|h| (h, m)))
            .collect();
    for w in p.fs.mounts.iter().filter(|m| writable(&m.kind)) {
        let by_guest = w
            .guest
            .ancestors()
            .skip(1)
            .find_map(|a| ro_guest.get(&a).map(|m| (w.guest.clone(), m.guest.clone())));
        let by_host = || {
            let h = w.host()?;
            h.ancestors().skip(1).find_map(|a| {
                ro_host
                    .get(&a)
                    .and_then(|m| m.host().map(|mh| (h.clone(), mh.clone())))
            })
        };
        if let Some((inner, outer)) = by_guest.or_else(by_host) {
            let d = Diagnostic::new(Code::WriteInsideReadOnly, w.span, format!("writable `{inner}` lies inside read-only `{outer}`"))
                .with_hint("keep writable areas outside read-only trees, or allow it with `allow warning P0404 \"reason\"` before the rule");
            let error_hint = "keep writable areas outside read-only trees (mount this one elsewhere): a policy that declares `tampering` may not nest them";
            diags.push(escalate(p, Threat::Tampering, d, error_hint));
        }
        if p.threats.contains(&Threat::Persistence) && w.host().is_some_and(|h| h.as_str() == "~") {
            diags.push(Diagnostic::new(Code::PersistenceWritableHome, w.span, "write access to the whole home directory").with_hint("grant the one folder the task writes to; the home holds shell start-up files and autostart entries"));
        }
    }
}

/// Grants wholly inside a deny that removes everything they grant.
fn shadowed(p: &Policy, diags: &mut Diagnostics) {
    let mut by_path: BTreeMap<&CanonPath, Vec<&ir::FsDeny>> = BTreeMap::new();
    for d in &p.fs.denies {
        by_path.entry(&d.path).or_default().push(d);
    }
    for m in &p.fs.mounts {
        let granted: Vec<Access> = [Access::Read, Access::Write, Access::Exec]
            .into_iter()
            .filter(|a| m.allows(*a))
            .collect();
        // Denies name host objects: under process isolation the guest path is one.
        let host = match p.isolation {
            Isolation::Process => Some(&m.guest),
            _ => m.host(),
        };
        let paths = host.into_iter().flat_map(CanonPath::ancestors);
        let covering = paths
            .filter_map(|a| by_path.get(&a))
            .flatten()
            .find(|d| granted.iter().all(|a| d.access.contains(a)));
        if let Some(d) = covering {
            diags.push(
                Diagnostic::new(
                    Code::ShadowedGrant,
                    m.span,
                    format!(
                        "everything this mount grants is denied by `deny {}`",
                        d.path
                    ),
                )
                .with_hint("deny always wins; remove the grant or narrow the deny"),
            );
        }
    }
}

fn duplicates(p: &Policy, diags: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    for d in p.fs.denies.iter().filter(|d| d.list.is_none()) {
        if !seen.insert((&d.path, &d.access)) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateRule,
                    d.span,
                    format!("`deny {}` is written twice", d.path),
                )
                .with_hint("remove one"),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for r in &p.net.rules {
        if !seen.insert((r.allow, &r.host, r.port)) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateRule,
                    r.span,
                    format!("the egress rule for `{}` is written twice", r.host),
                )
                .with_hint("remove one"),
            );
        }
    }
}

fn syscalls(p: &Policy, stmts: &[&Stmt], std: &StdModules<'_>, diags: &mut Diagnostics) {
    for (name, r) in &p.syscalls.rules {
        if !r.always_denied() && !r.allow.is_empty() && crate::syscalls::is_dangerous(name) {
            let d = Diagnostic::new(
                Code::DangerousSyscallAllowed,
                r.allow_span.unwrap_or(p.syscalls.span),
                format!("`{name}` is on the dangerous list and is allowed"),
            )
            .with_hint("agents almost never need it; if this one does, add a comment saying why");
            let error_hint = "remove the allow, or deny the syscall: a policy that declares `privilege_escalation` may not allow it";
            diags.push(escalate(p, Threat::PrivilegeEscalation, d, error_hint));
        }
    }
    let allows_any = p
        .syscalls
        .rules
        .values()
        .any(|r| !r.always_denied() && !r.allow.is_empty());
    if !allows_any && p.isolation != Isolation::Wasm {
        let hint = if std.has(PYTHON) {
            "import a runtime set (`use std::runtime::python`) and `syscalls { allow python }`"
        } else {
            "allow the syscalls the program makes: `syscalls { allow read, write, ... }`"
        };
        diags.push(
            Diagnostic::new(
                Code::NoSyscallPolicy,
                p.syscalls.span,
                format!(
                    "policy `{}` allows no syscalls, so no program can run under it",
                    p.name
                ),
            )
            .with_hint(hint),
        );
    }
    for s in stmts {
        let Stmt::Syscalls(rules, _) = s else {
            continue;
        };
        for r in rules {
            let SysRule::Allow(targets, _) = r else {
                continue;
            };
            for t in targets {
                if p.syscalls
                    .rules
                    .get(&t.name.node)
                    .is_some_and(crate::ir::SyscallRule::always_denied)
                {
                    diags.push(
                        Diagnostic::new(
                            Code::AllowAndDenySyscall,
                            t.name.span,
                            format!(
                                "`{}` is allowed here and denied elsewhere; the deny wins",
                                t.name.node
                            ),
                        )
                        .with_hint("remove the allow or the deny"),
                    );
                }
            }
        }
    }
}

/// Allow rules that a deny rule covers entirely. Deny patterns are indexed, and each allow
/// looks up only the patterns that could contain it (itself and its parent domains).
fn egress(p: &Policy, diags: &mut Diagnostics) {
    let mut denies: BTreeMap<&HostPattern, Vec<Option<u16>>> = BTreeMap::new();
    for d in p.net.rules.iter().filter(|r| !r.allow) {
        denies.entry(&d.host).or_default().push(d.port);
    }
    for a in p.net.rules.iter().filter(|r| r.allow) {
        let blocked = containing_patterns(&a.host)
            .iter()
            .filter_map(|pat| denies.get(pat))
            .flatten()
            .any(|port| port.is_none() || *port == a.port);
        if blocked {
            diags.push(
                Diagnostic::new(
                    Code::UnreachableEgress,
                    a.span,
                    format!(
                        "every connection this rule allows to `{}` is denied by a deny rule",
                        a.host
                    ),
                )
                .with_hint("remove the allow, or narrow the deny"),
            );
        }
    }
}

/// Every pattern that contains `pat`: itself and `*.parent` for each parent domain.
fn containing_patterns(pat: &HostPattern) -> Vec<HostPattern> {
    let mut out = vec![pat.clone()];
    let domain = match pat {
        HostPattern::Exact(crate::hosts::Host::Domain(d)) => d.as_str(),
        HostPattern::Subdomains(d) => d.as_str(),
        HostPattern::Exact(_) => return out,
    };
    let mut rest = domain;
    if let HostPattern::Exact(_) = pat {
        if let Some((_, parent)) = rest.split_once('.') {
            out.push(HostPattern::Subdomains(parent.to_string()));
            rest = parent;
        }
    }
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(HostPattern::Subdomains(parent.to_string()));
        rest = parent;
    }
    out
}
