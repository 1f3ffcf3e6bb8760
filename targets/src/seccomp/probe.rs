//! Questions the verifier asks of the emitted BPF beyond [`Target::simulate`]: raw syscall
//! numbers under any ABI (x32, i386 `int 0x80`, arm32), and the instructions a decision
//! took, in a readable form for leak reports.
//!
//! [`Target::simulate`]: crate::Target::simulate

use super::bpf::{self, class, op, ret, Insn};
use super::codegen::audit_arch;
use super::interp::{run_insns, trace, validate, SeccompData};
use super::{bpf_artifact, run};
use crate::common::allow_if;
use crate::{Artifacts, Verdict};
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_compiler::Request;

/// The machine a syscall ABI runs on, and what the kernel puts in `seccomp_data` for it.
fn entry(abi: Arch, nr: u32) -> (Arch, SeccompData) {
    let (machine, arch, nr) = match abi {
        Arch::X86_64 => (Arch::X86_64, bpf::audit::X86_64, nr),
        Arch::X32 => (Arch::X86_64, bpf::audit::X86_64, nr | X32_SYSCALL_BIT),
        Arch::X86 => (Arch::X86_64, bpf::audit::I386, nr),
        Arch::Aarch64 => (Arch::Aarch64, bpf::audit::AARCH64, nr),
        Arch::Arm => (Arch::Aarch64, bpf::audit::ARM, nr),
    };
    (
        machine,
        SeccompData {
            nr,
            arch,
            ..SeccompData::default()
        },
    )
}

/// Decide a syscall made by number under `abi` (x32 numbers are given without the x32
/// bit), as the filter of the machine that ABI runs on decides it.
pub fn simulate_raw(artifacts: &Artifacts, abi: Arch, nr: u32, args: [u64; 6]) -> Verdict {
    let (machine, mut d) = entry(abi, nr);
    d.args = args;
    let Some(program) = artifacts.get(&bpf_artifact(machine)) else {
        return Verdict::Deny;
    };
    allow_if(run(program, &d) == Ok(ret::ALLOW))
}

/// The instructions each native filter executed for a syscall request, up to the `ret`
/// that decided it (allow, errno, kill...), one line per instruction (`arch pc: mnemonic`).
/// Empty for requests that are not syscalls.
pub fn explain(artifacts: &Artifacts, request: &Request) -> Vec<String> {
    let Request::Syscall { name, args } = request else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arch in Arch::NATIVE {
        let Some(nr) = syscalls::number(arch, name) else {
            continue;
        };
        out.extend(explain_raw(artifacts, arch, nr, *args));
    }
    out
}

/// The instructions the filter executed for a raw syscall, ending at the deciding `ret`
/// (empty when the program is missing or invalid).
pub fn explain_raw(artifacts: &Artifacts, abi: Arch, nr: u32, args: [u64; 6]) -> Vec<String> {
    let (machine, mut d) = entry(abi, nr);
    d.args = args;
    let artifact = bpf_artifact(machine);
    let Some(program) = artifacts.get(&artifact) else {
        return Vec::new();
    };
    let (Ok((_, path)), Ok(insns)) = (trace(program, &d), validate(program)) else {
        return Vec::new();
    };
    if audit_arch(machine).is_none() {
        return Vec::new();
    }
    path.iter()
        .filter_map(|pc| {
            insns
                .get(*pc)
                .map(|i| format!("{artifact} {pc:4}: {}", disasm(i)))
        })
        .collect()
}

/// A classic-BPF instruction in the usual assembler syntax, with `seccomp_data` offsets
/// named.
pub fn disasm(i: &Insn) -> String {
    let k = i.k;
    match i.code & 0x07 {
        c if c == class::LD && i.code & 0xe0 == op::ABS => format!("ld [{}]", field(k)),
        c if c == class::LD && i.code & 0xe0 == op::LEN => "ld #len".to_string(),
        c if c == class::LD && i.code & 0xe0 == op::MEM => format!("ld M[{k}]"),
        c if c == class::LD => format!("ld #{k:#x}"),
        c if c == class::LDX => format!("ldx {k:#x}"),
        c if c == class::ST => format!("st M[{k}]"),
        c if c == class::STX => format!("stx M[{k}]"),
        c if c == class::ALU => format!("alu {:#x} #{k:#x}", i.code & 0xf0),
        c if c == class::JMP => jump(i),
        c if c == class::RET => format!("ret {}", ret_name(k)),
        _ => format!("op {:#06x} {k:#x}", i.code),
    }
}

fn jump(i: &Insn) -> String {
    let name = match i.code & 0xf0 {
        op::JA => return format!("ja +{}", i.k),
        op::JEQ => "jeq",
        op::JGT => "jgt",
        op::JGE => "jge",
        op::JSET => "jset",
        _ => "j?",
    };
    format!("{name} #{:#x}, +{}, +{}", i.k, i.jt, i.jf)
}

fn field(off: u32) -> String {
    match off {
        bpf::data::NR => "nr".to_string(),
        bpf::data::ARCH => "arch".to_string(),
        8 => "ip".to_string(),
        12 => "ip_hi".to_string(),
        o if o >= bpf::data::ARGS => {
            let rel = o - bpf::data::ARGS;
            let half = if rel % 8 == 0 { "lo" } else { "hi" };
            format!("args[{}].{half}", rel / 8)
        }
        o => format!("{o}"),
    }
}

fn ret_name(k: u32) -> String {
    match k & ret::ACTION_FULL {
        ret::ALLOW => "ALLOW".to_string(),
        ret::KILL_PROCESS => "KILL_PROCESS".to_string(),
        ret::KILL_THREAD => "KILL_THREAD".to_string(),
        ret::ERRNO => {
            let e = k & ret::DATA;
            syscalls::errno_name(e).map_or(format!("ERRNO({e})"), |n| format!("ERRNO({n})"))
        }
        other => format!("{other:#x}"),
    }
}

