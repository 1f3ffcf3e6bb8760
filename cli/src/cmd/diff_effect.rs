//! `policyc diff --artifacts`: what two builds' artifacts do, compared by their simulators.
//!
//! For each policy both build folders hold, requests are drawn from both versions of the
//! policy: their test blocks and their adversarial requests (the pools `policyc test` and
//! `policyc fuzz` use), sorted, and when there are more than the bound, a seeded sample of
//! the adversarial ones (every test request is kept). Each target's simulator then reads the
//! OLD and the NEW artifact bytes and answers every request. A request a layer denied before
//! and no longer denies widens that layer; the reverse narrows it. Each change is set against
//! the reference semantics (`decide`) of the old and the new policy: a layer that widened
//! where the policy widened too follows the policy; any other change is drift (an artifact
//! that changed while its policy did not, or changed the other way).

use super::diff_builds::{Build, BuiltPolicy};
use policyc_compiler::ir::Policy;
use policyc_compiler::{SourceMap, Span};
use policyc_targets::{registry, Artifacts, Fixed, Simulator, Verdict};
use policyc_verify::adversary;
use policyc_verify::probe::{reference_at, Probe};
use policyc_verify::rng::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many requests are asked of each policy's artifacts, and the seed that picks them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampling {
    pub max: usize,
    pub seed: u64,
}

/// One policy's version on one side, with the sources its spans point into.
pub(crate) type Versioned<'a> = super::diff_artifacts::SidePolicy<'a>;

/// The comparison of two builds.
#[derive(Debug, Serialize)]
pub(crate) struct EffectReport {
    /// The two build folders, as named.
    pub old: String,
    pub new: String,
    pub seed: u64,
    pub policies: Vec<PolicyEffect>,
    /// Policies only one build holds, and policies with no source to sample from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One policy's artifacts compared.
#[derive(Debug, Serialize)]
pub(crate) struct PolicyEffect {
    pub policy: String,
    /// How many requests each simulator answered.
    pub requests: usize,
    pub targets: Vec<TargetEffect>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One target's artifacts compared.
#[derive(Debug, Serialize)]
pub(crate) struct TargetEffect {
    pub target: &'static str,
    /// The artifact files whose bytes differ (added and removed ones included).
    pub changed_files: Vec<String>,
    /// Requests this layer denied before and no longer denies.
    pub widens: Vec<Change>,
    /// Requests this layer denies now and did not before.
    pub narrows: Vec<Change>,
}

/// One request whose verdict changed on one layer.
#[derive(Debug, Serialize)]
pub(crate) struct Change {
    pub request: String,
    pub old: Verdict,
    pub new: Verdict,
    /// The policy's decision, old and new.
    pub policy_old: Verdict,
    pub policy_new: Verdict,
    /// True when the policy changed the same way as the artifact; false is drift.
    pub follows_policy: bool,
    /// The rule that decides the request in the new policy (or the old, when the new
    /// decides by default), `file:line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl TargetEffect {
    /// Drift: a change the policy did not make.
    pub fn drift(&self) -> impl Iterator<Item = &Change> {
        self.widens
            .iter()
            .chain(&self.narrows)
            .filter(|c| !c.follows_policy)
    }
}

impl EffectReport {
    /// Some layer denies less than before.
    pub fn widens(&self) -> bool {
        self.targets().any(|t| !t.widens.is_empty())
    }

    /// Some layer now allows what the policy did not newly allow.
    pub fn drift_widens(&self) -> bool {
        self.targets()
            .any(|t| t.widens.iter().any(|c| !c.follows_policy))
    }

