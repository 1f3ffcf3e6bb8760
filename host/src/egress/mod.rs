//! The egress supervisor: the sandbox's only way out.

pub mod dns;
pub mod names;
