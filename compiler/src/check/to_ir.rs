//! Statements to IR, with value checks. Errors are collected; a value that fails its check is
//! left out of the IR (the policy is discarded anyway when any error remains).

use super::syscalls;
use super::Scope;
use crate::ast::{
    self, Access, Block, DenyTarget, DnsMode, EgressRule, FsRule, NetRule, PortSpec, Stmt,
};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::hosts::{Host, HostError, HostPattern};
use crate::ir::{self, AuditItem, DataClass, Isolation, MountKind, Threat};
use crate::paths::{CanonPath, PathError};
use crate::request::Request;
use crate::span::{Span, Spanned};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn policy(
    block: &Block,
    stmts: &[&Stmt],
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
) -> ir::Policy {
    let isolation = isolation(block, stmts, diags);
    let mut p = ir::Policy {
        name: block.name.node.clone(),
        docs: block.docs.clone(),
        isolation,
        threats: BTreeSet::new(),
        data: BTreeSet::new(),
        fs: ir::Fs::default(),
        net: ir::Net {
            egress_none: true,
            rules: Vec::new(),
            dns: DnsMode::None,
            span: block.name.span,
        },
        tokens: BTreeMap::new(),
        syscalls: ir::Syscalls {
            default: ir::DenyAction::Errno(1),
            rules: BTreeMap::new(),
            span: block.name.span,
        },
        limits: ir::Limits::default(),
        audit: BTreeSet::new(),
        tests: Vec::new(),
        span: block.span,
    };
    let mut net_rules: Vec<&NetRule> = Vec::new();
    let mut sys_rules: Vec<&ast::SysRule> = Vec::new();
    let mut limits_seen = BTreeMap::new();
    for stmt in stmts {
        match stmt {
            Stmt::Isolation(_) | Stmt::Include(_) => {}
            Stmt::Threats(names, _) => keywords(
                names,
                Threat::from_keyword,
                Threat::ALL.iter().map(|t| t.keyword()),
                Code::UnknownThreat,
                "threat",
                &mut p.threats,
                diags,
            ),
            Stmt::Data(names, _) => keywords(
                names,
                DataClass::from_keyword,
                DataClass::ALL.iter().map(|t| t.keyword()),
                Code::UnknownDataClass,
                "data classification",
                &mut p.data,
                diags,
            ),
            Stmt::Audit(names, _) => keywords(
                names,
                AuditItem::from_keyword,
                AuditItem::ALL.iter().map(|t| t.keyword()),
                Code::UnknownAuditItem,
                "audit item",
                &mut p.audit,
                diags,
            ),
            Stmt::Fs(rules, _) => fs_rules(rules, isolation, scope, &mut p.fs, diags),
            Stmt::Net(rules, _) => net_rules.extend(rules.iter()),
            Stmt::Token(t) => {
                if let Some(top) = scope.tokens.get(t.name.node.as_str()) {
                    diags.push(super::duplicate(&t.name.node, t.name.span, top.name.span));
                }
                if let Some(tok) = token(t, diags) {
                    if p.tokens.insert(t.name.node.clone(), tok).is_some() {
                        diags.push(super::duplicate(&t.name.node, t.name.span, t.span));
                    }
                }
            }
            Stmt::Syscalls(rules, _) => sys_rules.extend(rules.iter()),
            Stmt::Limits(ls, _) => {
                for l in ls {
                    limit(l, &mut p.limits, &mut limits_seen, diags);
                }
            }
            Stmt::Test(t) => p.tests.push(test(t, diags)),
        }
    }
    let local_tokens: BTreeSet<&str> = stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Token(t) => Some(t.name.node.as_str()),
            _ => None,
        })
        .collect();
    net(&net_rules, scope, &local_tokens, &mut p, diags);
    p.syscalls = syscalls::to_ir(&sys_rules, scope, block.name.span, diags);
    sort_mounts(&mut p.fs, diags);
    p.fs.denies
        .sort_by(|a, b| (&a.path, &a.access).cmp(&(&b.path, &b.access)));
    p
}

