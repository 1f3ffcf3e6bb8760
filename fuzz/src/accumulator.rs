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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use policyc_targets::seccomp::bpf::{ret, JEQ_K, JGE_K, LD_W_ABS, RET_K};

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    const ALLOW: Insn = Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: ret::ALLOW,
    };
    const DENY: Insn = Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: ret::ERRNO | 1,
    };

    #[test]
    fn a_program_that_loads_before_every_comparison_is_clean() {
        let p = [
            insn(LD_W_ABS, 0, 0, data::ARCH),
            insn(JEQ_K, 0, 3, 0xc000_003e),
            insn(LD_W_ABS, 0, 0, data::NR),
            insn(JEQ_K, 0, 1, 0),
            ALLOW,
            DENY,
        ];
        assert_eq!(defect(&p), None);
    }

    #[test]
    fn a_join_of_two_fields_before_a_comparison_is_a_defect() {
        // From instruction 2 the accumulator holds arg1's high word; from 4, its low word.
        let p = [
            insn(LD_W_ABS, 0, 0, data::arg_lo(1) + 4),
            insn(JEQ_K, 2, 0, 0),
            insn(LD_W_ABS, 0, 0, data::arg_lo(1)),
            insn(JGE_K, 0, 0, 108),
            insn(JGE_K, 0, 1, 0x00ff_ffff),
            ALLOW,
            DENY,
        ];
        let d = defect(&p).unwrap();
        assert!(d.starts_with("instruction 4 "), "{d}");
    }

    #[test]
    fn comparing_the_architecture_with_a_syscall_number_is_a_defect() {
        let p = [
            insn(LD_W_ABS, 0, 0, data::ARCH),
            insn(JEQ_K, 0, 2, 0xc000_00b7),
            insn(JEQ_K, 0, 1, 0xcb),
            ALLOW,
            DENY,
        ];
        let d = defect(&p).unwrap();
        assert!(d.contains("0xcb"), "{d}");
    }
}
