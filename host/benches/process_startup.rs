//! Start-up of a process policy under `policyc exec` against bubblewrap, in one run:
//! `policyc exec demo.policy -- /bin/true` (compile and check the policy, emit Landlock and
//! this machine's seccomp program, build the file system view, run), `policyc exec --from
//! out/demo -- /bin/true` (read and verify the built folder, run), `bwrap --ro-bind / /
//! --unshare-net --unshare-pid /bin/true`, and `unshare -mn /bin/true` (the mount and network
//! namespaces alone: the kernel's share of both). The goal is at most half of bwrap's time.
//!
//! Run with `cargo build -p policyc && cargo bench -p policyc-host --bench
//! process_startup --profile dev --no-default-features`. Needs root (or unprivileged user
//! namespaces), Landlock and seccomp; the policyc binary is `$POLICYC` or
//! `$CARGO_TARGET_DIR/debug/policyc` (`target/debug/policyc`): give
//! `POLICYC=$CARGO_TARGET_DIR/release/policyc` to time the release build users install.
//! Every benchmark's name says which binary it timed (`debug`, `release` or the path). When
//! `bwrap` is not installed (`apt-get install bubblewrap`) the bench says so and measures
//! policyc alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small process policy: the system's programs, nothing else, no network.
const DEMO: &str = r#"use std::runtime::base
use std::runtime::static

policy demo {
    isolation process
    fs {
        exec "/usr"
        read "/etc"
    }
    net { egress none }
    syscalls { allow static_binary }
}
"#;

fn policyc() -> PathBuf {
    if let Some(p) = std::env::var_os("POLICYC") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("debug/policyc")
}

/// Which build of policyc `bin` is: `debug` or `release` by its folder, else its path.
fn flavour(bin: &Path) -> String {
    match bin
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
    {
        Some(n @ ("debug" | "release")) => n.to_string(),
        _ => bin.display().to_string(),
    }
}

/// The first `bwrap` on `PATH`.
fn bwrap() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command) {
    let s = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(s.success(), "{cmd:?} failed: {s}");
}

fn startup(c: &mut Criterion) {
    let bin = policyc();
    if !bin.is_file() {
        eprintln!(
            "process_startup needs {} (build it with `cargo build -p policyc`)",
            bin.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("demo.policy");
    std::fs::write(&policy, DEMO).unwrap();
    let out = dir.path().join("out");
    run(Command::new(&bin)
        .args(["build", "--out"])
        .arg(&out)
        .arg(&policy));
    let which = flavour(&bin);
    eprintln!("process_startup: timing {} ({which})", bin.display());
    let mut group = c.benchmark_group("process start-up");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(
        format!("policyc exec demo.policy -- /bin/true [{which}]"),
        |b| {
            b.iter(|| {
                run(Command::new(&bin)
                    .args(["exec", "--quiet"])
                    .arg(&policy)
                    .args(["--", "/bin/true"]));
            });
        },
    );
    group.bench_function(
        format!("policyc exec --from out/demo -- /bin/true [{which}]"),
        |b| {
            b.iter(|| {
                run(Command::new(&bin)
                    .args(["exec", "--from"])
                    .arg(out.join("demo"))
                    .args(["--", "/bin/true"]));
            });
        },
    );
    match bwrap() {
        Some(bwrap) => {
            group.bench_function(
                "bwrap --ro-bind / / --unshare-net --unshare-pid /bin/true",
                |b| {
                    b.iter(|| {
                        run(Command::new(&bwrap).args([
                            "--ro-bind",
                            "/",
                            "/",
                            "--unshare-net",
                            "--unshare-pid",
                            "/bin/true",
                        ]));
                    });
                },
            );
        }
        None => eprintln!(
            "process_startup: bwrap is NOT installed (apt-get install bubblewrap): the bwrap \
             half of the pair is not measured, and no ratio can be read from this run"
        ),
    }
    // The kernel's share: the mount and network namespaces both tools make, and nothing
    // else (util-linux's `unshare`).
    group.bench_function("unshare -mn /bin/true (the namespaces alone)", |b| {
        b.iter(|| run(Command::new("unshare").args(["-mn", "/bin/true"])));
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
