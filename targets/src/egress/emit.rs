//! The artifact from the checked IR: the policy's egress rules in decision order, the DNS
//! lists they give, its tokens and its audit settings.

use super::artifact::{Artifact, Audit, Dns, Rule, TokenGrant};
use crate::common::net_span;
use policyc_compiler::hosts::HostPattern;
use policyc_compiler::ir::{AuditItem, EgressRule, Policy};
use policyc_compiler::{Code, Diagnostic};

/// The artifact for `policy` (for `egress none`: one that denies everything).
pub(crate) fn artifact(policy: &Policy) -> Artifact {
    let net = &policy.net;
    let mut rules: Vec<Rule> = if net.egress_none {
        Vec::new()
    } else {
        net.rules.iter().map(rule).collect()
    };
    // Decision order: every deny, then every allow (the IR keeps each group sorted).
    rules.sort_by_key(|r| r.allow);
    let dns = Dns::derive(net.dns, &rules);
    let audited = |item| policy.audit.contains(&item);
    Artifact {
        policy: policy.name.clone(),
        egress: !rules.is_empty(),
        rules,
        dns,
        tokens: policy
            .tokens
            .iter()
            .map(|(name, t)| {
                let grant = TokenGrant {
                    audience: t.audience.clone(),
                    scopes: t.scopes.clone(),
                    ttl_ms: t.ttl_ms,
                    approval: t.approval,
                };
                (name.clone(), grant)
            })
            .collect(),
        audit: Audit {
            egress: audited(AuditItem::Egress),
            dns: audited(AuditItem::Dns),
            tokens: audited(AuditItem::Tokens),
            denials: audited(AuditItem::Denials),
        },
    }
}

fn rule(r: &EgressRule) -> Rule {
    Rule {
        allow: r.allow,
        host: r.host.clone(),
        port: r.port,
        via: r.via,
        token: r.token.clone(),
        rule: r.to_string(),
    }
}

/// `P1203`: each allow rule naming an address that is not public, which the supervisor
/// never dials and the simulator denies.
fn narrowed(policy: &Policy) -> impl Iterator<Item = Diagnostic> + '_ {
    policy.net.rules.iter().filter(|r| r.allow).filter_map(|r| {
        let HostPattern::Exact(host) = &r.host else {
            return None;
        };
        let why = host.non_public()?;
        Some(
            Diagnostic::new(
                Code::EgressNarrowed,
                r.span,
                format!("egress: `{r}` is narrowed: `{host}` is not a public address ({why}), and the egress supervisor never dials one; connections to it are refused"),
            )
            .with_hint("name the service instead and, to reach it on this machine or network, pin the name with `policyc exec --resolve NAME:PORT:ADDR`"),
        )
    })
}

/// `P1202`: what the layer leaves to others, and what its simulator cannot see; `P1203`:
/// what it narrows.
pub(crate) fn report(policy: &Policy) -> Vec<Diagnostic> {
    let mut out = vec![Diagnostic::new(
        Code::EgressNotMediated,
        policy.span,
        "egress: the egress layer decides TCP connections (by host and port) and name lookups only; file system access and syscalls are other layers'",
    )];
    if !policy.net.egress_none {
        out.extend(narrowed(policy));
        out.push(Diagnostic::new(
            Code::EgressNotMediated,
            net_span(policy),
            "egress: the simulator decides a connection by host and port; what it carries (the TLS server name, the HTTP `Host`, the token) is checked by the supervisor when the program runs",
        ));
    }
    out
}
