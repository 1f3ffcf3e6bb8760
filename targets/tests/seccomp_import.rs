//! `policyc import seccomp` on real profiles (`seccomp_profiles/`, see its README): each
//! imports, builds, and its BPF gives the same action as libseccomp's compilation of the
//! ORIGINAL profile, read as Docker reads it (moby's `setupSeccomp`: `includes`/`excludes`
//! by architecture, capability and kernel) and loaded as runc loads it, for every syscall
//! number 0 to 1023 with sampled arguments, on x86_64 and aarch64, for several capability
//! sets. Foreign architectures and x32, which policyc kills and the profiles may allow,
//! are outside the comparison.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod seccomp_common;

use ::libseccomp::ScmpArch;
use oci_spec::runtime::LinuxSeccomp;
use policyc_compiler::syscalls::{self, Arch};
use policyc_targets::import::seccomp::{import, Options};
use policyc_targets::seccomp::interp::{run_insns, trace, validate};
use policyc_targets::seccomp::{bpf_artifact, program_stats, JSON_ARTIFACT};
use policyc_testkit::libseccomp::{export, runc_filter_on};
use policyc_testkit::seccomp::data;
use seccomp_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The corpus: every `*.json` in `seccomp_profiles/`, sorted.
fn profiles() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seccomp_profiles");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 2,
        "the corpus holds the Docker and Podman defaults"
    );
    out
}

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capability sets to try: none, Docker's defaults, and every capability the profile names.
fn cap_sets(doc: &Value) -> Vec<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    for e in doc["syscalls"].as_array().unwrap() {
        for f in ["includes", "excludes"] {
            for c in e[f]["caps"].as_array().into_iter().flatten() {
                all.insert(c.as_str().unwrap().to_string());
            }
        }
    }
    vec![
        BTreeSet::new(),
        DOCKER_CAPS.iter().map(|c| c.to_string()).collect(),
        all,
    ]
}

/// moby's `setupSeccomp` for one architecture: the OCI document Docker hands to runc.
fn docker_doc(doc: &Value, goarch: &str, caps: &BTreeSet<String>, kernel: (u32, u32)) -> Value {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let kernel_ge = |v: &Value| {
        v.as_str().is_some_and(|s| {
            let (maj, min) = s.split_once('.').unwrap();
            kernel >= (maj.parse().unwrap(), min.parse().unwrap())
        })
    };
    let mut calls = Vec::new();
    for e in doc["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&e["includes"], &e["excludes"]);
        if strs(&exc["arches"]).iter().any(|a| a == goarch)
            || strs(&exc["caps"]).iter().any(|c| caps.contains(c))
            || kernel_ge(&exc["minKernel"])
        {
            continue;
        }
        let arches = strs(&inc["arches"]);
        if !arches.is_empty() && !arches.iter().any(|a| a == goarch) {
            continue;
        }
        if !strs(&inc["caps"]).iter().all(|c| caps.contains(c)) {
            continue;
        }
        if !inc["minKernel"].is_null() && !kernel_ge(&inc["minKernel"]) {
            continue;
        }
        let mut call = json!({"names": e["names"], "action": e["action"]});
        for k in ["errnoRet", "args"] {
            if !e[k].is_null() {
                call[k] = e[k].clone();
            }
        }
        calls.push(call);
    }
    let mut out = json!({"defaultAction": doc["defaultAction"], "syscalls": calls});
    if !doc["defaultErrnoRet"].is_null() {
        out["defaultErrnoRet"] = doc["defaultErrnoRet"].clone();
    }
    out
}

/// Argument values around every condition the original profile writes.
fn json_samples(doc: &Value) -> Vec<[u64; 6]> {
    let mut out = BTreeSet::new();
    out.insert([0u64; 6]);
    out.insert([u64::MAX; 6]);
    for e in doc["syscalls"].as_array().unwrap() {
        for a in e["args"].as_array().into_iter().flatten() {
            let i = a["index"].as_u64().unwrap() as usize;
            let v = a["value"].as_u64().unwrap_or(0);
            let two = a["valueTwo"].as_u64().unwrap_or(0);
            let mut vals = vec![v, v.wrapping_sub(1), v.wrapping_add(1), v | 1 << 32, two];
            if a["op"] == "SCMP_CMP_MASKED_EQ" {
                vals.extend(
                    (0..64)
                        .map(|b| 1u64 << b)
                        .filter(|b| v & b != 0)
                        .map(|b| two ^ b),
                );
                vals.push(two | !v);
            }
            for x in vals {
                let mut args = [0u64; 6];
                args[i] = x;
                out.insert(args);
            }
        }
    }
    out.into_iter().collect()
}

fn scmp(arch: Arch) -> (ScmpArch, &'static str, u32) {
    match arch {
        Arch::X86_64 => (ScmpArch::X8664, "amd64", NATIVE[0].1),
        _ => (ScmpArch::Aarch64, "arm64", NATIVE[1].1),
    }
}