fn isolation(block: &Block, stmts: &[&Stmt], diags: &mut Diagnostics) -> Isolation {
    let mut found: Option<(Isolation, Span)> = None;
    for stmt in stmts {
        let Stmt::Isolation(name) = stmt else {
            continue;
        };
        let level = match Isolation::from_keyword(&name.node) {
            Some(l) => l,
            None if name.node == "microvm" => {
                diags.push(
                    Diagnostic::new(
                        Code::ReservedIsolation,
                        name.span,
                        "isolation `microvm` is reserved and not supported yet",
                    )
                    .with_hint("use `container` or `process`"),
                );
                continue;
            }
            None => {
                diags.push(unknown(
                    Code::UnknownIsolation,
                    "isolation level",
                    name,
                    ["process", "container", "wasm"],
                ));
                continue;
            }
        };
        match found {
            Some((prev, _)) if prev != level => diags.push(
                Diagnostic::new(
                    Code::RepeatedStatement,
                    name.span,
                    format!("isolation is already `{}`", prev.keyword()),
                )
                .with_hint(
                    "a policy has one isolation level; an included fragment may have set it",
                ),
            ),
            Some(_) => {}
            None => found = Some((level, name.span)),
        }
    }
    let stated = stmts.iter().any(|s| matches!(s, Stmt::Isolation(_)));
    match found {
        Some((l, _)) => l,
        // An unknown or reserved level was already reported.
        None if stated => Isolation::Container,
        None => {
            diags.push(
                Diagnostic::new(
                    Code::MissingIsolation,
                    block.name.span,
                    format!(
                        "policy `{}` does not say its isolation level",
                        block.name.node
                    ),
                )
                .with_hint("add `isolation process`, `isolation container` or `isolation wasm`"),
            );
            Isolation::Container
        }
    }
}

pub(super) fn unknown<'a>(
    code: Code,
    what: &str,
    name: &Spanned<String>,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let hint = match did_you_mean(&name.node, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "expected one of: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Diagnostic::new(code, name.span, format!("unknown {what} `{}`", name.node)).with_hint(hint)
}

fn keywords<T: Ord>(
    names: &[Spanned<String>],
    parse: fn(&str) -> Option<T>,
    known: impl Iterator<Item = &'static str> + Clone,
    code: Code,
    what: &str,
    into: &mut BTreeSet<T>,
    diags: &mut Diagnostics,
) {
    for n in names {
        match parse(&n.node) {
            Some(v) => {
                into.insert(v);
            }
            None => diags.push(unknown(code, what, n, known.clone())),
        }
    }
}

pub(super) fn canon(raw: &Spanned<String>, diags: &mut Diagnostics) -> Option<CanonPath> {
    path_or_diag(CanonPath::parse(&raw.node), raw, diags)
}

fn path_or_diag(
    parsed: Result<CanonPath, PathError>,
    raw: &Spanned<String>,
    diags: &mut Diagnostics,
) -> Option<CanonPath> {
    match parsed {
        Ok(p) => Some(p),
        Err(e) => {
            let (code, hint) = match e {
                PathError::Relative(_) => (
                    Code::RelativePath,
                    "start the path with `/`, or with `~/` for the home directory",
                ),
                PathError::Escapes(_) => (
                    Code::PathEscapes,
                    "remove the `..` that climbs above `/` or `~`",
                ),
                PathError::ControlChar(_) => (
                    Code::PathControlChar,
                    "paths may not contain NUL, newlines or other control characters",
                ),
                PathError::TooLong(_) => (
                    Code::PathTooLong,
                    "paths are at most 4095 bytes with components of at most 255",
                ),
                PathError::Glob(_) => (
                    Code::PathGlob,
                    "name the directory instead; denies and grants cover everything beneath a path",
                ),
            };
            diags.push(Diagnostic::new(code, raw.span, e.to_string()).with_hint(hint));
            None
        }
    }
}

fn guest_path(raw: &Spanned<String>, diags: &mut Diagnostics) -> Option<CanonPath> {
    let p = canon(raw, diags)?;
    if p.is_home() {
        diags.push(
            Diagnostic::new(
                Code::GuestPathNotAbsolute,
                raw.span,
                format!("guest path `{p}` is not absolute"),
            )
            .with_hint("guest paths are where the program sees a mount; write them from `/`"),
        );
        return None;
    }
    Some(p)
}

