//! Test scaffolding shared by every crate's tests (and the fuzz targets): written once here so
//! that no test helper exists twice.
//!
//! - [`live`]: gating for tests that need the kernel or a runtime.

pub mod live;
