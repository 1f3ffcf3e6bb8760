//! A classic-BPF interpreter for seccomp programs, over the emitted bytes.
//!
//! It accepts what the kernel's `seccomp_check_filter` accepts (32-bit absolute loads from
//! `seccomp_data`, `LEN` loads, immediates, the scratch memory `M[0..16]`, ALU, jumps and
//! returns) and rejects, before running, what the kernel would refuse to load: empty or
//! over-long programs, unknown opcodes, jumps out of the program, loads outside
//! `seccomp_data` or not 4-byte aligned, scratch indices above 15, division by a constant
//! zero, and a last instruction that is not a return. At run time it refuses to read a
//! scratch cell no path has written (the kernel proves that statically). It never panics.

use super::bpf::{self, class, data, op, Insn};

/// `struct seccomp_data`: what a filter sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte offset `off` (aligned, in bounds: checked by `validate`).
    fn word(&self, off: u32) -> Option<u32> {
        let lo = |v: u64| (v & 0xffff_ffff) as u32;
        let hi = |v: u64| (v >> 32) as u32;
        match off {
            data::NR => Some(self.nr),
            data::ARCH => Some(self.arch),
            8 => Some(lo(self.instruction_pointer)),
            12 => Some(hi(self.instruction_pointer)),
            16..=60 if off % 4 == 0 => {
                let arg = self.args.get(((off - data::ARGS) / 8) as usize)?;
                Some(if (off - data::ARGS) % 8 == 0 {
                    lo(*arg)
                } else {
                    hi(*arg)
                })
            }
            _ => None,
        }
    }
}

/// Why a program was rejected or could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// The byte length is not a multiple of 8.
    Truncated,
    /// No instructions, or more than `BPF_MAXINSNS`.
    BadLength(usize),
    /// An opcode seccomp does not allow, at this index.
    BadOpcode { pc: usize, code: u16 },
    /// A jump whose target lies outside the program.
    JumpOutOfRange { pc: usize },
    /// A load outside `seccomp_data`, or not 4-byte aligned.
    BadLoad { pc: usize, offset: u32 },
    /// A scratch memory index above 15.
    BadScratch { pc: usize, index: u32 },
    /// Division by a constant zero.
    DivByZero { pc: usize },
    /// A shift by a constant of 32 or more.
    BadShift { pc: usize },
    /// The last instruction is not a return.
    NoFinalReturn,
    /// A scratch cell was read before any write on this path.
    UninitScratch { pc: usize, index: u32 },
    /// Execution ran off the end (cannot happen after validation; kept for safety).
    FellOff,
}

/// Is `code` one of the opcodes seccomp accepts?
fn opcode_allowed(code: u16) -> bool {
    // No BPF_MOD: seccomp's list of allowed instructions predates it.
    const ALU_OPS: [u16; 10] = [
        op::ADD,
        op::SUB,
        op::MUL,
        op::DIV,
        op::OR,
        op::AND,
        op::LSH,
        op::RSH,
        op::XOR,
        op::NEG,
    ];
    match code & 0x07 {
        class::LD => matches!(code, 0x20 | 0x80 | 0x00 | 0x60),
        class::LDX => matches!(code, 0x81 | 0x01 | 0x61),
        class::ST | class::STX => code == class::ST || code == class::STX,
        class::ALU => {
            let aop = code & 0xf0;
            ALU_OPS.contains(&aop)
                && (code & !0xf8) == class::ALU
                && (aop != op::NEG || code & op::X == 0)
        }
        class::JMP => {
            let jop = code & 0xf0;
            (code == bpf::JA)
                || (matches!(jop, op::JEQ | op::JGT | op::JGE | op::JSET)
                    && (code & !0xf8) == class::JMP)
        }
        class::RET => code == bpf::RET_K || code == class::RET | op::RET_A,
        class::MISC => code == class::MISC | op::TAX || code == class::MISC | op::TXA,
        _ => false,
    }
}

/// Does `code` read or write the scratch memory `M[k]`?
fn uses_scratch(code: u16) -> bool {
    matches!(code, 0x60 | 0x61 | 0x02 | 0x03)
}

/// Check one instruction at `pc` of a program of `len` instructions.
fn check_insn(pc: usize, i: &Insn, len: usize) -> Result<(), InterpError> {
    if !opcode_allowed(i.code) {
        return Err(InterpError::BadOpcode { pc, code: i.code });
    }
    let in_range = |off: usize| pc.checked_add(1 + off).is_some_and(|t| t < len);
    let jump_ok = match (i.code & 0x07, i.code) {
        (_, bpf::JA) => in_range(i.k as usize),
        (class::JMP, _) => in_range(usize::from(i.jt)) && in_range(usize::from(i.jf)),
        _ => true,
    };
    let shift_k = [class::ALU | op::LSH, class::ALU | op::RSH].contains(&i.code);
    let err = if i.code == bpf::LD_W_ABS && (i.k % 4 != 0 || i.k >= data::SIZE) {
        Some(InterpError::BadLoad { pc, offset: i.k })
    } else if uses_scratch(i.code) && i.k >= 16 {
        Some(InterpError::BadScratch { pc, index: i.k })
    } else if i.code == class::ALU | op::DIV && i.k == 0 {
        Some(InterpError::DivByZero { pc })
    } else if shift_k && i.k >= 32 {
        Some(InterpError::BadShift { pc })
    } else if !jump_ok {
        Some(InterpError::JumpOutOfRange { pc })
    } else {
        None
    };
    err.map_or(Ok(()), Err)
}

