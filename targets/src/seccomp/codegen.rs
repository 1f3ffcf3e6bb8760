//! The IR's syscall filter as a BPF program for one native architecture.
//!
//! Layout:
//!
//! 1. `ld arch`; anything but the native arch (i386 via `int 0x80`, arm32 on aarch64, any
//!    other value) gets the bad-arch action, `KILL_PROCESS`.
//! 2. `ld nr`. On x86_64, numbers with `X32_SYSCALL_BIT` (x32 calls, which share the x86_64
//!    arch value) also get `KILL_PROCESS`, except `nr == -1` (what a tracer writes to skip a
//!    call; no syscall runs), which gets the default action, as in libseccomp's filters.
//! 3. A binary search (`jge` at each node) over segments of the number line: runs of
//!    consecutive numbers with one return value (gaps get the default), and single
//!    syscalls with a handler; each leaf is a jump straight to a shared `ret` or a handler.
//! 4. Each syscall's handler: its denies in order (each a conjunction of 64-bit argument
//!    comparisons on the two 32-bit halves), then its allow alternatives, then the default.
//!    Syscalls whose every outcome is one action jump straight to a shared `ret`.

use super::alts::{self, Lows};
use super::asm::{Asm, AsmError, Label};
use super::bpf::{self, audit, data, ret};
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction, SyscallRule, Syscalls};
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use std::collections::BTreeMap;

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

/// A part of a program that one rule of the policy decides: a syscall's deny (the `index`
/// of [`SyscallRule::deny`]) or its allow alternatives (with the default behind them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub syscall: String,
    pub part: Part,
    /// The first and last instruction (0-based, inclusive).
    pub first: usize,
    pub last: usize,
}

/// Which part of a syscall's handler a [`Region`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Deny(usize),
    Allow,
}

/// One syscall in the dispatch.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    name: &'a str,
    nr: u32,
    rule: &'a SyscallRule,
    /// `Some` when the handler is a single `ret`.
    only: Option<u32>,
}

/// Generate the program for a native architecture.
pub fn generate(sc: &Syscalls, arch: Arch) -> Result<Vec<bpf::Insn>, GenError> {
    generate_mapped(sc, arch).map(|(insns, _)| insns)
}

/// [`generate`], and the instructions each rule decides: per syscall with a handler of its
/// own, each deny's comparisons and `ret`, then its allow alternatives, in program order.
/// Syscalls whose every outcome is one return value jump straight to a `ret` they share
/// with others and have no region.
pub fn generate_mapped(
    sc: &Syscalls,
    arch: Arch,
) -> Result<(Vec<bpf::Insn>, Vec<Region>), GenError> {
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
        if by_nr
            .insert(
                nr,
                Entry {
                    name,
                    nr,
                    rule,
                    only,
                },
            )
            .is_some()
        {
            return Err(GenError::DuplicateNumber(nr));
        }
    }
    let entries: Vec<Entry<'_>> = by_nr.into_values().collect();
    let mut g = Gen {
        asm: Asm::new(),
        default,
        marks: Vec::new(),
    };
    g.program(audit, arch == Arch::X86_64, &entries);
    let labels: Vec<Label> = g.marks.iter().flat_map(|m| [m.2, m.3]).collect();
    let (insns, at) = g.asm.assemble_marked(&labels).map_err(GenError::Asm)?;
    if insns.len() > bpf::BPF_MAXINSNS {
        return Err(GenError::TooLarge(insns.len()));
    }
    let regions = g
        .marks
        .iter()
        .zip(at.chunks(2))
        .filter_map(|((name, part, _, _), ends)| match ends {
            [a, b] if b > a => Some(Region {
                syscall: (*name).to_string(),
                part: *part,
                first: *a,
                last: b - 1,
            }),
            _ => None,
        })
        .collect();
    Ok((insns, regions))
}

/// What a segment of syscall numbers leads to.
#[derive(Debug, Clone, Copy)]
enum Outcome<'a> {
    /// One return value for every number in it.
    Ret(u32),
    /// One syscall's handler.
    Handler(&'a str, &'a SyscallRule),
}

/// Generator state.
#[derive(Debug)]
struct Gen<'a> {
    asm: Asm,
    default: u32,
    /// The parts of handlers: syscall, part, and labels bound at its start and end.
    marks: Vec<(&'a str, Part, Label, Label)>,
}

