//! Test scaffolding shared by every crate's tests (and the fuzz targets): written once here so
//! that no test helper exists twice. Tests may fail loudly, so this crate may panic.
//!
//! - [`stdlib`]: compiling test policies with the standard library, and its policies;
//! - [`live`]: gating for tests that need the kernel or a runtime;
//! - [`spelling`]: adversarial path spellings around everything a policy names.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test scaffolding: a failed expectation fails the test that called it"
)]

pub mod live;
pub mod spelling;
pub mod stdlib;