/// The native BPF programs, validated once (see [`crate::Target::simulator`]); a program
/// that is missing or fails validation denies everything it would decide, as
/// [`crate::Target::simulate`] does.
#[derive(Debug)]
pub struct Parsed {
    programs: Vec<(Arch, Option<Vec<Insn>>)>,
}

impl Parsed {
    pub fn new(artifacts: &Artifacts) -> Self {
        let programs = Arch::NATIVE
            .into_iter()
            .map(|a| {
                let insns = artifacts
                    .get(&bpf_artifact(a))
                    .and_then(|p| validate(p).ok());
                (a, insns)
            })
            .collect();
        Parsed { programs }
    }

    fn allows(&self, machine: Arch, d: &SeccompData) -> bool {
        self.programs
            .iter()
            .find(|(a, _)| *a == machine)
            .and_then(|(_, p)| p.as_ref())
            .is_some_and(|insns| run_insns(insns, d) == Ok(ret::ALLOW))
    }
}

impl crate::Simulator for Parsed {
    fn simulate(&self, request: &Request) -> Verdict {
        let Request::Syscall { name, args } = request else {
            return Verdict::NotMediated;
        };
        let mut ran = false;
        for arch in Arch::NATIVE {
            let (Some(nr), Some(audit)) = (syscalls::number(arch, name), audit_arch(arch)) else {
                continue;
            };
            let d = SeccompData {
                nr,
                arch: audit,
                instruction_pointer: 0,
                args: *args,
            };
            if !self.allows(arch, &d) {
                return Verdict::Deny;
            }
            ran = true;
        }
        allow_if(ran)
    }

    fn simulate_raw(&self, abi: Arch, nr: u32, args: [u64; 6]) -> Verdict {
        let (machine, mut d) = entry(abi, nr);
        d.args = args;
        allow_if(self.allows(machine, &d))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{EmitContext, Target};
    use policyc_compiler::{compile, NoModules, SourceMap};

    fn artifacts(text: &str) -> Artifacts {
        let mut sources = SourceMap::new();
        let id = sources.add("p.policy", text);
        let out = compile(&mut sources, id, &NoModules);
        assert!(!out.diagnostics.has_errors());
        super::super::Seccomp
            .emit(&out.policies[0], &EmitContext::default())
            .unwrap()
            .artifacts
    }

    const P: &str = "policy p { isolation process\n syscalls { allow read, write; deny ptrace } }";

    #[test]
    fn foreign_abis_are_denied_even_for_allowed_numbers() {
        let a = artifacts(P);
        let read64 = syscalls::number(Arch::X86_64, "read").unwrap();
        assert_eq!(
            simulate_raw(&a, Arch::X86_64, read64, [0; 6]),
            Verdict::Allow
        );
        assert_eq!(simulate_raw(&a, Arch::X32, read64, [0; 6]), Verdict::Deny);
        let read32 = syscalls::number(Arch::X86, "read").unwrap();
        assert_eq!(simulate_raw(&a, Arch::X86, read32, [0; 6]), Verdict::Deny);
        let read_arm = syscalls::number(Arch::Arm, "read").unwrap();
        assert_eq!(simulate_raw(&a, Arch::Arm, read_arm, [0; 6]), Verdict::Deny);
        let read_a64 = syscalls::number(Arch::Aarch64, "read").unwrap();
        assert_eq!(
            simulate_raw(&a, Arch::Aarch64, read_a64, [0; 6]),
            Verdict::Allow
        );
    }

    #[test]
    fn explain_shows_the_path_to_the_deciding_return() {
        let a = artifacts(P);
        let read = Request::Syscall {
            name: "read".into(),
            args: [0; 6],
        };
        let lines = explain(&a, &read);
        assert!(lines.iter().any(|l| l.contains("ld [arch]")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.ends_with("ret ALLOW")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("seccomp.aarch64.bpf")));
        let ptrace = Request::Syscall {
            name: "ptrace".into(),
            args: [0; 6],
        };
        let denied = explain(&a, &ptrace);
        assert!(
            denied.iter().any(|l| l.contains("ld [arch]")),
            "{denied:#?}"
        );
        assert!(
            denied.iter().all(|l| !l.ends_with("ret ALLOW")),
            "{denied:#?}"
        );
        assert!(
            denied.last().is_some_and(|l| l.contains(" ret ")),
            "{denied:#?}"
        );
        let host = policyc_compiler::hosts::Host::parse("x.example.com").unwrap();
        assert!(explain(&a, &Request::Resolve { host }).is_empty());
    }

    #[test]
    fn the_parsed_simulator_answers_as_simulate_does() {
        let a = artifacts(P);
        let parsed = Parsed::new(&a);
        for name in ["read", "write", "ptrace", "openat", "clone3"] {
            let r = Request::Syscall {
                name: name.into(),
                args: [0; 6],
            };
            assert_eq!(
                crate::Simulator::simulate(&parsed, &r),
                crate::Target::simulate(&super::super::Seccomp, &a, &r),
                "{name}"
            );
        }
        for abi in Arch::ALL {
            for nr in [0, 1, 0x65, 0x3ff] {
                assert_eq!(
                    crate::Simulator::simulate_raw(&parsed, abi, nr, [0; 6]),
                    simulate_raw(&a, abi, nr, [0; 6]),
                    "{abi:?} {nr}"
                );
            }
        }
        let empty = Parsed::new(&Artifacts::new());
        let read = Request::Syscall {
            name: "read".into(),
            args: [0; 6],
        };
        assert_eq!(crate::Simulator::simulate(&empty, &read), Verdict::Deny);
    }
}
