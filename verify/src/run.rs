//! Emit a policy's layers and run its test cases on the reference semantics and on every
//! layer's simulator.

pub use crate::outcome::Outcome;
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

/// One layer's verdict on a test case, and how that compares with the expectation.
#[derive(Debug, Clone, Serialize)]
pub struct LayerOutcome {
    pub target: &'static str,
    /// `None` when the target emitted nothing.
    pub verdict: Option<Verdict>,
    pub outcome: Outcome,
}

impl CaseRun {
    /// The verdict the test case expects.
    pub fn expected(&self) -> Verdict {
        Verdict::allow_or_deny(self.expect_allow)
    }

    pub fn reference_passed(&self) -> bool {
        self.expect_allow == self.reference.allow
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
                    let verdict = l.verdict(&probe);
                    LayerOutcome {
                        target: l.name(),
                        verdict,
                        outcome: Outcome::judge(Verdict::allow_or_deny(c.expect_allow), verdict),
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
