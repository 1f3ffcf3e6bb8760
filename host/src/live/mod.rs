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
//! - `egress`: the real supervisor with the emitted `egress.json`, in a network namespace
//!   of the run's own with loopback upstream servers; connects and lookups are tried from
//!   inside the sandbox's namespace (see `egress`).
//!
//! Probes never change anything outside the fixture: reads and writes only open (writes
//! without truncating, and nothing is written), files are created only inside the fixture
//! or inside file systems the probe itself mounted privately, and only fixture files whose
//! content the kernel cannot execute are executed. Whatever cannot be probed that way is
//! [`LiveVerdict::Unverifiable`], with the reason; nothing is guessed.

mod apparmor;
mod egress;
mod egress_world;
mod errno;
mod fixture;
mod landlock;
mod landlock_child;

mod oci;
mod oci_bundle;
mod oci_script;
mod seccomp;

mod wasi;
#[cfg(feature = "wasm")]
mod wasi_module;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_egress;
#[cfg(test)]
mod tests_sampled;
#[cfg(test)]
mod tests_stdlib;

use fixture::Fixture;
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_targets::{build_targets, stack_for, Artifacts, EmitContext, Target, Verdict};
pub use policyc_verify::live::{LayerStatus, LiveEngine, LiveRun, LiveVerdict, Seen};

/// One layer of the stack, to run live: what a layer runner gets.
#[derive(Debug)]
pub(crate) struct LiveLayer<'a> {
    pub name: &'static str,
    pub policy: &'a Policy,
    pub artifacts: &'a Artifacts,
    pub fixture: &'a Fixture,
    pub requests: &'a [Request],
}

impl LiveLayer<'_> {
    /// This layer, not run: every request unverifiable, for the reason `status` gives.
    pub fn not_run(&self, status: LayerStatus) -> LiveRun {
        LiveRun::not_run(self.name, status, self.requests.len())
    }

    /// The artifact `file`, or the failed run that its absence is.
    pub fn artifact(&self, file: &str) -> Result<&[u8], LiveRun> {
        self.artifacts
            .get(file)
            .map(Vec::as_slice)
            .ok_or_else(|| self.not_run(LayerStatus::Failed(format!("no `{file}`"))))
    }
}

/// What several probes of one request come to: the first that was allowed; else the first
/// that was neither allowed nor denied; else denied, with every probe's evidence.
fn any_allowed(seen: &[Seen]) -> Seen {
    if let Some(a) = seen.iter().find(|s| s.verdict == Verdict::Allow) {
        return a.clone();
    }
    if let Some(u) = seen.iter().find(|s| s.verdict != Verdict::Deny) {
        return u.clone();
    }
    let why: Vec<&str> = seen.iter().map(|s| s.evidence.as_str()).collect();
    Seen::deny(why.join("; "))
}

type Runner = fn(&LiveLayer<'_>) -> LiveRun;

/// The live runner of each target.
const RUNNERS: &[(&dyn Target, Runner)] = &[
    (&policyc_targets::seccomp::Seccomp, seccomp::run),
    (&policyc_targets::landlock::Landlock, landlock::run),
    (&policyc_targets::apparmor::AppArmor, apparmor::run),
    (&policyc_targets::oci::Oci, oci::run),
    (&policyc_targets::wasi::Wasi, wasi::run),
    (&policyc_targets::egress::Egress, egress::run),
];

/// The live runner of `target` (targets are told apart by their stable names).
fn runner(target: &dyn Target) -> Option<Runner> {
    RUNNERS
        .iter()
        .find(|(t, _)| t.name() == target.name())
        .map(|(_, r)| *r)
}

/// The live engine: runs a policy's stack on this machine's kernel, runc and wasmtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Host;

impl LiveEngine for Host {
    fn run(&self, policy: &Policy, requests: &[Request]) -> Vec<LiveRun> {
        run(policy, requests)
    }
}

/// The layers a live run tries for `policy`, in registry order: every layer of its stack
/// ([`stack_for`]: its isolation level's, and the egress layer when it has egress rules),
/// and every other target its build writes that has a live runner (the egress artifact of
/// an `egress none` policy).
fn live_layers(policy: &Policy) -> Vec<&'static dyn Target> {
    let stacked = stack_for(policy);
    build_targets(policy)
        .into_iter()
        .filter(|t| stacked.iter().any(|s| s.name() == t.name()) || runner(*t).is_some())
        .collect()
}

/// Run every request through every layer of the policy's stack, for real.
pub fn run(policy: &Policy, requests: &[Request]) -> Vec<LiveRun> {
    let layers = live_layers(policy);
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
    let Some(runner) = runner(target) else {
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
    runner(&LiveLayer {
        name,
        policy,
        artifacts: &emitted.artifacts,
        fixture,
        requests,
    })
}

#[cfg(test)]
mod runner_table {
    #![allow(clippy::unwrap_used)]
    use super::{live_layers, runner};
    use policyc_compiler::ir::Isolation;
    use policyc_targets::{registry, stack, stack_for};

    /// Every target some isolation level's stack holds can run live.
    #[test]
    fn every_stacked_target_has_a_runner() {
        for t in registry() {
            if Isolation::ALL.iter().any(|i| t.in_stack(*i)) {
                assert!(runner(*t).is_some(), "no live runner for `{}`", t.name());
            }
        }
        for i in Isolation::ALL {
            assert!(!stack(*i).is_empty(), "no stack for {i:?}");
        }
    }

    /// A live run tries every layer of each stdlib policy's own stack (the egress layer of
    /// those with egress rules included), each has a runner, and the egress artifact joins
    /// every run, `egress none` too.
    #[test]
    fn live_runs_try_each_policys_own_stack_and_the_egress_layer() {
        let mut with_egress_rules = 0;
        for (file, text) in policyc_stdlib::policies() {
            let (_, policies) = policyc_testkit::stdlib::compile_text(file, text);
            for p in &policies {
                let tried: Vec<&str> = live_layers(p).iter().map(|t| t.name()).collect();
                for t in stack_for(p) {
                    assert!(runner(t).is_some(), "no live runner for `{}`", t.name());
                    assert!(
                        tried.contains(&t.name()),
                        "{}: `{}` not tried",
                        p.name,
                        t.name()
                    );
                }
                assert!(tried.contains(&"egress"), "{}: {tried:?}", p.name);
                if stack_for(p).iter().any(|t| t.name() == "egress") {
                    with_egress_rules += 1;
                }
            }
        }
        assert!(with_egress_rules > 0, "no stdlib policy has egress rules");
    }
}
