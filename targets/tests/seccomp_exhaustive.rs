//! The emitted BPF against the reference semantics, exhaustively: for every stdlib policy
//! (and the edge policy, built to be awkward), every syscall number 0..1023 on both native
//! arches with arguments sampled around every condition, the whole x32 range, foreign and
//! garbage arch values. Plus the simulator against `decide`, and one test per ADVERSARIAL
//! class this target handles.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod seccomp_common;

use policyc_compiler::ir::{DenyAction, Policy};
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_compiler::{decide, run_tests, Code, Request};
use policyc_targets::seccomp::bpf::{audit, ret, Insn};
use policyc_targets::seccomp::interp::{run_insns, validate, SeccompData};
use policyc_targets::seccomp::{bpf_artifact, Seccomp};
use policyc_targets::{EmitContext, Target, Verdict};
use policyc_testkit::seccomp::expected_nr;
use seccomp_common::*;

/// The stdlib policies and the edge policy.
fn policies() -> Vec<Policy> {
    let mut ps = stdlib_policies();
    ps.extend(compile_text("edge.policy", EDGE));
    ps
}

fn data(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr,
        arch,
        instruction_pointer: 0x7fff_1234,
        args,
    }
}

/// Each native program of a policy, validated.
fn programs(p: &Policy) -> Vec<(Arch, u32, Vec<Insn>)> {
    let a = emit(p);
    NATIVE
        .iter()
        .map(|(arch, audit)| (*arch, *audit, validate(&a[&bpf_artifact(*arch)]).unwrap()))
        .collect()
}

#[test]
fn bpf_matches_decide_for_every_syscall_number_and_sampled_arguments() {
    let mut runs = 0usize;
    for p in policies() {
        for (arch, audit, insns) in programs(&p) {
            for nr in 0..1024 {
                for args in nr_samples(&p, arch, nr) {
                    let got = run_insns(&insns, &data(audit, nr, args)).unwrap();
                    let want = expected_nr(&p, arch, nr, args);
                    assert_eq!(
                        got,
                        want,
                        "{} {} nr {nr} ({:?}) args {args:x?}",
                        p.name,
                        arch.name(),
                        syscalls::name(arch, nr)
                    );
                    runs += 1;
                }
            }
        }
    }
    eprintln!("{runs} runs");
}

/// The merged-alternatives policy, every number and sample, against `decide`.
#[test]
fn merged_alternatives_match_decide_for_every_syscall_number_and_sampled_arguments() {
    let p = &compile_text("merged.policy", MERGED)[0];
    let mut runs = 0usize;
    for (arch, audit, insns) in programs(p) {
        for nr in 0..1024 {
            for args in nr_samples(p, arch, nr) {
                let got = run_insns(&insns, &data(audit, nr, args)).unwrap();
                let want = expected_nr(p, arch, nr, args);
                assert_eq!(got, want, "{} nr {nr} args {args:x?}", arch.name());
                runs += 1;
            }
        }
    }
    assert!(runs > 2048, "{runs}");
}

#[test]
fn adv01_foreign_and_garbage_arches_get_the_bad_arch_kill() {
    let foreign = [
        audit::I386,
        audit::ARM,
        0,
        u32::MAX,
        0xdead_beef,
        0x4000_003e, // libseccomp's x32 token, never a kernel value
    ];
    for p in policies() {
        for (arch, native, insns) in programs(&p) {
            let other_native = if native == audit::X86_64 {
                audit::AARCH64
            } else {
                audit::X86_64
            };
            for arch_value in foreign.iter().chain([&other_native]) {
                for nr in (0..1024).chain([u32::MAX, X32_SYSCALL_BIT]) {
                    let got = run_insns(&insns, &data(*arch_value, nr, [0; 6])).unwrap();
                    assert_eq!(
                        got,
                        BAD_ARCH,
                        "{} {} arch {arch_value:#x} nr {nr}",
                        p.name,
                        arch.name()
                    );
                }
            }
        }
    }
}

#[test]
fn adv02_x32_numbers_are_denied_even_for_allowed_names() {
    for p in policies() {
        let (_, audit, insns) = programs(&p).remove(0);
        for n in 0..1024u32 {
            for args in [[0; 6], [1, 2, 3, 4, 5, 6]] {
                let got = run_insns(&insns, &data(audit, n | X32_SYSCALL_BIT, args)).unwrap();
                assert_eq!(got, BAD_ARCH, "{} x32 nr {n}", p.name);
            }
        }
        // Above the x32 range too, except -1 (a tracer's "skip this call"): the default.
        for nr in [0x4000_0000 + 0x1000, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1] {
            assert_eq!(
                run_insns(&insns, &data(audit, nr, [0; 6])).unwrap(),
                BAD_ARCH
            );
        }
        let minus_one = run_insns(&insns, &data(audit, u32::MAX, [0; 6])).unwrap();
        assert_eq!(minus_one, default_ret(&p.syscalls));
        // `read` is allowed natively and killed as x32 read (x32 number 0 | bit).
        if p.syscalls.rules.contains_key("read") {
            assert_eq!(
                run_insns(&insns, &data(audit, 0, [0; 6])).unwrap(),
                ret::ALLOW
            );
        }
    }
}

