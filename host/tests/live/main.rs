//! Live tests, one binary: policyc's artifacts enforced for real by this machine's kernel
//! (seccomp, Landlock), runc, `apparmor_parser` and wasmtime-wasi, through policyc-host, and
//! the operators' squid and dnsmasq configurations by squid and dnsmasq.
//!
//! A test that cannot run here (no Landlock ABI 6, not root, no runc ...) says why and
//! returns, unless `POLICYC_REQUIRE_LIVE=1` (CI), when it fails instead. A test that needs
//! no other test thread beside it runs alone in a fresh process of this binary (`alone`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod adversarial;
mod alone;
mod apparmor;
mod egress;
mod egress_cases;
mod egress_differential;
mod egress_dns;
mod landlock;
mod oci;
mod relay;
mod relay_servers;
mod seccomp;
mod squid;
mod tokens;
mod wasm;
mod wasm_sockets;

use std::path::PathBuf;

/// A temporary directory with no symlink on its path (rule paths must not have one).
fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    (dir, root)
}

/// A seccomp program that allows every call (`ret ALLOW`).
const ALLOW_ALL: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];

/// Run `script` under `sh -c` in `dir`, behind `supervisor` (its network namespace), under
/// the Landlock `ruleset` when there is one and a seccomp filter that allows every call; its
/// stdout and stderr go to `out`. The exit code and what it printed.
fn run_behind(
    supervisor: policyc_host::egress::Supervisor,
    ruleset: Option<policyc_targets::landlock::Ruleset>,
    dir: &std::path::Path,
    out: &std::path::Path,
    script: &str,
) -> (i32, String) {
    use policyc_host::sandbox::{self, Plan};
    let plan = Plan {
        seccomp: ALLOW_ALL.to_vec(),
        landlock: ruleset,
        isolate_network: false,
        areas: Vec::new(),
        best_effort: false,
        egress: Some(supervisor),
        env: sandbox::Environment::for_policy(&Default::default(), None, |_| None),
        view: None,
        trace: None,
        run_as: None,
    };
    let wrapped = format!(
        "cd {} && ( {script} ) >{} 2>&1",
        dir.display(),
        out.display()
    );
    let status = sandbox::run(&plan, "/bin/sh", &["-c".to_string(), wrapped]).unwrap();
    let text = std::fs::read_to_string(out).unwrap_or_default();
    (status.code().unwrap_or(-1), text)
}
