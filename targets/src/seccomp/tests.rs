//! Unit tests for the seccomp target's parts: the interpreter, the assembler, the condition
//! algebra, the code generator against the IR's semantics, and the size limits.

use super::asm::Asm;
use super::bpf::{self, audit, data, ret, Insn};
use super::interp::{run, validate, InterpError, SeccompData};
use super::*;
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction, DenyWhen, SyscallRule, Syscalls};
use policyc_compiler::span::Span;
use std::collections::BTreeMap;

const OPS: [CmpOp; 6] = CmpOp::ALL;

const MASKS: [Option<u64>; 8] = [
    None,
    Some(u64::MAX),
    Some(0xffff_ffff),
    Some(0x7e02_0000),
    Some(0xff00),
    Some(0xffff_0000_0000_0000),
    Some(0x8000_0000_0000_0001),
    Some(0),
];

const VALUES: [u64; 10] = [
    0,
    1,
    0x5412,
    0x7e02_0000,
    0xffff_ffff,
    1 << 32,
    0x1_0000_5412,
    0x8000_0000_0000_0000,
    u64::MAX - 1,
    u64::MAX,
];

fn prog(insns: &[Insn]) -> Vec<u8> {
    bpf::encode(insns)
}

fn data_nr(nr: u32) -> SeccompData {
    SeccompData {
        nr,
        arch: audit::X86_64,
        ..SeccompData::default()
    }
}

fn cond(arg: u8, mask: Option<u64>, op: CmpOp, value: u64) -> ArgCond {
    ArgCond {
        arg,
        mask,
        op,
        value,
    }
}

/// Values around everything interesting for `c`.
fn probes(c: &ArgCond) -> Vec<u64> {
    let m = c.mask.unwrap_or(u64::MAX);
    let mut v = vec![0, 1, u64::MAX, 1 << 32, 0xffff_ffff, 0x8000_0000_0000_0000];
    for base in [c.value, m, c.value | !m, c.value & m] {
        for x in [base.wrapping_sub(1), base, base.wrapping_add(1)] {
            v.extend([
                x,
                x ^ (1 << 32),
                x | 0xffff_ffff_0000_0000,
                x & 0xffff_ffff,
                !x,
            ]);
        }
    }
    for b in (0..64).filter(|b| m & (1u64 << b) != 0) {
        v.extend([c.value ^ (1u64 << b), 1u64 << b]);
    }
    v
}

fn every_cond() -> Vec<ArgCond> {
    let mut out = Vec::new();
    for op in OPS {
        for mask in MASKS {
            for value in VALUES {
                out.push(cond(1, mask, op, value));
            }
        }
    }
    out
}

// ---------------------------------------------------------------- interpreter

#[test]
fn interpreter_runs_loads_alu_scratch_and_returns() {
    let p = prog(&[
        Insn::stmt(bpf::LD_W_ABS, data::NR),
        Insn::stmt(0x02, 3),              // st M[3]
        Insn::stmt(0x01, 5),              // ldx #5
        Insn::stmt(0x0c, 0),              // add x
        Insn::stmt(0x07, 0),              // tax
        Insn::stmt(0x60, 3),              // ld M[3]
        Insn::stmt(0x80, 0),              // ld len
        Insn::stmt(bpf::ALU_AND_K, 0xf0), // and #0xf0 -> 64 & 0xf0 = 0x40
        Insn::stmt(0x87, 0),              // txa
        Insn::stmt(0x16, 0),              // ret a
    ]);
    assert_eq!(run(&p, &data_nr(10)), Ok(15));
}

#[test]
fn interpreter_reads_both_halves_of_args_little_endian() {
    for (off, want) in [(16, 0x5555_6666), (20, 0x1111_2222), (56, 7), (60, 9)] {
        let p = prog(&[Insn::stmt(bpf::LD_W_ABS, off), Insn::stmt(0x16, 0)]);
        let mut d = data_nr(0);
        d.args[0] = 0x1111_2222_5555_6666;
        d.args[5] = (9 << 32) | 7;
        assert_eq!(run(&p, &d), Ok(want), "offset {off}");
    }
}

