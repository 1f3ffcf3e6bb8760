//! Gating for live tests: a test that needs something this machine lacks (Landlock, runc,
//! wasmtime) says why and returns, unless `POLICYC_REQUIRE_LIVE=1`, when it fails.

pub use policyc_verify::live::required;

/// Call when a live test cannot run here. Under `POLICYC_REQUIRE_LIVE=1` it fails the test
/// with `why`; otherwise it prints `why` so the skip is visible, and the caller returns.
#[track_caller]
pub fn cannot_run(why: &str) {
    assert!(
        !required(),
        "POLICYC_REQUIRE_LIVE=1, but this live test cannot run: {why}"
    );
    eprintln!("skipped (set POLICYC_REQUIRE_LIVE=1 to fail instead): {why}");
}