fn fs_rules(
    rules: &[FsRule],
    isolation: Isolation,
    scope: &Scope<'_>,
    fs: &mut ir::Fs,
    diags: &mut Diagnostics,
) {
    for rule in rules {
        match rule {
            FsRule::Mount {
                access,
                host,
                guest,
                span,
            } => {
                if let Some(m) = bind_mount(*access, host, guest.as_ref(), isolation, *span, diags)
                {
                    fs.mounts.push(m);
                }
            }
            FsRule::Scratch { path, size, span } | FsRule::Tmpfs { path, size, span } => {
                let (Some(guest), Some(size)) =
                    (guest_path(path, diags), sized(size.as_ref(), *span, diags))
                else {
                    continue;
                };
                let kind = if matches!(rule, FsRule::Scratch { .. }) {
                    MountKind::Scratch { size }
                } else {
                    MountKind::Tmpfs { size }
                };
                fs.mounts.push(ir::Mount {
                    guest,
                    kind,
                    span: *span,
                });
            }
            FsRule::Deny {
                access,
                target,
                span,
            } => {
                let access: BTreeSet<Access> = match access {
                    Some(a) => [*a].into(),
                    None => [Access::Read, Access::Write, Access::Exec].into(),
                };
                match target {
                    DenyTarget::Path(p) => {
                        if let Some(path) = canon(p, diags) {
                            fs.denies.push(ir::FsDeny {
                                path,
                                access,
                                list: None,
                                span: *span,
                            });
                        }
                    }
                    DenyTarget::List(name) => deny_list(name, &access, *span, scope, fs, diags),
                }
            }
        }
    }
}

fn bind_mount(
    access: Access,
    host: &Spanned<String>,
    guest: Option<&Spanned<String>>,
    isolation: Isolation,
    span: Span,
    diags: &mut Diagnostics,
) -> Option<ir::Mount> {
    let host_path = canon(host, diags)?;
    let guest_path = match guest {
        Some(g) => {
            let gp = guest_path(g, diags)?;
            if isolation == Isolation::Process && gp != host_path {
                diags.push(
                    Diagnostic::new(
                        Code::ProcessRemap,
                        g.span,
                        format!("process isolation cannot show `{host_path}` at `{gp}`"),
                    )
                    .with_hint("drop `at`, or use container isolation to remap paths"),
                );
                return None;
            }
            gp
        }
        None if host_path.is_home() && isolation != Isolation::Process => {
            diags.push(
                Diagnostic::new(
                    Code::MissingGuestPath,
                    host.span,
                    format!(
                        "`{host_path}` needs a guest path under {} isolation",
                        isolation.keyword()
                    ),
                )
                .with_hint(format!(
                    "add `at \"/mnt/...\"` to say where the program sees `{host_path}`"
                )),
            );
            return None;
        }
        None => host_path.clone(),
    };
    Some(ir::Mount {
        guest: guest_path,
        kind: MountKind::Bind {
            host: host_path,
            access,
        },
        span,
    })
}

/// Sort mounts by guest path, keeping the first of any that share one (the sort is stable,
/// so "first" is source order) and reporting the rest.
fn sort_mounts(fs: &mut ir::Fs, diags: &mut Diagnostics) {
    fs.mounts.sort_by(|a, b| a.guest.cmp(&b.guest));
    let mut kept: Vec<ir::Mount> = Vec::with_capacity(fs.mounts.len());
    for m in std::mem::take(&mut fs.mounts) {
        if kept.last().is_some_and(|prev| prev.guest == m.guest) {
            diags.push(
                Diagnostic::new(
                    Code::GuestPathCollision,
                    m.span,
                    format!("another mount is already at `{}`", m.guest),
                )
                .with_hint("give each mount its own guest path"),
            );
        } else {
            kept.push(m);
        }
    }
    fs.mounts = kept;
}

fn sized(size: Option<&Spanned<u64>>, span: Span, diags: &mut Diagnostics) -> Option<u64> {
    match size {
        Some(s) if s.node > 0 => Some(s.node),
        Some(s) => {
            diags.push(
                Diagnostic::new(Code::BadSize, s.span, "size is zero")
                    .with_hint("give a size such as `64MiB`"),
            );
            None
        }
        None => {
            diags.push(Diagnostic::new(Code::BadSize, span, "no size given").with_hint("add `size 64MiB` (or the size the task needs): unsized writable areas can fill the disk"));
            None
        }
    }
}

fn deny_list(
    name: &Spanned<String>,
    access: &BTreeSet<Access>,
    span: Span,
    scope: &Scope<'_>,
    fs: &mut ir::Fs,
    diags: &mut Diagnostics,
) {
    let Some(list) = scope.paths.get(name.node.as_str()) else {
        let hint = did_you_mean(&name.node, scope.paths.keys().copied()).map_or_else(
            || {
                "define it with `paths NAME { ... }`, or import one with `use std::secrets`"
                    .to_string()
            },
            |s| format!("did you mean `{s}`?"),
        );
        diags.push(
            Diagnostic::new(
                Code::UnknownPathList,
                name.span,
                format!("no path list `{}`", name.node),
            )
            .with_hint(hint),
        );
        return;
    };
    for raw in &list.paths {
        if let Some(path) = canon(raw, diags) {
            fs.denies.push(ir::FsDeny {
                path,
                access: access.clone(),
                list: Some(name.node.clone()),
                span,
            });
        }
    }
}

