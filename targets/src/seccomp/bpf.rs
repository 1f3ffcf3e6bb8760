//! Classic BPF as seccomp uses it: opcodes, `struct seccomp_data` offsets, return values,
//! the 8-byte `struct sock_filter` encoding and a readable listing.

use policyc_compiler::syscalls::{self, Arch};
use std::fmt::Write as _;

/// The kernel's limit on one filter program (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;

/// Instruction classes (`code & 0x07`).
pub mod class {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;
}

/// Load sizes and modes, ALU and jump operations, operand sources.
pub mod op {
    pub const W: u16 = 0x00;
    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;

    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;

    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;

    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    /// `RET A` (the accumulator) rather than `RET K`.
    pub const RET_A: u16 = 0x10;
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;
}

/// `ld [k]`: load the 32-bit word at offset `k` of `seccomp_data`.
pub const LD_W_ABS: u16 = class::LD | op::W | op::ABS;
/// `and #k`.
pub const ALU_AND_K: u16 = class::ALU | op::AND | op::K;
/// `jeq #k`, `jgt #k`, `jge #k`, `jset #k`, `ja k`.
pub const JEQ_K: u16 = class::JMP | op::JEQ | op::K;
pub const JGT_K: u16 = class::JMP | op::JGT | op::K;
pub const JGE_K: u16 = class::JMP | op::JGE | op::K;
pub const JSET_K: u16 = class::JMP | op::JSET | op::K;
pub const JA: u16 = class::JMP | op::JA;
/// `ret #k`.
pub const RET_K: u16 = class::RET | op::K;

/// Offsets into `struct seccomp_data` (all fields little-endian on both native arches).
pub mod data {
    /// `int nr`.
    pub const NR: u32 = 0;
    /// `__u32 arch`.
    pub const ARCH: u32 = 4;
    /// `__u64 instruction_pointer`.
    pub const IP: u32 = 8;
    /// `__u64 args[6]`.
    pub const ARGS: u32 = 16;
    /// `sizeof(struct seccomp_data)`.
    pub const SIZE: u32 = 64;

    /// The offset of the low 32 bits of argument `i` (the high half is 4 bytes later).
    pub fn arg_lo(i: u8) -> u32 {
        ARGS + 8 * u32::from(i)
    }
}

/// Seccomp filter return values.
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// `SECCOMP_RET_ACTION_FULL`.
    pub const ACTION_FULL: u32 = 0xffff_0000;
    /// `SECCOMP_RET_DATA`.
    pub const DATA: u32 = 0x0000_ffff;
}

/// `AUDIT_ARCH_*` values seen in `seccomp_data.arch`.
pub mod audit {
    pub const X86_64: u32 = 0xc000_003e;
    pub const I386: u32 = 0x4000_0003;
    pub const AARCH64: u32 = 0xc000_00b7;
    pub const ARM: u32 = 0x4000_0028;
}

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Self {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
}

/// The raw bytes of a program: 8 bytes per instruction, little-endian.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    for i in insns {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

/// Decode raw bytes; `None` when the length is not a multiple of 8.
pub fn decode(bytes: &[u8]) -> Option<Vec<Insn>> {
    if bytes.len() % 8 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| {
                let b = |i: usize| c.get(i).copied().unwrap_or(0);
                Insn {
                    code: u16::from_le_bytes([b(0), b(1)]),
                    jt: b(2),
                    jf: b(3),
                    k: u32::from_le_bytes([b(4), b(5), b(6), b(7)]),
                }
            })
            .collect(),
    )
}

/// The name of a `seccomp_data` offset, for listings.
fn data_name(k: u32) -> String {
    match k {
        data::NR => "nr".to_string(),
        data::ARCH => "arch".to_string(),
        data::IP => "ip.lo".to_string(),
        12 => "ip.hi".to_string(),
        16..=63 => {
            let i = (k - data::ARGS) / 8;
            let half = if (k - data::ARGS) % 8 == 0 {
                "lo"
            } else {
                "hi"
            };
            format!("args[{i}].{half}")
        }
        _ => "?".to_string(),
    }
}

/// The name of a return value, for listings.
pub fn ret_name(k: u32) -> String {
    let data = k & ret::DATA;
    match k & ret::ACTION_FULL {
        ret::KILL_PROCESS => "KILL_PROCESS".to_string(),
        ret::KILL_THREAD => "KILL_THREAD".to_string(),
        ret::TRAP => "TRAP".to_string(),
        ret::ERRNO => match policyc_compiler::syscalls::errno_name(data) {
            Some(n) => format!("ERRNO({n})"),
            None => format!("ERRNO({data})"),
        },
        ret::USER_NOTIF => "USER_NOTIF".to_string(),
        ret::TRACE => format!("TRACE({data})"),
        ret::LOG => "LOG".to_string(),
        ret::ALLOW => "ALLOW".to_string(),
        _ => "?".to_string(),
    }
}

