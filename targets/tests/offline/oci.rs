//! The OCI target against the reference semantics, over every stdlib policy and a container
//! policy written here (nested mounts, masks, a whole-mount deny, exec and write mounts),
//! with each policy's test cases, the adversarial path spellings of
//! [`policyc_testkit::spelling`] (the runtime's own file systems among them), hosts and
//! syscalls.
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Equality for filesystem requests that resolve into a policy mount, and for every `~`
//!   host object: simulator == `decide`.
//! - Outside the policy's mounts the simulator never allows (the image and the runtime's
//!   file systems are not mediated; the read-only root denies writes).
//! - Every stdlib policy's `oci/config.json` and build report is an insta snapshot.

use crate::harness::{self, as_written, build_snapshotted, emit_snapshotted, requests, tally};
use policyc_compiler::ast::Access;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_targets::oci::{Oci, FILE};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::spelling::fs;
use policyc_testkit::stdlib::{ctx, policies};

/// A container policy exercising nested mounts, masks and narrowing.
const MIXED_POLICY: &str = r#"use std::secrets
use std::runtime::static
policy mixed {
    isolation container
    fs {
        read "~/Documents" at "/mnt/docs"
        read "~/Documents/shared" at "/mnt/docs/shared"
        tmpfs "/mnt/docs/cache" size 1MiB
        exec "~/tools" at "/opt/tools"
        write "~/out" at "/mnt/out"
        read "~/archive" at "/mnt/archive"
        scratch "/scratch" size 16MiB
        tmpfs "/tmp" size 8MiB
        deny secrets
        deny write persistence
        deny "~/Documents/private"
        deny "~/Documents/shared/secret"
        deny exec "~/tools/dangerous"
        deny write "~/Documents/notes"
        deny read "~/archive"
        deny write "~/tools"
    }
    net { egress none }
    include runtime_guards
    syscalls {
        allow static_binary
        deny unshare, setns, mount errno EPERM
        default errno EPERM
    }
    limits { memory 64MiB; pids 32; cpus 0.5; files 128 }
    test "mixed" {
        allow read "/mnt/docs/a.txt"
        deny read "/mnt/docs/private/key"
        deny read "~/Documents/private/key"
        allow read "~/Documents/shared/x"
        deny read "/mnt/docs/shared/secret"
        allow exec "/opt/tools/bin/tool"
        deny exec "/opt/tools/dangerous"
        allow read "/opt/tools/dangerous"
        allow write "/mnt/out/r.csv"
        deny exec "/mnt/out/r.sh"
        deny read "/mnt/archive/a"
        allow write "/mnt/docs/cache/x"
        deny connect "example.com":443
        deny resolve "example.com"
    }
}
"#;

/// Connects and name resolution for hosts inside and outside the container, and syscalls:
/// none of them is the bundle's to allow.
fn adversarial_net_and_syscalls() -> Vec<Request> {
    let mut out = Vec::new();
    for h in [
        "example.com",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "0.0.0.0",
        "10.0.0.1",
        "169.254.169.254",
        "imap.mail.example.com",
    ] {
        let host = Host::parse(h).unwrap();
        out.push(Request::Connect {
            host: host.clone(),
            port: 443,
        });
        out.push(Request::Resolve { host });
    }
    for name in ["unshare", "mount", "read", "ptrace"] {
        out.push(Request::Syscall {
            name: name.to_string(),
            args: [0; 6],
        });
    }
    out
}

/// True when `decide` resolves the guest path of an fs request into a policy mount.
fn in_policy_mount(policy: &Policy, r: &Request) -> bool {
    match r {
        Request::Fs { path, .. } if path.is_home() => true,
        Request::Fs { path, .. } => resolve_mount(policy, path).is_some(),
        _ => false,
    }
}

/// The guest path an fs request reaches (a `~` object through the policy's binds).
fn guest_paths(policy: &Policy, path: &CanonPath) -> Vec<CanonPath> {
    if !path.is_home() {
        return vec![path.clone()];
    }
    policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| {
            let rest = path.strip_prefix(m.host()?)?;
            Some(m.guest.join(rest))
        })
        .collect()
}

