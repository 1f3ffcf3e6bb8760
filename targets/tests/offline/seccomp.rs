//! Snapshots of every stdlib policy's seccomp artifacts: `seccomp.json` as emitted, and a
//! readable listing of each BPF program (index, mnemonic, absolute jump targets, operand,
//! and what a load reads or a return means), headed by its size and longest path.
//! Review them like the profiles they are.

use crate::harness::snapshot;
use policyc_compiler::ir::Policy;
use policyc_compiler::syscalls::Arch;
use policyc_targets::seccomp::{bpf, bpf_artifact, program_stats, Seccomp, JSON_ARTIFACT};
use policyc_targets::{Artifacts, EmitContext, Target};
use policyc_testkit::stdlib::policies;

/// Every stdlib use-case policy, compiled.
fn stdlib_policies() -> Vec<Policy> {
    let ps: Vec<Policy> = policies().into_iter().map(|(_, p)| p).collect();
    assert!(ps.len() >= 3, "expected the stdlib's use-case policies");
    ps
}

/// The seccomp artifacts (built without a home: a filter names no path).
fn emit(p: &Policy) -> Artifacts {
    match Seccomp.emit(p, &EmitContext::default()) {
        Ok(e) => e.artifacts,
        Err(d) => panic!("{}: seccomp emit failed: {d:?}", p.name),
    }
}

/// The snapshot `seccomp_snapshots__{name}`.
fn snapshot_artifact(name: &str, text: &str) {
    snapshot(&format!("seccomp_snapshots__{name}"), text);
}

#[test]
fn stdlib_seccomp_artifacts() {
    for p in stdlib_policies() {
        let a = emit(&p);
        let json = String::from_utf8(a[JSON_ARTIFACT].clone()).unwrap();
        snapshot_artifact(&format!("{}.seccomp.json", p.name), &json);
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
            snapshot_artifact(&format!("{}.{}", p.name, bpf_artifact(arch)), &text);
        }
    }
}

#[test]
fn emitting_twice_gives_identical_bytes() {
    for p in stdlib_policies() {
        assert_eq!(emit(&p), emit(&p), "{}", p.name);
    }
}
