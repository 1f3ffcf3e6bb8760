//! Start-up of a container policy under `policyc exec` against a plain `runc run` of the
//! same bundle: `policyc exec --best-effort document_organizer.policy -- /bin/true` (compile
//! the policy, emit the bundle, assemble the root file system, run, delete), the same with
//! `--from out/document_organizer` (read and verify the built folder instead of compiling),
//! and `runc run` of the `config.json` and root file system policyc would build for it,
//! made once.
//!
//! Run with `cargo build -p policyc && cargo bench -p policyc-host --bench
//! container_startup --profile dev --no-default-features`. Needs root and runc; the policyc
//! binary is `$POLICYC` or `$CARGO_TARGET_DIR/debug/policyc` (`target/debug/policyc`): give
//! `POLICYC=$CARGO_TARGET_DIR/release/policyc` to time the release build users install.
//! Every benchmark's name says which binary it timed. All run with `/bin/true` in the stdlib
//! document organizer's container; the host has no AppArmor here, so the profile is left out
//! of all of them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use criterion::{criterion_group, criterion_main, Criterion};
use policyc_host::container::{rootfs, Bundle, Image, Spec};
use policyc_host::sandbox::Environment;
use policyc_targets::oci::{self, Options};
use policyc_targets::EmitContext;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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

fn stdlib_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../stdlib-policies/policies/document_organizer.policy")
}

/// The bundle `policyc exec` builds for `/bin/true` with this home, made once.
fn plain_bundle(home: &Path) -> Bundle {
    let text = std::fs::read_to_string(stdlib_policy()).unwrap();
    let (_, policies) = policyc_testkit::stdlib::compile_text("document_organizer.policy", &text);
    let policy = &policies[0];
    let ctx = EmitContext {
        home: Some(home.display().to_string()),
    };
    let opts = Options {
        args: vec!["/bin/true".into()],
        uid: 0,
        gid: 0,
    };
    let emitted = oci::emit_with(policy, &ctx, &opts).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&emitted.artifacts[oci::FILE]).unwrap();
    let bundle = Bundle::new().unwrap();
    let (root, image_mounts) = rootfs::assemble(bundle.path(), &Image::Host, 0, 0).unwrap();
    Spec {
        args: vec!["/bin/true".into()],
        env: Environment::for_policy(&policy.env, ctx.home.as_deref(), |_| None),
        cwd: "/".into(),
        root,
        image_mounts,
        netns: None,
        without_apparmor: true,
    }
    .apply(&mut config);
    bundle.write_config(&config).unwrap();
    bundle
}

fn startup(c: &mut Criterion) {
    let runc = policyc_host::container::Runtime::find();
    let bin = policyc();
    if runc.is_err() || !bin.is_file() {
        eprintln!(
            "container_startup needs root, runc and {} (build it with `cargo build -p policyc`): {runc:?}",
            bin.display()
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("Documents")).unwrap();
    let bundle = plain_bundle(home.path());
    let state = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(&bin)
        .arg("build")
        .arg("--home")
        .arg(home.path())
        .arg("--out")
        .arg(out.path())
        .arg(stdlib_policy())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(built.success());
    let which = flavour(&bin);
    eprintln!("container_startup: timing {} ({which})", bin.display());
    let mut group = c.benchmark_group("container start-up");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(
        format!("policyc exec --from out/document_organizer -- /bin/true [{which}]"),
        |b| {
            b.iter(|| {
                let s = Command::new(&bin)
                    .args(["exec", "--best-effort", "--home"])
                    .arg(home.path())
                    .arg("--from")
                    .arg(out.path().join("document_organizer"))
                    .args(["--", "/bin/true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(s.success());
            });
        },
    );
    group.bench_function(
        format!("policyc exec document_organizer -- /bin/true [{which}]"),
        |b| {
            b.iter(|| {
                let s = Command::new(&bin)
                    .arg("exec")
                    .arg("--best-effort")
                    .arg("--home")
                    .arg(home.path())
                    .arg(stdlib_policy())
                    .args(["--", "/bin/true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(s.success());
            });
        },
    );
    let mut n = 0u64;
    group.bench_function("runc run of the same bundle (/bin/true)", |b| {
        b.iter(|| {
            n += 1;
            let s = Command::new("runc")
                .arg("--root")
                .arg(state.path())
                .args(["run", "--bundle"])
                .arg(bundle.path())
                .arg(format!("policyc-bench-{}-{n}", std::process::id()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(s.success());
        });
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
