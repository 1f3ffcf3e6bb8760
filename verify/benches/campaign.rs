//! Cases per second of `policyc fuzz`, per target and for a whole campaign, on the stdlib
//! policies.
//!
//! Run with `cargo bench -p policyc-verify --bench campaign`. For each stdlib policy it
//! draws a fixed campaign (seed 1), then times each layer's simulator alone over the drawn
//! requests and the whole campaign (draw, every simulator, the reference, leak and stack
//! checks), best of several rounds, and prints a Markdown table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use policyc_targets::stack_for;
use policyc_testkit::stdlib::{ctx, policies};
use policyc_verify::adversary::pools;
use policyc_verify::campaign::{self, Campaign};
use policyc_verify::run::emit_layers;
use std::hint::black_box;
use std::time::Instant;

const CASES: u64 = 50_000;
const ROUNDS: u32 = 3;

/// Best-of-`ROUNDS` cases per second of `f` over `n` cases.
fn rate(n: u64, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / best
}

fn main() {
    let ctx = ctx();
    println!("| policy | layer | cases/s |");
    println!("|---|---|---|");
    for (_, p) in &policies() {
        let layers = emit_layers(p, &stack_for(p), &ctx);
        let pool = pools(p, ctx.home.as_deref());
        let probes: Vec<_> = (0..CASES).map(|i| campaign::case(&pool, 1, i)).collect();
        for l in &layers {
            let r = rate(CASES, || {
                for q in &probes {
                    black_box(l.verdict(q));
                }
            });
            println!("| {} | {} simulator | {r:.0} |", p.name, l.name());
        }
        let r = rate(CASES, || {
            let c = Campaign {
                policy: p,
                layers: &layers,
                home: ctx.home.as_deref(),
                seed: 1,
                cases: CASES,
            };
            let o = campaign::run(&c, &mut |_| {});
            assert!(o.leaks.is_empty() && o.gaps.is_empty());
        });
        println!("| {} | whole campaign | {r:.0} |", p.name);
    }
}
