//! The cost of policyc's seccomp programs against libseccomp's program for the same
//! `seccomp.json`: instruction counts, longest paths, and the measured time of a filtered
//! syscall on this machine.
//!
//! Run with `cargo bench -p policyc-targets --bench seccomp_cost`. For each stdlib policy
//! with a syscall filter it prints a Markdown table row per program. A forked child installs
//! the program and times `getppid` (allowed, near the middle of the table), `rseq`-less
//! `uname` (allowed, higher number) and a denied call (`ptrace`), best of several rounds.

#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

#[path = "../tests/seccomp_common/mod.rs"]
mod seccomp_common;

use oci_spec::runtime::LinuxSeccomp;
use policyc_compiler::syscalls::Arch;
use policyc_targets::seccomp::{bpf_artifact, program_stats, JSON_ARTIFACT};
use seccomp_common::libseccomp::{export, runc_filter};
use std::io::Read as _;
use std::os::fd::FromRawFd as _;
use std::time::Instant;

const CALLS: u32 = 200_000;
const ROUNDS: u32 = 5;

/// Nanoseconds per call of `nr`, best of `ROUNDS`, in a child that installed `program`
/// (or no filter when it is empty).
fn time_in_child(program: &[u8], nr: libc::c_long) -> f64 {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_ptr().cast_mut(),
    };
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if !filters.is_empty()
                && libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &raw const prog,
                ) != 0
            {
                libc::_exit(2);
            }
            let mut best = u64::MAX;
            for _ in 0..ROUNDS {
                let start = Instant::now();
                for _ in 0..CALLS {
                    libc::syscall(nr, 0, 0, 0, 0);
                }
                best = best.min(start.elapsed().as_nanos() as u64);
            }
            let bytes = best.to_le_bytes();
            libc::write(fds[1], bytes.as_ptr().cast(), 8);
            libc::_exit(0);
        }
    }
    unsafe { libc::close(fds[1]) };
    let mut f = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut buf = [0u8; 8];
    f.read_exact(&mut buf)
        .expect("the child reports its timing");
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    u64::from_le_bytes(buf) as f64 / f64::from(CALLS)
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
    for p in seccomp_common::stdlib_policies() {
        let artifacts = seccomp_common::emit(&p);
        let Some(ours) = artifacts.get(&bpf_artifact(arch)) else {
            continue;
        };
        if p.syscalls.rules.is_empty() {
            continue;
        }
        let doc: LinuxSeccomp = serde_json::from_slice(&artifacts[JSON_ARTIFACT]).unwrap();
        let mut ctx = runc_filter(&doc, 2);
        ctx.remove_arch(libseccomp::ScmpArch::Aarch64).ok();
        let theirs = export(&ctx);
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
