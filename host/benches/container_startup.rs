//! Start-up of a container policy under `policyc exec` against a plain `runc run` of the
//! same bundle, in one run: `policyc exec --best-effort --quiet --from
//! out/document_organizer -- /bin/true` (read and verify the built folder, assemble the root
//! file system, run, delete), the same with `document_organizer.policy` (compile the policy
//! and emit the bundle too), and `runc run` of the `config.json` and root file system policyc
//! would build for it, made once, with runc's state in `/dev/shm` (as `/run/runc` is a tmpfs
//! on most hosts). The goal: `exec --from` within 1.5x of `runc run`.
//!
//! Run with `cargo build -p policyc && cargo bench -p policyc-host --bench
//! container_startup --profile dev --no-default-features`. Needs root and runc; the policyc
//! binary is `$POLICYC` or `$CARGO_TARGET_DIR/debug/policyc` (`target/debug/policyc`): give
//! `POLICYC=$CARGO_TARGET_DIR/release/policyc` to time the release build users install.
//! Every benchmark's name says which binary it timed. All run with `/bin/true` in the stdlib
//! document organizer's container; the host has no AppArmor here, so the profile is left out
//! of all of them. policyc makes its bundles in `/dev/shm` unless `TMPDIR` is set (the bench
//! says which).
//!
//! After criterion's figures come paired rounds (`POLICYC_BENCH_ROUNDS`, default 40): each
//! round runs every way once, and the table gives each way's median and the median of its
//! per-round ratio to runc. A filter that matches no benchmark name (`-- paired-only`) skips
//! criterion and runs the rounds alone.
//!
//! Figures (book: `cli.md`, container policies, start-up), 2-core machine at load 1.5 to
//! 3.5, runc 1.1.5, paired rounds: release build `exec --from` 1.20x to 1.41x of `runc run`
//! (goal met), `exec POLICY` 1.46x to 1.58x; debug build `exec --from` 1.41x to 1.83x. Before
//! the bundle moved from `/tmp` (ext4 mounted with `discard`) to `/dev/shm`, the release
//! build's `exec --from` took 1.33x to 2.00x.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use policyc_host::container::{rootfs, Bundle, Image, Spec};
use policyc_host::sandbox::Environment;
use policyc_targets::oci::{self, Options};
use policyc_targets::EmitContext;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let bundle = Bundle::new(&Image::Host).unwrap();
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

/// One way of starting `/bin/true` in the container: its name and how to run it once.
struct Way {
    name: String,
    cmd: Box<dyn Fn() -> Command>,
}

impl Way {
    /// Run it once; the wall time from spawn to exit.
    fn once(&self) -> Duration {
        let t = Instant::now();
        let s = (self.cmd)()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let took = t.elapsed();
        assert!(s.success(), "{}: {s}", self.name);
        took
    }
}

/// The three ways, runc first: `exec --from`, `exec POLICY`, and `runc run` of the
/// prepared bundle.
fn ways(bin: &Path, which: &str, home: &Path, out: &Path, bundle: &Path, state: &Path) -> Vec<Way> {
    let runc = {
        let (bundle, state) = (bundle.to_path_buf(), state.to_path_buf());
        let n = std::cell::Cell::new(0u64);
        move || {
            n.set(n.get() + 1);
            let mut c = Command::new("runc");
            c.arg("--root")
                .arg(&state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("policyc-bench-{}-{}", std::process::id(), n.get()));
            c
        }
    };
    let from = {
        let (bin, home, dir) = (
            bin.to_path_buf(),
            home.to_path_buf(),
            out.join("document_organizer"),
        );
        move || {
            let mut c = Command::new(&bin);
            c.args(["exec", "--best-effort", "--quiet", "--home"])
                .arg(&home)
                .arg("--from")
                .arg(&dir)
                .args(["--", "/bin/true"]);
            c
        }
    };
    let compile = {
        let (bin, home) = (bin.to_path_buf(), home.to_path_buf());
        move || {
            let mut c = Command::new(&bin);
            c.args(["exec", "--best-effort", "--quiet", "--home"])
                .arg(&home)
                .arg(stdlib_policy())
                .args(["--", "/bin/true"]);
            c
        }
    };
    vec![
        Way {
            name: "runc run of the same bundle (/bin/true)".into(),
            cmd: Box::new(runc),
        },
        Way {
            name: format!("policyc exec --from out/document_organizer -- /bin/true [{which}]"),
            cmd: Box::new(from),
        },
        Way {
            name: format!("policyc exec document_organizer -- /bin/true [{which}]"),
            cmd: Box::new(compile),
        },
    ]
}

/// Paired rounds (`POLICYC_BENCH_ROUNDS`, default 40): each round runs every way once,
/// one after the other, so that a load that changes during the run moves both sides of a
/// ratio alike. Prints each way's median and the median of its per-round ratio to runc.
fn paired(ways: &[Way]) {
    let rounds: usize = std::env::var("POLICYC_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let times: Vec<Vec<f64>> = (0..rounds)
        .map(|_| ways.iter().map(|w| w.once().as_secs_f64()).collect())
        .collect();
    println!("\n| run ({rounds} paired rounds) | median (ms) | of runc, median of paired rounds |");
    println!("|---|---:|---:|");
    for (i, w) in ways.iter().enumerate() {
        let ms = 1000.0 * median(times.iter().map(|t| t[i]).collect());
        let ratio = median(times.iter().map(|t| t[i] / t[0]).collect());
        println!("| {} | {ms:.1} | {ratio:.2}x |", w.name);
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
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
    // runc's state where a plain `runc run` keeps it on most hosts: in memory (`/run/runc`
    // is a tmpfs there), as policyc keeps its own.
    let state = tempfile::tempdir_in(policyc_host::container::MEMORY_DIR).unwrap();
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
    match std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        Some(t) => eprintln!(
            "container_startup: TMPDIR is set, so policyc makes its bundles in {} rather than {}",
            t.to_string_lossy(),
            policyc_host::container::MEMORY_DIR
        ),
        None => eprintln!(
            "container_startup: policyc makes its bundles in {}",
            policyc_host::container::MEMORY_DIR
        ),
    }
    let ways = ways(
        &bin,
        &which,
        home.path(),
        out.path(),
        bundle.path(),
        state.path(),
    );
    let mut group = c.benchmark_group("container start-up");
    group
        .sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10));
    for w in &ways {
        group.bench_function(w.name.as_str(), |b| b.iter(|| w.once()));
    }
    group.finish();
    paired(&ways);
}

criterion_group!(benches, startup);
criterion_main!(benches);
