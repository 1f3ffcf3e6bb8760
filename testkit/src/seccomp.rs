//! Asking a seccomp program: what it should return for a syscall (what `decide` says, as a
//! filter return value), and the inputs worth asking it (argument values around every
//! condition of a rule). Shared by the seccomp tests and the `bpf_libseccomp` fuzz target,
//! which run policyc's and libseccomp's programs in policyc's BPF interpreter.

use policyc_compiler::ir::{ArgCond, Policy, SyscallRule};
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::{decide, Request};
use policyc_targets::seccomp::bpf::ret;
use policyc_targets::seccomp::codegen::deny_ret;
use policyc_targets::seccomp::interp::SeccompData;
use std::collections::BTreeSet;

/// The input a program sees for syscall `nr` with `args` on `arch` (an `AUDIT_ARCH_*` value).
pub fn data(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr,
        arch,
        instruction_pointer: 0,
        args,
    }
}

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
        None => deny_ret(p.syscalls.default),
    }
}

/// Argument values always worth trying: small numbers, the edges of the lower half, the
/// lowest and highest bits of the upper half, and all ones.
pub const EXTREMES: [u64; 8] = [
    0,
    1,
    2,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    1 << 63,
    u64::MAX,
];

/// Every condition of `rule` on argument `arg`, allows' and denies'.
pub fn conditions_on(rule: &SyscallRule, arg: u8) -> impl Iterator<Item = &ArgCond> {
    rule.allow
        .iter()
        .flatten()
        .chain(rule.deny.iter().flat_map(|d| &d.when))
        .filter(move |c| c.arg == arg)
}

/// Values around one condition, the likeliest to tell two programs apart first: the value
/// and its neighbours, the mask, the value with every unmasked bit set and the next number,
/// each also with the upper half's lowest bit set, with the whole upper half set, cut to the
/// lower half, and inverted; then the same around the mask's neighbours and below the
/// all-unmasked value; then the value with each mask bit flipped, and each mask bit alone.
pub fn condition_values(c: &ArgCond) -> Vec<u64> {
    let m = c.mask.unwrap_or(u64::MAX);
    let unmasked = c.value | !m;
    let first = [
        c.value,
        c.value.wrapping_sub(1),
        c.value.wrapping_add(1),
        m,
        unmasked,
        unmasked.wrapping_add(1),
    ];
    let then = [
        m.wrapping_sub(1),
        m.wrapping_add(1),
        unmasked.wrapping_sub(1),
    ];
    let variants = |x: u64| {
        [
            x | (1 << 32),
            x | 0xffff_ffff_0000_0000,
            x & 0xffff_ffff,
            !x,
        ]
    };
    let mut out = first.to_vec();
    out.extend(first.into_iter().flat_map(variants));
    out.extend(then);
    out.extend(then.into_iter().flat_map(variants));
    for b in (0..64u32).filter(|b| m & (1u64 << b) != 0) {
        out.extend([c.value ^ (1u64 << b), 1u64 << b]);
    }
    out
}

/// The arguments a rule's conditions look at, in order.
pub fn used_args(rule: &SyscallRule) -> Vec<u8> {
    let used: BTreeSet<u8> = rule
        .allow
        .iter()
        .flatten()
        .chain(rule.deny.iter().flat_map(|d| &d.when))
        .map(|c| c.arg)
        .collect();
    used.into_iter().collect()
}

/// Argument vectors for a syscall: all zero, all ones and `1, 2, ..., 6`; then, when it has
/// a rule, each argument the rule looks at over `values(rule, arg)`, the others zero, and
/// pairs of values for the first two of them, every `len / max_paired`-th value of each
/// (all of them when `max_paired` is at least the number of values).
pub fn rule_samples(
    rule: Option<&SyscallRule>,
    values: impl Fn(&SyscallRule, u8) -> Vec<u64>,
    max_paired: usize,
) -> Vec<[u64; 6]> {
    let mut out: BTreeSet<[u64; 6]> = [[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]]
        .into_iter()
        .collect();
    let Some(rule) = rule else {
        return out.into_iter().collect();
    };
    let values: Vec<(u8, Vec<u64>)> = used_args(rule)
        .into_iter()
        .map(|a| (a, values(rule, a)))
        .collect();
    let with = |args: &mut [u64; 6], a: u8, x: u64| {
        if let Some(slot) = args.get_mut(usize::from(a)) {
            *slot = x;
        }
    };
    for (a, xs) in &values {
        for x in xs {
            let mut args = [0; 6];
            with(&mut args, *a, *x);
            out.insert(args);
        }
    }
    if let [(a, xs), (b, ys), ..] = values.as_slice() {
        let step = |len: usize| len.checked_div(max_paired).unwrap_or(0).max(1);
        for x in xs.iter().step_by(step(xs.len())) {
            for y in ys.iter().step_by(step(ys.len())) {
                let mut args = [0; 6];
                with(&mut args, *a, *x);
                with(&mut args, *b, *y);
                out.insert(args);
            }
        }
    }
    out.into_iter().collect()
}