fn net(
    rules: &[&NetRule],
    scope: &Scope<'_>,
    local_tokens: &BTreeSet<&str>,
    p: &mut ir::Policy,
    diags: &mut Diagnostics,
) {
    let mut none_span = None;
    let mut dns: Option<Spanned<DnsMode>> = None;
    for rule in rules {
        match rule {
            NetRule::EgressNone(span) => none_span = Some(*span),
            NetRule::Dns(mode) => {
                if let Some(prev) = &dns {
                    if prev.node != mode.node {
                        diags.push(
                            Diagnostic::new(
                                Code::RepeatedStatement,
                                mode.span,
                                format!("DNS is already `{}`", prev.node.keyword()),
                            )
                            .with_hint("say `dns` once"),
                        );
                    }
                }
                dns = Some(mode.clone());
            }
            NetRule::Egress { via, rules, .. } => {
                for r in rules {
                    if let Some(rule) = egress_rule(*via, r, scope, local_tokens, p, diags) {
                        p.net.rules.push(rule);
                    }
                }
            }
        }
    }
    let has_rules = rules.iter().any(|r| matches!(r, NetRule::Egress { .. }));
    if let (Some(span), true) = (none_span, has_rules) {
        diags.push(
            Diagnostic::new(
                Code::RepeatedStatement,
                span,
                "`egress none` contradicts the egress rules of this policy",
            )
            .with_hint("remove `egress none`, or the egress rules"),
        );
    }
    p.net.egress_none = !has_rules;
    if let Some(span) = none_span.or_else(|| rules.first().map(|r| net_span(r))) {
        p.net.span = span;
    }
    p.net.dns = match dns {
        Some(mode) if p.net.egress_none && mode.node != DnsMode::None => {
            diags.push(
                Diagnostic::new(
                    Code::RepeatedStatement,
                    mode.span,
                    format!(
                        "`dns {}` in a policy without egress{}",
                        mode.node.keyword(),
                        if none_span.is_some() {
                            " (`egress none`)"
                        } else {
                            " rules"
                        }
                    ),
                )
                .with_hint("DNS is an exfiltration channel; with no egress there is no DNS"),
            );
            DnsMode::None
        }
        Some(mode) => {
            p.net.span = mode.span;
            mode.node
        }
        None if p.net.egress_none => DnsMode::None,
        None => DnsMode::AllowListedOnly,
    };
    p.net
        .rules
        .sort_by(|a, b| (a.allow, &a.host, a.port, a.via).cmp(&(b.allow, &b.host, b.port, b.via)));
}

fn net_span(r: &NetRule) -> Span {
    match r {
        NetRule::EgressNone(s) => *s,
        NetRule::Egress { span, .. } => *span,
        NetRule::Dns(m) => m.span,
    }
}

fn egress_rule(
    via: ast::EgressVia,
    r: &EgressRule,
    scope: &Scope<'_>,
    local_tokens: &BTreeSet<&str>,
    p: &mut ir::Policy,
    diags: &mut Diagnostics,
) -> Option<ir::EgressRule> {
    let (endpoint, allow, token, span) = match r {
        EgressRule::Allow {
            endpoint,
            token,
            span,
        } => (endpoint, true, token.as_ref(), *span),
        EgressRule::Deny { endpoint, span } => (endpoint, false, None, *span),
    };
    let host = host_pattern(&endpoint.host, diags);
    let port = match &endpoint.port {
        None if allow => {
            diags.push(
                Diagnostic::new(
                    Code::MissingPort,
                    endpoint.span,
                    format!("`allow \"{}\"` has no port", endpoint.host.node),
                )
                .with_hint("add the port (`:443`), or `:*` to allow every port"),
            );
            return None;
        }
        None => None,
        Some(p) => port(p, diags)?,
    };
    if let Some(t) = token {
        if !p.tokens.contains_key(&t.node) {
            match scope
                .tokens
                .get(t.node.as_str())
                .and_then(|decl| self::token(decl, diags))
            {
                Some(tok) => {
                    p.tokens.insert(t.node.clone(), tok);
                }
                // Declared, but with errors of its own (already reported).
                None if scope.tokens.contains_key(t.node.as_str())
                    || local_tokens.contains(t.node.as_str()) => {}
                None => {
                    diags.push(
                        unknown(Code::UnknownToken, "token", t, scope.tokens.keys().copied())
                            .with_hint("define it with `token NAME { audience ...; ttl ... }`"),
                    );
                }
            }
        }
    }
    Some(ir::EgressRule {
        allow,
        via,
        host: host?,
        port,
        token: token.map(|t| t.node.clone()),
        span,
    })
}

