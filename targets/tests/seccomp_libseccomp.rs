//! ADVERSARIAL #11: `seccomp.json`, compiled by libseccomp the way runc compiles it, behaves
//! like policyc's own BPF on every syscall number of every listed arch.
//!
//! The filter is built as runc's `InitSeccomp` builds it (libcontainer/seccomp): the
//! default action with `defaultErrnoRet`, every listed architecture added, the binary-tree
//! optimisation above 32 syscalls, rules whose action is the default skipped, names the
//! host's libseccomp does not know skipped, one rule per entry (split per condition if an
//! entry had two conditions on one argument, which policyc never writes). libseccomp exports
//! it as BPF, and both programs run in policyc's interpreter.
//!
//! The one expected difference: for foreign arches and x32 numbers libseccomp returns its
//! default bad-arch action, `KILL_THREAD` (runc does not change it, and OCI cannot say it),
//! where policyc's own filter returns `KILL_PROCESS`. Both kill before the call runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod seccomp_common;

use oci_spec::runtime::{Arch as OciArch, LinuxSeccomp};
use policyc_compiler::ir::Policy;
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_targets::seccomp::bpf::{audit, ret, Insn};
use policyc_targets::seccomp::interp::{run_insns, validate, SeccompData};
use policyc_targets::seccomp::{bpf_artifact, program_stats, JSON_ARTIFACT};
use policyc_testkit::libseccomp::action;
use policyc_testkit::seccomp::data;
use seccomp_common::libseccomp::{export, runc_filter};
use seccomp_common::*;

/// The inputs one native program answers for: every number with samples, and (bad-arch
/// inputs) x32 numbers and foreign arch values.
fn inputs(p: &Policy, arch: Arch, native: u32) -> Vec<(SeccompData, bool)> {
    let mut out = Vec::new();
    for nr in 0..1024u32 {
        for args in nr_samples(p, arch, nr) {
            out.push((data(native, nr, args), false));
        }
        let foreign = if arch == Arch::X86_64 {
            audit::I386
        } else {
            audit::ARM
        };
        out.push((data(foreign, nr, [0; 6]), true));
        out.push((data(0xdead_beef, nr, [0; 6]), true));
        if arch == Arch::X86_64 {
            out.push((data(native, nr | X32_SYSCALL_BIT, [0; 6]), true));
        }
    }
    out.push((data(native, u32::MAX, [0; 6]), false));
    out
}

/// Compare policyc's program with libseccomp's on every input; returns the number of
/// bad-arch inputs where only the kill flavour differed.
fn compare(p: &Policy, arch: Arch, native: u32, mine: &[Insn], theirs: &[Insn]) -> usize {
    let mut flavour = 0;
    for (d, bad_arch) in inputs(p, arch, native) {
        let m = run_insns(mine, &d).unwrap();
        let t = run_insns(theirs, &d).unwrap();
        if bad_arch && m == ret::KILL_PROCESS && t == ret::KILL_THREAD {
            flavour += 1;
            continue;
        }
        assert_eq!(
            m,
            t,
            "{} {}: policyc {m:#x} vs libseccomp {t:#x} for nr {:#x} ({:?}) arch {:#x} args {:x?}",
            p.name,
            arch.name(),
            d.nr,
            syscalls::name(arch, d.nr),
            d.arch,
            d.args
        );
    }
    flavour
}

fn check_policy(p: &Policy) {
    let a = emit(p);
    let doc: LinuxSeccomp = serde_json::from_slice(&a[JSON_ARTIFACT]).unwrap();
    for optimize in [1, 2] {
        let theirs_bytes = export(&runc_filter(&doc, optimize));
        let stats = program_stats(&theirs_bytes);
        assert!(
            stats.instructions <= 4096,
            "{} libseccomp {stats:?}",
            p.name
        );
        let theirs = validate(&theirs_bytes).unwrap();
        for (arch, native) in NATIVE {
            let mine = validate(&a[&bpf_artifact(arch)]).unwrap();
            let flavour = compare(p, arch, native, &mine, &theirs);
            eprintln!(
                "{} {} optimize {optimize}: libseccomp {stats:?}, policyc {:?}; \
                 {flavour} bad-arch inputs differ only in kill flavour",
                p.name,
                arch.name(),
                program_stats(&a[&bpf_artifact(arch)])
            );
        }
    }
}

#[test]
fn adv11_libseccomp_compiles_seccomp_json_into_the_same_filter_as_policyc_for_stdlib() {
    for p in stdlib_policies() {
        check_policy(&p);
    }
}

#[test]
fn adv11_libseccomp_agrees_on_awkward_conditions_and_mixed_actions() {
    for p in compile_text("edge.policy", EDGE) {
        check_policy(&p);
    }
}

#[test]
fn libseccomp_agrees_on_merged_single_comparison_alternatives() {
    for p in compile_text("merged.policy", MERGED) {
        check_policy(&p);
    }
}

