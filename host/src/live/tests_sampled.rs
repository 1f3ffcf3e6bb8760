//! The Landlock and seccomp simulators against the running kernel, on sampled policies and
//! requests: a seeded generator draws random `process` policies
//! ([`policyc_testkit::policies::seeded`]: home, system and scratch mounts, denies, egress
//! rules, the standard runtime set with extra allows and denies), the verifier's adversary
//! draws requests aimed at each, and every request is run live.
//!
//! For both layers, every live `Allow` or `Deny` must be the simulator's verdict, a live
//! `NotMediated` must not be a simulated `Deny`, and nothing the reference semantics denies
//! may be allowed live. A seccomp deny must also return what the reference says (the errno,
//! or `SIGSYS` for `kill`).
//!
//! **Homes.** [`run`] emits the artifacts for its fixture home, a fresh temporary directory
//! it does not expose; the simulators here are emitted for [`SIM_HOME`] instead. The two
//! agree on every request this test makes because home paths are only ever asked about in
//! their `~` spelling (the pools are built without a home, and absolute paths under either
//! home are dropped), and no absolute mount or deny of a generated policy covers either home
//! or the temporary directory that holds the fixture.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::{run, LayerStatus, LiveRun, LiveVerdict};
use policyc_compiler::ir::{DenyAction, Policy};
use policyc_compiler::Request;
use policyc_targets::{stack, EmitContext, Verdict};
use policyc_testkit::live::cannot_run;
use policyc_testkit::policies::seeded;
use policyc_testkit::stdlib::try_compile;
use policyc_verify::probe::{self, Probe};
use policyc_verify::rng::Rng;
use policyc_verify::{adversary, campaign, emit_layers, Layer};
use std::collections::{BTreeMap, BTreeSet};

/// The sample's seed and size; `POLICYC_SAMPLED_SEED` and `POLICYC_SAMPLED_POLICIES`
/// override them for a wider run.
const SEED: u64 = 0x7e57_5a3d_11fe_2026;
/// Policies that build and run.
const POLICIES: usize = 20;
/// Requests per policy: file-system and connect requests, then syscalls.
const FS_NET: usize = 36;
const SYSCALLS: usize = 12;
/// The home the simulators' artifacts are emitted for.
const SIM_HOME: &str = "/home/policyc-live";
/// The layers compared.
const LAYERS: [&str; 2] = ["landlock", "seccomp"];

/// Compile a generated source; its errors are the generator's fault.
fn compile_source(name: &str, text: &str) -> Policy {
    let (_, policies) = try_compile(name, text).unwrap_or_else(|e| panic!("{name}:\n{text}\n{e}"));
    policies.into_iter().next().unwrap()
}

/// Requests aimed at a policy, drawn in order from campaigns with seed `seed` and without
/// repeats: file-system and connect requests, a third from the adversary's full pools and
/// the rest from pools whose paths are only the spellings around the policy's own mounts
/// and denies (the full pools are mostly well-known secrets and kernel files, which a
/// policy rarely grants), then syscalls. Absolute paths under either home are left out (see
/// the module's documentation).
fn requests(policy: &Policy, seed: u64) -> Vec<Request> {
    let pools = adversary::pools(policy, None);
    let mut focused = pools.clone();
    focused.paths.retain(|p| aimed_at(policy, p));
    let mut seen = BTreeSet::new();
    let mut out = draw(&pools, seed, FS_NET / 3, SYSCALLS, &mut seen);
    out.extend(draw(&focused, seed, FS_NET - FS_NET / 3, 0, &mut seen));
    out.sort_by_key(|r| matches!(r, Request::Syscall { .. }));
    out
}

/// True when a pool path starts with one of the policy's own mount or deny paths.
fn aimed_at(policy: &Policy, path: &str) -> bool {
    let guests = policy.fs.mounts.iter().map(|m| m.guest.as_str());
    let denies = policy.fs.denies.iter().map(|d| d.path.as_str());
    guests
        .chain(denies)
        .any(|base| base != "/" && path.starts_with(base))
}

