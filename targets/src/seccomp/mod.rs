//! The seccomp target.
//!
//! Emits three artifacts from the IR's syscall filter:
//!
//! - `seccomp.json`: an OCI `LinuxSeccomp` document for runc, crun and podman (see `json`),
//! - `seccomp.x86_64.bpf` and `seccomp.aarch64.bpf`: raw `struct sock_filter` arrays that
//!   `seccomp(2)` loads directly (see `codegen`).
//!
//! Both forms make the same decisions: the native arch only (other arches and x32 are
//! killed), each syscall's denies first ("deny wins"), then its allow alternatives, then the
//! policy's default. The simulator runs the emitted BPF bytes in an interpreter (`interp`),
//! never the IR; the tests check the BPF against `decide` for every syscall number and the
//! JSON, compiled by libseccomp as runc does, against the BPF.

mod alts;
mod asm;
pub mod bpf;
pub mod codegen;
pub mod dnf;
pub mod interp;
pub mod json;
pub mod probe;

use crate::{Artifacts, EmitContext, Emitted, Target, Verdict};
use codegen::GenError;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::syscalls::Arch;
use policyc_compiler::{Code, Diagnostic, Request};
use std::collections::BTreeMap;

pub use interp::{run, InterpError, SeccompData};

/// The seccomp target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seccomp;

/// The artifact name of the OCI document.
pub const JSON_ARTIFACT: &str = "seccomp.json";

/// The artifact name of the BPF program for a native architecture.
pub fn bpf_artifact(arch: Arch) -> String {
    format!("seccomp.{}.bpf", arch.name())
}

/// Size and worst-case cost of one BPF program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Instructions in the program.
    pub instructions: usize,
    /// The most instructions any run executes: the longest path through the jump graph
    /// (every jump goes forward, so it is a DAG), counting the final `ret`.
    pub longest_path: usize,
}

/// The size and longest path of a program. Jumps out of the program (which a valid
/// program never has) end a path; trailing bytes that are not a whole instruction are
/// ignored.
pub fn program_stats(bpf_bytes: &[u8]) -> Stats {
    let whole = bpf_bytes.len() - bpf_bytes.len() % 8;
    let insns = bpf::decode(bpf_bytes.get(..whole).unwrap_or_default()).unwrap_or_default();
    let n = insns.len();
    let mut longest = vec![0usize; n + 1];
    for (i, insn) in insns.iter().enumerate().rev() {
        let succ: Vec<usize> = match insn.code & 0x07 {
            bpf::class::RET => vec![],
            bpf::class::JMP if insn.code == bpf::JA => {
                vec![(i + 1).saturating_add(insn.k as usize)]
            }
            bpf::class::JMP => vec![i + 1 + usize::from(insn.jt), i + 1 + usize::from(insn.jf)],
            _ => vec![i + 1],
        };
        let best = succ
            .iter()
            .filter(|s| **s < n)
            .filter_map(|s| longest.get(*s))
            .max()
            .copied()
            .unwrap_or(0);
        if let Some(slot) = longest.get_mut(i) {
            *slot = 1 + best;
        }
    }
    Stats {
        instructions: n,
        longest_path: longest.first().copied().unwrap_or(0),
    }
}

/// Stats as the build manifest's named counts.
fn stats_map(s: Stats) -> BTreeMap<String, u64> {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    crate::common::counts([
        ("instructions", n(s.instructions)),
        ("longest_path", n(s.longest_path)),
    ])
}

/// Refuse argument indices above 5 (the checker already does; a filter would otherwise
/// read past `seccomp_data.args`).
fn bad_arg_indices(policy: &Policy) -> Result<(), Vec<Diagnostic>> {
    let bad: Vec<Diagnostic> = policy
        .syscalls
        .rules
        .iter()
        .filter(|(_, r)| {
            r.allow
                .iter()
                .flatten()
                .chain(r.deny.iter().flat_map(|d| &d.when))
                .any(|c| c.arg > 5)
        })
        .map(|(name, r)| {
            let span = r.allow_span.unwrap_or(policy.syscalls.span);
            Diagnostic::new(
                Code::BadArgIndex,
                span,
                format!("target `seccomp`: a condition on `{name}` names an argument above 5"),
            )
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

/// A diagnostic for a program that could not be generated.
fn gen_diagnostic(policy: &Policy, arch: Arch, e: &GenError) -> Diagnostic {
    let what = match e {
        GenError::TooLarge(n) => format!(
            "the {} filter would need {n} BPF instructions; the kernel accepts at most {}",
            arch.name(),
            bpf::BPF_MAXINSNS
        ),
        other => format!(
            "internal error generating the {} filter: {other:?}",
            arch.name()
        ),
    };
    Diagnostic::new(
        Code::SeccompTooLarge,
        policy.syscalls.span,
        format!("target `seccomp`: {what}"),
    )
    .with_hint("allow fewer conditional rules, or split the agent into smaller policies")
}

impl Target for Seccomp {
    fn name(&self) -> &'static str {
        "seccomp"
    }

    fn in_stack(&self, isolation: Isolation) -> bool {
        matches!(isolation, Isolation::Process | Isolation::Container)
    }

    fn emit(&self, policy: &Policy, _ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        bad_arg_indices(policy)?;
        let mut artifacts = Artifacts::new();
        let mut stats = BTreeMap::new();
        let mut errors = Vec::new();
        for arch in Arch::NATIVE {
            match codegen::generate(&policy.syscalls, arch) {
                Ok(insns) => {
                    let bytes = bpf::encode(&insns);
                    stats.insert(bpf_artifact(arch), stats_map(program_stats(&bytes)));
                    artifacts.insert(bpf_artifact(arch), bytes);
                }
                Err(e) => errors.push(gen_diagnostic(policy, arch, &e)),
            }
        }
        match json::document(&policy.syscalls) {
            Ok(doc) => {
                artifacts.insert(JSON_ARTIFACT.to_string(), doc);
            }
            Err(d) => errors.extend(d),
        }
        if errors.is_empty() {
            Ok(Emitted {
                artifacts,
                report: Vec::new(),
                stats,
            })
        } else {
            Err(errors)
        }
    }

    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn crate::Simulator> {
        Box::new(probe::Parsed::new(artifacts))
    }

    fn simulate_raw(&self, artifacts: &Artifacts, abi: Arch, nr: u32, args: [u64; 6]) -> Verdict {
        probe::simulate_raw(artifacts, abi, nr, args)
    }

    fn explain(&self, artifacts: &Artifacts, request: &Request) -> Vec<String> {
        probe::explain(artifacts, request)
    }
}

/// Only the BPF program for `arch`, named as [`Seccomp`]'s `emit` names it (the same bytes):
/// what a launcher on that architecture loads, without the other architecture's program
/// and the OCI document.
pub fn emit_for(policy: &Policy, arch: Arch) -> Result<Artifacts, Vec<Diagnostic>> {
    bad_arg_indices(policy)?;
    let insns = codegen::generate(&policy.syscalls, arch)
        .map_err(|e| vec![gen_diagnostic(policy, arch, &e)])?;
    Ok(Artifacts::from([(bpf_artifact(arch), bpf::encode(&insns))]))
}

#[cfg(test)]
mod tests;
