//! The vocabulary of live runs: what the kernel or a runtime did with each request, per
//! layer, and the [`LiveEngine`] trait that `policyc-host` implements. This crate stays
//! pure: it names results, the host produces them, and [`compare`] judges them against
//! test expectations or the simulators.

use crate::outcome::Outcome;
use crate::probe::Probe;
use crate::run::Layer;
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_targets::Verdict;

/// Runs a policy's stack for real.
pub trait LiveEngine {
    /// Run every request through every layer of the policy's stack and report, per layer,
    /// what happened to each request.
    fn run(&self, policy: &Policy, requests: &[Request]) -> Vec<LiveRun>;
}

/// What one layer did with a request: the verdict it was seen to give, or why none could
/// be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveVerdict {
    /// What the layer did. [`Verdict::NotMediated`]: the layer let the request through on
    /// ground it does not govern (a host name Landlock cannot see, a file of the container
    /// image, a syscall under a file-system layer).
    Observed(Verdict),
    /// The request could not be probed safely or the outcome was not conclusive: why.
    Unverifiable(String),
}

impl LiveVerdict {
    /// The verdict observed, if any.
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            LiveVerdict::Observed(v) => Some(*v),
            LiveVerdict::Unverifiable(_) => None,
        }
    }
}

impl From<Verdict> for LiveVerdict {
    fn from(v: Verdict) -> Self {
        LiveVerdict::Observed(v)
    }
}

/// `live == Verdict::Deny`: the layer was seen to give that verdict.
impl PartialEq<Verdict> for LiveVerdict {
    fn eq(&self, other: &Verdict) -> bool {
        self.verdict() == Some(*other)
    }
}

/// Whether a layer ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Ran,
    /// The artifact was compiled by its real loader, but this kernel cannot enforce it
    /// (AppArmor without AppArmor in the kernel); every request is not mediated.
    CompiledOnly,
    /// The machine lacks what the layer needs (runc, Landlock, wasmtime): why.
    Unavailable(String),
    /// The layer could not run or its artifact was refused: why.
    Failed(String),
}

impl LayerStatus {
    /// True when this status fails the run it belongs to: a layer that failed, or one that
    /// is unavailable while live runs are `required`.
    pub fn fails(&self, required: bool) -> bool {
        match self {
            LayerStatus::Ran | LayerStatus::CompiledOnly => false,
            LayerStatus::Unavailable(_) => required,
            LayerStatus::Failed(_) => true,
        }
    }
}

/// One layer's live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRun {
    /// The target's name: `seccomp`, `landlock`, `apparmor`, `oci` or `wasi`.
    pub layer: &'static str,
    pub status: LayerStatus,
    /// One per request, in the requests' order.
    pub verdicts: Vec<LiveVerdict>,
    /// What was observed for each request, in the same order (an errno, a signal, a probe's
    /// message), for reports.
    pub evidence: Vec<String>,
    /// What a reader should know about the run as a whole (a section of the artifact that
    /// was left out, a rule that could not be attached).
    pub notes: Vec<String>,
}

/// One observation: a verdict and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub verdict: LiveVerdict,
    pub evidence: String,
}

impl Seen {
    pub fn new(verdict: LiveVerdict, evidence: impl Into<String>) -> Seen {
        Seen {
            verdict,
            evidence: evidence.into(),
        }
    }

    pub fn allow(evidence: impl Into<String>) -> Seen {
        Seen::new(LiveVerdict::Observed(Verdict::Allow), evidence)
    }

    pub fn deny(evidence: impl Into<String>) -> Seen {
        Seen::new(LiveVerdict::Observed(Verdict::Deny), evidence)
    }

    pub fn not_mediated(evidence: impl Into<String>) -> Seen {
        Seen::new(LiveVerdict::Observed(Verdict::NotMediated), evidence)
    }

    pub fn unverifiable(why: impl Into<String>) -> Seen {
        let why = why.into();
        Seen::new(LiveVerdict::Unverifiable(why.clone()), why)
    }
}