/// True when `r` reaches a guest path beneath one of `narrowed`.
fn is_narrowed(policy: &Policy, narrowed: &[&str], r: &Request) -> bool {
    match r {
        Request::Fs { path, .. } => guest_paths(policy, path).iter().any(|g| {
            narrowed
                .iter()
                .any(|n| g.starts_with(&CanonPath::parse(n).unwrap()))
        }),
        _ => false,
    }
}

/// Check soundness and equality over every request; returns the count. Beneath `narrowed`
/// (guest paths the report says a mask narrows) the simulator may deny what `decide` allows.
fn check(policy: &Policy, e: &Emitted, narrowed: &[&str]) -> usize {
    let mut reqs = requests(policy);
    reqs.extend(adversarial_net_and_syscalls());
    let mut equal = 0;
    let n = harness::check(
        Oci.name(),
        policy,
        &reqs,
        as_written,
        |_, r| Oci.simulate(&e.artifacts, r),
        |case| {
            let r = case.request;
            if is_narrowed(policy, narrowed, r) {
                assert_ne!(case.sim, Verdict::NotMediated, "{}: `{r}`", policy.name);
            } else if in_policy_mount(policy, r) {
                case.assert_equal();
                equal += 1;
            } else if matches!(r, Request::Fs { .. }) {
                assert_ne!(
                    case.sim,
                    Verdict::Allow,
                    "{}: `{r}` is outside every mount",
                    policy.name
                );
            }
        },
    );
    assert!(
        equal > 50,
        "{}: only {equal} requests compared exactly",
        policy.name
    );
    n
}

#[test]
fn stdlib_policies_are_sound() {
    let mut checked = 0;
    let mut bundles = 0;
    for (sources, policy) in &policies() {
        let e = emit_snapshotted(&Oci, &policy.name, sources, policy, true);
        if policy.isolation != Isolation::Container {
            assert!(e.artifacts.is_empty(), "{}: no bundle", policy.name);
            continue;
        }
        bundles += 1;
        checked += check(policy, &e, &[]);
        // Every deny test of the policy that the bundle mediates, it denies.
        for c in policy.tests.iter().flat_map(|t| &t.cases) {
            let sim = Oci.simulate(&e.artifacts, &c.request);
            if c.expect_allow {
                assert_ne!(sim, Verdict::Deny, "{}: `{}`", policy.name, c.request);
            }
        }
    }
    assert_eq!(bundles, 2);
    tally("oci stdlib (2 bundles)", checked, 500);
}

#[test]
fn a_mixed_policy_is_sound_and_exact_on_its_mounts() {
    let (policy, e) = build_snapshotted(&Oci, "mixed", MIXED_POLICY, true);
    tally(
        "oci mixed",
        check(&policy, &e, &["/opt/tools/dangerous"]),
        0,
    );
    for c in policy.tests.iter().flat_map(|t| &t.cases) {
        let sim = Oci.simulate(&e.artifacts, &c.request);
        let want = if c.expect_allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        // `allow read "/opt/tools/dangerous"` is narrowed by the mask (reported).
        if c.request.to_string() == "read \"/opt/tools/dangerous\"" {
            assert_eq!(sim, Verdict::Deny);
            continue;
        }
        assert_eq!(sim, want, "{}", c.request);
    }
    let json = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    for masked in [
        "\"/mnt/docs/private\"",
        "\"/mnt/docs/shared/secret\"",
        "\"/opt/tools/dangerous\"",
    ] {
        assert!(json.contains(masked), "{masked} is masked:\n{json}");
    }
    assert!(
        !json.contains("/mnt/docs/notes"),
        "a write deny beneath a read-only mount needs no mask"
    );
}

#[test]
fn emitting_twice_gives_identical_bytes() {
    for (_, p) in &policies() {
        let a = Oci.emit(p, &ctx()).unwrap().artifacts;
        let b = Oci.emit(p, &ctx()).unwrap().artifacts;
        assert_eq!(a, b, "{}", p.name);
    }
}

#[test]
fn a_file_that_does_not_parse_denies_and_a_missing_one_is_not_mediated() {
    let r = fs(Access::Read, "/mnt/docs/a").unwrap();
    let mut a = policyc_targets::Artifacts::new();
    assert_eq!(Oci.simulate(&a, &r), Verdict::NotMediated);
    a.insert(FILE.to_string(), b"{ not json".to_vec());
    assert_eq!(Oci.simulate(&a, &r), Verdict::Deny);
}
