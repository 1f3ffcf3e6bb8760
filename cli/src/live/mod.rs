//! Live runs: every layer of a policy's stack enforces each request for real, and reports
//! what the kernel or runtime did.
//!
//! [`run`] builds a fixture (a temporary home directory holding every `~` mount source and
//! every object a request names there), emits each layer's artifacts for that home, and runs
//! one layer runner per target of the stack:
//!
//! - `seccomp`: the emitted BPF under the real kernel, behind an oracle filter that turns
//!   the probed syscall into a user notification, so no syscall the filter allows is ever
//!   executed (see `seccomp`).
//! - `landlock`: the emitted ruleset applied in a forked child that opens, executes and
//!   connects (see `landlock`).
//! - `apparmor`: the profile compiled by `apparmor_parser` against the pinned features; it
//!   is never loaded, so every request is not mediated (see `apparmor`).
//! - `oci`: the emitted bundle under `runc`, with a busybox probe script (see `oci`).
//! - `wasi`: a probe module under wasmtime-wasi with the emitted manifest (see `wasi`).
//!
//! Probes never change anything outside the fixture: reads and writes only open (writes
//! without truncating, and nothing is written), files are created only inside the fixture
//! or inside file systems the probe itself mounted privately, and only fixture files whose
//! content the kernel cannot execute are executed. Whatever cannot be probed that way is
//! [`LiveVerdict::Unverifiable`], with the reason; nothing is guessed.

mod apparmor;
mod errno;
mod fixture;
mod landlock;
mod landlock_child;
mod notify;
mod oci;
mod oci_bundle;
mod oci_script;
mod seccomp;
mod sys;
mod wasi;
#[cfg(feature = "wasm")]
mod wasi_module;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sampled;
#[cfg(test)]
mod tests_stdlib;

use fixture::Fixture;
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_targets::{stack, Artifacts, EmitContext, Target};

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
pub(crate) struct Seen {
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
    pub(crate) fn from_seen(
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
    pub(crate) fn not_run(layer: &'static str, status: LayerStatus, n: usize) -> LiveRun {
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

/// What a layer runner gets.
#[derive(Debug)]
pub(crate) struct Layer<'a> {
    pub name: &'static str,
    pub policy: &'a Policy,
    pub artifacts: &'a Artifacts,
    pub fixture: &'a Fixture,
    pub requests: &'a [Request],
}

type Runner = fn(&Layer<'_>) -> LiveRun;

/// The live runner of each target, by the target's name.
const RUNNERS: &[(&str, Runner)] = &[
    ("seccomp", seccomp::run),
    ("landlock", landlock::run),
    ("apparmor", apparmor::run),
    ("oci", oci::run),
    ("wasi", wasi::run),
];

fn runner(name: &str) -> Option<Runner> {
    RUNNERS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Run every request through every layer of the policy's stack, for real.
pub fn run(policy: &Policy, requests: &[Request]) -> Vec<LiveRun> {
    let layers = stack(policy.isolation);
    let fixture = match Fixture::new(policy, requests) {
        Ok(f) => f,
        Err(e) => {
            let why = format!("cannot build the fixture home: {e}");
            return layers
                .iter()
                .map(|t| {
                    LiveRun::not_run(t.name(), LayerStatus::Failed(why.clone()), requests.len())
                })
                .collect();
        }
    };
    let ctx = EmitContext {
        home: Some(fixture.home_str()),
    };
    layers
        .iter()
        .map(|t| run_layer(*t, policy, &ctx, &fixture, requests))
        .collect()
}

fn run_layer(
    target: &dyn Target,
    policy: &Policy,
    ctx: &EmitContext,
    fixture: &Fixture,
    requests: &[Request],
) -> LiveRun {
    let name = target.name();
    let Some(runner) = runner(name) else {
        let why = "policyc has no live runner for this layer".to_string();
        return LiveRun::not_run(name, LayerStatus::Unavailable(why), requests.len());
    };
    let emitted = match target.emit(policy, ctx) {
        Ok(e) => e,
        Err(diags) => {
            let why: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
            let why = format!("the target cannot emit this policy: {}", why.join("; "));
            return LiveRun::not_run(name, LayerStatus::Failed(why), requests.len());
        }
    };
    runner(&Layer {
        name,
        policy,
        artifacts: &emitted.artifacts,
        fixture,
        requests,
    })
}

/// True when a missing layer must fail the caller (`POLICYC_REQUIRE_LIVE=1`).
#[cfg(test)]
pub fn live_required() -> bool {
    std::env::var("POLICYC_REQUIRE_LIVE").as_deref() == Ok("1")
}
