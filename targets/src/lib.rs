//! Targets: one module per enforcement mechanism, behind one trait.
//!
//! Each target turns the checked IR into artifact bytes ([`Target::emit`]) and answers
//! requests by reading those bytes back ([`Target::simulate`]), never the IR: a simulator
//! that looked at the IR would prove nothing. Adding a target is one new module plus one
//! line in [`registry`].

pub mod apparmor;
pub mod landlock;
pub mod oci;
pub mod seccomp;
pub mod wasi;

use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Diagnostic, Request};
use std::collections::BTreeMap;

/// The files a target emits: relative path to bytes, in sorted order.
pub type Artifacts = BTreeMap<String, Vec<u8>>;

/// What a simulator says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// This target does not mediate this kind of request (another layer must).
    NotMediated,
}

/// Inputs a target may need beyond the policy.
#[derive(Debug, Clone, Default)]
pub struct EmitContext {
    /// The home directory `~` resolves to, for targets that name host paths.
    pub home: Option<String>,
}

/// What a target emitted, and what it could not express exactly.
#[derive(Debug, Clone, Default)]
pub struct Emitted {
    pub artifacts: Artifacts,
    /// Rules enforced more narrowly than written, and requests this target leaves to
    /// other layers; each names the rule's span.
    pub report: Vec<Diagnostic>,
    /// Figures about artifacts for the build manifest: artifact path to named counts
    /// (e.g. a BPF program's instruction count and longest path).
    pub stats: BTreeMap<String, BTreeMap<String, u64>>,
}

/// One enforcement mechanism.
pub trait Target: Sync {
    /// A short, stable name (`seccomp`, `landlock`, ...).
    fn name(&self) -> &'static str;

    /// Emit the artifacts for one policy, or fail with diagnostics naming the rules this
    /// target cannot enforce.
    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>>;

    /// Decide a request by reading the emitted artifacts.
    fn simulate(&self, artifacts: &Artifacts, request: &Request) -> Verdict;

    /// True when this target is a layer of the stack that enforces policies of this
    /// isolation level (see [`stack`]).
    fn in_stack(&self, isolation: Isolation) -> bool;
}

/// The layers that enforce a policy of this isolation level, in registry order:
/// `process` is Landlock + seccomp (+ AppArmor where the host has it), `container` is the OCI
/// bundle + seccomp + AppArmor, `wasm` is the WASI host. Every request the policy denies must
/// be denied by at least one of them.
pub fn stack(isolation: Isolation) -> Vec<&'static dyn Target> {
    registry()
        .iter()
        .copied()
        .filter(|t| t.in_stack(isolation))
        .collect()
}

/// Every target policyc knows, in a fixed order.
pub fn registry() -> &'static [&'static dyn Target] {
    &[
        &seccomp::Seccomp,
        &landlock::Landlock,
        &apparmor::AppArmor,
        &oci::Oci,
        &wasi::Wasi,
    ]
}
