//! How `check` and `build` scale with a policy's size, and what the standard library costs.
//!
//! Run with `cargo bench -p policyc-targets --bench scaling`. The policies are generated
//! ([`policyc_testkit::scaling::policy`]): `N` read-only mounts and `N` egress rules under
//! `container` isolation, for `N` = 100, 1,000 and 10,000.
//!
//! - `check/N`: parse and check the policy, with the feasibility checks of its stack (what
//!   `policyc check` does);
//! - `build/N`: the same, then emit every target `policyc build` writes for it;
//! - `stdlib`: check and build every use-case policy of the standard library.
//!
//! Before criterion's statistics it prints one timed run per phase and target for each `N`
//! (a Markdown table), so a slow target shows up by name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use criterion::{BenchmarkId, Criterion};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{compile, SourceMap};
use policyc_targets::{build_targets, EmitContext};
use policyc_testkit::stdlib::{ctx, Loader};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// Check one file's text: its policies, which must compile without errors.
fn check(name: &str, text: &str) -> Vec<Policy> {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &Loader);
    assert!(!out.diagnostics.has_errors(), "{name} does not compile");
    out.policies
}

/// Check one file's text and emit every target `policyc build` writes for its policies;
/// the number of artifact bytes.
fn build(name: &str, text: &str, ctx: &EmitContext) -> usize {
    let mut bytes = 0;
    for p in check(name, text) {
        for t in build_targets(&p) {
            let e = t
                .emit(&p, ctx)
                .unwrap_or_else(|_| panic!("{} fails", t.name()));
            bytes += e.artifacts.values().map(Vec::len).sum::<usize>();
        }
    }
    bytes
}

/// One timed run of each phase, printed as a table row per phase.
fn phases(n: usize, ctx: &EmitContext) {
    let text = policyc_testkit::scaling::policy(n, Isolation::Container);
    let started = Instant::now();
    let policies = check("scaled.policy", &text);
    println!("| {n} | check | {:.1} ms |", ms(started.elapsed()));
    for p in &policies {
        for t in build_targets(p) {
            let started = Instant::now();
            let e = t.emit(p, ctx);
            assert!(e.is_ok(), "{} fails", t.name());
            println!(
                "| {n} | emit {} | {:.1} ms |",
                t.name(),
                ms(started.elapsed())
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(c: &mut Criterion) {
    let ctx = ctx();
    println!("| N | phase | one run |\n|---|---|---|");
    for n in SIZES {
        phases(n, &ctx);
    }
    let mut g = c.benchmark_group("scaling");
    g.sample_size(10);
    for n in SIZES {
        let text = policyc_testkit::scaling::policy(n, Isolation::Container);
        g.bench_with_input(BenchmarkId::new("check", n), &text, |b, t| {
            b.iter(|| black_box(check("scaled.policy", t)));
        });
        g.bench_with_input(BenchmarkId::new("build", n), &text, |b, t| {
            b.iter(|| black_box(build("scaled.policy", t, &ctx)));
        });
    }
    g.bench_function("stdlib", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (name, text) in policyc_stdlib::policies() {
                bytes += build(name, text, &ctx);
            }
            black_box(bytes)
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
