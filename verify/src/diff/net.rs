//! Endpoints and DNS names: each host and port any egress rule of either version names
//! (a name under `*.domain` for wildcards, every port named anywhere for rules on every
//! port), asked of both versions; and, for endpoints allowed by both, whether the allowing
//! rule changed its route (proxy or direct) or its token.

use super::{risk, Area, Class, Entry, Pair, Side};
use policyc_compiler::ast::EgressVia;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::EgressRule;
use policyc_compiler::{decide, Request};
use std::collections::BTreeSet;

/// The label a wildcard's probe name starts with.
const PROBE_LABEL: &str = "policyc-probe";

/// A name no rule names, for "does it resolve any name at all".
const ANY_NAME: &str = "policyc-probe.invalid";

/// Every egress and DNS entry.
pub fn diff(pair: &Pair<'_>) -> Vec<Entry> {
    let mut out = endpoints(pair);
    out.extend(names(pair));
    out
}

fn rules<'a>(pair: &'a Pair<'_>) -> impl Iterator<Item = &'a EgressRule> {
    pair.old
        .policy
        .net
        .rules
        .iter()
        .chain(pair.new.policy.net.rules.iter())
}

/// A host a pattern matches.
fn sample(p: &HostPattern) -> Option<Host> {
    match p {
        HostPattern::Exact(h) => Some(h.clone()),
        HostPattern::Subdomains(d) => Host::parse(&format!("{PROBE_LABEL}.{d}")).ok(),
    }
}

/// `"api.example.com":443`, `"*.example.com":*`.
fn endpoint(pattern: &HostPattern, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("\"{pattern}\":{p}"),
        None => format!("\"{pattern}\":*"),
    }
}

fn endpoints(pair: &Pair<'_>) -> Vec<Entry> {
    let ports: BTreeSet<u16> = rules(pair).filter_map(|r| r.port).collect();
    let mut keys: Vec<(String, HostPattern, Option<u16>)> = rules(pair)
        .map(|r| (endpoint(&r.host, r.port), r.host.clone(), r.port))
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.dedup_by(|a, b| a.0 == b.0);
    let mut out: Vec<Entry> = Vec::new();
    for (_, pattern, port) in keys {
        let Some(host) = sample(&pattern) else {
            continue;
        };
        let probes: Vec<u16> = match port {
            Some(p) => vec![p],
            None => std::iter::once(1).chain(ports.iter().copied()).collect(),
        };
        for p in probes {
            let shown = if port.is_none() && p == 1 {
                endpoint(&pattern, None)
            } else {
                endpoint(&pattern, Some(p))
            };
            if let Some(e) = endpoint_entry(pair, &host, p, &shown) {
                if !out.iter().any(|o| o.change == e.change) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// The allow rule `decide` uses for an allowed connection.
fn allowing<'a>(side: &Side<'a>, host: &Host, port: u16) -> Option<&'a EgressRule> {
    side.policy
        .net
        .rules
        .iter()
        .find(|r| r.allow && r.host.matches(host) && r.port.is_none_or(|p| p == port))
}

fn via_word(v: EgressVia) -> &'static str {
    match v {
        EgressVia::Proxy => "through the proxy",
        EgressVia::Direct => "direct",
    }
}

fn endpoint_entry(pair: &Pair<'_>, host: &Host, port: u16, shown: &str) -> Option<Entry> {
    let req = Request::Connect {
        host: host.clone(),
        port,
    };
    let o = decide(pair.old.policy, &req);
    let n = decide(pair.new.policy, &req);
    let old = pair.old.note(unprobed(&o.reason), o.span);
    let new = pair.new.note(unprobed(&n.reason), n.span);
    if o.allow != n.allow {
        let direct = allowing(&pair.new, host, port).is_some_and(|r| r.via == EgressVia::Direct);
        let (sign, class, risk) = if n.allow {
            ('+', Class::Widens, risk::egress(pair, direct))
        } else {
            ('-', Class::Narrows, None)
        };
        let route = if n.allow && direct { " (direct)" } else { "" };
        return Some(Entry {
            area: Area::Egress,
            class,
            change: format!("{sign} connect {shown}{route}"),
            risk,
            old,
            new,
        });
    }
    let (ro, rn) = (
        allowing(&pair.old, host, port)?,
        allowing(&pair.new, host, port)?,
    );
    if ro.via != rn.via {
        let widens = rn.via == EgressVia::Direct;
        return Some(Entry {
            area: Area::Egress,
            class: if widens {
                Class::Widens
            } else {
                Class::Narrows
            },
            change: format!(
                "~ connect {shown}: {} -> {}",
                via_word(ro.via),
                via_word(rn.via)
            ),
            risk: widens.then(|| risk::egress(pair, true)).flatten(),
            old,
            new,
        });
    }
    (ro.token != rn.token).then(|| Entry {
        area: Area::Egress,
        class: Class::Neutral,
        change: format!(
            "~ connect {shown}: token {} -> {}",
            ro.token.as_deref().unwrap_or("none"),
            rn.token.as_deref().unwrap_or("none")
        ),
        risk: None,
        old,
        new,
    })
}

fn names(pair: &Pair<'_>) -> Vec<Entry> {
    let mut hosts: Vec<(String, Host)> = rules(pair)
        .filter_map(|r| sample(&r.host).map(|h| (format!("\"{}\"", r.host), h)))
        .collect();
    if let Ok(any) = Host::parse(ANY_NAME) {
        hosts.push(("any name".to_string(), any));
    }
    hosts.sort_by(|a, b| a.0.cmp(&b.0));
    hosts.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::new();
    for (shown, host) in hosts {
        let req = Request::Resolve { host };
        let o = decide(pair.old.policy, &req);
        let n = decide(pair.new.policy, &req);
        if o.allow == n.allow {
            continue;
        }
        let (sign, class) = if n.allow {
            ('+', Class::Widens)
        } else {
            ('-', Class::Narrows)
        };
        out.push(Entry {
            area: Area::Dns,
            class,
            change: format!("{sign} resolve {shown}"),
            risk: n.allow.then(|| risk::dns(pair)).flatten(),
            old: pair.old.note(unprobed(&o.reason), o.span),
            new: pair.new.note(unprobed(&n.reason), n.span),
        });
    }
    out
}

/// A reason with a wildcard's probe name written as the wildcard.
fn unprobed(reason: &str) -> String {
    reason
        .replace(&format!("{PROBE_LABEL}."), "*.")
        .replace("`*.invalid`", "any other name")
}