#[test]
fn adv03_i386_multiplexers_are_unreachable() {
    for p in policies() {
        let (_, _, insns) = programs(&p).remove(0);
        for name in ["socketcall", "ipc"] {
            let nr = syscalls::number(Arch::X86, name).unwrap();
            let got = run_insns(&insns, &data(audit::I386, nr, [1, 0, 0, 0, 0, 0])).unwrap();
            assert_eq!(got, BAD_ARCH, "{} i386 {name}", p.name);
            assert!(syscalls::number(Arch::X86_64, name).is_none());
            assert!(syscalls::number(Arch::Aarch64, name).is_none());
        }
    }
}

/// The verdict of the simulator, checked against `decide` for a syscall request.
fn check_simulated(p: &Policy, artifacts: &policyc_targets::Artifacts, name: &str, args: [u64; 6]) {
    let req = Request::Syscall {
        name: name.to_string(),
        args,
    };
    let want = if decide(p, &req).allow {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    assert_eq!(Seccomp.simulate(artifacts, &req), want, "{} {req}", p.name);
}

#[test]
fn simulate_agrees_with_decide_for_every_known_name() {
    for p in policies() {
        let a = emit(&p);
        let names: std::collections::BTreeSet<&str> = Arch::NATIVE
            .iter()
            .flat_map(|arch| syscalls::names(*arch))
            .collect();
        for name in names {
            for args in rule_samples(p.syscalls.rules.get(name)) {
                check_simulated(&p, &a, name, args);
            }
        }
        let unknown = Request::Syscall {
            name: "no_such_call".to_string(),
            args: [0; 6],
        };
        assert_eq!(Seccomp.simulate(&a, &unknown), Verdict::Deny);
    }
}

#[test]
fn simulate_passes_every_syscall_case_of_the_policies_own_tests() {
    for p in policies() {
        let a = emit(&p);
        for case in run_tests(&p) {
            let verdict = p
                .tests
                .iter()
                .flat_map(|t| &t.cases)
                .find(|c| c.request.to_string() == case.request)
                .map(|c| Seccomp.simulate(&a, &c.request))
                .unwrap();
            if verdict == Verdict::NotMediated {
                continue;
            }
            let want = if case.expect_allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(verdict, want, "{}: {} {}", p.name, case.test, case.request);
        }
    }
}

#[test]
fn simulate_leaves_non_syscall_requests_to_other_layers() {
    let p = &stdlib_policies()[0];
    let a = emit(p);
    for case in p.tests.iter().flat_map(|t| &t.cases) {
        if !matches!(case.request, Request::Syscall { .. }) {
            assert_eq!(Seccomp.simulate(&a, &case.request), Verdict::NotMediated);
        }
    }
    // Missing or corrupt artifacts fail closed.
    let req = Request::Syscall {
        name: "read".to_string(),
        args: [0; 6],
    };
    let mut broken = a.clone();
    broken.insert(bpf_artifact(Arch::X86_64), vec![1, 2, 3]);
    assert_eq!(Seccomp.simulate(&broken, &req), Verdict::Deny);
    broken.remove(&bpf_artifact(Arch::X86_64));
    assert_eq!(Seccomp.simulate(&broken, &req), Verdict::Deny);
}

/// The stdlib policies that include `runtime_guards`.
fn guarded() -> Vec<Policy> {
    stdlib_policies()
        .into_iter()
        .filter(|p| p.syscalls.rules.contains_key("clone3"))
        .collect()
}

#[test]
fn adv04_io_uring_is_denied_by_every_stdlib_policy() {
    for p in stdlib_policies() {
        for (arch, audit, insns) in programs(&p) {
            for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
                let nr = syscalls::number(arch, name).unwrap();
                let got = run_insns(&insns, &data(audit, nr, [0; 6])).unwrap();
                assert_ne!(got, ret::ALLOW, "{} {name}", p.name);
            }
        }
    }
}

#[test]
fn adv05_clone3_gets_enosys_and_namespace_clones_are_denied() {
    let enosys = syscalls::errno("ENOSYS").unwrap();
    let eperm = syscalls::errno("EPERM").unwrap();
    let ps = guarded();
    assert!(
        ps.len() >= 2,
        "the container policies include runtime_guards"
    );
    for p in ps {
        for (arch, audit, insns) in programs(&p) {
            let clone3 = syscalls::number(arch, "clone3").unwrap();
            let got = run_insns(&insns, &data(audit, clone3, [0; 6])).unwrap();
            assert_eq!(got, ret::ERRNO | enosys, "{} {}", p.name, arch.name());
            let clone = syscalls::number(arch, "clone").unwrap();
            let ns_flags = [
                0x20000,
                0x0200_0000,
                0x0400_0000,
                0x0800_0000,
                0x1000_0000,
                0x2000_0000,
                0x4000_0000,
            ];
            for flag in ns_flags {
                for base in [0x11u64, 0x3d_0f00, 0xffff_ffff_0000_0011] {
                    let got = run_insns(&insns, &data(audit, clone, [base | flag, 0, 0, 0, 0, 0]))
                        .unwrap();
                    assert_eq!(
                        got,
                        ret::ERRNO | eperm,
                        "{} clone {:#x}",
                        p.name,
                        base | flag
                    );
                }
            }
            for ok in [0x11u64, 0x3d_0f00] {
                let got = run_insns(&insns, &data(audit, clone, [ok, 0, 0, 0, 0, 0])).unwrap();
                assert_eq!(got, ret::ALLOW, "{} clone {ok:#x}", p.name);
            }
        }
    }
}