#[test]
fn seccomp_json_is_an_oci_document_runc_takes_as_is() {
    for p in stdlib_policies() {
        let bytes = &emit(&p)[JSON_ARTIFACT];
        let doc: LinuxSeccomp = serde_json::from_slice(bytes).unwrap();
        let again = serde_json::to_vec_pretty(&doc).unwrap();
        assert_eq!(&again[..], &bytes[..bytes.len() - 1], "round trip");
        assert_eq!(
            doc.architectures().as_ref().unwrap(),
            &vec![OciArch::ScmpArchX86_64, OciArch::ScmpArchAarch64]
        );
        let default = action(doc.default_action(), doc.default_errno_ret()).unwrap();
        for call in doc.syscalls().as_ref().unwrap() {
            let act = action(call.action(), call.errno_ret()).unwrap();
            assert_ne!(act, default, "{call:?}");
            let mut seen = [false; 6];
            for a in call.args().iter().flatten() {
                assert!(
                    !std::mem::replace(&mut seen[a.index()], true),
                    "two conditions on one argument: {call:?}"
                );
            }
            let mut names = call.names().clone();
            names.sort();
            assert_eq!(&names, call.names(), "names sorted");
        }
    }
}

/// A small deterministic generator (an LCG), so the random policies are the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 17
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// One random condition on one of `args` arguments: every operator, values with and without
/// a high word.
fn random_condition(r: &mut Lcg, arg: usize) -> String {
    let lo = r.pick(&[0u64, 1, 3, 7, 0x10, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]);
    let hi = r.pick(&[0u64, 0, 1, 5, 0xffff_ffff]);
    let v = hi << 32 | lo;
    match r.pick(&["==", "!=", "<", "<=", ">", ">=", "&"]) {
        "&" => {
            let mask = r.pick(&[
                0x4u64,
                0xff,
                0xffff_ffff,
                0xffff_ffff_0000_0000,
                0x1_0000_0003,
            ]);
            format!("arg{arg} & {mask:#x} == {:#x}", v & mask)
        }
        op => format!("arg{arg} {op} {v:#x}"),
    }
}

/// A random policy: two to four `prctl` alternatives and sometimes a deny, each with one or
/// two conditions on up to `args` arguments.
fn random_policy(r: &mut Lcg, args: u64) -> String {
    let mut rules = Vec::new();
    let n = 2 + r.next() % 3;
    for i in 0..n {
        let k = 1 + r.next() % args.min(2);
        let first = (r.next() % args) as usize;
        let conds: Vec<String> = (0..k as usize)
            .map(|j| random_condition(r, (first + j) % args as usize))
            .collect();
        let deny = i == 0 && r.next() % 3 == 0;
        rules.push(if deny {
            format!("deny prctl if {} errno EACCES", conds.join(" and "))
        } else {
            format!("allow prctl if {}", conds.join(" and "))
        });
    }
    format!(
        "policy random {{\n isolation process\n syscalls {{\n allow read\n {}\n default errno EPERM\n }}\n}}\n",
        rules.join("\n ")
    )
}

/// libseccomp 2.5.4 miscompiles some shapes of several rules for one syscall (orderings
/// with a high word next to other orderings, `!=` and orderings across arguments); the
/// seccomp.json policyc writes avoids them. Random conditions of every kind, on one and on
/// several arguments: libseccomp's compilation of seccomp.json answers like policyc's BPF
/// for `prctl` on every sampled argument vector.
#[test]
fn libseccomp_agrees_on_random_alternatives_of_one_syscall() {
    let mut r = Lcg(16);
    let (mut built, mut refused) = (0, 0);
    for case in 0..240 {
        let text = random_policy(&mut r, if case % 2 == 0 { 1 } else { 3 });
        let p = compile_text("random.policy", &text).remove(0);
        let Ok(out) = policyc_targets::Target::emit(
            &policyc_targets::seccomp::Seccomp,
            &p,
            &Default::default(),
        ) else {
            refused += 1;
            continue;
        };
        built += 1;
        let doc: LinuxSeccomp = serde_json::from_slice(&out.artifacts[JSON_ARTIFACT]).unwrap();
        assert!(
            !policyc_testkit::libseccomp::may_hang_libseccomp(&doc),
            "{text}"
        );
        let theirs = validate(&export(&runc_filter(&doc, 1))).unwrap();
        let mine = validate(&out.artifacts[&bpf_artifact(Arch::X86_64)]).unwrap();
        let nr = syscalls::number(Arch::X86_64, "prctl").unwrap();
        for args in nr_samples(&p, Arch::X86_64, nr) {
            let d = data(audit::X86_64, nr, args);
            let (m, t) = (
                run_insns(&mine, &d).unwrap(),
                run_insns(&theirs, &d).unwrap(),
            );
            assert_eq!(
                m, t,
                "policyc {m:#x} vs libseccomp {t:#x} at {args:x?} for\n{text}"
            );
        }
    }
    eprintln!("{built} random policies compared, {refused} refused (P0701)");
    assert!(built >= 170, "{built} built, {refused} refused");
}
