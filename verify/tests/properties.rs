//! Random well-formed policies (process, container and wasm) against random requests, on
//! every target's simulator: the requests are the verifier's own adversarial samples for
//! the policy (`adversary::pools` and `sample`, seeded by the case) and requests generated
//! here (paths with traversal and encodings, hosts in every spelling, syscalls with
//! arguments around every condition, raw numbers under foreign ABIs and with the x32 bit).
//!
//! - Soundness, on every target that emits: a simulator's `Allow` implies the reference
//!   allows.
//! - Equality with the reference where a target claims to express the rule exactly (see
//!   `common::check`): seccomp on every syscall, named or raw; Landlock on the file system
//!   under process isolation; AppArmor, the OCI bundle and WASI on the domains their own
//!   soundness tests hold them to; the egress artifact on every lookup and every connection but those to non-public
//!   addresses (narrowed and reported), the
//!   squid configuration on connections to names, dnsmasq's on lookups of names.
//!
//! Failing cases are shrunk and kept: proptest writes the seed of each failure to
//! `properties.proptest-regressions` beside this file, and replays it first on every later
//! run; the file is committed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{case, check, Tally};
use policyc_targets::registry;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use std::sync::Mutex;
use std::time::Instant;

/// Policies per run (`PROPTEST_CASES` sets another number, for longer runs).
const CASES: u32 = 256;
/// At most this many adversarial samples, and this many generated requests, per policy.
const SAMPLED: usize = 96;
const EXTRA: usize = 40;

#[test]
fn every_target_is_sound_and_exact_where_it_claims_to_be() {
    let start = Instant::now();
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = Mutex::new(Tally::default());
    let result = runner.run(&case(SAMPLED, EXTRA), |c| check(&c, registry(), &tally));
    let tally = tally.into_inner().unwrap();
    eprintln!(
        "{} policies compiled, {} rejected, in {:.1?}",
        tally.compiled,
        tally.rejected,
        start.elapsed()
    );
    for (name, (sound, exact)) in &tally.checks {
        eprintln!(
            "  {name:<9} {sound:>6} requests checked for soundness, {exact:>6} for equality; {} policies not built",
            tally.not_built.get(name).copied().unwrap_or(0)
        );
    }
    if let Err(e) = result {
        panic!("{e}");
    }
    let total = tally.compiled + tally.rejected;
    assert!(
        tally.compiled * 10 >= total * 9,
        "only {} of {total} generated policies compile",
        tally.compiled
    );
    for t in registry() {
        let (sound, exact) = tally.checks.get(t.name()).copied().unwrap_or_default();
        assert!(sound >= 500, "{}: only {sound} requests checked", t.name());
        assert!(
            exact >= 200,
            "{}: only {exact} requests compared exactly",
            t.name()
        );
    }
}