#[test]
fn interpreter_rejects_what_the_kernel_rejects() {
    let r = |k| Insn::stmt(bpf::RET_K, k);
    let cases: Vec<(Vec<u8>, InterpError)> = vec![
        (vec![], InterpError::BadLength(0)),
        (vec![0; 7], InterpError::Truncated),
        (
            prog(&[Insn::stmt(bpf::LD_W_ABS, 2), r(0)]),
            InterpError::BadLoad { pc: 0, offset: 2 },
        ),
        (
            prog(&[Insn::stmt(bpf::LD_W_ABS, 64), r(0)]),
            InterpError::BadLoad { pc: 0, offset: 64 },
        ),
        (
            prog(&[Insn::stmt(0x30, 0), r(0)]),
            InterpError::BadOpcode { pc: 0, code: 0x30 },
        ),
        (
            prog(&[Insn::stmt(0x94, 3), r(0)]),
            InterpError::BadOpcode { pc: 0, code: 0x94 },
        ),
        (
            prog(&[Insn::stmt(0x40, 0), r(0)]),
            InterpError::BadOpcode { pc: 0, code: 0x40 },
        ),
        (
            prog(&[Insn::stmt(bpf::JA, 1), r(0)]),
            InterpError::JumpOutOfRange { pc: 0 },
        ),
        (
            prog(&[
                Insn {
                    code: bpf::JEQ_K,
                    jt: 0,
                    jf: 1,
                    k: 0,
                },
                r(0),
            ]),
            InterpError::JumpOutOfRange { pc: 0 },
        ),
        (
            prog(&[Insn::stmt(0x02, 16), r(0)]),
            InterpError::BadScratch { pc: 0, index: 16 },
        ),
        (
            prog(&[Insn::stmt(0x34, 0), r(0)]),
            InterpError::DivByZero { pc: 0 },
        ),
        (
            prog(&[Insn::stmt(0x64, 32), r(0)]),
            InterpError::BadShift { pc: 0 },
        ),
        (
            prog(&[Insn::stmt(bpf::LD_W_ABS, 0)]),
            InterpError::NoFinalReturn,
        ),
        (
            prog(&[Insn::stmt(0x60, 4), r(0)]),
            InterpError::UninitScratch { pc: 0, index: 4 },
        ),
        (
            prog(&vec![r(0); bpf::BPF_MAXINSNS + 1]),
            InterpError::BadLength(bpf::BPF_MAXINSNS + 1),
        ),
    ];
    for (p, want) in cases {
        assert_eq!(run(&p, &data_nr(0)), Err(want.clone()), "{want:?}");
    }
    assert!(validate(&prog(&vec![r(0); bpf::BPF_MAXINSNS])).is_ok());
}

#[test]
fn interpreter_division_by_zero_in_x_kills_like_the_kernel() {
    let p = prog(&[
        Insn::stmt(0x01, 0), // ldx #0
        Insn::stmt(0x00, 9), // ld #9
        Insn::stmt(0x3c, 0), // div x
        Insn::stmt(bpf::RET_K, ret::ALLOW),
    ]);
    assert_eq!(run(&p, &data_nr(0)), Ok(0));
}

#[test]
fn interpreter_never_panics_on_random_bytes() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let len = (next() % 12) as usize * 8 + (next() % 3 == 0) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias toward opcodes seccomp accepts so runs get past validation.
        for chunk in bytes.chunks_mut(8) {
            if let Some(c) = chunk.first_mut() {
                *c = [
                    0x20, 0x15, 0x25, 0x35, 0x45, 0x05, 0x06, 0x54, 0x02, 0x60, 0x16,
                ][*c as usize % 11];
            }
            if let Some(c) = chunk.get_mut(1) {
                *c = 0;
            }
        }
        let mut d = data_nr(next() as u32);
        d.args = [next(), next(), next(), next(), next(), next()];
        let _ = run(&bytes, &d);
        let _ = program_stats(&bytes);
        let _ = bpf::listing(&bytes);
    }
}

// ------------------------------------------------------------------ assembler

#[test]
fn assembler_inserts_trampolines_for_far_targets_and_drops_noop_jumps() {
    let mut a = Asm::new();
    let (far, near) = (a.label(), a.label());
    a.ld(data::NR);
    a.jump(bpf::JEQ_K, 7, far, near);
    a.bind(near);
    let next = a.label();
    a.ja(next); // a jump to the next instruction: dropped
    a.bind(next);
    for _ in 0..300 {
        a.ret(ret::ERRNO | 1);
    }
    a.bind(far);
    a.ret(ret::ALLOW);
    let insns = a.assemble_marked(&[]).unwrap().0;
    assert_eq!(insns.len(), 1 + 2 + 300 + 1, "one trampoline, no noop ja");
    let p = bpf::encode(&insns);
    assert_eq!(run(&p, &data_nr(7)), Ok(ret::ALLOW));
    assert_eq!(run(&p, &data_nr(8)), Ok(ret::ERRNO | 1));
}

// ----------------------------------------------------------- condition algebra