/// Up to `fs_net` file-system and connect requests and `sys` syscalls from one campaign.
fn draw(
    pools: &adversary::Pools,
    seed: u64,
    fs_net: usize,
    sys: usize,
    seen: &mut BTreeSet<Request>,
) -> Vec<Request> {
    let (mut files, mut calls) = (Vec::new(), Vec::new());
    for i in 0..20_000 {
        if files.len() == fs_net && calls.len() == sys {
            break;
        }
        let Probe::Request(r) = campaign::case(pools, seed, i) else {
            continue;
        };
        let (slot, cap) = match &r {
            Request::Fs { path, .. } if under_a_home(path.as_str()) => continue,
            Request::Fs { .. } | Request::Connect { .. } => (&mut files, fs_net),
            Request::Syscall { .. } => (&mut calls, sys),
            Request::Resolve { .. } | Request::Meta { .. } => continue,
        };
        if slot.len() < cap && seen.insert(r.clone()) {
            slot.push(r);
        }
    }
    files.extend(calls);
    files
}

fn under_a_home(path: &str) -> bool {
    let tmp = std::env::temp_dir();
    let fixtures = format!(
        "{}/policyc-live-",
        tmp.to_string_lossy().trim_end_matches('/')
    );
    path == SIM_HOME || path.starts_with(&format!("{SIM_HOME}/")) || path.starts_with(&fixtures)
}

/// What the test counted.
#[derive(Debug, Default)]
struct Tally {
    generated: usize,
    built: usize,
    /// Skipped policies by the codes of the diagnostics that stopped a layer.
    skipped: BTreeMap<String, usize>,
    requests: usize,
    /// Per layer: live `Allow` or `Deny` compared with the simulator.
    compared: BTreeMap<&'static str, usize>,
    /// Per layer: live `NotMediated` checked against the simulator.
    not_mediated: BTreeMap<&'static str, usize>,
    unverifiable: BTreeMap<&'static str, usize>,
    /// Per layer, per live verdict: how many.
    verdicts: BTreeMap<(&'static str, &'static str), usize>,
    disagreements: Vec<String>,
}

/// Check one layer's live run against its simulator and the reference semantics.
fn check_layer(
    policy: &Policy,
    src: &str,
    run: &LiveRun,
    layer: &Layer,
    reqs: &[Request],
    t: &mut Tally,
) {
    let name = layer.name();
    for (i, r) in reqs.iter().enumerate() {
        let p = Probe::Request(r.clone());
        let sim = layer.verdict(&p).unwrap();
        let reference = probe::reference(policy, &p);
        let (live, evidence) = (&run.verdicts[i], &run.evidence[i]);
        let label = match live {
            LiveVerdict::Observed(Verdict::Allow) => "allow",
            LiveVerdict::Observed(Verdict::Deny) => "deny",
            LiveVerdict::Observed(Verdict::NotMediated) => "not mediated",
            LiveVerdict::Unverifiable(_) => "unverifiable",
        };
        *t.verdicts.entry((name, label)).or_default() += 1;
        if std::env::var("SAMPLED_DEBUG").is_ok() {
            eprintln!(
                "{name} {r} live {live:?} sim {sim:?} ref {}",
                reference.allow
            );
        }
        let mut wrong = Vec::new();
        match live {
            LiveVerdict::Observed(Verdict::Allow | Verdict::Deny) => {
                *t.compared.entry(name).or_default() += 1;
                let want = if *live == Verdict::Allow {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                if sim != want {
                    wrong.push(format!("the simulator says {sim:?}"));
                }
                if *live == Verdict::Allow && !reference.allow {
                    wrong.push(format!("the reference denies it ({})", reference.reason));
                }
                if let Some(why) = wrong_action(r, live, evidence, reference.action) {
                    wrong.push(why);
                }
            }
            LiveVerdict::Observed(Verdict::NotMediated) => {
                *t.not_mediated.entry(name).or_default() += 1;
                if sim == Verdict::Deny {
                    wrong.push("the simulator says Deny".to_string());
                }
            }
            LiveVerdict::Unverifiable(why) => {
                if std::env::var("SAMPLED_DEBUG").is_ok() {
                    eprintln!("UNV {name} {r}: {why}");
                }
                *t.unverifiable.entry(name).or_default() += 1
            }
        }
        if !wrong.is_empty() {
            t.disagreements.push(format!(
                "{} / {name}: `{r}` is {live:?} live ({evidence}); {}\n{src}",
                policy.name,
                wrong.join("; ")
            ));
        }
    }
}

/// A seccomp deny that does not return what the reference says.
fn wrong_action(
    r: &Request,
    live: &LiveVerdict,
    evidence: &str,
    action: Option<DenyAction>,
) -> Option<String> {
    if !matches!(r, Request::Syscall { .. }) || *live != Verdict::Deny {
        return None;
    }
    let want = match action? {
        DenyAction::Errno(e) => format!("errno {}", super::errno::name(e as i32)),
        DenyAction::Kill => "killed by SIGSYS".to_string(),
    };
    (evidence != want).then(|| format!("the reference returns `{want}`"))
}

/// A directory for scratch areas and tmpfs, when this process may mount a private tmpfs on
/// it (the Landlock layer does so only as root).
fn scratch_dir() -> Option<tempfile::TempDir> {
    if crate::sys::euid() != 0 {
        return None;
    }
    tempfile::Builder::new()
        .prefix("policyc-sampled-")
        .tempdir_in(std::env::temp_dir().canonicalize().ok()?)
        .ok()
}

/// `None` when a layer is unavailable and live runs are not required.
fn layer_ran(policy: &Policy, run: &LiveRun) -> Option<()> {
    match &run.status {
        LayerStatus::Ran => Some(()),
        LayerStatus::Unavailable(why) => {
            cannot_run(&format!(
                "the sampled live check on {}: {} is unavailable: {why}",
                policy.name, run.layer
            ));
            None
        }
        other => panic!("{}: {}: {other:?}", policy.name, run.layer),
    }
}

/// A number from the environment, or `default`.
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}=`{v}`: {e}"))
        }
        Err(_) => default,
    }
}

