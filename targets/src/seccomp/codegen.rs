//! The IR's syscall filter as a BPF program for one native architecture.
//!
//! Layout:
//!
//! 1. `ld arch`; anything but the native arch (i386 via `int 0x80`, arm32 on aarch64, any
//!    other value) gets the bad-arch action, `KILL_PROCESS`.
//! 2. `ld nr`. On x86_64, numbers with `X32_SYSCALL_BIT` (x32 calls, which share the x86_64
//!    arch value) also get `KILL_PROCESS`, except `nr == -1` (what a tracer writes to skip a
//!    call; no syscall runs), which gets the default action, as in libseccomp's filters.
//! 3. A binary search over the sorted numbers of the syscalls the policy names (`jge` at
//!    each node), ending in leaves of at most [`LEAF`] `jeq` tests; a number not in the
//!    policy gets the default action.
//! 4. Each syscall's handler: its denies in order (each a conjunction of 64-bit argument
//!    comparisons on the two 32-bit halves), then its allow alternatives, then the default.
//!    Syscalls whose every outcome is one action jump straight to a shared `ret`.

use super::asm::{Asm, AsmError, Label};
use super::bpf::{self, audit, data, ret};
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction, SyscallRule, Syscalls};
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use std::collections::BTreeMap;

/// Most numbers tested linearly at a leaf of the binary search.
const LEAF: usize = 4;

/// Why a program could not be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenError {
    /// The program would have this many instructions, above `BPF_MAXINSNS`.
    TooLarge(usize),
    /// Two syscall names share a number on this architecture (a table error).
    DuplicateNumber(u32),
    /// The assembler failed (a code generator bug).
    Asm(AsmError),
    /// The architecture has no native program.
    NotNative,
}

/// The `seccomp_data.arch` value of a native architecture.
pub fn audit_arch(arch: Arch) -> Option<u32> {
    match arch {
        Arch::X86_64 => Some(audit::X86_64),
        Arch::Aarch64 => Some(audit::AARCH64),
        Arch::X32 | Arch::X86 | Arch::Arm => None,
    }
}

/// The filter return value for a deny action.
pub fn deny_ret(action: DenyAction) -> u32 {
    match action {
        DenyAction::Errno(e) => ret::ERRNO | e.min(ret::DATA),
        DenyAction::Kill => ret::KILL_PROCESS,
    }
}

/// The return value when every path through a rule ends in the same one, if so.
fn single_outcome(rule: &SyscallRule, default: u32) -> Option<u32> {
    let mut outcomes = Vec::new();
    let mut closed = false;
    for d in &rule.deny {
        outcomes.push(deny_ret(d.action));
        if d.when.is_empty() {
            closed = true;
            break;
        }
    }
    if !closed {
        if !rule.allow.is_empty() {
            outcomes.push(ret::ALLOW);
        }
        if !rule.unconditional() {
            outcomes.push(default);
        }
    }
    let first = *outcomes.first()?;
    outcomes.iter().all(|o| *o == first).then_some(first)
}

/// One syscall in the dispatch.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    nr: u32,
    rule: &'a SyscallRule,
    /// `Some` when the handler is a single `ret`.
    only: Option<u32>,
}

/// Generate the program for a native architecture.
pub fn generate(sc: &Syscalls, arch: Arch) -> Result<Vec<bpf::Insn>, GenError> {
    let audit = audit_arch(arch).ok_or(GenError::NotNative)?;
    let default = deny_ret(sc.default);
    let mut by_nr: BTreeMap<u32, Entry<'_>> = BTreeMap::new();
    for (name, rule) in &sc.rules {
        let Some(nr) = syscalls::number(arch, name) else {
            continue;
        };
        let only = single_outcome(rule, default);
        if only == Some(default) {
            continue;
        }
        if by_nr.insert(nr, Entry { nr, rule, only }).is_some() {
            return Err(GenError::DuplicateNumber(nr));
        }
    }
    let entries: Vec<Entry<'_>> = by_nr.into_values().collect();
    let mut g = Gen {
        asm: Asm::new(),
        default,
    };
    g.program(audit, arch == Arch::X86_64, &entries);
    let insns = g.asm.assemble().map_err(GenError::Asm)?;
    if insns.len() > bpf::BPF_MAXINSNS {
        return Err(GenError::TooLarge(insns.len()));
    }
    Ok(insns)
}

/// Generator state.
#[derive(Debug)]
struct Gen {
    asm: Asm,
    default: u32,
}

