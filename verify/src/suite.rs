//! Everything `policyc test` proves about one policy, in one call: its test cases on the
//! reference semantics and every layer, the stack check over its cases and the adversarial
//! requests aimed at it, leaks with minimal reproducing policies, and coverage.

use crate::adversary;
use crate::coverage::{self, Coverage};
use crate::leak::{self, Leak};
use crate::minimize::{self, Subject};
use crate::probe::Probe;
use crate::run::{emit_layers, run_cases, CaseRun, Layer};
use crate::stack::{self, Gap};
use policyc_compiler::ir::Policy;
use policyc_compiler::ModuleLoader;
use policyc_targets::{EmitContext, Target};
use std::collections::BTreeSet;

/// Where the policy came from, for minimal reproducing policies.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub source: &'a str,
    pub loader: &'a dyn ModuleLoader,
}

impl std::fmt::Debug for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin").finish_non_exhaustive()
    }
}

/// A leak with the smallest policy that still shows it.
#[derive(Debug, Clone)]
pub struct LeakReport {
    pub leak: Leak,
    /// `None` when minimisation could not reproduce it from the source alone.
    pub minimal: Option<String>,
}

/// The verification of one policy.
#[derive(Debug)]
pub struct Verification {
    pub layers: Vec<Layer>,
    pub cases: Vec<CaseRun>,
    /// How many requests the policy denies were checked against the stack.
    pub stack_checked: usize,
    pub gaps: Vec<Gap>,
    pub leaks: Vec<LeakReport>,
    pub coverage: Coverage,
}

impl Verification {
    /// Gaps that no build report declares.
    pub fn undeclared_gaps(&self) -> impl Iterator<Item = &Gap> {
        self.gaps.iter().filter(|g| g.declared.is_none())
    }
}

/// At most this many leaks are minimised per policy (each minimisation recompiles).
const MAX_MINIMISED: usize = 5;

/// Verify `policy` on `targets` (normally its stack), with artifacts emitted for `ctx`.
pub fn verify(
    policy: &Policy,
    targets: &[&'static dyn Target],
    ctx: &EmitContext,
    origin: Option<Origin<'_>>,
) -> Verification {
    let home = ctx.home.as_deref();
    let layers = emit_layers(policy, targets, ctx);
    let cases = run_cases(policy, &layers, home);
    let mut probes: BTreeSet<Probe> = cases.iter().map(|c| c.probe.clone()).collect();
    probes.extend(adversary::exhaustive(&adversary::pools(policy, home)));
    let probes: Vec<Probe> = probes.into_iter().collect();
    let gaps = stack::check(policy, &layers, home, &probes);
    let stack_checked = probes
        .iter()
        .filter(|p| !crate::probe::reference_at(policy, home, p).allow)
        .count();
    let mut leaks = Vec::new();
    for p in &probes {
        for l in leak::find(policy, &layers, home, p) {
            let minimal = match origin {
                Some(o) if leaks.len() < MAX_MINIMISED => minimal(policy, targets, ctx, o, &l),
                _ => None,
            };
            leaks.push(LeakReport { leak: l, minimal });
        }
    }
    let coverage = coverage::coverage(policy, &cases);
    Verification {
        layers,
        cases,
        stack_checked,
        gaps,
        leaks,
        coverage,
    }
}

fn minimal(
    policy: &Policy,
    targets: &[&'static dyn Target],
    ctx: &EmitContext,
    o: Origin<'_>,
    l: &Leak,
) -> Option<String> {
    let target = targets.iter().find(|t| t.name() == l.target)?;
    minimize::minimize(&Subject {
        source: o.source,
        policy: &policy.name,
        loader: o.loader,
        target: *target,
        ctx,
        probe: &l.probe,
    })
}