#[test]
fn adv06_ioctl_terminal_injection_is_denied_whatever_the_upper_bits() {
    let eperm = ret::ERRNO | syscalls::errno("EPERM").unwrap();
    for p in guarded() {
        for (arch, audit, insns) in programs(&p) {
            let ioctl = syscalls::number(arch, "ioctl").unwrap();
            for upper in [0u64, 1 << 32, 0xffff_ffff_0000_0000, 0x8000_0000_0000_0000] {
                for cmd in [0x5412u64, 0x541c] {
                    let got = run_insns(&insns, &data(audit, ioctl, [1, upper | cmd, 0, 0, 0, 0]))
                        .unwrap();
                    assert_eq!(
                        got,
                        eperm,
                        "{} {} ioctl {:#x}",
                        p.name,
                        arch.name(),
                        upper | cmd
                    );
                }
                for cmd in [0x5401u64, 0x5421, 0x5413, 0x1_5412_0000] {
                    let got = run_insns(&insns, &data(audit, ioctl, [1, upper | cmd, 0, 0, 0, 0]))
                        .unwrap();
                    assert_eq!(got, ret::ALLOW, "{} ioctl {:#x}", p.name, upper | cmd);
                }
            }
        }
    }
}

#[test]
fn adv07_dangerous_syscalls_are_denied_by_every_stdlib_policy() {
    for p in stdlib_policies() {
        for (arch, audit, insns) in programs(&p) {
            for name in syscalls::dangerous() {
                let Some(nr) = syscalls::number(arch, name) else {
                    continue;
                };
                for args in [[0; 6], [u64::MAX; 6]] {
                    let got = run_insns(&insns, &data(audit, nr, args)).unwrap();
                    assert_ne!(got, ret::ALLOW, "{} {} {name}", p.name, arch.name());
                }
            }
        }
    }
}

#[test]
fn adv08_numbers_beyond_the_tables_get_the_default_action() {
    for p in policies() {
        for (arch, audit, insns) in programs(&p) {
            let top = syscalls::names(arch)
                .filter_map(|n| syscalls::number(arch, n))
                .max()
                .unwrap();
            for nr in [top + 1, top + 100, 1023, 4096, 0x0f_0000, 0x3fff_ffff] {
                let want = expected_nr(&p, arch, nr, [0; 6]);
                assert_eq!(want, default_ret(&p.syscalls));
                let got = run_insns(&insns, &data(audit, nr, [0; 6])).unwrap();
                assert_eq!(got, want, "{} {} nr {nr:#x}", p.name, arch.name());
            }
        }
    }
}

#[test]
fn adv09_a_policy_too_large_for_bpf_fails_with_p0701() {
    let mut text = String::from("policy huge {\n isolation process\n syscalls {\n");
    // Two conditions per alternative: equalities on one argument alone are merged into one
    // search tree and would stay far below the limit.
    for i in 0..1100u64 {
        text.push_str(&format!(
            "  allow ioctl if arg1 == {} and arg2 == {i}\n",
            i << 20
        ));
    }
    text.push_str(" }\n}\n");
    let p = &compile_text("huge.policy", &text)[0];
    let err = Seccomp.emit(p, &EmitContext::default()).unwrap_err();
    assert!(
        err.iter().all(|d| d.code == Code::SeccompTooLarge),
        "{err:?}"
    );
    assert!(err.iter().any(|d| d.message.contains("4096")), "{err:?}");
}

#[test]
fn edge_policy_kill_default_and_deny_actions_reach_the_filter() {
    let p = &compile_text("edge.policy", EDGE)[0];
    assert_eq!(p.syscalls.default, DenyAction::Kill);
    let (_, audit, insns) = programs(p).remove(0);
    let nr = |n| syscalls::number(Arch::X86_64, n).unwrap();
    let run = |name, args| run_insns(&insns, &data(audit, nr(name), args)).unwrap();
    let ebadf = ret::ERRNO | syscalls::errno("EBADF").unwrap();
    assert_eq!(run("write", [1, 0, 5, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run("write", [3, 0, 5, 0, 0, 0]), ebadf);
    assert_eq!(run("write", [1, 0, 1 << 32, 0, 0, 0]), ret::KILL_PROCESS);
    assert_eq!(run("ptrace", [0; 6]), ret::KILL_PROCESS);
    assert_eq!(run("lseek", [0, 1 << 32, 2, 0, 0, 0]), ret::ALLOW);
    assert_eq!(
        run("lseek", [0, (1 << 32) - 1, 2, 0, 0, 0]),
        ret::KILL_PROCESS
    );
}
