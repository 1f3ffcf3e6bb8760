//! The verifier: what `policyc test` and `policyc fuzz` prove about a policy's artifacts.
//!
//! Everything here compares targets' simulators, which read the emitted bytes, with the
//! reference semantics ([`policyc_compiler::decide`]):
//!
//! - [`run`]: emit a policy's layers and run its test cases on each of them;
//! - [`stack`]: every request the policy denies is denied by at least one layer;
//! - [`leak`]: a target allowing what the policy denies, with the artifact lines that allow
//!   it, the rule that should have denied it, and a minimal reproducing policy
//!   ([`minimize`]);
//! - [`coverage`]: rules and threats no test exercises;
//! - [`adversary`] and [`campaign`]: adversarial requests aimed at one policy;
//! - [`diff`]: the change in effective permissions between two versions of a policy;
//! - [`explain`]: why one request is allowed or denied, by the policy and by each layer;
//! - [`live`]: what live runs report, the trait the host implements to produce them, and
//!   their comparison with test expectations and the simulators;
//! - [`audit`]: the hash-chained audit log `policyc exec` writes, and its verifier.
//!
//! The vocabulary of results is small: a [`Verdict`] (from the reference semantics, a
//! simulator or a live run; [`policyc_compiler::Decision`] adds the reference's reasons,
//! [`live::LiveVerdict`] a live run's "could not tell"), and an [`Outcome`] (how one layer
//! did against the verdict expected of it).

pub mod adversary;
pub mod audit;
pub mod campaign;
pub mod coverage;
pub mod diff;
pub mod explain;
pub mod leak;
pub mod live;
pub mod minimize;
pub mod outcome;
pub mod probe;
pub mod rng;
pub mod run;
pub mod stack;
pub mod suite;

pub use outcome::Outcome;
pub use policyc_targets::Verdict;
pub use probe::Probe;
pub use run::{emit_layers, Layer};
