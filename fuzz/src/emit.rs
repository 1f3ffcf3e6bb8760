//! The `emit_simulate` target: a policy model (mended to compile, see
//! [`crate::sanitize`]) and requests near its rules. Every target of the policy's stack
//! emits; each simulator reads its own artifacts back and answers every request.
//!
//! Proves soundness: a simulator's `Allow` implies `decide`'s allow, for every target that
//! emitted. Also: emit diagnostics (errors and report) have spans inside the sources.
//! Does not prove completeness (a target may deny more than the policy), and says nothing
//! about the kernel or runtime that loads the artifacts: the simulators stand in for them.
//!
//! `decide` keeps `~` symbolic under process isolation while the targets resolve it to the
//! home directory, so there an absolute request inside `/home/user` goes to `decide` in its
//! `~` form, as the target soundness tests do. That is exact unless the policy also mounts
//! the home directory (or an ancestor, or a path inside it) by its absolute name: then one
//! object has two names that `decide` does not identify (the book's security chapter says
//! so), and requests for the home's objects are skipped for that policy.

use crate::requests::{adversarial, materialize, RequestModel, HOME};
use crate::sources::{check_diagnostic, compile_text};
use crate::Summary;
use arbitrary::Arbitrary;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{decide, Request, SourceMap};
use policyc_targets::{registry, EmitContext, Verdict};
use policyc_testkit::policies::PolicyModel;

/// Most fuzzer-chosen requests per policy.
const MAX_REQUESTS: usize = 48;
/// Generated requests per policy (see [`adversarial`]).
const ADVERSARIAL: usize = 96;

/// One input of `emit_simulate`.
#[derive(Debug, Clone, Arbitrary)]
pub struct EmitCase {
    pub policy: PolicyModel,
    pub requests: Vec<RequestModel>,
}

pub fn check_emit_simulate(case: &EmitCase) -> Result<Summary, String> {
    let text = case.policy.sanitized().source();
    let (sources, out) = compile_text(&text);
    if out.diagnostics.has_errors() {
        return Ok(Summary::default());
    }
    let mut total = Summary {
        parsed: 1,
        ..Summary::default()
    };
    for policy in &out.policies {
        let mut reqs: Vec<Request> = case
            .requests
            .iter()
            .take(MAX_REQUESTS)
            .filter_map(|r| materialize(policy, r))
            .collect();
        reqs.extend(adversarial(policy, ADVERSARIAL));
        let s = check_soundness(policy, &sources, &reqs)
            .map_err(|e| format!("{e}\n--- policy\n{text}"))?;
        total += s;
    }
    Ok(total)
}

/// Emit every target of `policy`'s stack and check each simulator against `decide` on
/// `reqs` (the policy's own test requests are added).
pub fn check_soundness(
    policy: &Policy,
    sources: &SourceMap,
    reqs: &[Request],
) -> Result<Summary, String> {
    let ctx = EmitContext {
        home: Some(HOME.to_string()),
    };
    let own = policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter().map(|c| &c.request));
    let reqs: Vec<&Request> = reqs.iter().chain(own).collect();
    let aliased = home_aliased(policy);
    let mut s = Summary {
        policies: 1,
        ..Summary::default()
    };
    for target in registry().iter().filter(|t| t.in_stack_for(policy)) {
        let emitted = match target.emit(policy, &ctx) {
            Ok(e) => e,
            Err(diags) => {
                for d in &diags {
                    check_diagnostic(d, sources)
                        .map_err(|e| format!("target `{}`: {e}", target.name()))?;
                }
                continue;
            }
        };
        for d in &emitted.report {
            check_diagnostic(d, sources)
                .map_err(|e| format!("target `{}` report: {e}", target.name()))?;
        }
        s.emitted += 1;
        let fast = FastSimulator::new(target.name(), &emitted.artifacts);
        for (i, r) in reqs.iter().enumerate() {
            if aliased && names_home(r) {
                continue;
            }
            s.compared += 1;
            let verdict = match &fast {
                Some(f) => {
                    let v = f.decide(r);
                    if i % CROSS_CHECK == 0 && v != target.simulate(&emitted.artifacts, r) {
                        return Err(format!(
                            "target `{}`: the parsed artifact and `simulate` disagree on `{r}`",
                            target.name()
                        ));
                    }
                    v
                }
                None => target.simulate(&emitted.artifacts, r),
            };
            if verdict != Verdict::Allow {
                continue;
            }
            let reference = decide(policy, &for_decide(policy, r));
            if !reference.allow {
                return Err(format!(
                    "target `{}` allows `{r}` but decide denies it ({})\n--- artifacts\n{}",
                    target.name(),
                    reference.reason,
                    artifacts_text(&emitted.artifacts)
                ));
            }
            s.allowed += 1;
        }
    }
    Ok(s)
}