impl<'a> Gen<'a> {
    /// The whole program: arch check, x32 check, dispatch. The kills sit right after the
    /// tests that lead to them, so no test needs a trampoline.
    fn program(&mut self, audit: u32, x32: bool, entries: &[Entry<'a>]) {
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

    /// Binary search over `entries` (sorted by number); the accumulator holds `nr`. The
    /// number line is cut into segments with one outcome each (a run of consecutive
    /// numbers that return the same value, a gap that gets the default, or one syscall
    /// with its own handler), and a tree of `jge` tests on the segment starts leads
    /// straight to each segment's shared `ret` or handler: n segments cost n - 1 tests.
    fn tree(&mut self, entries: &[Entry<'a>]) {
        let segments = self.segments(entries);
        let mut rets: BTreeMap<u32, Label> = BTreeMap::new();
        let mut handlers = Vec::new();
        let targets: Vec<(u32, Label)> = segments
            .iter()
            .map(|(start, outcome)| {
                let l = match outcome {
                    Outcome::Ret(k) => *rets.entry(*k).or_insert_with(|| self.asm.label()),
                    Outcome::Handler(name, rule) => {
                        let l = self.asm.label();
                        handlers.push((l, *name, *rule));
                        l
                    }
                };
                (*start, l)
            })
            .collect();
        self.search(&targets);
        for (k, l) in rets {
            self.asm.bind(l);
            self.asm.ret(k);
        }
        for (l, name, rule) in handlers {
            self.asm.bind(l);
            self.handler(name, rule);
        }
    }

    /// The segments of the number line, from 0, each with its outcome.
    fn segments(&self, entries: &[Entry<'a>]) -> Vec<(u32, Outcome<'a>)> {
        let mut out: Vec<(u32, Outcome<'a>)> = Vec::new();
        let push = |out: &mut Vec<(u32, Outcome<'a>)>, start: u32, o: Outcome<'a>| {
            let same =
                matches!((out.last(), &o), (Some((_, Outcome::Ret(a))), Outcome::Ret(b)) if a == b);
            if !same {
                out.push((start, o));
            }
        };
        let mut cursor: Option<u32> = Some(0);
        for e in entries {
            let Some(c) = cursor else { break };
            if e.nr > c {
                push(&mut out, c, Outcome::Ret(self.default));
            }
            let o = match e.only {
                Some(k) => Outcome::Ret(k),
                None => Outcome::Handler(e.name, e.rule),
            };
            push(&mut out, e.nr, o);
            cursor = e.nr.checked_add(1);
        }
        if let Some(c) = cursor {
            push(&mut out, c, Outcome::Ret(self.default));
        }
        out
    }

    /// A `jge` tree over segment starts (sorted, the first 0) to their targets.
    fn search(&mut self, segs: &[(u32, Label)]) {
        match segs {
            [] => self.asm.ret(self.default),
            [(_, l)] => self.asm.ja(*l),
            _ => {
                let (left, right) = segs.split_at(segs.len() / 2);
                let pivot = right.first().map_or(0, |s| s.0);
                let direct = |h: &[(u32, Label)]| match h {
                    [(_, l)] => Some(*l),
                    _ => None,
                };
                let (l, r) = (self.asm.label(), self.asm.label());
                let jt = direct(right).unwrap_or(r);
                let jf = direct(left).unwrap_or(l);
                self.asm.jump(bpf::JGE_K, pivot, jt, jf);
                if direct(left).is_none() {
                    self.asm.bind(l);
                    self.search(left);
                }
                if direct(right).is_none() {
                    self.asm.bind(r);
                    self.search(right);
                }
            }
        }
    }

    /// Denies in order, then allow alternatives, then the default; each part marked.
    fn handler(&mut self, name: &'a str, rule: &SyscallRule) {
        for (i, d) in rule.deny.iter().enumerate() {
            let start = self.mark();
            if d.when.is_empty() {
                self.asm.ret(deny_ret(d.action));
                self.close(name, Part::Deny(i), start);
                return;
            }
            self.guarded_ret(&d.when, deny_ret(d.action));
            self.close(name, Part::Deny(i), start);
        }
        let start = self.mark();
        if rule.allow.iter().any(Vec::is_empty) {
            self.asm.ret(ret::ALLOW);
        } else {
            self.allows(&rule.allow);
        }
        self.close(name, Part::Allow, start);
    }

    /// A label bound at the next instruction.
    fn mark(&mut self) -> Label {
        let l = self.asm.label();
        self.asm.bind(l);
        l
    }

    /// End the part that began at `start`.
    fn close(&mut self, name: &'a str, part: Part, start: Label) {
        let end = self.mark();
        self.marks.push((name, part, start, end));
    }

    /// Allow alternatives (none unconditional), then the default: single comparisons on
    /// one argument merged and searched (see `alts`), the other alternatives in turn.
    fn allows(&mut self, allow: &[Vec<ArgCond>]) {
        let (groups, rest) = alts::split(allow);
        let allowed = self.asm.label();
        for (arg, ivs) in &groups {
            let next = self.asm.label();
            self.asm.ld(data::arg_lo(*arg) + 4);
            self.high_search(&alts::pieces(ivs), data::arg_lo(*arg), [allowed, next]);
            self.asm.bind(next);
        }
        for alt in rest {
            self.guarded_ret(alt, ret::ALLOW);
        }
        self.asm.ret(self.default);
        if !groups.is_empty() {
            self.asm.bind(allowed);
            self.asm.ret(ret::ALLOW);
        }
    }

    /// Search the high-word pieces (the accumulator holds the high word): to `t` when the
    /// argument is in the set, else to `f`.
    fn high_search(&mut self, pieces: &[alts::Piece], lo_off: u32, [t, f]: [Label; 2]) {
        let direct = |p: &[alts::Piece]| match p {
            [(_, Lows::All)] => Some(t),
            [(_, Lows::Nothing)] | [] => Some(f),
            _ => None,
        };
        match pieces {
            [] => self.asm.ja(f),
            [(_, Lows::All)] => self.asm.ja(t),
            [(_, Lows::Nothing)] => self.asm.ja(f),
            [(_, Lows::Some(lows))] => {
                self.asm.ld(lo_off);
                self.low_search(lows, (0, u32::MAX), [t, f]);
            }
            _ => {
                let (left, right) = pieces.split_at(pieces.len() / 2);
                let pivot = right.first().map_or(0, |p| p.0);
                let (l, r) = (self.asm.label(), self.asm.label());
                let (jt, jf) = (direct(right).unwrap_or(r), direct(left).unwrap_or(l));
                self.asm.jump(bpf::JGE_K, pivot, jt, jf);
                if direct(left).is_none() {
                    self.asm.bind(l);
                    self.high_search(left, lo_off, [t, f]);
                }
                if direct(right).is_none() {
                    self.asm.bind(r);
                    self.high_search(right, lo_off, [t, f]);
                }
            }
        }
    }

    /// Search sorted disjoint low-word ranges (the accumulator holds the low word, known to
    /// lie in `known`): a `jge` tree down to leaves of at most two ranges.
    fn low_search(&mut self, lows: &[(u32, u32)], known: (u32, u32), [t, f]: [Label; 2]) {
        if lows.len() > 2 {
            let (left, right) = lows.split_at(lows.len() / 2);
            let pivot = right.first().map_or(0, |r| r.0);
            let (l, r) = (self.asm.label(), self.asm.label());
            self.asm.jump(bpf::JGE_K, pivot, r, l);
            self.asm.bind(l);
            self.low_search(left, (known.0, pivot.saturating_sub(1)), [t, f]);
            self.asm.bind(r);
            self.low_search(right, (pivot, known.1), [t, f]);
            return;
        }
        for (i, &(a, b)) in lows.iter().enumerate() {
            let next = if i + 1 == lows.len() {
                f
            } else {
                self.asm.label()
            };
            if a == b {
                self.asm.jump(bpf::JEQ_K, a, t, next);
            } else {
                if a > known.0 {
                    // Below this range is below every later one too.
                    let inside = self.asm.label();
                    self.asm.jump(bpf::JGE_K, a, inside, f);
                    self.asm.bind(inside);
                }
                if b < known.1 {
                    self.asm.jump(bpf::JGT_K, b, next, t);
                } else {
                    self.asm.ja(t);
                }
            }
            if next != f {
                self.asm.bind(next);
            }
        }
        if lows.is_empty() {
            self.asm.ja(f);
        }
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