#[test]
fn dnf_conditions_and_their_negations_are_exact() {
    for c in every_cond() {
        let pos = dnf::condition(&c);
        let neg = dnf::not_all_of(std::slice::from_ref(&c)).unwrap();
        for x in probes(&c) {
            let args = [0, x, 0, 0, 0, 0];
            assert_eq!(
                dnf::dnf_holds(&pos, &args),
                c.holds(&args),
                "{c:?} at {x:#x}"
            );
            assert_eq!(
                dnf::dnf_holds(&neg, &args),
                !c.holds(&args),
                "not {c:?} at {x:#x}"
            );
        }
        for t in pos.iter().chain(&neg) {
            for a in t.0.iter().flatten() {
                match *a {
                    dnf::Atom::Masked { mask, value } => {
                        assert!(mask != 0 && value & !mask == 0, "{a:?}")
                    }
                    dnf::Atom::Cmp { op, .. } => assert_ne!(op, CmpOp::Eq),
                }
            }
        }
    }
}

#[test]
fn dnf_masked_only_is_exact_and_leaves_no_comparison() {
    for c in every_cond() {
        let pos = dnf::condition(&c);
        let Ok(masked) = dnf::masked_only(&pos, |_| true) else {
            continue;
        };
        for t in &masked {
            for a in t.0.iter().flatten() {
                assert!(matches!(a, dnf::Atom::Masked { .. }), "{c:?}: {a:?}");
            }
        }
        for x in probes(&c) {
            let args = [0, x, 0, 0, 0, 0];
            assert_eq!(
                dnf::dnf_holds(&masked, &args),
                c.holds(&args),
                "{c:?} at {x:#x}"
            );
        }
    }
}

#[test]
fn dnf_conjunctions_on_one_argument_are_exact() {
    let conds = every_cond();
    // Pairs over a spread of the conditions (all of them would be slow in debug builds).
    for (i, a) in conds.iter().enumerate().step_by(7) {
        for b in conds.iter().skip(i % 5).step_by(11) {
            let both = [a.clone(), b.clone()];
            let Ok(d) = dnf::all_of(&both) else { continue };
            let not = dnf::not_all_of(&both).unwrap();
            for x in probes(a).into_iter().chain(probes(b)) {
                let args = [0, x, 0, 0, 0, 0];
                let want = a.holds(&args) && b.holds(&args);
                assert_eq!(dnf::dnf_holds(&d, &args), want, "{a:?} and {b:?} at {x:#x}");
                assert_eq!(dnf::dnf_holds(&not, &args), !want);
            }
        }
    }
}

#[test]
fn dnf_stdlib_ioctl_guard_needs_35_exact_rules() {
    let rule = SyscallRule {
        allow: vec![vec![]],
        deny: [0x5412, 0x541c]
            .into_iter()
            .map(|v| DenyWhen {
                when: vec![cond(1, Some(0xffff_ffff), CmpOp::Eq, v)],
                action: DenyAction::Errno(1),
                span: Span::default(),
            })
            .collect(),
        allow_span: None,
    };
    let regions = json::regions(&rule, DenyAction::Errno(1)).unwrap();
    assert_eq!(regions.len(), 1);
    let (outcome, d) = &regions[0];
    assert_eq!(*outcome, json::RegionAction::Allow);
    assert_eq!(d.len(), 35);
    for x in [0x5412, 0x541c, 0x1_0000_5412, 0x5401, 0x5421, 0, u64::MAX] {
        let args = [0, x, 0, 0, 0, 0];
        assert_eq!(dnf::dnf_holds(d, &args), rule.deny_for(&args).is_none());
    }
}

#[test]
fn dnf_refuses_rather_than_approximates_a_blowup() {
    // 32 alternatives per argument (one per bit of the mask), 1024 together.
    let conds = [
        cond(0, Some(0x5555_5555_5555_5555), CmpOp::Ne, 0),
        cond(1, Some(0x5555_5555_5555_5555), CmpOp::Ne, 0),
    ];
    assert_eq!(dnf::all_of(&conds), Err(dnf::TooMany));
}

// ----------------------------------------------------- generator vs semantics

/// A rule exercising every operator and mask on two arguments, with denies of different
/// actions and several allow alternatives.
fn rich_rule(op: CmpOp, mask: Option<u64>, value: u64) -> SyscallRule {
    SyscallRule {
        allow: vec![
            vec![cond(0, mask, op, value)],
            vec![
                cond(1, None, CmpOp::Ge, 0x1_0000_0000),
                cond(0, None, CmpOp::Lt, 9),
            ],
        ],
        deny: vec![
            DenyWhen {
                when: vec![cond(0, Some(0xff), CmpOp::Eq, 0x42)],
                action: DenyAction::Errno(13),
                span: Span::default(),
            },
            DenyWhen {
                when: vec![cond(1, mask, negate_op(op), value)],
                action: DenyAction::Kill,
                span: Span::default(),
            },
        ],
        allow_span: None,
    }
}

fn negate_op(op: CmpOp) -> CmpOp {
    dnf::negate(op)
}

fn filter_with(rule: SyscallRule, default: DenyAction) -> Syscalls {
    Syscalls {
        default,
        rules: BTreeMap::from([("ioctl".to_string(), rule)]),
        span: Span::default(),
    }
}

