//! What the accumulator of a seccomp BPF program holds where it is compared, by forward
//! dataflow over the program (every jump goes forward, so one pass in order suffices).
//!
//! Two defects show that a program does not mean what its author built, whatever its
//! inputs: a conditional jump whose accumulator holds different fields of `seccomp_data`
//! depending on the path that reached it (a reload was left out where two branches join),
//! and a comparison of the architecture field with a value that is not an architecture
//! (the syscall number was never loaded). libseccomp 2.5.4 emits both for some filters.

use policyc_targets::seccomp::bpf::{self, class, data, Insn};
use std::collections::BTreeSet;

/// What the accumulator may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// A 32-bit word of `seccomp_data` at this offset (possibly masked or shifted).
    Field(u32),
    /// Anything else: an immediate, the length, scratch memory, `X`, or nothing yet.
    Other,
}

/// Every `AUDIT_ARCH_*` value has `__AUDIT_ARCH_LE` set; no syscall number does.
const AUDIT_ARCH_LE: u32 = 0x4000_0000;

/// The first defect in `insns`, described, or `None`.
pub fn defect(insns: &[Insn]) -> Option<String> {
    let mut states: Vec<BTreeSet<Value>> = vec![BTreeSet::new(); insns.len() + 1];
    if let Some(first) = states.first_mut() {
        first.insert(Value::Other);
    }
    for (pc, insn) in insns.iter().enumerate() {
        let state = states.get(pc).cloned().unwrap_or_default();
        if state.is_empty() {
            continue;
        }
        let mut flow = |to: usize, s: &BTreeSet<Value>| {
            if let Some(slot) = states.get_mut(to) {
                slot.extend(s.iter().copied());
            }
        };
        match insn.code & 0x07 {
            class::RET => {}
            class::JMP if insn.code == bpf::JA => {
                flow((pc + 1).saturating_add(insn.k as usize), &state);
            }
            class::JMP => {
                if state.len() > 1 {
                    return Some(format!(
                        "instruction {pc} compares the accumulator, which holds {} depending on the path",
                        describe(&state)
                    ));
                }
                let uses_k = insn.code & bpf::op::X == 0;
                if uses_k
                    && insn.code & 0xf0 == bpf::op::JEQ
                    && state.contains(&Value::Field(data::ARCH))
                    && insn.k & AUDIT_ARCH_LE == 0
                {
                    return Some(format!(
                        "instruction {pc} compares the architecture with {:#x}, which is not an architecture (the syscall number was not loaded)",
                        insn.k
                    ));
                }
                flow(pc + 1 + usize::from(insn.jt), &state);
                flow(pc + 1 + usize::from(insn.jf), &state);
            }
            _ => {
                let next = match insn.code {
                    bpf::LD_W_ABS => BTreeSet::from([Value::Field(insn.k)]),
                    c if c & 0x07 == class::LD => BTreeSet::from([Value::Other]),
                    0x87 => BTreeSet::from([Value::Other]),
                    _ => state,
                };
                flow(pc + 1, &next);
            }
        }
    }
    None
}

fn describe(state: &BTreeSet<Value>) -> String {
    let parts: Vec<String> = state
        .iter()
        .map(|v| match v {
            Value::Field(off) => format!("the word at offset {off}"),
            Value::Other => "a non-field value".to_string(),
        })
        .collect();
    parts.join(" or ")
}
