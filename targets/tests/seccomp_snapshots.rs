//! Snapshots of every stdlib policy's seccomp artifacts: `seccomp.json` as emitted, and a
//! readable listing of each BPF program (index, mnemonic, absolute jump targets, operand,
//! and what a load reads or a return means), headed by its size and longest path.
//! Review them like the profiles they are.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod seccomp_common;

use policyc_compiler::syscalls::Arch;
use policyc_targets::seccomp::{bpf, bpf_artifact, program_stats, JSON_ARTIFACT};
use seccomp_common::*;

#[test]
fn stdlib_seccomp_artifacts() {
    for p in stdlib_policies() {
        let a = emit(&p);
        let json = String::from_utf8(a[JSON_ARTIFACT].clone()).unwrap();
        insta::assert_snapshot!(format!("{}.seccomp.json", p.name), json);
        for arch in Arch::NATIVE {
            let bytes = &a[&bpf_artifact(arch)];
            let s = program_stats(bytes);
            let text = format!(
                "; {} {}: {} instructions, longest path {}\n{}",
                p.name,
                bpf_artifact(arch),
                s.instructions,
                s.longest_path,
                bpf::listing_for(bytes, Some(arch))
            );
            insta::assert_snapshot!(format!("{}.{}", p.name, bpf_artifact(arch)), text);
        }
    }
}

#[test]
fn emitting_twice_gives_identical_bytes() {
    for p in stdlib_policies() {
        assert_eq!(emit(&p), emit(&p), "{}", p.name);
    }
}