    fn targets(&self) -> impl Iterator<Item = &TargetEffect> {
        self.policies.iter().flat_map(|p| &p.targets)
    }
}

/// Compare two builds. `policies` pairs each policy name with its old and new version;
/// `home` stands for `~` where a build's manifest names no home.
pub(crate) fn compare(
    old: &Build,
    new: &Build,
    policies: &BTreeMap<String, (Option<Versioned<'_>>, Option<Versioned<'_>>)>,
    home: Option<&str>,
    sampling: Sampling,
) -> EffectReport {
    let mut report = EffectReport {
        old: old.shown.clone(),
        new: new.shown.clone(),
        seed: sampling.seed,
        policies: Vec::new(),
        notes: Vec::new(),
    };
    let names: BTreeSet<&String> = old.policies.keys().chain(new.policies.keys()).collect();
    for name in names {
        let (Some(a), Some(b)) = (old.policies.get(name), new.policies.get(name)) else {
            let side = if old.policies.contains_key(name) {
                "old"
            } else {
                "new"
            };
            report.notes.push(format!(
                "{name}: only the {side} build has it; not compared"
            ));
            continue;
        };
        match policies.get(name) {
            Some((Some(p), Some(q))) => {
                let home = b.home.as_deref().or(a.home.as_deref()).or(home);
                report
                    .policies
                    .push(compare_policy(name, (a, p), (b, q), home, sampling));
            }
            _ => report.notes.push(format!(
                "{name}: no policy source on both sides to sample requests from; not compared"
            )),
        }
    }
    report
}

fn compare_policy(
    name: &str,
    (a, p): (&BuiltPolicy, &Versioned<'_>),
    (b, q): (&BuiltPolicy, &Versioned<'_>),
    home: Option<&str>,
    sampling: Sampling,
) -> PolicyEffect {
    let probes = probes(p.policy, q.policy, home, sampling);
    let decided: Vec<(Verdict, Verdict, Option<String>)> = probes
        .iter()
        .map(|r| {
            let d0 = reference_at(p.policy, home, r);
            let d1 = reference_at(q.policy, home, r);
            let rule = d1
                .span
                .map(|s| rule_line(q.sources, s))
                .or_else(|| d0.span.map(|s| rule_line(p.sources, s)));
            (verdict(d0.allow), verdict(d1.allow), rule)
        })
        .collect();
    let mut targets = Vec::new();
    for t in registry() {
        let (x, y) = (a.targets.get(t.name()), b.targets.get(t.name()));
        if x.is_none() && y.is_none() {
            continue;
        }
        let (sx, sy) = (simulator(*t, x), simulator(*t, y));
        let mut effect = TargetEffect {
            target: t.name(),
            changed_files: changed_files(x, y),
            widens: Vec::new(),
            narrows: Vec::new(),
        };
        for (probe, (d0, d1, rule)) in probes.iter().zip(&decided) {
            let (v0, v1) = (ask(&*sx, probe), ask(&*sy, probe));
            let widened = v0 == Verdict::Deny && v1 != Verdict::Deny;
            let narrowed = v0 != Verdict::Deny && v1 == Verdict::Deny;
            if !widened && !narrowed {
                continue;
            }
            let follows = if widened {
                *d0 == Verdict::Deny && *d1 == Verdict::Allow
            } else {
                *d0 == Verdict::Allow && *d1 == Verdict::Deny
            };
            let change = Change {
                request: probe.to_string(),
                old: v0,
                new: v1,
                policy_old: *d0,
                policy_new: *d1,
                follows_policy: follows,
                rule: rule.clone(),
            };
            if widened {
                effect.widens.push(change);
            } else {
                effect.narrows.push(change);
            }
        }
        targets.push(effect);
    }
    let mut notes = a.notes.clone();
    notes.extend(b.notes.iter().cloned());
    notes.sort();
    notes.dedup();
    PolicyEffect {
        policy: name.to_string(),
        requests: probes.len(),
        targets,
        notes,
    }
}

fn verdict(allow: bool) -> Verdict {
    Verdict::allow_or_deny(allow)
}

/// A side's simulator; a target the side did not build mediates nothing there.
fn simulator(t: &dyn policyc_targets::Target, arts: Option<&Artifacts>) -> Box<dyn Simulator> {
    match arts {
        Some(a) => t.simulator(a),
        None => Box::new(Fixed(Verdict::NotMediated)),
    }
}

fn ask(sim: &dyn Simulator, probe: &Probe) -> Verdict {
    match probe {
        Probe::Request(r) => sim.simulate(r),
        Probe::Raw { abi, nr, args } => sim.simulate_raw(*abi, *nr, *args),
    }
}

fn changed_files(x: Option<&Artifacts>, y: Option<&Artifacts>) -> Vec<String> {
    let empty = Artifacts::new();
    let (x, y) = (x.unwrap_or(&empty), y.unwrap_or(&empty));
    let paths: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    paths
        .into_iter()
        .filter(|p| x.get(*p) != y.get(*p))
        .cloned()
        .collect()
}

/// The requests asked of both builds: every test request of both versions, and their
/// adversarial requests, at most `sampling.max` in all (test requests first), sorted.
fn probes(old: &Policy, new: &Policy, home: Option<&str>, sampling: Sampling) -> Vec<Probe> {
    let mut tests = BTreeSet::new();
    for p in [old, new] {
        for t in &p.tests {
            tests.extend(t.cases.iter().map(|c| Probe::Request(c.request.clone())));
        }
    }
    let mut rest = BTreeSet::new();
    for p in [old, new] {
        rest.extend(adversary::exhaustive(&adversary::pools(p, home)));
    }
    let mut rest: Vec<Probe> = rest.difference(&tests).cloned().collect();
    let room = sampling.max.saturating_sub(tests.len());
    if rest.len() > room {
        // A partial Fisher-Yates shuffle: the first `room` entries are the sample.
        let mut rng = Rng::new(sampling.seed);
        for i in 0..room {
            let j = i + rng.below(rest.len() - i);
            rest.swap(i, j);
        }
        rest.truncate(room);
    }
    let mut all: BTreeSet<Probe> = tests;
    all.extend(rest);
    all.into_iter().collect()
}

/// `file:line` of a span.
fn rule_line(sources: &SourceMap, span: Span) -> String {
    sources.get(span.file).map_or_else(
        || "<unknown>".to_string(),
        |f| format!("{}:{}", f.name, f.line_col(span.start).0),
    )
}
