//! Shared by the verifier's property, fault-injection and adversarial tests: request
//! generators (in [`probes`]) and the property itself (every target's simulator against the
//! reference semantics), parameterised by the targets it checks so a faulty target can be
//! put in. The random policies are `policyc_testkit::policies`' well-formed strategy.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod probes;

pub use probes::extra_probe;

use policyc_compiler::ast::Access;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, Code, Request, SourceMap};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::policies::strategy::well_formed;
use policyc_testkit::policies::PolicyModel;
use policyc_testkit::stdlib::{ctx, try_compile, Loader, HOME};
use policyc_verify::probe::{self, Probe};
use policyc_verify::rng::Rng;
use policyc_verify::{adversary, emit_layers, Layer};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Compile one file; the first policy, or the rendered diagnostics.
pub fn compile_policy(text: &str) -> Result<Policy, String> {
    let (_, policies) = try_compile("generated.policy", text)?;
    policies
        .into_iter()
        .next()
        .ok_or_else(|| "no policy".to_string())
}

/// The error codes compiling `text` reports (empty when it compiles).
pub fn compile_errors(text: &str) -> Vec<Code> {
    let mut sources = SourceMap::new();
    let id = sources.add("generated.policy", text);
    let out = compile(&mut sources, id, &Loader);
    out.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect()
}

/// A filesystem request, when the path is one a program could open.
pub fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

/// The reference decision for `p`, asked as the verifier asks it.
pub fn reference_allows(policy: &Policy, p: &Probe) -> bool {
    probe::reference_at(policy, Some(HOME), p).allow
}

/// One property case: a policy, and the requests it is asked.
#[derive(Debug, Clone)]
pub struct Case {
    pub policy: PolicyModel,
    /// Seed for [`adversary::sample`] over the policy's pools.
    pub seed: u64,
    /// How many adversarial requests to draw from them.
    pub sampled: usize,
    /// Requests generated here (`None`: a spelling that does not parse).
    pub extra: Vec<Option<Probe>>,
}

/// The strategy for cases; `sampled` and `extra` bound how many requests each asks.
pub fn case(sampled: usize, extra: usize) -> impl Strategy<Value = Case> {
    (
        well_formed(),
        any::<u64>(),
        0..=sampled,
        proptest::collection::vec(extra_probe(), 0..=extra),
    )
        .prop_map(|(policy, seed, sampled, extra)| Case {
            policy,
            seed,
            sampled,
            extra,
        })
}

// -------------------------------------------------------------------------- the property

/// What one run of the property checked, per target.
#[derive(Debug, Default)]
pub struct Tally {
    pub compiled: usize,
    pub rejected: usize,
    /// Target name to (soundness checks, exactness checks).
    pub checks: BTreeMap<&'static str, (usize, usize)>,
    /// Target name to the number of policies it could not emit.
    pub not_built: BTreeMap<&'static str, usize>,
}

/// Where a target claims to express the policy exactly, mirroring each target's own
/// soundness tests in `targets/tests/offline/`; read once per emitted layer.
#[derive(Debug, Clone)]
enum Claim {
    /// Every syscall, named or raw.
    Seccomp,
    /// The file system under process isolation.
    Landlock,
    /// The file system when nothing is narrowed beyond hard links and file locks, except
    /// `~` paths when the profile has no `@{HOME}`.
    AppArmor {
        home: bool,
    },
    /// The file system inside the policy's mounts (and `~` host objects) when no mount or
    /// mask is narrowed.
    Oci,
    /// Reads, writes, connects and name resolution under wasm isolation, except beneath
    /// the preopens the report says denies narrowed (guest paths, and host paths for `~`
    /// requests): a WASI preopen cannot withhold reading, so a write-only grant is left out.
    Wasi {
        narrowed: Vec<CanonPath>,
    },
    /// Every connection and name resolution, under every isolation level (`egress none`
    /// included: the artifact then denies them all), except connections to addresses that
    /// are not public (refused, and reported).
    Egress,
    /// Connections to names (addresses are refused, and reported).
    Squid,
    /// Lookups of names (addresses are never looked up).
    Dnsmasq,
    Nothing,
}

fn claim(policy: &Policy, layer: &Layer) -> Claim {
    let Ok(emitted) = &layer.emitted else {
        return Claim::Nothing;
    };
    let iso = policy.isolation;
    match layer.name() {
        "seccomp" => Claim::Seccomp,
        "landlock" if iso == Isolation::Process => Claim::Landlock,
        "apparmor" if iso != Isolation::Wasm && !apparmor_narrowed(emitted) => {
            let home = emitted
                .artifacts
                .get(policyc_targets::apparmor::FILE)
                .and_then(|b| policyc_targets::apparmor::parse(std::str::from_utf8(b).ok()?).ok())
                .is_some_and(|p| p.home.is_some());
            Claim::AppArmor { home }
        }
        "oci"
            if iso == Isolation::Container
                && !emitted.report.iter().any(|d| d.code == Code::OciNarrowed) =>
        {
            Claim::Oci
        }
        "wasi" if iso == Isolation::Wasm => Claim::Wasi {
            narrowed: wasi_narrowed(policy, emitted),
        },
        "egress" => Claim::Egress,
        "squid" => Claim::Squid,
        "dnsmasq" => Claim::Dnsmasq,
        _ => Claim::Nothing,
    }
}

