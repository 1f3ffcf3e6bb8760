//! The stack check: every request the policy denies is denied by at least one layer of its
//! isolation level's stack.
//!
//! A request no layer denies is a gap. When the stack has the egress layer (every policy
//! with egress rules does), connections and name resolution are that layer's, and a gap in
//! them is a failure like any other. Checked without it (a stack chosen by hand), a gap in
//! name resolution or connections whose hosts a layer's build report says another layer
//! decides is a declared limit (the report names the policy's `net` rule); every other gap is
//! a failure.

use crate::probe::{self, Probe};
use crate::run::Layer;
use policyc_compiler::eval::Decision;
use policyc_compiler::ir::Policy;
use policyc_compiler::{Code, Request, Span};
use policyc_targets::egress::Egress;
use policyc_targets::{Target, Verdict};

/// A request the policy denies that no layer denies.
#[derive(Debug, Clone)]
pub struct Gap {
    pub probe: Probe,
    pub reference: Decision,
    /// Every layer and what it said (`None`: it emitted nothing).
    pub layers: Vec<(&'static str, Option<Verdict>)>,
    /// For a declared limit: the report message that states it, and where.
    pub declared: Option<(String, Span)>,
}

/// Check `probes` against the stack. Returns the gaps, declared ones included.
pub fn check(policy: &Policy, layers: &[Layer], home: Option<&str>, probes: &[Probe]) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for p in probes {
        let reference = probe::reference(policy, &probe::for_reference(policy, home, p));
        if reference.allow {
            continue;
        }
        let verdicts: Vec<(&'static str, Option<Verdict>)> =
            layers.iter().map(|l| (l.name(), l.verdict(p))).collect();
        if verdicts.iter().any(|(_, v)| *v == Some(Verdict::Deny)) {
            continue;
        }
        gaps.push(Gap {
            declared: declared_limit(policy, layers, p),
            probe: p.clone(),
            reference,
            layers: verdicts,
        });
    }
    gaps
}

/// The report codes by which a layer says it leaves a kind of request to others.
const NOT_MEDIATED: [Code; 4] = [
    Code::LandlockNotMediated,
    Code::AppArmorNotMediated,
    Code::OciNotMediated,
    Code::WasiNotMediated,
];

/// A layer report that states the stack leaves this kind of request to something outside
/// it: for connections and name resolution, a "not mediated" entry (P0805, P0905, P1010,
/// P1105) located at the policy's egress rules (or the block holding them). Other entries
/// at the same place (a Landlock ABI warning, say) declare nothing about hosts or names.
fn declared_limit(policy: &Policy, layers: &[Layer], p: &Probe) -> Option<(String, Span)> {
    // The words by which a "not mediated" entry says what it leaves to others.
    let about: &[&str] = match p {
        Probe::Request(Request::Connect { .. }) => &["hosts"],
        Probe::Request(Request::Resolve { .. }) => &["names", "DNS"],
        _ => return None,
    };
    if policy.net.egress_none || layers.iter().any(|l| l.name() == Egress.name()) {
        return None;
    }
    let inside = |outer: Span, inner: Span| {
        outer.file == inner.file && outer.start <= inner.start && inner.end <= outer.end
    };
    let names_net = |s: Span| {
        s.key() == policy.net.span.key() || policy.net.rules.iter().any(|r| inside(s, r.span))
    };
    let whole = policy.span.key();
    layers
        .iter()
        .filter_map(|l| l.emitted.as_ref().ok())
        .flat_map(|e| e.report.iter())
        .filter(|d| NOT_MEDIATED.contains(&d.code) && about.iter().any(|w| d.message.contains(w)))
        .filter(|d| d.span.key() != whole && names_net(d.span))
        .min_by_key(|d| (d.span.end.saturating_sub(d.span.start), d.span.start))
        .map(|d| (d.message.clone(), d.span))
}

/// The layer table printed for a gap: one row per layer.
pub fn table(gap: &Gap) -> Vec<String> {
    gap.layers
        .iter()
        .map(|(name, v)| {
            let said = match v {
                Some(Verdict::Allow) => "allow",
                Some(Verdict::Deny) => "deny",
                Some(Verdict::NotMediated) => "not mediated",
                None => "not built",
            };
            format!("{name:<9} {said}")
        })
        .collect()
}
