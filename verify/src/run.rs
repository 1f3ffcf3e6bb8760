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
    /// Whether the stack as a whole enforces an expected deny.
    pub enforcement: Enforcement,
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

/// Whether some layer enforces a case's expected deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "why")]
pub enum Enforcement {
    /// Some layer denies it, fails it, or did not build (those layers' rows say so); or
    /// the case expects allow, or the reference allows it (the reference row says so).
    Judged,
    /// The reference denies it as expected and every layer leaves it unmediated.
    Unenforced,
    /// As `Unenforced`, and the policy states why next to the case (`unenforced "why"`).
    Stated(String),
}

impl Enforcement {
    /// How the stack does on a case: `Unenforced` when the test expects a deny the
    /// reference makes and no layer mediates it.
    pub fn of(
        case: &policyc_compiler::ir::TestCase,
        reference: &Decision,
        layers: &[LayerOutcome],
    ) -> Self {
        let unmediated = layers
            .iter()
            .all(|l| l.verdict == Some(Verdict::NotMediated));
        if case.expect_allow || reference.allow || !unmediated {
            return Enforcement::Judged;
        }
        match &case.unenforced {
            Some(why) => Enforcement::Stated(why.clone()),
            None => Enforcement::Unenforced,
        }
    }
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
            let reference = probe::reference_at(policy, home, &probe);
            let layers: Vec<LayerOutcome> = layers
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
                enforcement: Enforcement::of(c, &reference, &layers),
                reference,
                layers,
                span: c.span,
                probe,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Enforcement, LayerOutcome, Outcome};
    use policyc_compiler::eval::Decision;
    use policyc_compiler::ir::TestCase;
    use policyc_compiler::Request;
    use policyc_targets::Verdict::{self, Allow, Deny, NotMediated};

    fn case(expect_allow: bool, unenforced: Option<&str>) -> TestCase {
        TestCase {
            expect_allow,
            request: Request::Syscall {
                name: "ptrace".into(),
                args: [0; 6],
            },
            unenforced: unenforced.map(str::to_string),
            span: Default::default(),
        }
    }

    fn decision(allow: bool) -> Decision {
        Decision {
            allow,
            action: None,
            reason: String::new(),
            span: None,
        }
    }

    fn layers(verdicts: &[Option<Verdict>]) -> Vec<LayerOutcome> {
        verdicts
            .iter()
            .map(|v| LayerOutcome {
                target: "t",
                verdict: *v,
                outcome: Outcome::judge(Deny, *v),
            })
            .collect()
    }

    #[test]
    fn a_deny_no_layer_mediates_is_unenforced_unless_the_policy_states_why() {
        let unmediated = layers(&[Some(NotMediated), Some(NotMediated)]);
        assert_eq!(
            Enforcement::of(&case(false, None), &decision(false), &unmediated),
            Enforcement::Unenforced
        );
        assert_eq!(
            Enforcement::of(
                &case(false, Some("the proxy")),
                &decision(false),
                &unmediated
            ),
            Enforcement::Stated("the proxy".into())
        );
        assert_eq!(
            Enforcement::of(&case(false, None), &decision(false), &[]),
            Enforcement::Unenforced
        );
    }

    #[test]
    fn a_deny_some_layer_judges_or_an_allow_is_left_to_the_rows() {
        let judged = |c: &TestCase, allow: bool, v: &[Option<Verdict>]| {
            Enforcement::of(c, &decision(allow), &layers(v))
        };
        let deny = case(false, None);
        assert_eq!(
            judged(&deny, false, &[Some(NotMediated), Some(Deny)]),
            Enforcement::Judged
        );
        // A layer that allows fails its own row; one that did not build, too.
        assert_eq!(
            judged(&deny, false, &[Some(NotMediated), Some(Allow)]),
            Enforcement::Judged
        );
        assert_eq!(
            judged(&deny, false, &[Some(NotMediated), None]),
            Enforcement::Judged
        );
        // The reference allowing it fails the reference row.
        assert_eq!(
            judged(&deny, true, &[Some(NotMediated)]),
            Enforcement::Judged
        );
        assert_eq!(
            judged(&case(true, None), true, &[Some(NotMediated)]),
            Enforcement::Judged
        );
        assert!(Outcome::Unenforced.fails());
    }
}