impl Gen {
    /// The whole program: arch check, x32 check, dispatch. The kills sit right after the
    /// tests that lead to them, so no test needs a trampoline.
    fn program(&mut self, audit: u32, x32: bool, entries: &[Entry<'_>]) {
        let bad = self.asm.label();
        let native = self.asm.label();
        self.asm.ld(data::ARCH);
        self.asm.jump(bpf::JEQ_K, audit, native, bad);
        self.asm.bind(bad);
        self.asm.ret(ret::KILL_PROCESS);
        self.asm.bind(native);
        self.asm.ld(data::NR);
        if x32 {
            let (marked, plain) = (self.asm.label(), self.asm.label());
            let (skip, kill) = (self.asm.label(), self.asm.label());
            self.asm.jump(bpf::JGE_K, X32_SYSCALL_BIT, marked, plain);
            self.asm.bind(marked);
            self.asm.jump(bpf::JEQ_K, u32::MAX, skip, kill);
            self.asm.bind(skip);
            self.asm.ret(self.default);
            self.asm.bind(kill);
            self.asm.ret(ret::KILL_PROCESS);
            self.asm.bind(plain);
        }
        self.tree(entries);
    }

    /// Binary search over `entries` (sorted by number); the accumulator holds `nr`.
    fn tree(&mut self, entries: &[Entry<'_>]) {
        if entries.len() <= LEAF {
            self.leaf(entries);
            return;
        }
        let (left, right) = entries.split_at(entries.len() / 2);
        let Some(pivot) = right.first() else {
            self.leaf(entries);
            return;
        };
        let (l, r) = (self.asm.label(), self.asm.label());
        self.asm.jump(bpf::JGE_K, pivot.nr, r, l);
        self.asm.bind(l);
        self.tree(left);
        self.asm.bind(r);
        self.tree(right);
    }

    /// Linear tests, the default, shared returns, then the full handlers.
    fn leaf(&mut self, entries: &[Entry<'_>]) {
        let mut shared: BTreeMap<u32, Label> = BTreeMap::new();
        let mut handlers = Vec::new();
        for e in entries {
            let target = match e.only {
                Some(k) => *shared.entry(k).or_insert_with(|| self.asm.label()),
                None => {
                    let l = self.asm.label();
                    handlers.push((l, e.rule));
                    l
                }
            };
            let next = self.asm.label();
            self.asm.jump(bpf::JEQ_K, e.nr, target, next);
            self.asm.bind(next);
        }
        self.asm.ret(self.default);
        for (k, l) in shared {
            self.asm.bind(l);
            self.asm.ret(k);
        }
        for (l, rule) in handlers {
            self.asm.bind(l);
            self.handler(rule);
        }
    }

    /// Denies in order, then allow alternatives, then the default.
    fn handler(&mut self, rule: &SyscallRule) {
        for d in &rule.deny {
            if d.when.is_empty() {
                self.asm.ret(deny_ret(d.action));
                return;
            }
            self.guarded_ret(&d.when, deny_ret(d.action));
        }
        for alt in &rule.allow {
            if alt.is_empty() {
                self.asm.ret(ret::ALLOW);
                return;
            }
            self.guarded_ret(alt, ret::ALLOW);
        }
        self.asm.ret(self.default);
    }

    /// `ret k` when every condition holds; otherwise fall through past it.
    fn guarded_ret(&mut self, conds: &[ArgCond], k: u32) {
        let next = self.asm.label();
        for c in conds {
            let pass = self.asm.label();
            self.compare(c, pass, next);
            self.asm.bind(pass);
        }
        self.asm.ret(k);
        self.asm.bind(next);
    }

    /// Jump to `t` when `c` holds, else to `f`, comparing 64-bit values as two halves.
    fn compare(&mut self, c: &ArgCond, t: Label, f: Label) {
        let mask = c.mask.unwrap_or(u64::MAX);
        let (mh, ml) = ((mask >> 32) as u32, mask as u32);
        let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
        let lo_off = data::arg_lo(c.arg);
        let hi_off = lo_off + 4;
        // `<`, `<=` and `!=` are the negations of `>=`, `>` and `==`: swap the targets.
        let (op, t, f) = match c.op {
            CmpOp::Lt => (CmpOp::Ge, f, t),
            CmpOp::Le => (CmpOp::Gt, f, t),
            CmpOp::Ne => (CmpOp::Eq, f, t),
            op => (op, t, f),
        };
        let lo = self.asm.label();
        if op == CmpOp::Eq {
            self.half_eq(hi_off, mh, vh, lo, f);
            self.asm.bind(lo);
            self.half_eq(lo_off, ml, vl, t, f);
        } else {
            self.half_order(hi_off, mh, vh, [t, lo, f]);
            self.asm.bind(lo);
            self.half_last(lo_off, ml, vl, op == CmpOp::Ge, t, f);
        }
    }

    /// `(word & m) == v`: to `t` if so, else `f`.
    fn half_eq(&mut self, off: u32, m: u32, v: u32, t: Label, f: Label) {
        if v & !m != 0 {
            self.asm.ja(f);
        } else if m == 0 {
            self.asm.ja(t);
        } else if m == u32::MAX {
            self.asm.ld(off);
            self.asm.jump(bpf::JEQ_K, v, t, f);
        } else if v == 0 {
            self.asm.ld(off);
            self.asm.jump(bpf::JSET_K, m, f, t);
        } else {
            self.asm.ld(off);
            self.asm.and(m);
            self.asm.jump(bpf::JEQ_K, v, t, f);
        }
    }

    /// The high half of an ordering: `(word & m)` above, equal to or below `v`, to
    /// `[gt, eq, lt]`.
    fn half_order(&mut self, off: u32, m: u32, v: u32, [gt, eq, lt]: [Label; 3]) {
        if m == 0 {
            self.asm.ja(if v == 0 { eq } else { lt });
            return;
        }
        self.asm.ld(off);
        if m != u32::MAX {
            self.asm.and(m);
        }
        if v != u32::MAX {
            let next = self.asm.label();
            self.asm.jump(bpf::JGT_K, v, gt, next);
            self.asm.bind(next);
        }
        self.asm.jump(bpf::JEQ_K, v, eq, lt);
    }

    /// The low half of an ordering: `(word & m) > v` (or `>=` when `or_equal`).
    fn half_last(&mut self, off: u32, m: u32, v: u32, or_equal: bool, t: Label, f: Label) {
        if m == 0 {
            self.asm.ja(if or_equal && v == 0 { t } else { f });
            return;
        }
        self.asm.ld(off);
        if m != u32::MAX {
            self.asm.and(m);
        }
        let code = if or_equal { bpf::JGE_K } else { bpf::JGT_K };
        self.asm.jump(code, v, t, f);
    }
}
