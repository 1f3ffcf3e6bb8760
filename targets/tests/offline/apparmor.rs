//! The AppArmor target against the reference semantics, over every stdlib policy and
//! policies written here, with each policy's test cases and the adversarial path spellings
//! of [`policyc_testkit::spelling`] (kernel interfaces among them).
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Equality for filesystem requests wherever the profile expresses the policy exactly
//!   (no `P0904` narrowing of a mount): simulator == `decide`.
//! - Every stdlib policy's profile (with its report) is an insta snapshot.

use crate::apparmor_common::*;
use crate::harness::{self, build_snapshotted, emit_snapshotted, home_symbolic, requests, tally};
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Request};
use policyc_targets::apparmor::{self, AppArmor, Rule};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::spelling::fs;

/// Soundness over `reqs` (simulated `Allow` implies `decide` allows), and equality for
/// filesystem requests the profile mediates when `exact`. Returns how many were checked.
///
/// The profile is read back from the emitted bytes once (`simulate` reads it for every
/// request, which is slow over thousands); every 64th request also goes through
/// `simulate` itself, which must agree.
pub fn check(policy: &Policy, e: &Emitted, reqs: &[Request], exact: bool) -> usize {
    let parsed = e
        .artifacts
        .get(apparmor::FILE)
        .map(|b| apparmor::parse(std::str::from_utf8(b).unwrap()).unwrap());
    let sim = |i: usize, r: &Request| {
        let sim = match &parsed {
            Some(p) => apparmor::decide_parsed(p, r),
            None => Verdict::NotMediated,
        };
        if i % 64 == 0 {
            assert_eq!(sim, AppArmor.simulate(&e.artifacts, r), "{r}");
        }
        sim
    };
    harness::check(AppArmor.name(), policy, reqs, home_symbolic, sim, |case| {
        // A `~` path is a host object the mount table decides about (container), or
        // needs `@{HOME}`, which a profile defines only when the policy names a `~` path.
        let home_unresolved = matches!(case.request, Request::Fs { path, .. } if path.is_home())
            && parsed.as_ref().is_none_or(|p| p.home.is_none());
        if exact && matches!(case.request, Request::Fs { .. }) && !home_unresolved {
            case.assert_equal();
        }
        if home_unresolved {
            assert_eq!(
                case.sim,
                Verdict::NotMediated,
                "{}: `{}`",
                policy.name,
                case.request
            );
        }
    })
}

#[test]
fn stdlib_policies_are_sound_and_exact() {
    let mut checked = 0;
    for (sources, policy) in stdlib() {
        let e = emit_snapshotted(&AppArmor, &policy.name, &sources, &policy, false);
        let reqs = requests(&policy);
        if policy.isolation == Isolation::Wasm {
            assert!(e.artifacts.is_empty());
            for r in &reqs {
                assert_eq!(AppArmor.simulate(&e.artifacts, r), Verdict::NotMediated);
            }
            continue;
        }
        assert!(
            e.report.iter().all(|d| d.code != Code::AppArmorNarrowed
                || d.message.contains("hard links")
                || d.message.contains("file locks")),
            "{}: a stdlib profile is narrowed:\n{}",
            policy.name,
            render(&sources, &e.report)
        );
        checked += check(&policy, &e, &reqs, true);
        // Every deny test of the policy that the profile mediates is denied by it.
        for c in policy.tests.iter().flat_map(|t| &t.cases) {
            let sim = AppArmor.simulate(&e.artifacts, &c.request);
            if !c.expect_allow && sim != Verdict::NotMediated {
                assert_eq!(sim, Verdict::Deny, "{}: {}", policy.name, c.request);
            }
            if c.expect_allow {
                assert_ne!(sim, Verdict::Deny, "{}: {}", policy.name, c.request);
            }
        }
    }
    tally("apparmor stdlib", checked, 500);
}

