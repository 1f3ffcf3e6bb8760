//! The cost of policyc's seccomp programs against libseccomp's program for the same
//! `seccomp.json`: instruction counts, longest paths, and the measured time of a filtered
//! syscall on this machine.
//!
//! Run with `cargo bench -p policyc-host --bench seccomp_cost` (add `--no-default-features`
//! to skip building wasmtime, which the benchmark does not use). For each stdlib policy
//! with a syscall filter it prints a Markdown table row per program. A forked child installs
//! the program (with `policyc_host::sys::seccomp::install`) and times `getppid` (allowed,
//! near the middle of the table), `rseq`-less `uname` (allowed, higher number) and a denied
//! call (`ptrace`), best of several rounds.

#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use oci_spec::runtime::LinuxSeccomp;
use policyc_compiler::syscalls::Arch;
use policyc_host::sys::seccomp::{self as filter, Program};
use policyc_host::sys::{self, kernel, Fork};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::seccomp::{bpf_artifact, program_stats, JSON_ARTIFACT};
use policyc_targets::{EmitContext, Target};
use policyc_testkit::libseccomp::{export, runc_filter};
use std::io::{Read as _, Write as _};
use std::time::Instant;

const CALLS: u32 = 200_000;
const ROUNDS: u32 = 5;

/// Nanoseconds per call of `nr`, best of `ROUNDS`, in a child that installed `program`
/// (or no filter when it is empty).
fn time_in_child(program: &[u8], nr: libc::c_long) -> f64 {
    let program = (!program.is_empty()).then(|| Program::parse(program).unwrap());
    let (r, w) = sys::pipe().unwrap();
    match sys::fork().unwrap() {
        Fork::Child => {
            drop(r);
            let _ = kernel::no_new_privs();
            if program
                .as_ref()
                .is_some_and(|p| filter::install(p, 0).is_err())
            {
                sys::exit_now(2);
            }
            let mut best = u64::MAX;
            for _ in 0..ROUNDS {
                let start = Instant::now();
                for _ in 0..CALLS {
                    // SAFETY: the timed calls take no pointer (all arguments are 0).
                    unsafe { libc::syscall(nr, 0, 0, 0, 0) };
                }
                best = best.min(start.elapsed().as_nanos() as u64);
            }
            let _ = std::fs::File::from(w).write_all(&best.to_le_bytes());
            sys::exit_now(0)
        }
        Fork::Parent(pid) => {
            drop(w);
            let mut buf = [0u8; 8];
            std::fs::File::from(r)
                .read_exact(&mut buf)
                .expect("the child reports its timing");
            sys::wait(pid);
            u64::from_le_bytes(buf) as f64 / f64::from(CALLS)
        }
    }
}

fn main() {
    if std::env::consts::ARCH != "x86_64" {
        println!(
            "the benchmark measures the x86_64 programs; this machine is {}",
            std::env::consts::ARCH
        );
        return;
    }
    let arch = Arch::X86_64;
    let calls = [
        ("getppid", libc::SYS_getppid),
        ("uname", libc::SYS_uname),
        ("ptrace (denied)", libc::SYS_ptrace),
    ];
    println!(
        "| policy | program | instructions | longest path | {} |",
        calls.map(|c| format!("{} ns", c.0)).join(" | ")
    );
    println!("|---|---|---|---|{}", "---|".repeat(calls.len()));
    let none: Vec<String> = calls
        .iter()
        .map(|(_, nr)| format!("{:.1}", time_in_child(&[], *nr)))
        .collect();
    println!("| (none) | no filter | 0 | 0 | {} |", none.join(" | "));
    for (_, p) in policyc_testkit::stdlib::policies() {
        let artifacts = Seccomp.emit(&p, &EmitContext::default()).unwrap().artifacts;
        let Some(ours) = artifacts.get(&bpf_artifact(arch)) else {
            continue;
        };
        if p.syscalls.rules.is_empty() {
            continue;
        }
        let doc: LinuxSeccomp = serde_json::from_slice(&artifacts[JSON_ARTIFACT]).unwrap();
        let mut ctx = runc_filter(&doc, 2).unwrap();
        ctx.remove_arch(libseccomp::ScmpArch::Aarch64).ok();
        let theirs = export(&ctx).unwrap();
        for (label, prog) in [
            ("policyc", ours.as_slice()),
            ("libseccomp (runc, optimize 2)", theirs.as_slice()),
        ] {
            let stats = program_stats(prog);
            let times: Vec<String> = calls
                .iter()
                .map(|(_, nr)| format!("{:.1}", time_in_child(prog, *nr)))
                .collect();
            println!(
                "| {} | {label} | {} | {} | {} |",
                p.name,
                stats.instructions,
                stats.longest_path,
                times.join(" | ")
            );
        }
    }
}