fn semantics(rule: &SyscallRule, default: DenyAction, args: &[u64; 6]) -> u32 {
    if let Some(a) = rule.deny_for(args) {
        return codegen::deny_ret(a);
    }
    if rule
        .allow
        .iter()
        .any(|alt| alt.iter().all(|c| c.holds(args)))
    {
        return ret::ALLOW;
    }
    codegen::deny_ret(default)
}

#[test]
fn generated_bpf_and_json_regions_match_the_semantics_for_every_operator_and_mask() {
    let mut refused = 0;
    for op in OPS {
        for mask in MASKS {
            for value in [0, 0x42, 0xffff_ffff, 0x1_0000_0042, u64::MAX] {
                let rule = rich_rule(op, mask, value);
                let default = DenyAction::Errno(1);
                let sc = filter_with(rule.clone(), default);
                let insns = codegen::generate(&sc, Arch::X86_64).unwrap();
                validate(&bpf::encode(&insns)).unwrap();
                let regions = json::regions(&rule, default).ok();
                if regions.is_none() {
                    refused += 1;
                    // Equality always fits; refusals come from masked orderings and `!=`
                    // mixed with other conditions on the same argument.
                    assert!(op != CmpOp::Eq, "{op:?} {mask:?} {value:#x} refused");
                }
                let c = cond(0, mask, op, value);
                for x in probes(&c) {
                    for y in [0, 0x42, x, 0x1_0000_0000, value, !value] {
                        for args in [[x, y, 0, 0, 0, 0], [y, x, 0, 0, 0, 0]] {
                            let want = semantics(&rule, default, &args);
                            let mut d = data_nr(16);
                            d.args = args;
                            assert_eq!(
                                interp::run_insns(&insns, &d),
                                Ok(want),
                                "{op:?} {mask:?} {value:#x} {args:x?}"
                            );
                            if let Some(rs) = &regions {
                                let hit: Vec<u32> = rs
                                    .iter()
                                    .filter(|(_, d)| dnf::dnf_holds(d, &args))
                                    .map(|(o, _)| match o {
                                        json::RegionAction::Allow => ret::ALLOW,
                                        json::RegionAction::Deny(a) => codegen::deny_ret(*a),
                                    })
                                    .collect();
                                let got =
                                    hit.first().copied().unwrap_or(codegen::deny_ret(default));
                                assert!(hit.len() <= 1, "regions overlap at {args:x?}");
                                assert_eq!(got, want, "json {op:?} {mask:?} {value:#x} {args:x?}");
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("seccomp.json refused {refused} of 240 deliberately hard rules (P0701)");
    assert!(refused < 60, "{refused}");
}

#[test]
fn program_stats_count_instructions_and_the_longest_path() {
    let p = prog(&[
        Insn::stmt(bpf::LD_W_ABS, data::NR),
        Insn {
            code: bpf::JEQ_K,
            jt: 0,
            jf: 2,
            k: 1,
        },
        Insn::stmt(bpf::LD_W_ABS, data::ARCH),
        Insn::stmt(bpf::ALU_AND_K, 1),
        Insn::stmt(bpf::RET_K, 0),
    ]);
    assert_eq!(
        program_stats(&p),
        Stats {
            instructions: 5,
            longest_path: 5
        }
    );
}

// ------------------------------------------------------------------- limits

#[test]
fn adv09_a_filter_over_4096_instructions_fails_with_p0701() {
    // Two conditions per alternative: equalities on one argument alone would be merged into
    // one search tree and stay small.
    let alts: Vec<Vec<ArgCond>> = (0..1100u64)
        .map(|v| {
            vec![
                cond(1, None, CmpOp::Eq, v << 20),
                cond(2, None, CmpOp::Eq, v),
            ]
        })
        .collect();
    let rule = SyscallRule {
        allow: alts,
        deny: vec![],
        allow_span: None,
    };
    let sc = filter_with(rule, DenyAction::Errno(1));
    assert!(matches!(
        codegen::generate(&sc, Arch::X86_64),
        Err(codegen::GenError::TooLarge(n)) if n > bpf::BPF_MAXINSNS
    ));
}

#[test]
fn seccomp_json_refuses_conditions_it_cannot_write_exactly_with_p0701() {
    let rule = SyscallRule {
        allow: vec![vec![
            cond(0, Some(0x5555_5555_5555_5555), CmpOp::Ne, 0),
            cond(1, Some(0x5555_5555_5555_5555), CmpOp::Ne, 0),
        ]],
        deny: vec![],
        allow_span: None,
    };
    let errs = json::document(&filter_with(rule, DenyAction::Errno(1))).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].code, policyc_compiler::Code::SeccompTooLarge);
    assert!(errs[0].message.contains("`ioctl`"), "{}", errs[0].message);
}