fn host_pattern(raw: &Spanned<String>, diags: &mut Diagnostics) -> Option<HostPattern> {
    HostPattern::parse(&raw.node)
        .map_err(|e| diags.push(host_error(e, raw.span)))
        .ok()
}

fn host_error(e: HostError, span: Span) -> Diagnostic {
    match e {
        HostError::Malformed(_) => Diagnostic::new(Code::BadHost, span, e.to_string()).with_hint(
            "write a DNS name (`api.example.com`), an IPv4 address or a bracketed IPv6 address",
        ),
        HostError::TooBroad(_) => Diagnostic::new(Code::BroadHostPattern, span, e.to_string())
            .with_hint(
                "wildcards are `*.domain.tld`: they cover strict subdomains of a name with at least two labels",
            ),
    }
}

/// `Ok(None)` is every port.
fn port(p: &Spanned<PortSpec>, diags: &mut Diagnostics) -> Option<Option<u16>> {
    match p.node {
        PortSpec::Any => Some(None),
        PortSpec::Number(n) => match u16::try_from(n) {
            Ok(v) if v > 0 => Some(Some(v)),
            _ => {
                diags.push(
                    Diagnostic::new(Code::BadPort, p.span, format!("port {n} is out of range"))
                        .with_hint("ports are 1 to 65535"),
                );
                None
            }
        },
    }
}

pub(super) fn token(t: &ast::TokenDecl, diags: &mut Diagnostics) -> Option<ir::Token> {
    let mut audience = None;
    let mut scopes = None;
    let mut ttl = None;
    let mut approval = None;
    let mut ok = true;
    for f in &t.fields {
        let dup = match f {
            ast::TokenField::Audience(a) => audience.replace(a.node.clone()).is_some(),
            ast::TokenField::Scope(s, _) => scopes
                .replace(s.iter().map(|x| x.node.clone()).collect::<Vec<_>>())
                .is_some(),
            ast::TokenField::Ttl(d) => ttl.replace(d.node).is_some(),
            ast::TokenField::Approval(a) => approval.replace(a.node).is_some(),
        };
        if dup {
            ok = false;
            diags.push(
                Diagnostic::new(
                    Code::BadToken,
                    f.span(),
                    format!("token `{}` repeats a field", t.name.node),
                )
                .with_hint("say each of audience, scope, ttl and approval once"),
            );
        }
    }
    for (missing, what) in [(audience.is_none(), "audience"), (ttl.is_none(), "ttl")] {
        if missing {
            ok = false;
            diags.push(
                Diagnostic::new(
                    Code::BadToken,
                    t.name.span,
                    format!("token `{}` has no {what}", t.name.node),
                )
                .with_hint("tokens need an audience and a ttl; scope and approval are optional"),
            );
        }
    }
    if ttl == Some(0) {
        ok = false;
        diags.push(
            Diagnostic::new(
                Code::BadToken,
                t.name.span,
                format!("token `{}` has a zero ttl", t.name.node),
            )
            .with_hint("give a short, non-zero ttl such as `5m`"),
        );
    }
    let mut scopes = scopes.unwrap_or_default();
    scopes.sort();
    scopes.dedup();
    ok.then(|| ir::Token {
        audience: audience.unwrap_or_default(),
        scopes,
        ttl_ms: ttl.unwrap_or(0),
        approval: approval.unwrap_or(false),
        span: t.span,
    })
}