/// Import with `caps`, build, and compare with libseccomp on the original.
fn round_trip(file: &str, text: &str, caps: &BTreeSet<String>) -> usize {
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut opts = Options::new("imported", file);
    opts.caps = caps.clone();
    let imported = import(text, &opts)
        .unwrap_or_else(|e| panic!("{file} with {caps:?}: {e}"))
        .text;
    let policies = compile_text(file, &imported);
    let p = &policies[0];
    let artifacts = emit(p);
    let extra = json_samples(&doc);
    let mut checked = 0;
    for arch in Arch::NATIVE {
        let (sarch, goarch, audit) = scmp(arch);
        let oci: LinuxSeccomp =
            serde_json::from_value(docker_doc(&doc, goarch, caps, opts.kernel)).unwrap();
        let theirs =
            validate(&export(&runc_filter_on(&oci, 2, &[sarch]).unwrap()).unwrap()).unwrap();
        let mine = validate(&artifacts[&bpf_artifact(arch)]).unwrap();
        for nr in 0..1024u32 {
            let mut samples = nr_samples(p, arch, nr);
            samples.extend(extra.iter().copied());
            for args in samples {
                let d = data(audit, nr, args);
                let (m, t) = (
                    run_insns(&mine, &d).unwrap(),
                    run_insns(&theirs, &d).unwrap(),
                );
                assert_eq!(
                    m,
                    t,
                    "{file} caps {caps:?} {}: policyc {m:#x} vs libseccomp {t:#x} for nr {nr} ({:?}) args {args:x?}\n{imported}",
                    arch.name(),
                    syscalls::name(arch, nr),
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn every_corpus_profile_imports_to_a_policy_libseccomp_agrees_with() {
    for (file, text) in profiles() {
        let doc: Value = serde_json::from_str(&text).unwrap();
        for caps in cap_sets(&doc) {
            let n = round_trip(&file, &text, &caps);
            eprintln!("{file} caps {caps:?}: {n} inputs agree");
            assert!(n > 2 * 1024);
        }
    }
}

#[test]
fn imported_corpus_profiles() {
    for (file, text) in profiles() {
        let opts = Options::new(
            policyc_targets::import::ident(file.trim_end_matches(".json")),
            file.clone(),
        );
        let imported = import(&text, &opts).unwrap().text;
        insta::assert_snapshot!(file.clone(), imported);
    }
}

/// Mean instructions run over every syscall number the architecture names, with all
/// arguments zero.
fn mean_path(prog: &[u8], arch: Arch, audit: u32) -> f64 {
    let nrs: Vec<u32> = syscalls::names(arch)
        .filter_map(|n| syscalls::number(arch, n))
        .collect();
    let total: usize = nrs
        .iter()
        .map(|nr| trace(prog, &data(audit, *nr, [0; 6])).unwrap().1.len())
        .sum();
    total as f64 / nrs.len() as f64
}

/// The benchmark of the seccomp chapter: for every corpus profile (imported without
/// capabilities) and every stdlib policy, on each native architecture, policyc's program
/// against libseccomp's binary tree (runc's settings) for the same `seccomp.json` on that
/// architecture alone. policyc's must be no larger, its longest path no longer, and its
/// mean path shorter.
#[test]
fn policyc_programs_are_no_worse_than_libseccomp_trees() {
    let mut policies: Vec<(String, policyc_compiler::ir::Policy)> = Vec::new();
    for (file, text) in profiles() {
        let opts = Options::new("imported", file.clone());
        let imported = import(&text, &opts).unwrap().text;
        policies.push((file, compile_text("imported.policy", &imported).remove(0)));
    }
    // A policy with no syscall rules (a `wasm` one) has no filter to compare.
    for p in stdlib_policies() {
        if !p.syscalls.rules.is_empty() {
            policies.push((p.name.clone(), p));
        }
    }
    println!("| policy | arch | policyc instructions | libseccomp | policyc longest path | libseccomp | policyc mean path | libseccomp |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, p) in &policies {
        let a = emit(p);
        let doc: LinuxSeccomp = serde_json::from_slice(&a[JSON_ARTIFACT]).unwrap();
        for arch in Arch::NATIVE {
            let (sarch, _, audit) = scmp(arch);
            let theirs = export(&runc_filter_on(&doc, 2, &[sarch]).unwrap()).unwrap();
            let mine = &a[&bpf_artifact(arch)];
            let (ms, ts) = (program_stats(mine), program_stats(&theirs));
            let (mm, tm) = (
                mean_path(mine, arch, audit),
                mean_path(&theirs, arch, audit),
            );
            println!(
                "| {label} | {} | {} | {} | {} | {} | {mm:.1} | {tm:.1} |",
                arch.name(),
                ms.instructions,
                ts.instructions,
                ms.longest_path,
                ts.longest_path
            );
            assert!(
                ms.instructions <= ts.instructions,
                "{label} {}: size",
                arch.name()
            );
            assert!(
                ms.longest_path <= ts.longest_path,
                "{label} {}: longest",
                arch.name()
            );
            assert!(mm < tm, "{label} {}: mean {mm} vs {tm}", arch.name());
        }
    }
}