#[test]
fn a_process_policy_is_sound_and_exact() {
    let (policy, e) = build_snapshotted(&AppArmor, "local_agent", PROCESS_POLICY, false);
    tally(
        "apparmor local_agent",
        check(&policy, &e, &requests(&policy), true),
        300,
    );
    for c in policy.tests.iter().flat_map(|t| &t.cases) {
        let sim = AppArmor.simulate(&e.artifacts, &c.request);
        match (&c.request, c.expect_allow) {
            (Request::Fs { .. }, true) => assert_eq!(sim, Verdict::Allow, "{}", c.request),
            (Request::Fs { .. }, false) => assert_eq!(sim, Verdict::Deny, "{}", c.request),
            (Request::Connect { .. }, true) => {
                assert_eq!(sim, Verdict::NotMediated, "{}", c.request)
            }
            _ => {}
        }
    }
    // The home is a variable, and `~` paths are written with it.
    let text = profile_text(&e);
    assert!(text.contains("@{HOME}=\"/home/user\"\n"), "{text}");
    assert!(text.contains("deny \"@{HOME}/.ssh/**\" rwlkmx,"), "{text}");
}

/// The profile's rules, read back.
fn rules(policy_text: &str) -> Vec<Rule> {
    let (_, e) = build(policy_text);
    apparmor::parse(&profile_text(&e)).unwrap().rules
}

#[test]
fn every_stdlib_profile_reads_back_and_denies_the_base_set() {
    for (sources, policy) in stdlib() {
        if policy.isolation == Isolation::Wasm {
            continue;
        }
        let e = emit(&sources, &policy);
        let p = apparmor::parse(&profile_text(&e)).unwrap();
        assert_eq!(p.name, format!("policyc.{}", policy.name));
        for c in apparmor::Class::ALL {
            assert!(
                p.rules.contains(&Rule::DenyAll(c)),
                "{}: {c:?}",
                policy.name
            );
        }
        match policy.isolation {
            Isolation::Container => {
                assert!(p.home.is_none(), "container profiles name guest paths");
            }
            _ => assert_eq!(
                p.home.as_deref(),
                Some(HOME),
                "{}: process profiles resolve `~` to the given home",
                policy.name
            ),
        }
    }
    // A process policy without any `~` path does not carry the build machine's home.
    let (_, e) = build("policy p { isolation process\n fs { read \"/srv\" } }");
    let text = profile_text(&e);
    assert!(!text.contains("@{HOME}") && !text.contains(HOME), "{text}");
    let r = rules("policy p { isolation process\n fs { read \"/srv\" } }");
    assert!(r.iter().any(|r| matches!(r, Rule::File(f) if !f.deny)));
}

#[test]
fn write_exec_and_scratch_map_to_their_permissions() {
    let (_, e) = build(
        "policy p { isolation process\n fs { read \"/r\"; write \"/w\"; exec \"/x\"; scratch \"/s\" size 1MiB; tmpfs \"/t\" size 1MiB } }",
    );
    let text = profile_text(&e);
    for line in [
        "  \"/r/**\" r,\n",
        "  \"/w/**\" rwk,\n",
        "  \"/x/**\" rmix,\n",
        "  \"/s/**\" rwk,\n",
        "  \"/t/**\" rwk,\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    let sim = |a, path: &str| AppArmor.simulate(&e.artifacts, &fs(a, path).unwrap());
    assert_eq!(sim(Access::Exec, "/x/bin/tool"), Verdict::Allow);
    assert_eq!(sim(Access::Write, "/x/bin/tool"), Verdict::Deny);
    assert_eq!(sim(Access::Exec, "/s/payload"), Verdict::Deny);
    assert_eq!(sim(Access::Exec, "/t/payload"), Verdict::Deny);
    assert_eq!(sim(Access::Write, "/r/file"), Verdict::Deny);
    assert_eq!(sim(Access::Read, "/w/file"), Verdict::Allow);
}
