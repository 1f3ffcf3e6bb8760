//! Threat-aware checks and conflict lints over a policy that lowered without errors.
//! Declared threats turn some warnings into errors: a policy that says it defends against a
//! threat may not contain the very hole that threat walks through.

use crate::ast::{Access, DnsMode, EgressVia, Stmt, SysRule};
use crate::diag::{Code, Diagnostic, Diagnostics, Severity};
use crate::hosts::HostPattern;
use crate::ir::{Isolation, MountKind, Policy, Threat};
use std::collections::BTreeSet;

/// Longest token lifetime accepted: one hour.
pub const MAX_TOKEN_TTL_MS: u64 = 3_600_000;

pub(super) fn run(p: &Policy, stmts: &[&Stmt], diags: &mut Diagnostics) {
    exfiltration(p, diags);
    tokens(p, stmts, diags);
    writable_nesting(p, diags);
    shadowed(p, diags);
    duplicates(p, diags);
    syscalls(p, stmts, diags);
    egress(p, diags);
}

fn escalate(p: &Policy, threat: Threat, d: Diagnostic) -> Diagnostic {
    if p.threats.contains(&threat) {
        d.with_severity(Severity::Error)
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

fn writable_nesting(p: &Policy, diags: &mut Diagnostics) {
    for w in p.fs.mounts.iter().filter(|m| writable(&m.kind)) {
        for ro in p.fs.mounts.iter().filter(|m| !writable(&m.kind)) {
            let inside_guest = w.guest != ro.guest && w.guest.starts_with(&ro.guest);
            let inside_host =
                matches!((w.host(), ro.host()), (Some(a), Some(b)) if a != b && a.starts_with(b));
            let (inner, outer) = match (inside_guest, w.host(), ro.host()) {
                (true, _, _) => (&w.guest, &ro.guest),
                (false, Some(a), Some(b)) if inside_host => (a, b),
                _ => continue,
            };
            {
                let d = Diagnostic::new(Code::WriteInsideReadOnly, w.span, format!("writable `{inner}` lies inside read-only `{outer}`")).with_hint("keep writable areas outside read-only trees, or say why in a comment and accept the warning");
                diags.push(escalate(p, Threat::Tampering, d));
            }
        }
        if p.threats.contains(&Threat::Persistence) && w.host().is_some_and(|h| h.as_str() == "~") {
            diags.push(Diagnostic::new(Code::PersistenceWritableHome, w.span, "write access to the whole home directory").with_hint("grant the one folder the task writes to; the home holds shell start-up files and autostart entries"));
        }
    }
}

fn shadowed(p: &Policy, diags: &mut Diagnostics) {
    for m in &p.fs.mounts {
        let granted: Vec<Access> = [Access::Read, Access::Write, Access::Exec]
            .into_iter()
            .filter(|a| m.allows(*a))
            .collect();
        let covering = p.fs.denies.iter().find(|d| {
            let over =
                m.guest.starts_with(&d.path) || m.host().is_some_and(|h| h.starts_with(&d.path));
            over && granted.iter().all(|a| d.access.contains(a))
        });
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
    for (i, d) in p.fs.denies.iter().enumerate() {
        if d.list.is_none()
            && p.fs
                .denies
                .iter()
                .take(i)
                .any(|o| o.path == d.path && o.access == d.access && o.list.is_none())
        {
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
    for (i, r) in p.net.rules.iter().enumerate() {
        if p.net
            .rules
            .iter()
            .take(i)
            .any(|o| o.allow == r.allow && o.host == r.host && o.port == r.port)
        {
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

fn syscalls(p: &Policy, stmts: &[&Stmt], diags: &mut Diagnostics) {
    for (name, r) in &p.syscalls.rules {
        if !r.always_denied() && !r.allow.is_empty() && crate::syscalls::is_dangerous(name) {
            let d = Diagnostic::new(
                Code::DangerousSyscallAllowed,
                r.allow_span.unwrap_or(p.syscalls.span),
                format!("`{name}` is on the dangerous list and is allowed"),
            )
            .with_hint("agents almost never need it; if this one does, add a comment saying why");
            diags.push(escalate(p, Threat::PrivilegeEscalation, d));
        }
    }
    let allows_any = p
        .syscalls
        .rules
        .values()
        .any(|r| !r.always_denied() && !r.allow.is_empty());
    if !allows_any && p.isolation != Isolation::Wasm {
        diags.push(
            Diagnostic::new(
                Code::NoSyscallPolicy,
                p.syscalls.span,
                format!(
                    "policy `{}` allows no syscalls, so no program can run under it",
                    p.name
                ),
            )
            .with_hint(
                "import a runtime set (`use std::runtime::python`) and `syscalls { allow python }`",
            ),
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

fn egress(p: &Policy, diags: &mut Diagnostics) {
    for a in p.net.rules.iter().filter(|r| r.allow) {
        let blocked =
            p.net.rules.iter().any(|d| {
                !d.allow && a.host.within(&d.host) && (d.port.is_none() || d.port == a.port)
            });
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