fn limit(
    l: &ast::Limit,
    limits: &mut ir::Limits,
    seen: &mut BTreeMap<String, Span>,
    diags: &mut Diagnostics,
) {
    const NAMES: [&str; 4] = ["cpus", "files", "memory", "pids"];
    if !NAMES.contains(&l.name.node.as_str()) {
        diags.push(unknown(Code::BadLimit, "limit", &l.name, NAMES));
        return;
    }
    if seen.insert(l.name.node.clone(), l.span).is_some() {
        diags.push(
            Diagnostic::new(
                Code::RepeatedStatement,
                l.span,
                format!("limit `{}` is set twice", l.name.node),
            )
            .with_hint("set each limit once"),
        );
        return;
    }
    let bad = |msg: String, hint: &str| {
        Diagnostic::new(Code::BadLimit, l.value.span, msg).with_hint(hint)
    };
    match (l.name.node.as_str(), &l.value.node) {
        ("memory", ast::LimitValue::Size(v)) if *v > 0 => limits.memory = Some(*v),
        ("memory", _) => diags.push(bad(
            "memory needs a non-zero size".into(),
            "write a size such as `512MiB`",
        )),
        ("cpus", ast::LimitValue::Number(n)) => match millis(n) {
            Some(m) if m > 0 => limits.millicpus = Some(m),
            _ => diags.push(bad(
                format!("`{n}` is not a CPU count"),
                "write a positive number such as `1` or `0.5` (at most three decimals)",
            )),
        },
        (name, ast::LimitValue::Number(n)) => match n.parse::<u64>() {
            Ok(v) if v > 0 => {
                if name == "pids" {
                    limits.pids = Some(v);
                } else {
                    limits.files = Some(v);
                }
            }
            _ => diags.push(bad(
                format!("`{name}` needs a positive whole number, not `{n}`"),
                "write a count such as `64`",
            )),
        },
        (name, _) => diags.push(bad(
            format!("`{name}` is a count, not a size"),
            "write a count such as `64`",
        )),
    }
}

fn millis(n: &str) -> Option<u64> {
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    if frac.len() > 3 {
        return None;
    }
    let i: u64 = int.parse().ok()?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    i.checked_mul(1000)?.checked_add(f)
}

fn test(t: &ast::TestBlock, diags: &mut Diagnostics) -> ir::Test {
    if t.expectations.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::EmptyTest,
                t.name.span,
                format!("test \"{}\" has no expectations", t.name.node),
            )
            .with_hint("add `allow ...` or `deny ...` lines"),
        );
    }
    let cases = t
        .expectations
        .iter()
        .filter_map(|e| {
            let request = request(&e.request, diags)?;
            Some(ir::TestCase {
                expect_allow: e.allow,
                request,
                span: e.span,
            })
        })
        .collect();
    ir::Test {
        name: t.name.node.clone(),
        cases,
        span: t.span,
    }
}

/// A request as written in a test, checked and normalised exactly like policy values.
pub(super) fn request(r: &ast::RequestSyntax, diags: &mut Diagnostics) -> Option<Request> {
    match r {
        ast::RequestSyntax::Fs(access, path) => {
            let path = path_or_diag(CanonPath::parse_request(&path.node), path, diags)?;
            Some(Request::Fs {
                access: *access,
                path,
            })
        }
        ast::RequestSyntax::Connect(ep) => {
            let host = Host::parse(&ep.host.node)
                .map_err(|e| diags.push(host_error(e, ep.host.span)))
                .ok();
            let port = match &ep.port {
                Some(Spanned {
                    node: PortSpec::Number(_),
                    ..
                }) => ep.port.as_ref().and_then(|p| port(p, diags)).flatten(),
                _ => {
                    diags.push(
                        Diagnostic::new(
                            Code::MissingPort,
                            ep.span,
                            "a connect request needs one port",
                        )
                        .with_hint("write `connect \"host\":443`"),
                    );
                    None
                }
            };
            Some(Request::Connect {
                host: host?,
                port: port?,
            })
        }
        ast::RequestSyntax::Resolve(h) => {
            let host = Host::parse(&h.node)
                .map_err(|e| diags.push(host_error(e, h.span)))
                .ok()?;
            Some(Request::Resolve { host })
        }
        ast::RequestSyntax::Syscall(name, args) => {
            if !crate::syscalls::is_known(&name.node) {
                diags.push(syscalls::unknown_syscall(name));
                return None;
            }
            let given = args.clone().unwrap_or_default();
            if given.len() > 6 {
                diags.push(
                    Diagnostic::new(
                        Code::TooManyArgs,
                        name.span,
                        format!("`{}` is given {} arguments", name.node, given.len()),
                    )
                    .with_hint("syscalls take at most six arguments"),
                );
                return None;
            }
            let mut a = [0u64; 6];
            for (slot, v) in a.iter_mut().zip(given) {
                *slot = v;
            }
            Some(Request::Syscall {
                name: name.node.clone(),
                args: a,
            })
        }
    }
}