impl LiveRun {
    /// A layer that ran (or compiled), from one observation per request.
    pub fn from_seen(
        layer: &'static str,
        status: LayerStatus,
        seen: Vec<Seen>,
        notes: Vec<String>,
    ) -> LiveRun {
        let (verdicts, evidence) = seen.into_iter().map(|s| (s.verdict, s.evidence)).unzip();
        LiveRun {
            layer,
            status,
            verdicts,
            evidence,
            notes,
        }
    }

    /// A layer that did not run: every request is unverifiable for the same reason.
    pub fn not_run(layer: &'static str, status: LayerStatus, n: usize) -> LiveRun {
        let why = match &status {
            LayerStatus::Unavailable(w) => format!("the {layer} layer is unavailable: {w}"),
            LayerStatus::Failed(w) => format!("the {layer} layer failed: {w}"),
            LayerStatus::Ran | LayerStatus::CompiledOnly => {
                format!("the {layer} layer did not run")
            }
        };
        let seen = (0..n).map(|_| Seen::unverifiable(why.clone())).collect();
        LiveRun::from_seen(layer, status, seen, Vec::new())
    }
}

/// What live verdicts are compared with.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// The test cases' expectations, one per request, the same for every layer.
    Cases(&'a [Verdict]),
    /// Each layer's simulator on the requests the live run was given (a layer missing here
    /// is not compared).
    Simulators {
        layers: &'a [Layer],
        requests: &'a [Request],
    },
}

/// One request on one live layer, against the verdict expected of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The layer's target name.
    pub layer: &'static str,
    /// The request's index among the requests the live run was given.
    pub request: usize,
    pub live: LiveVerdict,
    /// What the test case expects, or what the simulator says (`None`: its target emitted
    /// nothing).
    pub expected: Option<Verdict>,
    pub outcome: Outcome,
    /// What the live verdict rests on: the evidence, or why nothing could be observed.
    pub detail: String,
}

/// A live verdict against the verdict expected of it (`None`: the simulator's target
/// emitted nothing). An unverifiable request is [`Outcome::Unverified`] whatever was
/// expected.
pub fn judge(expected: Option<Verdict>, live: &LiveVerdict) -> Outcome {
    match (expected, live) {
        (_, LiveVerdict::Unverifiable(_)) => Outcome::Unverified,
        (None, LiveVerdict::Observed(_)) => Outcome::NotBuilt,
        (Some(e), LiveVerdict::Observed(v)) => Outcome::judge(e, Some(*v)),
    }
}

/// Every request of every layer that ran, against what was `expected` of it, in the runs'
/// order and then the requests'. Layers that did not run are left out: their status says
/// why (see [`LayerStatus::fails`]).
pub fn compare(runs: &[LiveRun], expected: Expected<'_>) -> Vec<Compared> {
    let mut out = Vec::new();
    for run in runs.iter().filter(|r| r.status == LayerStatus::Ran) {
        let expect: Vec<Option<Verdict>> = match expected {
            Expected::Cases(cases) => cases.iter().copied().map(Some).collect(),
            Expected::Simulators { layers, requests } => {
                let Some(layer) = layers.iter().find(|l| l.name() == run.layer) else {
                    continue;
                };
                requests
                    .iter()
                    .map(|r| layer.verdict(&Probe::Request(r.clone())))
                    .collect()
            }
        };
        for (i, (live, exp)) in run.verdicts.iter().zip(expect).enumerate() {
            let detail = match live {
                LiveVerdict::Unverifiable(why) => why.clone(),
                LiveVerdict::Observed(_) => run.evidence.get(i).cloned().unwrap_or_default(),
            };
            out.push(Compared {
                layer: run.layer,
                request: i,
                live: live.clone(),
                expected: exp,
                outcome: judge(exp, live),
                detail,
            });
        }
    }
    out
}

/// True when a live layer that cannot run must fail the caller (`POLICYC_REQUIRE_LIVE=1`,
/// as CI sets). The one place policyc reads that variable.
pub fn required() -> bool {
    std::env::var("POLICYC_REQUIRE_LIVE").as_deref() == Ok("1")
}
