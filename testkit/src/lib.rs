//! Test scaffolding shared by every crate's tests (and the fuzz targets): written once here so
//! that no test helper exists twice. Tests may fail loudly, so this crate may panic.
//!
//! - [`stdlib`]: compiling test policies with the standard library, and its policies;
//! - [`live`]: gating for tests that need the kernel or a runtime;
//! - [`policies`]: one model of a random policy, and the ways tests and fuzz targets draw it;
//! - [`seccomp`]: what a seccomp program should answer, and the inputs worth asking it;
//! - [`spelling`]: adversarial path spellings around everything a policy names;
//! - [`scaling`]: generated policies of a chosen size, for the scaling benchmark.
//! - `libseccomp` (feature `libseccomp`): compiling `seccomp.json` with libseccomp as runc does.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test scaffolding: a failed expectation fails the test that called it"
)]

#[cfg(feature = "libseccomp")]
pub mod libseccomp;
pub mod live;
pub mod policies;
pub mod scaling;
pub mod seccomp;
pub mod spelling;
pub mod stdlib;
