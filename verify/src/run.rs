//! Emit a policy's layers and run its test cases on the reference semantics and on every
//! layer's simulator.

use crate::probe::{self, Probe};
use policyc_compiler::eval::Decision;
use policyc_compiler::ir::Policy;
use policyc_compiler::{Diagnostic, Span};
use policyc_targets::{EmitContext, Emitted, Simulator, Target, Verdict};
use serde::Serialize;

/// One target's artifacts for a policy, or why it could not emit them.
pub struct Layer {
    pub target: &'static dyn Target,
    pub emitted: Result<Emitted, Vec<Diagnostic>>,
    /// The simulator over the emitted artifacts, read once.
    sim: Option<Box<dyn Simulator>>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("target", &self.target.name())
            .field("emitted", &self.emitted)
            .finish()
    }
}

impl Layer {
    pub fn name(&self) -> &'static str {
        self.target.name()
    }

    /// A layer for artifacts emitted elsewhere (or an emission failure).
    pub fn new(target: &'static dyn Target, emitted: Result<Emitted, Vec<Diagnostic>>) -> Self {
        let sim = emitted
            .as_ref()
            .ok()
            .map(|e| target.simulator(&e.artifacts));
        Layer {
            target,
            emitted,
            sim,
        }
    }

    /// The simulator's verdict, or `None` when the target emitted nothing.
    pub fn verdict(&self, probe: &Probe) -> Option<Verdict> {
        let sim = self.sim.as_ref()?;
        Some(match probe {
            Probe::Request(r) => sim.simulate(r),
            Probe::Raw { abi, nr, args } => sim.simulate_raw(*abi, *nr, *args),
        })
    }
}

/// Emit `policy` for each target.
pub fn emit_layers(
    policy: &Policy,
    targets: &[&'static dyn Target],
    ctx: &EmitContext,
) -> Vec<Layer> {
    targets
        .iter()
        .map(|t| Layer::new(*t, t.emit(policy, ctx)))
        .collect()
}

/// How one layer did on one test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The target does not decide this kind of request; another layer must.
    NotMediated,
    /// The target emitted nothing (its build errors are reported separately).
    NotBuilt,
}

/// One test case, decided by the reference semantics and by every layer.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRun {
    pub test: String,
    pub request: String,
    pub expect_allow: bool,
    pub reference: Decision,
    /// Per layer: its name, verdict and outcome.
    pub layers: Vec<LayerOutcome>,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub probe: Probe,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerOutcome {
    pub target: &'static str,
    pub verdict: Option<VerdictName>,
    pub outcome: Outcome,
}

/// A verdict as JSON spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictName {
    Allow,
    Deny,
    NotMediated,
}

impl From<Verdict> for VerdictName {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Allow => VerdictName::Allow,
            Verdict::Deny => VerdictName::Deny,
            Verdict::NotMediated => VerdictName::NotMediated,
        }
    }
}

impl CaseRun {
    pub fn reference_passed(&self) -> bool {
        self.expect_allow == self.reference.allow
    }
}

/// The outcome of a layer's verdict against a test's expectation: a layer that allows what
/// the test says is denied fails (it leaks, whatever the other layers do), and so does one
/// that denies what the test says is allowed.
pub fn outcome(expect_allow: bool, verdict: Option<Verdict>) -> Outcome {
    match verdict {
        None => Outcome::NotBuilt,
        Some(Verdict::NotMediated) => Outcome::NotMediated,
        Some(Verdict::Allow) if expect_allow => Outcome::Pass,
        Some(Verdict::Deny) if !expect_allow => Outcome::Pass,
        Some(_) => Outcome::Fail,
    }
}

/// Run every test case of `policy` on the reference semantics and on each layer.
pub fn run_cases(policy: &Policy, layers: &[Layer], home: Option<&str>) -> Vec<CaseRun> {
    let mut out = Vec::new();
    for t in &policy.tests {
        for c in &t.cases {
            let probe = Probe::Request(c.request.clone());
            let reference = probe::reference(policy, &probe::for_reference(policy, home, &probe));
            let layers = layers
                .iter()
                .map(|l| {
                    let v = l.verdict(&probe);
                    LayerOutcome {
                        target: l.name(),
                        verdict: v.map(VerdictName::from),
                        outcome: outcome(c.expect_allow, v),
                    }
                })
                .collect();
            out.push(CaseRun {
                test: t.name.clone(),
                request: c.request.to_string(),
                expect_allow: c.expect_allow,
                reference,
                layers,
                span: c.span,
                probe,
            });
        }
    }
    out
}
