//! Shared helpers for the seccomp integration tests: compiling the stdlib policies, the
//! reference answer for a syscall number, and argument samples around every condition.

#![allow(dead_code)]

pub mod libseccomp;

use policyc_compiler::ir::{Policy, SyscallRule, Syscalls};
use policyc_compiler::syscalls::{self, Arch};
use policyc_targets::seccomp::bpf::{audit, ret};
use policyc_targets::seccomp::codegen::deny_ret;
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{Artifacts, EmitContext, Target};
use policyc_testkit::seccomp;
use std::collections::BTreeSet;

/// A policy built to be awkward: a `kill` default, conditional denies with their own
/// actions next to allows of the same syscall, masked and 64-bit conditions, several
/// alternatives, and a name that exists on one arch only.
pub const EDGE: &str = r#"
policy edge {
    isolation process
    syscalls {
        allow read, write, close, exit_group, open
        allow socket if arg0 == 1
        allow socket if arg0 == 2 and arg1 < 3
        allow mmap if arg2 & 0x4 == 0
        allow lseek if arg1 >= 0x100000000 and arg2 <= 2
        allow fcntl if arg1 != 4
        allow prctl if arg0 > 20 and arg0 <= 40
        allow ioctl
        deny ioctl if arg1 & 0xffffffff == 0x5412
        deny ioctl if arg1 & 0xffffffff == 0x541c errno EACCES
        deny write if arg0 > 2 errno EBADF
        deny write if arg2 & 0xffffffff00000000 != 0 kill
        deny socket if arg1 & 0x80000 == 0x80000 errno EACCES
        deny open if arg1 & 0x3 == 2
        deny clone3 errno ENOSYS
        default kill
    }
}
"#;

/// A policy whose allow alternatives are single comparisons on one argument, which the
/// code generator merges into one search per argument: equalities under one high word,
/// ranges across high words, `!=`, a full mask, a lone comparison on another argument
/// that stays as it is, and a deny in front. `prctl` mixes orderings with and without a high
/// word on one argument, a shape libseccomp 2.5.4 compiles wrongly unless seccomp.json
/// writes it as masked equalities (it allowed `prctl(6)` once).
pub const MERGED: &str = r#"
policy merged {
    isolation process
    syscalls {
        allow read, write, exit_group
        allow personality if arg0 == 0
        allow personality if arg0 == 8
        allow personality if arg0 == 0x20000
        allow personality if arg0 == 0x20008
        allow personality if arg0 == 0xffffffff
        allow personality if arg0 == 0x100000008
        allow socket if arg0 < 38
        allow socket if arg0 == 39
        allow socket if arg0 > 40
        allow fcntl if arg1 != 4
        allow fcntl if arg1 == 4 and arg2 == 1
        allow prctl if arg0 <= 3
        allow prctl if arg0 == 0x300000000
        allow prctl if arg0 == 5
        allow prctl if arg0 >= 0x500000007
        allow lseek if arg2 == 1
        allow lseek if arg2 & 0xffffffffffffffff == 2
        allow lseek if arg1 == 7
        allow mmap if arg2 > 0x100000000
        allow mmap if arg2 < 0x100000000
        deny personality if arg0 == 8 errno EACCES
        default errno EPERM
    }
}
"#;

/// Compile one file's text with the standard library; panics on errors.
pub fn compile_text(name: &str, text: &str) -> Vec<Policy> {
    policyc_testkit::stdlib::compile_text(name, text).1
}

/// Every stdlib use-case policy, compiled.
pub fn stdlib_policies() -> Vec<Policy> {
    let ps: Vec<Policy> = policyc_testkit::stdlib::policies()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(ps.len() >= 3, "expected the stdlib's use-case policies");
    ps
}

/// Emit the seccomp artifacts; panics on errors.
pub fn emit(p: &Policy) -> Artifacts {
    match Seccomp.emit(p, &EmitContext::default()) {
        Ok(e) => e.artifacts,
        Err(d) => panic!("{}: seccomp emit failed: {d:?}", p.name),
    }
}

/// The native architectures with their audit values.
pub const NATIVE: [(Arch, u32); 2] = [
    (Arch::X86_64, audit::X86_64),
    (Arch::Aarch64, audit::AARCH64),
];

/// The default action as a filter return value.
pub fn default_ret(sc: &Syscalls) -> u32 {
    deny_ret(sc.default)
}

/// The kill the filters use for foreign arches and x32.
pub const BAD_ARCH: u32 = ret::KILL_PROCESS;

/// Interesting values for one argument of `rule`: around every condition on it, masked
/// variants, upper-half bits set, single bits of masks, and the extremes.
pub fn arg_values(rule: &SyscallRule, arg: u8) -> Vec<u64> {
    let mut v: BTreeSet<u64> = seccomp::EXTREMES.into_iter().collect();
    for c in seccomp::conditions_on(rule, arg) {
        v.extend(seccomp::condition_values(c));
    }
    v.into_iter().collect()
}

/// Argument vectors for a syscall: all zero and all ones, each used argument over its
/// interesting values, and every pair of values for the first two used arguments.
pub fn rule_samples(rule: Option<&SyscallRule>) -> Vec<[u64; 6]> {
    seccomp::rule_samples(rule, arg_values, usize::MAX)
}

/// Samples for the syscall a number names on an arch (or the defaults for no name).
pub fn nr_samples(p: &Policy, arch: Arch, nr: u32) -> Vec<[u64; 6]> {
    rule_samples(syscalls::name(arch, nr).and_then(|n| p.syscalls.rules.get(n)))
}
