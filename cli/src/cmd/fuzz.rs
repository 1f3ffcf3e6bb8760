//! `policyc fuzz`: aim seeded adversarial requests at a policy and check every layer's
//! simulator (and with `--live`, a sample of real runs) against the reference semantics.

use super::{each_policy, Home};
use crate::output::progress::{shown_here, Progress};
use crate::output::{ErrorFormat, Status};
use policyc_compiler::ir::Policy;
use policyc_compiler::{ModuleLoader, Request, SourceMap};
use policyc_targets::{stack_for, EmitContext};
use policyc_verify::campaign::{self, Campaign, Found, Shard};
use policyc_verify::live::{self, Expected, LayerStatus, LiveVerdict};
use policyc_verify::minimize::{minimize, Subject};
use policyc_verify::run::{emit_layers, Layer};
use policyc_verify::{Outcome, Probe};
use std::path::PathBuf;
use std::time::Instant;

/// Fuzz policies with adversarial requests: traversal and encodings around every grant and
/// deny, hosts in every spelling, syscalls and numbers around every rule, foreign arches and
/// x32. Exits 1 when any layer allows what the policy denies.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories whose policies to fuzz.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Fuzz only the policy with this name.
    #[arg(long)]
    policy: Option<String>,
    /// Requests per policy.
    #[arg(long, default_value_t = 100_000)]
    cases: u64,
    /// The campaign's seed: the same seed gives the same requests on every machine.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only shard K of N of the campaign (`--shard 2/4`): the cases whose index is K-1
    /// modulo N. The N shards are disjoint and together run every case, so a CI matrix
    /// can split a long campaign.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Also run a sample of the requests for real (as `policyc test --live` does) and
    /// check the kernel and runtimes agree with the simulators.
    #[arg(long)]
    live: bool,
    /// How many requests `--live` samples per policy.
    #[arg(long, default_value_t = 64)]
    live_cases: usize,
    #[command(flatten)]
    home: Home,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let ctx = args.home.ctx();
    let mut fuzzed = 0usize;
    let mut leaked = false;
    let each = |policy: &Policy, sources: &SourceMap, source: &str, loader: &dyn ModuleLoader| {
        if args.policy.as_ref().is_some_and(|n| *n != policy.name) {
            return;
        }
        fuzzed += 1;
        let file = File {
            source,
            sources,
            loader,
            progress: shown_here(format == ErrorFormat::Json),
        };
        if !fuzz_one(args, policy, &ctx, &file) {
            leaked = true;
        }
    };
    let Ok(skipped) = each_policy(&args.paths, &args.home.get(), format, each) else {
        return Status::Usage;
    };
    let mut status = skipped.status();
    if skipped.broken > 0 || leaked {
        status = status.max(Status::Failed);
    }
    // A file with errors already said why nothing was fuzzed, and fails the run (exit 1).
    if fuzzed == 0 && skipped.broken == 0 && status == Status::Ok {
        crate::output::print_usage_error(
            "no policy to fuzz (check the paths and `--policy`)",
            format,
        );
        return status.max(Status::Usage);
    }
    status
}

/// The file a fuzzed policy comes from.
struct File<'a> {
    /// Its text.
    source: &'a str,
    /// It and the modules it imports.
    sources: &'a SourceMap,
    /// The module loader it was compiled with.
    loader: &'a dyn ModuleLoader,
    /// Whether to draw progress (see [`crate::output::progress::shown`]).
    progress: bool,
}

/// Fuzz one policy; false when something leaked.
fn fuzz_one(args: &Args, policy: &Policy, ctx: &EmitContext, file: &File<'_>) -> bool {
    let sources = file.sources;
    let layers = emit_layers(policy, &stack_for(policy), ctx);
    let mut ok = true;
    for l in &layers {
        if let Err(diags) = &l.emitted {
            ok = false;
            println!(
                "ERROR {}: target `{}` cannot build it:",
                policy.name,
                l.name()
            );
            for d in diags {
                println!("      {}: {}", sources.location(d.span), d.message);
            }
        }
    }
    let c = Campaign {
        policy,
        layers: &layers,
        home: ctx.home.as_deref(),
        seed: args.seed,
        cases: args.cases,
    };
    let started = Instant::now();
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let planned = shard.cases(args.cases).count() as u64;
    let progress = Progress::new(Some(planned), &policy.name, file.progress);
    let out = campaign::run_shard(&c, shard, &mut |done| progress.set_position(done));
    drop(progress);
    let secs = started.elapsed().as_secs_f64();
    let sharded = args
        .shard
        .map_or(String::new(), |s| format!(" (shard {s} of {})", args.cases));
    println!(
        "fuzz {}: {} cases{sharded}, seed {}, {:.1} s ({:.0} cases/s)",
        policy.name,
        out.cases,
        args.seed,
        secs,
        out.cases as f64 / secs.max(1e-9)
    );
    for (name, t) in &out.tally {
        println!(
            "      {name:<9} allowed {}, denied {}, not mediated {}",
            t.allow, t.deny, t.not_mediated
        );
    }
    for f in &out.leaks {
        ok = false;
        print_leak(args, policy, ctx, file, f);
    }
    for (case, g) in &out.gaps {
        ok = false;
        println!(
            "GAP   {}: no layer denies {} (case {case}); policy: {}",
            policy.name, g.probe, g.reference.reason
        );
        for row in policyc_verify::stack::table(g) {
            println!("      {row}");
        }
    }
    if args.live {
        ok &= live_sample(args, policy, &layers, &out);
    }
    if ok {
        println!("      no leak");
    }
    ok
}