#[test]
fn sampled_policies_agree_with_the_kernel() {
    let started = std::time::Instant::now();
    let area = scratch_dir();
    let area_path = area
        .as_ref()
        .map(|d| d.path().to_string_lossy().into_owned());
    let ctx = EmitContext {
        home: Some(SIM_HOME.to_string()),
    };
    let seed = setting("POLICYC_SAMPLED_SEED", SEED);
    let policies = setting("POLICYC_SAMPLED_POLICIES", POLICIES as u64) as usize;
    let mut rng = Rng::new(seed);
    let mut t = Tally::default();
    while t.built < policies {
        assert!(
            t.generated < 3 * policies,
            "too many skipped policies: {t:?}"
        );
        let n = t.generated;
        t.generated += 1;
        let src = seeded::process_policy(&mut rng, n, area_path.as_deref()).source();
        let policy = compile_source(&format!("sampled_{n}.policy"), &src);
        let layers = emit_layers(&policy, &stack(policy.isolation), &ctx);
        let failed: Vec<String> = layers
            .iter()
            .filter_map(|l| l.emitted.as_ref().err())
            .flatten()
            .filter(|d| d.is_error())
            .map(|d| d.code.as_str().to_string())
            .collect();
        if !failed.is_empty() {
            for code in BTreeSet::<String>::from_iter(failed) {
                *t.skipped.entry(code).or_default() += 1;
            }
            continue;
        }
        t.built += 1;
        let reqs = requests(&policy, seed ^ n as u64);
        t.requests += reqs.len();
        let runs = run(&policy, &reqs);
        for name in LAYERS {
            let live = runs.iter().find(|r| r.layer == name).unwrap();
            if layer_ran(&policy, live).is_none() {
                return;
            }
            for note in &live.notes {
                eprintln!("{} / {name}: note: {note}", policy.name);
            }
            let layer = layers.iter().find(|l| l.name() == name).unwrap();
            check_layer(&policy, &src, live, layer, &reqs, &mut t);
        }
    }
    eprintln!(
        "sampled live check, seed {seed:#x}: {} policies generated, {} built and run, skipped by code {:?}; \
         {} requests; compared {:?}; not mediated {:?}; unverifiable {:?}; verdicts {:?}; \
         {:.1?}",
        t.generated,
        t.built,
        t.skipped,
        t.requests,
        t.compared,
        t.not_mediated,
        t.unverifiable,
        t.verdicts,
        started.elapsed()
    );
    assert!(
        t.disagreements.is_empty(),
        "{} disagreements:\n{}",
        t.disagreements.len(),
        t.disagreements.join("\n")
    );
    let compared = |name| t.compared.get(name).copied().unwrap_or(0);
    assert!(
        compared("landlock") >= 200,
        "too few Landlock comparisons: {t:?}"
    );
    assert!(
        compared("seccomp") >= 100,
        "too few seccomp comparisons: {t:?}"
    );
}
