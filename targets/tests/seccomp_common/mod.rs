//! Shared helpers for the seccomp integration tests: compiling the stdlib policies, the
//! reference answer for a syscall number, and argument samples around every condition.

#![allow(dead_code)]

pub mod libseccomp;

use policyc_compiler::ir::{Policy, SyscallRule, Syscalls};
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::{compile, decide, ModuleLoader, Request, SourceMap};
use policyc_targets::seccomp::bpf::{audit, ret};
use policyc_targets::seccomp::codegen::deny_ret;
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{Artifacts, EmitContext, Target};
use std::collections::BTreeSet;

/// Serves `use std::...` from the embedded stdlib.
#[derive(Debug)]
pub struct Stdlib;

impl ModuleLoader for Stdlib {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        policyc_stdlib::module_source(&p).map(|(f, s)| (f.to_string(), s.to_string()))
    }
}

/// Compile one file's text; panics on errors.
pub fn compile_text(name: &str, text: &str) -> Vec<Policy> {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &Stdlib);
    assert!(
        !out.diagnostics.has_errors(),
        "{name}: {:?}",
        out.diagnostics.iter().collect::<Vec<_>>()
    );
    out.policies
}

/// Every stdlib use-case policy, compiled.
pub fn stdlib_policies() -> Vec<Policy> {
    let ps: Vec<Policy> = policyc_stdlib::policies()
        .iter()
        .flat_map(|(name, text)| compile_text(name, text))
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

/// What `decide` says a syscall by `name` with `args` gets, as a filter return value.
pub fn expected_named(p: &Policy, name: &str, args: [u64; 6]) -> u32 {
    let d = decide(
        p,
        &Request::Syscall {
            name: name.to_string(),
            args,
        },
    );
    if d.allow {
        return ret::ALLOW;
    }
    deny_ret(d.action.unwrap_or(p.syscalls.default))
}

/// What the policy says syscall number `nr` on `arch` gets: by name when the number has
/// one, else the default action.
pub fn expected_nr(p: &Policy, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
    match syscalls::name(arch, nr) {
        Some(name) => expected_named(p, name, args),
        None => default_ret(&p.syscalls),
    }
}

/// The default action as a filter return value.
pub fn default_ret(sc: &Syscalls) -> u32 {
    deny_ret(sc.default)
}

/// The kill the filters use for foreign arches and x32.
pub const BAD_ARCH: u32 = ret::KILL_PROCESS;

/// Interesting values for one argument of `rule`: around every condition on it, masked
/// variants, upper-half bits set, single bits of masks, and the extremes.
pub fn arg_values(rule: &SyscallRule, arg: u8) -> Vec<u64> {
    let mut v: BTreeSet<u64> = [
        0,
        1,
        2,
        0x7fff_ffff,
        0xffff_ffff,
        1 << 32,
        1 << 63,
        u64::MAX,
    ]
    .into_iter()
    .collect();
    let conds = rule
        .allow
        .iter()
        .flatten()
        .chain(rule.deny.iter().flat_map(|d| &d.when));
    for c in conds.filter(|c| c.arg == arg) {
        let m = c.mask.unwrap_or(u64::MAX);
        for base in [c.value, m, c.value | !m] {
            for x in [base.wrapping_sub(1), base, base.wrapping_add(1)] {
                v.extend([
                    x,
                    x | (1 << 32),
                    x | 0xffff_ffff_0000_0000,
                    x & 0xffff_ffff,
                    !x,
                ]);
            }
        }
        for b in (0..64).filter(|b| m & (1u64 << b) != 0) {
            v.extend([c.value ^ (1u64 << b), 1u64 << b]);
        }
    }
    v.into_iter().collect()
}

/// The arguments a rule's conditions look at.
fn used_args(rule: &SyscallRule) -> Vec<u8> {
    let used: BTreeSet<u8> = rule
        .allow
        .iter()
        .flatten()
        .chain(rule.deny.iter().flat_map(|d| &d.when))
        .map(|c| c.arg)
        .collect();
    used.into_iter().collect()
}

/// Argument vectors for a syscall: all zero and all ones, each used argument over its
/// interesting values, and every pair of values for the first two used arguments.
pub fn rule_samples(rule: Option<&SyscallRule>) -> Vec<[u64; 6]> {
    let mut out: BTreeSet<[u64; 6]> = [[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]]
        .into_iter()
        .collect();
    let Some(rule) = rule else {
        return out.into_iter().collect();
    };
    let used = used_args(rule);
    let values: Vec<(usize, Vec<u64>)> = used
        .iter()
        .map(|a| (usize::from(*a), arg_values(rule, *a)))
        .collect();
    for (a, vals) in &values {
        for x in vals {
            let mut args = [0; 6];
            args[*a] = *x;
            out.insert(args);
        }
    }
    if let [(a, xs), (b, ys), ..] = values.as_slice() {
        for x in xs {
            for y in ys {
                let mut args = [0; 6];
                args[*a] = *x;
                args[*b] = *y;
                out.insert(args);
            }
        }
    }
    out.into_iter().collect()
}

/// Samples for the syscall a number names on an arch (or the defaults for no name).
pub fn nr_samples(p: &Policy, arch: Arch, nr: u32) -> Vec<[u64; 6]> {
    rule_samples(syscalls::name(arch, nr).and_then(|n| p.syscalls.rules.get(n)))
}
