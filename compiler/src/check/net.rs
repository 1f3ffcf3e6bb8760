//! The `net` statements of a policy to IR: hosts normalised, ports checked, and the
//! capability tokens egress rules carry.

use super::{unknown, Scope};
use crate::ast::{self, DnsMode, EgressRule, NetRule, PortSpec};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::hosts::{HostError, HostPattern};
use crate::ir;
use crate::span::{Span, Spanned};
use std::collections::BTreeSet;

/// The `net` statements of one policy: egress rules (sorted, denies first), `egress none`
/// and DNS, into `p.net`; tokens named by rules are copied into `p.tokens`.
pub(super) fn to_ir(
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
                    format!(
                        "`allow \"{}\"` has no port",
                        crate::diag::clip(&endpoint.host.node)
                    ),
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

/// The diagnostic for a host that does not parse or a pattern that is too broad.
pub(super) fn host_error(e: HostError, span: Span) -> Diagnostic {
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
pub(super) fn port(p: &Spanned<PortSpec>, diags: &mut Diagnostics) -> Option<Option<u16>> {
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

/// A token declaration as IR; `None` when it repeats a field or lacks one it needs.
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