fn apparmor_narrowed(emitted: &Emitted) -> bool {
    emitted.report.iter().any(|d| {
        d.code == Code::AppArmorNarrowed
            && !d.message.contains("hard links")
            && !d.message.contains("file locks")
    })
}

/// The guest and host paths of the mounts a WASI report says denies narrowed.
fn wasi_narrowed(policy: &Policy, emitted: &Emitted) -> Vec<CanonPath> {
    let spans: Vec<_> = emitted
        .report
        .iter()
        .filter(|d| d.code == Code::WasiNarrowed && !d.message.contains("no way to execute"))
        .map(|d| d.span.key())
        .collect();
    policy
        .fs
        .mounts
        .iter()
        .filter(|m| spans.contains(&m.span.key()))
        .flat_map(|m| std::iter::once(m.guest.clone()).chain(m.host().cloned()))
        .collect()
}

/// True when the claim covers `p`.
fn covers(claim: &Claim, policy: &Policy, p: &Probe) -> bool {
    let Probe::Request(r) = p else {
        return matches!(claim, Claim::Seccomp);
    };
    match (claim, r) {
        (Claim::Seccomp, Request::Syscall { .. }) => true,
        (Claim::Landlock, Request::Fs { .. }) => true,
        (Claim::AppArmor { home }, Request::Fs { path, .. }) => *home || !path.is_home(),
        (Claim::Oci, Request::Fs { path, .. }) => {
            path.is_home() || resolve_mount(policy, path).is_some()
        }
        (Claim::Wasi { narrowed }, Request::Fs { access, path }) => {
            *access != Access::Exec && !narrowed.iter().any(|n| path.starts_with(n))
        }
        (Claim::Wasi { .. }, Request::Connect { .. } | Request::Resolve { .. }) => true,
        // A connection to an address that is not public is refused whatever the rules say
        // (a narrowing the build report declares, P1203).
        (Claim::Egress, Request::Connect { host, .. }) => host.non_public().is_none(),
        (Claim::Egress, Request::Resolve { .. }) => true,
        (Claim::Squid, Request::Connect { host, .. }) => matches!(host, Host::Domain(_)),
        (Claim::Dnsmasq, Request::Resolve { host }) => matches!(host, Host::Domain(_)),
        _ => false,
    }
}

/// Every probe of a case: drawn from the policy's adversarial pools, then generated.
pub fn probes(policy: &Policy, case: &Case) -> Vec<Probe> {
    let pools = adversary::pools(policy, Some(HOME));
    let mut rng = Rng::new(case.seed);
    let mut out: Vec<Probe> = (0..case.sampled)
        .map(|_| adversary::sample(&pools, &mut rng))
        .collect();
    out.extend(case.extra.iter().flatten().cloned());
    // Every host a connection is tried to is also looked up (resolvers are checked on as
    // many names as proxies are on hosts).
    let lookups: Vec<Probe> = out
        .iter()
        .filter_map(|p| match p {
            Probe::Request(Request::Connect { host, .. }) => {
                Some(Probe::Request(Request::Resolve { host: host.clone() }))
            }
            _ => None,
        })
        .collect();
    out.extend(lookups);
    out
}

/// The property: compile the case's policy, emit it for every target, and check each
/// simulator on every probe. Soundness everywhere (a simulator's `Allow` implies the
/// reference allows); equality with the reference where the target claims it.
pub fn check(
    case: &Case,
    targets: &[&'static dyn Target],
    tally: &Mutex<Tally>,
) -> Result<(), TestCaseError> {
    let source = case.policy.source();
    let policy = match compile_policy(&source) {
        Ok(p) => p,
        Err(_) => {
            tally.lock().unwrap().rejected += 1;
            return Err(TestCaseError::reject("the policy does not compile"));
        }
    };
    let layers = emit_layers(&policy, targets, &ctx());
    let probes = probes(&policy, case);
    let references: Vec<_> = probes
        .iter()
        .map(|p| probe::reference_at(&policy, Some(HOME), p))
        .collect();
    let mut local: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for layer in &layers {
        if layer.emitted.is_err() {
            *tally
                .lock()
                .unwrap()
                .not_built
                .entry(layer.name())
                .or_default() += 1;
            continue;
        }
        let claim = claim(&policy, layer);
        let counts = local.entry(layer.name()).or_default();
        for (p, reference) in probes.iter().zip(&references) {
            let Some(v) = layer.verdict(p) else { continue };
            if v != Verdict::NotMediated {
                counts.0 += 1;
            }
            if v == Verdict::Allow && !reference.allow {
                return Err(TestCaseError::fail(format!(
                    "{} allows `{p}` but the reference denies it ({})\n{source}",
                    layer.name(),
                    reference.reason
                )));
            }
            if covers(&claim, &policy, p) {
                counts.1 += 1;
                let want = if reference.allow {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                if v != want {
                    return Err(TestCaseError::fail(format!(
                        "{} says {v:?} on `{p}` where it is exact, the reference says {want:?} ({})\n{source}",
                        layer.name(),
                        reference.reason
                    )));
                }
            }
        }
    }
    let mut t = tally.lock().unwrap();
    t.compiled += 1;
    for (name, (s, e)) in local {
        let slot = t.checks.entry(name).or_default();
        slot.0 += s;
        slot.1 += e;
    }
    Ok(())
}
