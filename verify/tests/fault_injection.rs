//! The verifier catches a broken target. Two faulty targets, built for these tests only,
//! wrap real ones and silently drop one kind of rule before emitting:
//!
//! - `seccomp-allows-ptrace`: the seccomp target, with `ptrace` allowed whatever the policy
//!   says (its BPF lets the call through);
//! - `landlock-without-denies`: the Landlock target, with every `fs` deny dropped.
//!
//! Each is caught three ways: the property of `properties.rs` fails and shrinks to a small
//! policy and the leaking request; `suite::verify` on a stdlib policy reports the leak with
//! the artifact lines that allow it and a smaller policy that still shows it; and a fuzz
//! campaign finds it and shrinks the request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{case, check, compile_policy, Tally};
use policyc_compiler::ir::{Isolation, Policy, SyscallRule};
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::{Diagnostic, Request};
use policyc_targets::landlock::Landlock;
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{registry, stack_for, Artifacts, EmitContext, Emitted, Simulator, Target};
use policyc_targets::{Verdict, Verdict::Allow};
use policyc_testkit::policies::FsRuleModel;
use policyc_testkit::stdlib::{ctx, policy, Loader};
use policyc_verify::campaign::{self, Campaign};
use policyc_verify::probe::Probe;
use policyc_verify::suite::{verify, Origin};
use policyc_verify::{emit_layers, Layer};
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use std::sync::Mutex;

/// The seccomp target, except that `ptrace` is always allowed.
#[derive(Debug)]
struct AllowsPtrace;

/// The Landlock target, except that `fs` denies are dropped before emitting.
#[derive(Debug)]
struct WithoutDenies;

static ALLOWS_PTRACE: AllowsPtrace = AllowsPtrace;
static WITHOUT_DENIES: WithoutDenies = WithoutDenies;

/// Forward everything but `name` and `emit` to the wrapped target.
macro_rules! delegate {
    ($inner:expr) => {
        fn simulate(&self, artifacts: &Artifacts, request: &Request) -> Verdict {
            $inner.simulate(artifacts, request)
        }

        fn simulator(&self, artifacts: &Artifacts) -> Box<dyn Simulator> {
            $inner.simulator(artifacts)
        }

        fn simulate_raw(&self, a: &Artifacts, abi: Arch, nr: u32, args: [u64; 6]) -> Verdict {
            $inner.simulate_raw(a, abi, nr, args)
        }

        fn explain(&self, artifacts: &Artifacts, request: &Request) -> Vec<String> {
            $inner.explain(artifacts, request)
        }

        fn in_stack(&self, isolation: Isolation) -> bool {
            $inner.in_stack(isolation)
        }

        fn in_stack_for(&self, policy: &Policy) -> bool {
            $inner.in_stack_for(policy)
        }
    };
}

impl Target for AllowsPtrace {
    fn name(&self) -> &'static str {
        "seccomp-allows-ptrace"
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        let mut p = policy.clone();
        p.syscalls.rules.insert(
            "ptrace".to_string(),
            SyscallRule {
                allow: vec![Vec::new()],
                ..SyscallRule::default()
            },
        );
        Seccomp.emit(&p, ctx)
    }

    delegate!(Seccomp);
}

impl Target for WithoutDenies {
    fn name(&self) -> &'static str {
        "landlock-without-denies"
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        let mut p = policy.clone();
        p.fs.denies.clear();
        Landlock.emit(&p, ctx)
    }

    delegate!(Landlock);
}