fn print_leak(args: &Args, policy: &Policy, ctx: &EmitContext, file: &File<'_>, f: &Found) {
    let sources = file.sources;
    let l = &f.leak;
    println!(
        "LEAK  {}: `{}` allows {}, which the policy denies",
        policy.name, l.target, l.probe
    );
    println!("      policy: {}", l.reference.reason);
    if let Some(span) = l.reference.span {
        println!("      rule that should deny it: {}", sources.location(span));
    }
    println!(
        "      found as {} (case {} of seed {}; replay: policyc fuzz {} --policy {} --seed {} --cases {})",
        f.found,
        f.case,
        args.seed,
        sources.get(policy.span.file).map_or("FILE", |s| s.name.as_str()),
        policy.name,
        args.seed,
        f.case + 1
    );
    println!("      allowed by:");
    for e in &l.evidence {
        println!("        {e}");
    }
    let Some(target) = stack_for(policy).into_iter().find(|t| t.name() == l.target) else {
        return;
    };
    let minimal = minimize(&Subject {
        source: file.source,
        policy: &policy.name,
        loader: file.loader,
        target,
        ctx,
        probe: &l.probe,
    });
    if let Some(m) = minimal {
        println!("      minimal reproducing policy:");
        for line in m.lines() {
            println!("        | {line}");
        }
    }
}

/// Run every `n`-th request of the campaign for real and compare with the simulators.
fn live_sample(args: &Args, policy: &Policy, layers: &[Layer], out: &campaign::Findings) -> bool {
    let pools = policyc_verify::adversary::pools(policy, Some(&args.home.get()));
    let step = (out.cases / args.live_cases.max(1) as u64).max(1);
    let requests: Vec<Request> = args
        .shard
        .unwrap_or(Shard::WHOLE)
        .cases(args.cases)
        .step_by(step as usize)
        .filter_map(|i| match campaign::case(&pools, args.seed, i) {
            Probe::Request(r) => Some(r),
            Probe::Raw { .. } => None,
        })
        .take(args.live_cases)
        .collect();
    let runs = policyc_host::live::run(policy, &requests);
    let compared = live::compare(
        &runs,
        Expected::Simulators {
            layers,
            requests: &requests,
        },
    );
    let require = live::required();
    let mut ok = true;
    let (mut agreed, mut disagreed) = (0usize, 0usize);
    let (mut unverified, mut mediated_by_neither) = (0usize, 0usize);
    for run in &runs {
        ok &= !run.status.fails(require);
        match &run.status {
            LayerStatus::Ran => {}
            LayerStatus::CompiledOnly => continue,
            LayerStatus::Unavailable(why) => {
                println!(
                    "NOTE  {}: `{}` cannot run live here: {why}",
                    policy.name, run.layer
                );
                continue;
            }
            LayerStatus::Failed(why) => {
                println!("FAIL  {}: `{}` failed live: {why}", policy.name, run.layer);
                continue;
            }
        }
        for c in compared.iter().filter(|c| c.layer == run.layer) {
            match (c.outcome, &c.live) {
                (Outcome::Pass, _) => agreed += 1,
                (Outcome::Fail, LiveVerdict::Observed(live)) => {
                    ok = false;
                    disagreed += 1;
                    let req = requests.get(c.request).map(ToString::to_string);
                    println!(
                        "FAIL  {}: `{}` live says {live:?} but its simulator says {:?} for {}",
                        policy.name,
                        run.layer,
                        c.expected,
                        req.unwrap_or_default()
                    );
                }
                (Outcome::Unverified, _) => unverified += 1,
                _ => mediated_by_neither += 1,
            }
        }
    }
    println!(
        "      live: {} requests sampled; {agreed} live verdicts agree with the simulators, {disagreed} disagree; {mediated_by_neither} not mediated; {unverified} not verifiable",
        requests.len()
    );
    ok
}