/// The mnemonic of a jump operation.
fn jump_name(code: u16) -> &'static str {
    match code & 0xf0 {
        op::JA => "ja",
        op::JEQ => "jeq",
        op::JGT => "jgt",
        op::JGE => "jge",
        op::JSET => "jset",
        _ => "j?",
    }
}

/// The mnemonic of an ALU operation.
fn alu_name(code: u16) -> &'static str {
    match code & 0xf0 {
        op::ADD => "add",
        op::SUB => "sub",
        op::MUL => "mul",
        op::DIV => "div",
        op::OR => "or",
        op::AND => "and",
        op::LSH => "lsh",
        op::RSH => "rsh",
        op::NEG => "neg",
        op::MOD => "mod",
        op::XOR => "xor",
        _ => "alu?",
    }
}

/// One instruction, with jump targets as absolute indices.
fn list_one(idx: usize, i: &Insn) -> String {
    let operand = |x: u16| {
        if x & op::X != 0 {
            "x".to_string()
        } else {
            format!("#{:#x}", i.k)
        }
    };
    let body = match (i.code & 0x07, i.code) {
        (_, LD_W_ABS) => format!("ld    [{}]  ; {}", i.k, data_name(i.k)),
        (_, RET_K) => format!("ret   #{:#010x}  ; {}", i.k, ret_name(i.k)),
        (_, JA) => format!("ja    {:04}", (idx + 1).saturating_add(i.k as usize)),
        (class::JMP, c) => format!(
            "{:<5} {}  jt {:04}  jf {:04}",
            jump_name(c),
            operand(c),
            idx + 1 + usize::from(i.jt),
            idx + 1 + usize::from(i.jf)
        ),
        (class::ALU, c) => format!("{:<5} {}", alu_name(c), operand(c)),
        _ => format!("code {:#06x} jt {} jf {} k {:#x}", i.code, i.jt, i.jf, i.k),
    };
    format!("{idx:04}  {body}")
}

/// Where the accumulator's value came from before each instruction: `Some(off)` when every
/// path loads it from `seccomp_data` offset `off` and leaves it unchanged since. Every jump
/// goes forward, so one pass in program order sees all predecessors first.
fn accumulator_sources(insns: &[Insn]) -> Vec<Option<u32>> {
    // None: unreachable so far; Some(None): unknown; Some(Some(off)): loaded from `off`.
    let mut at: Vec<Option<Option<u32>>> = vec![None; insns.len()];
    if let Some(first) = at.first_mut() {
        *first = Some(None);
    }
    for (i, insn) in insns.iter().enumerate() {
        let Some(here) = at.get(i).copied().flatten() else {
            continue;
        };
        let after = match insn.code & 0x07 {
            _ if insn.code == LD_W_ABS => Some(insn.k),
            class::JMP => here,
            _ => None,
        };
        let succ: Vec<usize> = match insn.code & 0x07 {
            class::RET => vec![],
            _ if insn.code == JA => vec![(i + 1).saturating_add(insn.k as usize)],
            class::JMP => vec![i + 1 + usize::from(insn.jt), i + 1 + usize::from(insn.jf)],
            _ => vec![i + 1],
        };
        for s in succ {
            if let Some(slot) = at.get_mut(s) {
                *slot = match *slot {
                    None => Some(after),
                    Some(prev) if prev == after => Some(prev),
                    Some(_) => Some(None),
                };
            }
        }
    }
    at.into_iter().map(Option::flatten).collect()
}

/// A readable listing: one line per instruction with its index, mnemonic, absolute jump
/// targets and operand, what each load reads and what each return does. Bytes that are not
/// whole instructions are reported, not dropped.
pub fn listing(bytes: &[u8]) -> String {
    listing_for(bytes, None)
}

/// [`listing`], naming the syscall numbers compared against `nr` on `arch`.
pub fn listing_for(bytes: &[u8], arch: Option<Arch>) -> String {
    let whole = bytes.len() - bytes.len() % 8;
    let mut out = String::new();
    let insns = decode(bytes.get(..whole).unwrap_or_default()).unwrap_or_default();
    let sources = accumulator_sources(&insns);
    for (idx, i) in insns.iter().enumerate() {
        out.push_str(&list_one(idx, i));
        let on_nr = sources.get(idx).copied().flatten() == Some(data::NR);
        if let (Some(arch), true, true) = (arch, on_nr, i.code & 0x07 == class::JMP) {
            if let Some(name) = syscalls::name(arch, i.k) {
                let rel = match i.code & 0xf0 {
                    op::JGE => ">= ",
                    op::JGT => "> ",
                    _ => "",
                };
                let _ = write!(out, "  ; {rel}{name}");
            }
        }
        out.push('\n');
    }
    if whole != bytes.len() {
        let _ = writeln!(out, "; {} trailing bytes", bytes.len() - whole);
    }
    out
}
