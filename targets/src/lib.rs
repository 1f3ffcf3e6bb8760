//! Targets: one module per enforcement mechanism, behind one trait.
//!
//! Each target turns the checked IR into artifact bytes ([`Target::emit`]) and answers
//! requests by reading those bytes back ([`Target::simulate`]), never the IR: a simulator
//! that looked at the IR would prove nothing. Adding a target is one new module plus one
//! line in [`registry`].

pub mod apparmor;
pub mod dnsmasq;
pub mod egress;
pub mod import;
pub mod landlock;
pub mod oci;
pub mod provenance;
pub mod seccomp;
pub mod squid;
pub mod wasi;

mod common;
mod index;
#[cfg(test)]
mod testing;

use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::syscalls::Arch;
use policyc_compiler::{Diagnostic, Request};
use std::collections::BTreeMap;

/// The files a target emits: relative path to bytes, in sorted order.
pub type Artifacts = BTreeMap<String, Vec<u8>>;

/// What a simulator says about a request: the one verdict type, defined next to the
/// reference semantics.
pub use policyc_compiler::Verdict;

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

/// A simulator over artifacts read once, for asking many questions of one build. It
/// answers exactly as [`Target::simulate`] does on the same bytes (which, unless a target
/// says otherwise, asks it).
pub trait Simulator: Send + Sync {
    fn simulate(&self, request: &Request) -> Verdict;

    /// See [`Target::simulate_raw`].
    fn simulate_raw(&self, _abi: Arch, _nr: u32, _args: [u64; 6]) -> Verdict {
        Verdict::NotMediated
    }
}

/// The simulator for artifacts that are missing (not mediated) or do not parse (the
/// launcher refuses to run: denied).
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub Verdict);

impl Simulator for Fixed {
    fn simulate(&self, _request: &Request) -> Verdict {
        self.0
    }

    fn simulate_raw(&self, _abi: Arch, _nr: u32, _args: [u64; 6]) -> Verdict {
        self.0
    }
}

/// One enforcement mechanism.
pub trait Target: Sync {
    /// A short, stable name (`seccomp`, `landlock`, ...).
    fn name(&self) -> &'static str;

    /// Emit the artifacts for one policy, or fail with diagnostics naming the rules this
    /// target cannot enforce.
    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>>;

    /// Decide a request by reading the emitted artifacts: by default, through
    /// [`Target::simulator`].
    fn simulate(&self, artifacts: &Artifacts, request: &Request) -> Verdict {
        self.simulator(artifacts).simulate(request)
    }

    /// Read the artifacts once and answer many requests.
    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn Simulator>;

    /// Decide a syscall made by number under an ABI (x32 numbers are given without the x32
    /// bit; i386 and arm32 numbers in their own tables). Only a syscall filter sees these.
    fn simulate_raw(
        &self,
        _artifacts: &Artifacts,
        _abi: Arch,
        _nr: u32,
        _args: [u64; 6],
    ) -> Verdict {
        Verdict::NotMediated
    }

    /// The parts of the artifacts that decided a request, allowed or denied, one line each
    /// (for leak reports and `policyc explain`). Targets whose artifacts are text may leave
    /// this empty; the verifier then quotes the artifact lines that name the request's path,
    /// host or port.
    fn explain(&self, _artifacts: &Artifacts, _request: &Request) -> Vec<String> {
        Vec::new()
    }

    /// True when this target is a layer of the stack that enforces policies of this
    /// isolation level (see [`stack`]).
    fn in_stack(&self, isolation: Isolation) -> bool;

    /// True when this target is a layer of the stack that enforces this policy: by default,
    /// when it is a layer of the policy's isolation level ([`Target::in_stack`]). A target
    /// that enforces only some policies of every level (the egress supervisor's artifact,
    /// for policies with egress rules) says so here.
    fn in_stack_for(&self, policy: &Policy) -> bool {
        self.in_stack(policy.isolation)
    }

    /// True when `policyc build` writes this target's artifacts for this policy unless
    /// targets are named: the layers of its stack, and artifacts made for other programs to
    /// load (the egress supervisor's `egress.json` of every policy, operators' proxy and
    /// resolver configurations).
    fn in_build(&self, policy: &Policy) -> bool {
        self.in_stack_for(policy)
    }

    /// What starts a comment line in this artifact, when its format has comments (text
    /// configurations: `#`). `policyc build` writes a provenance header and `file:line`
    /// comments there (see [`provenance::stamp`]); artifacts without comments are
    /// described by the build manifest alone.
    fn comment_leader(&self, _artifact: &str) -> Option<&'static str> {
        None
    }
}

/// The layers that enforce a policy of this isolation level, in registry order:
/// `process` is Landlock + seccomp (+ AppArmor where the host has it), `container` is the OCI
/// bundle + seccomp + AppArmor, `wasm` is the WASI host. A policy's own stack may hold more
/// (see [`stack_for`]), and that is the one every request the policy denies must be denied by.
pub fn stack(isolation: Isolation) -> Vec<&'static dyn Target> {
    registry()
        .iter()
        .copied()
        .filter(|t| t.in_stack(isolation))
        .collect()
}

/// The layers that enforce this policy, in registry order: its isolation level's
/// ([`stack`]), plus the egress layer when it has egress rules. Every request the policy
/// denies must be denied by at least one of them.
pub fn stack_for(policy: &Policy) -> Vec<&'static dyn Target> {
    registry()
        .iter()
        .copied()
        .filter(|t| t.in_stack_for(policy))
        .collect()
}

/// The targets `policyc build` emits for this policy unless targets are named (see
/// [`Target::in_build`]), in registry order.
pub fn build_targets(policy: &Policy) -> Vec<&'static dyn Target> {
    registry()
        .iter()
        .copied()
        .filter(|t| t.in_build(policy))
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
        &egress::Egress,
        &squid::Squid,
        &dnsmasq::Dnsmasq,
    ]
}
