//! The harness every target's soundness suite shares: the requests aimed at a policy, the
//! loop that checks a simulator against the reference semantics (`decide`) over them, the
//! tallies, and snapshots under the names the suites have always given them.

use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{decide, Decision, Diagnostic, Request, SourceMap};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::spelling;
use policyc_testkit::stdlib::{compile_text, ctx, render, HOME};

/// Where every suite's snapshots live.
const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");

/// Assert `text` against the snapshot file `snapshots/{name}.snap` (the file name every
/// suite gave its snapshots when each was a test binary of its own).
pub fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(SNAPSHOTS);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Snapshot a build of `target` as `{target}_soundness__{target}_{name}`, with the
/// statistics when `stats` (see [`snapshot_text`]).
pub fn snapshot_build(
    target: &str,
    name: &str,
    sources: &SourceMap,
    result: &Result<Emitted, Vec<Diagnostic>>,
    stats: bool,
) {
    snapshot(
        &format!("{target}_soundness__{target}_{name}"),
        &snapshot_text(sources, result, stats),
    );
}

/// Emit `policy` with `target` (`~` is [`HOME`]), snapshot the build under `name` (see
/// [`snapshot_build`]), and return what was emitted, panicking with the rendered errors.
pub fn emit_snapshotted(
    target: &dyn Target,
    name: &str,
    sources: &SourceMap,
    policy: &Policy,
    stats: bool,
) -> Emitted {
    let result = target.emit(policy, &ctx());
    snapshot_build(target.name(), name, sources, &result, stats);
    result.unwrap_or_else(|d| panic!("{}", render(sources, &d)))
}

/// The one policy of `text`, compiled as the file `file`.
pub fn compile_one(file: &str, text: &str) -> (SourceMap, Policy) {
    let (sources, policies) = compile_text(file, text);
    (sources, policies.into_iter().next().unwrap())
}

/// Compile the one policy of `text` as `{name}.policy`, emit it with `target` and snapshot
/// the build under `name` (see [`emit_snapshotted`]).
pub fn build_snapshotted(
    target: &dyn Target,
    name: &str,
    text: &str,
    stats: bool,
) -> (Policy, Emitted) {
    let (sources, policy) = compile_one(&format!("{name}.policy"), text);
    let e = emit_snapshotted(target, name, &sources, &policy, stats);
    (policy, e)
}

/// What a suite snapshots of a build: every artifact and the report (with the statistics
/// when `stats`), or the errors.
pub fn snapshot_text(
    sources: &SourceMap,
    result: &Result<Emitted, Vec<Diagnostic>>,
    stats: bool,
) -> String {
    let e = match result {
        Ok(e) => e,
        Err(d) => return format!("=== errors\n{}", render(sources, d)),
    };
    let mut s = String::new();
    for (name, bytes) in &e.artifacts {
        s.push_str(&format!("=== {name}\n{}", String::from_utf8_lossy(bytes)));
    }
    s.push_str("=== report\n");
    s.push_str(&render(sources, &e.report));
    if stats {
        s.push_str("=== stats\n");
        for (file, stats) in &e.stats {
            for (k, v) in stats {
                s.push_str(&format!("{file}: {k} = {v}\n"));
            }
        }
    }
    s
}

/// The policy's own test cases, then a request for every path spelling aimed at it with
/// every access ([`spelling::fs_requests`]).
pub fn requests(policy: &Policy) -> Vec<Request> {
    let mut all: Vec<Request> = policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter().map(|c| c.request.clone()))
        .collect();
    all.extend(spelling::fs_requests(policy));
    all
}

/// How `decide` is asked about a request.
pub type ToDecide = fn(&Policy, &Request) -> Request;

/// The request as written: the target and `decide` name the same objects.
pub fn as_written(_: &Policy, r: &Request) -> Request {
    r.clone()
}

/// The request as `decide` should see it when `~` is the resolved home in the artifacts:
/// under process isolation, absolute paths inside [`HOME`] in `~` form (the kernel sees one
/// object either way).
pub fn home_symbolic(policy: &Policy, r: &Request) -> Request {
    let home = CanonPath::parse(HOME).unwrap();
    match r {
        Request::Fs { access, path } if policy.isolation == Isolation::Process => {
            let path = match path.strip_prefix(&home) {
                Some("") => CanonPath::parse("~").unwrap(),
                Some(rest) => CanonPath::parse(&format!("~/{rest}")).unwrap(),
                None => path.clone(),
            };
            Request::Fs {
                access: *access,
                path,
            }
        }
        other => other.clone(),
    }
}

/// One request, what the target's simulator says and what `decide` says.
pub struct Case<'a> {
    pub target: &'a str,
    pub policy: &'a Policy,
    pub request: &'a Request,
    pub sim: Verdict,
    pub reference: Decision,
}

impl Case<'_> {
    /// The verdict `decide` gives, as a simulator would say it.
    pub fn want(&self) -> Verdict {
        if self.reference.allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }

    /// Soundness: the simulator allows only what `decide` allows.
    pub fn assert_sound(&self) {
        if self.sim == Verdict::Allow {
            assert!(
                self.reference.allow,
                "{}: {} allows `{}` but decide denies it ({})",
                self.policy.name, self.target, self.request, self.reference.reason
            );
        }
    }

    /// Equality: the simulator says exactly what `decide` says.
    pub fn assert_equal(&self) {
        assert_eq!(
            self.sim,
            self.want(),
            "{}: `{}`: {} says {:?}, decide says {} ({})",
            self.policy.name,
            self.request,
            self.target,
            self.sim,
            self.reference.allow,
            self.reference.reason
        );
    }
}

/// Check every request: `sim` gives the target's verdict (with the request's index), `decide`
/// the reference's on `to_decide`'s form of it; soundness always, then the target's own
/// expectations in `more`. Returns how many requests were checked.
pub fn check(
    target: &str,
    policy: &Policy,
    reqs: &[Request],
    to_decide: ToDecide,
    mut sim: impl FnMut(usize, &Request) -> Verdict,
    mut more: impl FnMut(&Case),
) -> usize {
    for (i, request) in reqs.iter().enumerate() {
        let case = Case {
            target,
            policy,
            request,
            sim: sim(i, request),
            reference: decide(policy, &to_decide(policy, request)),
        };
        case.assert_sound();
        more(&case);
    }
    reqs.len()
}

/// Print a tally of checked requests and require more than `min`.
pub fn tally(label: &str, checked: usize, min: usize) {
    eprintln!("{label}: {checked} requests checked");
    assert!(checked > min, "{label}: only {checked} requests checked");
}
