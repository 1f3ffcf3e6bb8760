//! A tiny assembler for seccomp programs: symbolic labels, forward jumps only, and `ja`
//! trampolines for conditional jumps whose target lies beyond the 255 instructions a
//! `jt`/`jf` byte can reach.
//!
//! Layout is relaxed to a fixed point: a conditional jump whose target is too far gets a
//! trampoline right after it (`jcond k, 0, ..` then `ja target`), which moves everything
//! behind it by one instruction, so layout repeats until no new trampoline is needed.
//! Distances only grow, so this terminates. A `ja` to the very next instruction is dropped.

use super::bpf::{self, Insn};

/// A jump target; bound to a position with [`Asm::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A non-jump instruction.
    Stmt(Insn),
    /// A conditional jump on `A <op> k`.
    Jump {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    /// An unconditional jump.
    Ja(Label),
    /// A label's position.
    Bind(Label),
}

/// Why a program could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsmError {
    /// A label was used but never bound (a code generator bug).
    Unbound,
    /// A jump goes backwards, which classic BPF cannot do (a code generator bug).
    Backward,
}

/// A program under construction.
#[derive(Debug, Default)]
pub struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

/// Per-op layout state: trampolines after a conditional jump, and whether a `ja` is kept.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    tramp_t: bool,
    tramp_f: bool,
}

impl Asm {
    pub fn new() -> Self {
        Asm::default()
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Bind `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.ops.push(Op::Bind(l));
    }

    /// `ld [off]`.
    pub fn ld(&mut self, off: u32) {
        self.ops.push(Op::Stmt(Insn::stmt(bpf::LD_W_ABS, off)));
    }

    /// `and #k`.
    pub fn and(&mut self, k: u32) {
        self.ops.push(Op::Stmt(Insn::stmt(bpf::ALU_AND_K, k)));
    }

    /// `ret #k`.
    pub fn ret(&mut self, k: u32) {
        self.ops.push(Op::Stmt(Insn::stmt(bpf::RET_K, k)));
    }

    /// A conditional jump (`bpf::JEQ_K`, `JGT_K`, `JGE_K`, `JSET_K`).
    pub fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) {
        self.ops.push(Op::Jump { code, k, jt, jf });
    }

    /// `ja l`.
    pub fn ja(&mut self, l: Label) {
        self.ops.push(Op::Ja(l));
    }

    /// The number of instructions of `op` under `shape`; `ja` to the next instruction is
    /// free (it is dropped).
    fn size(op: &Op, shape: Shape, next_is_target: bool) -> usize {
        match op {
            Op::Stmt(_) => 1,
            Op::Jump { .. } => 1 + usize::from(shape.tramp_t) + usize::from(shape.tramp_f),
            Op::Ja(_) if next_is_target => 0,
            Op::Ja(_) => 1,
            Op::Bind(_) => 0,
        }
    }

    /// True when a `ja` at op index `i` targets a label bound before any instruction that
    /// follows it.
    fn ja_is_noop(&self, i: usize, target: Label) -> bool {
        for op in self.ops.iter().skip(i + 1) {
            match op {
                Op::Bind(l) if *l == target => return true,
                Op::Bind(_) => {}
                _ => return false,
            }
        }
        false
    }

    /// Addresses of every op and every label under the current shapes.
    fn layout(&self, shapes: &[Shape], noop: &[bool]) -> (Vec<usize>, Vec<Option<usize>>) {
        let mut addr = Vec::with_capacity(self.ops.len());
        let mut labels = vec![None; self.labels];
        let mut pc = 0;
        for (i, op) in self.ops.iter().enumerate() {
            addr.push(pc);
            if let Op::Bind(l) = op {
                if let Some(slot) = labels.get_mut(l.0) {
                    *slot = Some(pc);
                }
            }
            let shape = shapes.get(i).copied().unwrap_or_default();
            pc += Self::size(op, shape, noop.get(i).copied().unwrap_or(false));
        }
        (addr, labels)
    }

    /// The forward distance from the instruction after `from` to label `l`.
    fn distance(labels: &[Option<usize>], from: usize, l: Label) -> Result<usize, AsmError> {
        let to = labels
            .get(l.0)
            .copied()
            .flatten()
            .ok_or(AsmError::Unbound)?;
        to.checked_sub(from + 1).ok_or(AsmError::Backward)
    }

    /// Resolve labels, insert trampolines, and produce the instructions, with the final
    /// address of each of `marks` (labels bound where a part of the program starts or
    /// ends, whether or not a jump uses them).
    pub fn assemble_marked(&self, marks: &[Label]) -> Result<(Vec<Insn>, Vec<usize>), AsmError> {
        let noop: Vec<bool> = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| matches!(op, Op::Ja(l) if self.ja_is_noop(i, *l)))
            .collect();
        let mut shapes = vec![Shape::default(); self.ops.len()];
        loop {
            let (addr, labels) = self.layout(&shapes, &noop);
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                let (Op::Jump { jt, jf, .. }, Some(a), Some(shape)) =
                    (op, addr.get(i), shapes.get_mut(i))
                else {
                    continue;
                };
                if !shape.tramp_t && Self::distance(&labels, *a, *jt)? > 255 {
                    shape.tramp_t = true;
                    changed = true;
                }
                if !shape.tramp_f && Self::distance(&labels, *a, *jf)? > 255 {
                    shape.tramp_f = true;
                    changed = true;
                }
            }
            if !changed {
                let insns = self.emit(&shapes, &noop, &addr, &labels)?;
                let at = marks
                    .iter()
                    .map(|m| labels.get(m.0).copied().flatten().ok_or(AsmError::Unbound))
                    .collect::<Result<_, _>>()?;
                return Ok((insns, at));
            }
        }
    }

    /// Encode every op once the layout is final.
    fn emit(
        &self,
        shapes: &[Shape],
        noop: &[bool],
        addr: &[usize],
        labels: &[Option<usize>],
    ) -> Result<Vec<Insn>, AsmError> {
        let mut out = Vec::new();
        let far = |at: usize, l: Label| -> Result<Insn, AsmError> {
            let d = Self::distance(labels, at, l)?;
            Ok(Insn::stmt(bpf::JA, u32::try_from(d).unwrap_or(u32::MAX)))
        };
        for (i, op) in self.ops.iter().enumerate() {
            let a = addr.get(i).copied().unwrap_or(0);
            let shape = shapes.get(i).copied().unwrap_or_default();
            match *op {
                Op::Stmt(insn) => out.push(insn),
                Op::Bind(_) => {}
                Op::Ja(_) if noop.get(i).copied().unwrap_or(false) => {}
                Op::Ja(l) => out.push(far(a, l)?),
                Op::Jump { code, k, jt, jf } => {
                    let near = |l: Label| -> Result<u8, AsmError> {
                        Ok(u8::try_from(Self::distance(labels, a, l)?).unwrap_or(u8::MAX))
                    };
                    let t = if shape.tramp_t { 0 } else { near(jt)? };
                    let f = if shape.tramp_f {
                        u8::from(shape.tramp_t)
                    } else {
                        near(jf)?
                    };
                    out.push(Insn {
                        code,
                        jt: t,
                        jf: f,
                        k,
                    });
                    if shape.tramp_t {
                        out.push(far(a + 1, jt)?);
                    }
                    if shape.tramp_f {
                        out.push(far(a + 1 + usize::from(shape.tramp_t), jf)?);
                    }
                }
            }
        }
        Ok(out)
    }
}
