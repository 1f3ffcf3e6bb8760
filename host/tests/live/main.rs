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
