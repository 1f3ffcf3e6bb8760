//! Every target's suites that run without a kernel, in one binary:
//!
//! - [`diagnostics`]: each target's corpus of failing policies, snapshotted;
//! - [`landlock`], [`apparmor`], [`oci`], [`wasi`]: each simulator against the reference
//!   semantics over the stdlib and policies written for it, through the shared
//!   [`harness`], with the stdlib's artifacts snapshotted;
//! - [`apparmor_adversarial`], [`oci_adversarial`]: ADVERSARIAL.md's items for those targets;
//! - [`seccomp`]: the stdlib's filters, snapshotted.
//!
//! Snapshots keep the names they had when each suite was a binary of its own
//! (`tests/snapshots/landlock_soundness__landlock_local_agent.snap`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../apparmor_common/mod.rs"]
mod apparmor_common;

mod apparmor;
mod apparmor_adversarial;
mod diagnostics;
mod harness;
mod landlock;
mod oci;
mod oci_adversarial;
mod seccomp;
mod wasi;
