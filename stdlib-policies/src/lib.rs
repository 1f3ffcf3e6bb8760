//! The standard library of policies.
