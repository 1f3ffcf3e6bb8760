//! The vocabulary of live runs: what the kernel or a runtime did with each request, per
//! layer, and the [`LiveEngine`] trait that `policyc-host` implements. This crate stays
//! pure: it names results, the host produces them.

use policyc_compiler::ir::Policy;
use policyc_compiler::Request;

/// Runs a policy's stack for real.
pub trait LiveEngine {
    /// Run every request through every layer of the policy's stack and report, per layer,
    /// what happened to each request.
    fn run(&self, policy: &Policy, requests: &[Request]) -> Vec<LiveRun>;
}

/// What one layer did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveVerdict {
    Allow,
    Deny,
    /// The layer let the request through on ground it does not govern (a host name Landlock
    /// cannot see, a file of the container image, a syscall under a file-system layer).
    NotMediated,
    /// The request could not be probed safely or the outcome was not conclusive: why.
    Unverifiable(String),
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
        Seen::new(LiveVerdict::Allow, evidence)
    }

    pub fn deny(evidence: impl Into<String>) -> Seen {
        Seen::new(LiveVerdict::Deny, evidence)
    }

    pub fn not_mediated(evidence: impl Into<String>) -> Seen {
        Seen::new(LiveVerdict::NotMediated, evidence)
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

/// True when a live layer that cannot run must fail the caller (`POLICYC_REQUIRE_LIVE=1`,
/// as CI sets). The one place policyc reads that variable.
pub fn required() -> bool {
    std::env::var("POLICYC_REQUIRE_LIVE").as_deref() == Ok("1")
}