/// The registry with `real` replaced by `faulty`.
fn with(faulty: &'static dyn Target, real: &str) -> Vec<&'static dyn Target> {
    registry()
        .iter()
        .map(|t| if t.name() == real { faulty } else { *t })
        .collect()
}

/// Run the property on `targets` from a fixed seed; the shrunk failure, printed.
fn property_fails(targets: &[&'static dyn Target]) -> (String, common::Case) {
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tally = Mutex::new(Tally::default());
    match runner.run(&case(96, 40), |c| check(&c, targets, &tally)) {
        Err(TestError::Fail(reason, value)) => {
            let reason = reason.message().to_string();
            eprintln!(
                "shrunk counterexample ({} rules, {} sampled and {} generated requests):\n{reason}",
                value.policy.rules(),
                value.sampled,
                value.extra.len()
            );
            (reason, value)
        }
        Err(e) => panic!("the property stopped without a counterexample: {e}"),
        Ok(()) => panic!("the property holds with a faulty target"),
    }
}

#[test]
fn the_property_catches_a_filter_that_allows_ptrace_and_shrinks_it() {
    let targets = with(&ALLOWS_PTRACE, "seccomp");
    let (reason, value) = property_fails(&targets);
    assert!(
        reason.starts_with("seccomp-allows-ptrace allows `"),
        "{reason}"
    );
    assert!(
        reason.contains("ptrace") || reason.contains("syscall #0x65 ") || reason.contains("#0x75"),
        "the leaking request is a ptrace call: {reason}"
    );
    assert!(value.policy.rules() <= 3, "{value:#?}");
    // With the real target in its place, the same case passes: the fault is the leak.
    let tally = Mutex::new(Tally::default());
    check(&value, registry(), &tally).unwrap();
}

#[test]
fn the_property_catches_a_ruleset_without_denies_and_shrinks_it() {
    let targets = with(&WITHOUT_DENIES, "landlock");
    let (reason, value) = property_fails(&targets);
    assert!(
        reason.starts_with("landlock-without-denies allows `"),
        "{reason}"
    );
    assert!(
        value
            .policy
            .fs
            .iter()
            .any(|r| matches!(r, FsRuleModel::Deny { .. })),
        "a deny is what was dropped: {value:#?}"
    );
    assert!(value.policy.rules() <= 3, "{value:#?}");
    let tally = Mutex::new(Tally::default());
    check(&value, registry(), &tally).unwrap();
}

fn stdlib_policy(file: &str) -> (&'static str, Policy) {
    let text = policyc_stdlib::policy_source(file).unwrap();
    (text, policy(text))
}

#[test]
fn a_layer_accepts_a_faulty_target() {
    let (_, p) = stdlib_policy("document_organizer.policy");
    let layer = Layer::new(&ALLOWS_PTRACE, ALLOWS_PTRACE.emit(&p, &ctx()));
    assert_eq!(layer.name(), "seccomp-allows-ptrace");
    let ptrace = Probe::Request(Request::Syscall {
        name: "ptrace".to_string(),
        args: [0; 6],
    });
    assert_eq!(layer.verdict(&ptrace), Some(Allow));
    let real = Layer::new(&Seccomp, Seccomp.emit(&p, &ctx()));
    assert_eq!(real.verdict(&ptrace), Some(Verdict::Deny));
    let nr = syscalls::number(Arch::X86_64, "ptrace").unwrap();
    let raw = Probe::Raw {
        abi: Arch::X86_64,
        nr,
        args: [0; 6],
    };
    assert_eq!(layer.verdict(&raw), Some(Allow));
    assert_eq!(real.verdict(&raw), Some(Verdict::Deny));
}

#[test]
fn verify_reports_the_leak_with_evidence_and_a_smaller_policy() {
    let (text, p) = stdlib_policy("document_organizer.policy");
    let mut targets = stack_for(&p);
    for t in &mut targets {
        if t.name() == "seccomp" {
            *t = &ALLOWS_PTRACE;
        }
    }
    let origin = Origin {
        source: text,
        loader: &Loader,
    };
    let v = verify(&p, &targets, &ctx(), Some(origin));
    let leaks: Vec<_> = v
        .leaks
        .iter()
        .filter(|l| l.leak.target == "seccomp-allows-ptrace")
        .collect();
    assert!(!leaks.is_empty(), "no leak reported");
    assert!(
        v.leaks
            .iter()
            .all(|l| l.leak.target == "seccomp-allows-ptrace"),
        "only the faulty target leaks"
    );
    let named = leaks
        .iter()
        .find(|l| matches!(&l.leak.probe, Probe::Request(Request::Syscall { name, .. }) if name == "ptrace"))
        .expect("`syscall ptrace` is among the leaks");
    assert!(!named.leak.reference.allow);
    assert!(
        !named.leak.evidence.is_empty(),
        "the BPF instructions that allow it are quoted"
    );
    assert!(
        named.leak.evidence.iter().any(|l| l.ends_with("ret ALLOW")),
        "{:#?}",
        named.leak.evidence
    );
    let minimal = named.minimal.as_deref().expect("a minimal policy");
    eprintln!(
        "leak: {} allows `{}`\nevidence:\n  {}\nminimal policy:\n{minimal}",
        named.leak.target,
        named.leak.probe,
        named.leak.evidence.join("\n  ")
    );
    let small = compile_policy(minimal).unwrap_or_else(|e| panic!("{e}\n{minimal}"));
    assert_eq!(small.name, p.name);
    assert!(
        minimal.lines().count() * 4 < text.lines().count(),
        "not much smaller:\n{minimal}"
    );
    assert!(small.tests.is_empty() && small.fs.mounts.is_empty());
    // The minimal policy still shows the leak, and the real target does not have it.
    let probe = &named.leak.probe;
    let faulty = Layer::new(&ALLOWS_PTRACE, ALLOWS_PTRACE.emit(&small, &ctx()));
    assert_eq!(faulty.verdict(probe), Some(Allow));
    let real = Layer::new(&Seccomp, Seccomp.emit(&small, &ctx()));
    assert_eq!(real.verdict(probe), Some(Verdict::Deny));
}

#[test]
fn a_campaign_finds_the_leak_and_shrinks_the_request() {
    let (_, p) = stdlib_policy("email_assistant.policy");
    let targets: Vec<&'static dyn Target> = stack_for(&p)
        .into_iter()
        .map(|t| {
            if t.name() == "seccomp" {
                &ALLOWS_PTRACE as &'static dyn Target
            } else {
                t
            }
        })
        .collect();
    let home = ctx().home;
    let layers = emit_layers(&p, &targets, &ctx());
    let c = Campaign {
        policy: &p,
        layers: &layers,
        home: home.as_deref(),
        seed: 7,
        cases: 4000,
    };
    let out = campaign::run(&c, &mut |_| {});
    assert!(!out.leaks.is_empty(), "the campaign found nothing");
    for f in &out.leaks {
        assert_eq!(f.leak.target, "seccomp-allows-ptrace");
        let args = match &f.leak.probe {
            Probe::Request(Request::Syscall { name, args }) => {
                assert_eq!(name, "ptrace");
                args
            }
            Probe::Raw { abi, nr, args } => {
                assert_eq!(
                    syscalls::name(*abi, *nr),
                    Some("ptrace"),
                    "{}",
                    f.leak.probe
                );
                args
            }
            other => panic!("leak on {other}"),
        };
        assert_eq!(args, &[0; 6], "shrunk to zero arguments: {}", f.leak.probe);
        // Replaying the case gives the request that was found.
        let pools = policyc_verify::adversary::pools(&p, home.as_deref());
        assert_eq!(campaign::case(&pools, c.seed, f.case), f.found);
    }
    let shrunk = out
        .leaks
        .iter()
        .find(|f| f.found != f.leak.probe)
        .expect("some request needed shrinking");
    eprintln!(
        "{} leaks; case {} found `{}`, shrunk to `{}`",
        out.leaks.len(),
        shrunk.case,
        shrunk.found,
        shrunk.leak.probe
    );
}
