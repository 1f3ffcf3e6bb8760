//! The Landlock target against the reference semantics, over every stdlib policy and a
//! process-isolation policy written here, with each policy's test cases and the adversarial
//! path spellings of [`policyc_testkit::spelling`].
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Completeness for filesystem requests under process isolation: simulator == `decide`.
//! - Every stdlib policy's `landlock.json` (or its build errors) is an insta snapshot.
//!
//! `decide` keeps `~` symbolic while the ruleset names the resolved home, so a request for an
//! absolute path inside the home directory is given to `decide` in its `~` form (the kernel
//! sees one object either way); the policies here write home paths with `~`.

use crate::harness::{self, build_snapshotted, home_symbolic, requests, snapshot_build, tally};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Request};
use policyc_targets::landlock::{Landlock, FILE};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::stdlib::{ctx, policies, render};

/// A process-isolation policy exercising nesting, narrowing and denies of ungranted rights.
const PROCESS_POLICY: &str = r#"use std::secrets
policy local_agent {
    isolation process
    fs {
        read "~/Documents"
        write "~/Documents/out"
        read "~/.aws/config"
        exec "/usr"
        scratch "/var/tmp/agent" size 64MiB
        deny secrets
        deny write persistence
        deny write "~/Documents/taxes"
        deny write "/usr/local"
    }
    net {
        egress direct {
            allow "api.example.com":443
        }
    }
    test "documents" {
        allow read "~/Documents/a.txt"
        deny write "~/Documents/a.txt"
        allow write "~/Documents/out/r.csv"
        deny write "~/Documents/taxes/2024.pdf"
        deny read "~/.aws/config"
        deny read "~/.ssh/id_ed25519"
        allow exec "/usr/bin/python3"
        deny exec "/var/tmp/agent/x"
        deny connect "api.example.com":80
        allow connect "api.example.com":443
    }
}
"#;

/// Check soundness (and completeness where asked) over every request; returns the count.
fn check(policy: &Policy, e: &Emitted, complete: bool) -> usize {
    harness::check(
        Landlock.name(),
        policy,
        &requests(policy),
        home_symbolic,
        |_, r| Landlock.simulate(&e.artifacts, r),
        |case| {
            if complete && matches!(case.request, Request::Fs { .. }) {
                case.assert_equal();
            }
        },
    )
}

/// The policy without the denies that lie strictly inside a grant's guest tree (what makes
/// the stdlib container policies unexpressible in Landlock), to test the rest of them.
fn without_nested_guest_denies(policy: &Policy) -> Policy {
    let mut p = policy.clone();
    p.fs.denies.retain(|d| {
        !p.fs
            .mounts
            .iter()
            .any(|m| d.path != m.guest && d.path.starts_with(&m.guest))
    });
    p
}

#[test]
fn stdlib_policies_are_sound() {
    let mut checked = 0;
    for (sources, policy) in &policies() {
        let result = Landlock.emit(policy, &ctx());
        snapshot_build(Landlock.name(), &policy.name, sources, &result, false);
        match (&result, policy.isolation) {
            (Ok(e), Isolation::Wasm) => {
                assert!(e.artifacts.is_empty());
                checked += check(policy, e, false);
            }
            (Ok(e), _) => checked += check(policy, e, policy.isolation == Isolation::Process),
            (Err(d), Isolation::Container) => {
                // Landlock cannot express a deny inside a tmpfs grant: refused, named.
                assert!(
                    d.iter().all(|d| d.code == Code::LandlockNestedDeny),
                    "{}",
                    render(sources, d)
                );
                let variant = without_nested_guest_denies(policy);
                let e = Landlock
                    .emit(&variant, &ctx())
                    .unwrap_or_else(|d| panic!("{}", render(sources, &d)));
                snapshot_build(
                    Landlock.name(),
                    &format!("{}_without_nested_denies", policy.name),
                    sources,
                    &Ok(e.clone()),
                    false,
                );
                checked += check(&variant, &e, false);
            }
            (Err(d), _) => panic!("{}", render(sources, d)),
        }
    }
    tally("landlock stdlib", checked, 500);
}

#[test]
fn a_process_policy_is_sound_and_complete() {
    let (policy, e) = build_snapshotted(&Landlock, "local_agent", PROCESS_POLICY, false);
    tally("landlock local_agent", check(&policy, &e, true), 300);
    for t in &policy.tests {
        for c in &t.cases {
            let sim = Landlock.simulate(&e.artifacts, &c.request);
            if !c.expect_allow && matches!(c.request, Request::Fs { .. } | Request::Connect { .. })
            {
                assert_eq!(sim, Verdict::Deny, "{}", c.request);
            }
        }
    }
    let json = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(
        !json.contains(".aws"),
        "a grant inside a deny is left out:\n{json}"
    );
}