/// How often a fast simulator is checked against the target's own `simulate`.
const CROSS_CHECK: usize = 16;

/// A simulator that reads the artifact once rather than on every request. AppArmor's
/// `simulate` parses the whole profile for each request, which dominates a run; its parsed
/// form answers the same way (checked on every [`CROSS_CHECK`]-th request).
enum FastSimulator {
    AppArmor(policyc_targets::apparmor::Profile),
}

impl FastSimulator {
    fn new(target: &str, artifacts: &policyc_targets::Artifacts) -> Option<FastSimulator> {
        use policyc_targets::apparmor;
        match target {
            "apparmor" => {
                let text = std::str::from_utf8(artifacts.get(apparmor::FILE)?).ok()?;
                apparmor::parse(text).ok().map(FastSimulator::AppArmor)
            }
            _ => None,
        }
    }

    fn decide(&self, r: &Request) -> Verdict {
        match self {
            FastSimulator::AppArmor(p) => policyc_targets::apparmor::decide_parsed(p, r),
        }
    }
}

fn home() -> Option<CanonPath> {
    CanonPath::parse(HOME).ok()
}

/// True under process isolation when a mount names the home directory, an ancestor of it
/// or a path inside it by its absolute name.
fn home_aliased(policy: &Policy) -> bool {
    let Some(home) = home() else {
        return true;
    };
    policy.isolation == Isolation::Process
        && policy.fs.mounts.iter().any(|m| {
            !m.guest.is_home() && (home.starts_with(&m.guest) || m.guest.starts_with(&home))
        })
}

/// True for a filesystem request inside the home directory, in either spelling.
fn names_home(r: &Request) -> bool {
    match (r, home()) {
        (Request::Fs { path, .. }, Some(home)) => path.is_home() || path.starts_with(&home),
        _ => false,
    }
}

/// The request as `decide` sees it: under process isolation an absolute path inside the
/// home directory in its `~` form.
pub fn for_decide(policy: &Policy, r: &Request) -> Request {
    let (Request::Fs { access, path }, Some(home)) = (r, home()) else {
        return r.clone();
    };
    if policy.isolation != Isolation::Process {
        return r.clone();
    }
    let tilde = match path.strip_prefix(&home) {
        Some("") => CanonPath::parse("~").ok(),
        Some(rest) => CanonPath::parse(&format!("~/{rest}")).ok(),
        None => None,
    };
    Request::Fs {
        access: *access,
        path: tilde.unwrap_or_else(|| path.clone()),
    }
}

/// The artifacts as text, for a failure message: text files in full, binaries by size.
fn artifacts_text(a: &policyc_targets::Artifacts) -> String {
    let mut out = String::new();
    for (name, bytes) in a {
        match std::str::from_utf8(bytes) {
            Ok(t) if !name.ends_with(".bpf") => out.push_str(&format!("=== {name}\n{t}\n")),
            _ => out.push_str(&format!("=== {name}: {} bytes\n", bytes.len())),
        }
    }
    out
}