/// Decode and check a program as the kernel does at load time.
pub fn validate(program: &[u8]) -> Result<Vec<Insn>, InterpError> {
    let insns = bpf::decode(program).ok_or(InterpError::Truncated)?;
    if insns.is_empty() || insns.len() > bpf::BPF_MAXINSNS {
        return Err(InterpError::BadLength(insns.len()));
    }
    for (pc, i) in insns.iter().enumerate() {
        check_insn(pc, i, insns.len())?;
    }
    match insns.last() {
        Some(i) if i.code & 0x07 == class::RET => Ok(insns),
        _ => Err(InterpError::NoFinalReturn),
    }
}

/// Machine state while running.
#[derive(Debug, Default)]
struct Machine {
    a: u32,
    x: u32,
    mem: [Option<u32>; 16],
}

/// Apply an ALU operation (division by zero is handled by the caller); shifts by `X` of 32
/// or more give 0.
fn alu(code: u16, a: u32, operand: u32) -> Option<u32> {
    Some(match code & 0xf0 {
        op::ADD => a.wrapping_add(operand),
        op::SUB => a.wrapping_sub(operand),
        op::MUL => a.wrapping_mul(operand),
        op::DIV => a.checked_div(operand).unwrap_or(0),
        op::OR => a | operand,
        op::AND => a & operand,
        op::XOR => a ^ operand,
        op::LSH => a.checked_shl(operand).unwrap_or(0),
        op::RSH => a.checked_shr(operand).unwrap_or(0),
        op::NEG => a.wrapping_neg(),
        _ => return None,
    })
}

/// Evaluate a conditional jump's condition.
fn condition(code: u16, a: u32, operand: u32) -> bool {
    match code & 0xf0 {
        op::JEQ => a == operand,
        op::JGT => a > operand,
        op::JGE => a >= operand,
        _ => a & operand != 0,
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy)]
enum Step {
    Next(usize),
    Return(u32),
}

impl Machine {
    /// Execute one instruction.
    fn step(&mut self, pc: usize, i: &Insn, d: &SeccompData) -> Result<Step, InterpError> {
        let src = if i.code & op::X != 0 { self.x } else { i.k };
        let read_mem = |m: &[Option<u32>; 16]| {
            m.get(i.k as usize)
                .copied()
                .flatten()
                .ok_or(InterpError::UninitScratch { pc, index: i.k })
        };
        match i.code {
            bpf::LD_W_ABS => {
                self.a = d
                    .word(i.k)
                    .ok_or(InterpError::BadLoad { pc, offset: i.k })?
            }
            0x80 => self.a = data::SIZE,
            0x81 => self.x = data::SIZE,
            0x00 => self.a = i.k,
            0x01 => self.x = i.k,
            0x60 => self.a = read_mem(&self.mem)?,
            0x61 => self.x = read_mem(&self.mem)?,
            0x02 | 0x03 => {
                let v = if i.code == 0x02 { self.a } else { self.x };
                let cell = self
                    .mem
                    .get_mut(i.k as usize)
                    .ok_or(InterpError::BadScratch { pc, index: i.k })?;
                *cell = Some(v);
            }
            0x07 => self.x = self.a,
            0x87 => self.a = self.x,
            bpf::RET_K => return Ok(Step::Return(i.k)),
            0x16 => return Ok(Step::Return(self.a)),
            bpf::JA => return Ok(Step::Next(pc + 1 + i.k as usize)),
            c if c & 0x07 == class::JMP => {
                let off = if condition(c, self.a, src) {
                    i.jt
                } else {
                    i.jf
                };
                return Ok(Step::Next(pc + 1 + usize::from(off)));
            }
            c if c & 0x07 == class::ALU => {
                if src == 0 && c & 0xf0 == op::DIV {
                    // The kernel's conversion of classic BPF returns 0 (kill) here.
                    return Ok(Step::Return(0));
                }
                self.a = alu(c, self.a, src).ok_or(InterpError::BadOpcode { pc, code: c })?;
            }
            c => return Err(InterpError::BadOpcode { pc, code: c }),
        }
        Ok(Step::Next(pc + 1))
    }
}

/// Run a program on one `seccomp_data` and return the filter's 32-bit result.
pub fn run(program: &[u8], d: &SeccompData) -> Result<u32, InterpError> {
    let insns = validate(program)?;
    run_insns(&insns, d)
}

/// Run already-validated instructions.
pub fn run_insns(insns: &[Insn], d: &SeccompData) -> Result<u32, InterpError> {
    execute(insns, d, |_| {})
}

/// Run a program and also return the index of every instruction executed, in order: the
/// path that decided (a leak report shows it).
pub fn trace(program: &[u8], d: &SeccompData) -> Result<(u32, Vec<usize>), InterpError> {
    let insns = validate(program)?;
    let mut path = Vec::new();
    let ret = execute(&insns, d, |pc| path.push(pc))?;
    Ok((ret, path))
}

fn execute(
    insns: &[Insn],
    d: &SeccompData,
    mut visit: impl FnMut(usize),
) -> Result<u32, InterpError> {
    let mut m = Machine::default();
    let mut pc = 0;
    // Every jump moves forward, so a run takes at most `insns.len()` steps.
    for _ in 0..=insns.len() {
        let i = insns.get(pc).ok_or(InterpError::FellOff)?;
        visit(pc);
        match m.step(pc, i, d)? {
            Step::Return(v) => return Ok(v),
            Step::Next(next) => pc = next,
        }
    }
    Err(InterpError::FellOff)
}
