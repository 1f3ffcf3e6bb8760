//! Every target's suites that run without a kernel, in one binary:
//!
//! - [`diagnostics`]: each target's corpus of failing policies, snapshotted.
//!
//! Snapshots keep the names they had when each suite was a binary of its own
//! (`tests/snapshots/landlock_diagnostics__corpus@P0801-nested-deny.policy.snap`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod diagnostics;
mod harness;
