//! The Landlock target against the reference semantics, over every stdlib policy and a
//! process-isolation policy written here, with each policy's test cases and a generated set
//! of adversarial requests (every mount's guest and host path, children, sibling prefixes,
//! `..` forms, `~` host objects, every deny path and what lies beneath it).
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Completeness for filesystem requests under process isolation: simulator == `decide`.
//! - Every stdlib policy's `landlock.json` (or its build errors) is an insta snapshot.
//!
//! `decide` keeps `~` symbolic while the ruleset names the resolved home, so a request for an
//! absolute path inside the home directory is given to `decide` in its `~` form (the kernel
//! sees one object either way); the policies here write home paths with `~`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::ast::Access;
use policyc_compiler::diag::render_human;
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, decide, Code, Diagnostic, ModuleLoader, Request, SourceMap};
use policyc_targets::landlock::{Landlock, FILE};
use policyc_targets::{EmitContext, Emitted, Target, Verdict};
use std::collections::BTreeSet;

const HOME: &str = "/home/user";

/// Serves `use std::...` from the standard library.
#[derive(Debug)]
struct Stdlib;

impl ModuleLoader for Stdlib {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        policyc_stdlib::module_source(&parts).map(|(f, t)| (f.to_string(), t.to_string()))
    }
}

fn compile_text(name: &str, text: &str) -> (SourceMap, Vec<Policy>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &Stdlib);
    assert!(!out.diagnostics.has_errors(), "{name} does not compile");
    (sources, out.policies)
}

fn ctx() -> EmitContext {
    EmitContext {
        home: Some(HOME.to_string()),
    }
}

/// A process-isolation policy exercising nesting, narrowing and denies of ungranted rights.
const PROCESS_POLICY: &str = r#"use std::secrets
policy local_agent {
    isolation process
    fs {
        read "~/Documents"
        write "~/Documents/out"
        read "~/.aws/config"
        exec "/usr"
        scratch "/var/tmp/agent" size 64MiB
        deny secrets
        deny write persistence
        deny write "~/Documents/taxes"
        deny write "/usr/local"
    }
    net {
        egress direct {
            allow "api.example.com":443
        }
    }
    test "documents" {
        allow read "~/Documents/a.txt"
        deny write "~/Documents/a.txt"
        allow write "~/Documents/out/r.csv"
        deny write "~/Documents/taxes/2024.pdf"
        deny read "~/.aws/config"
        deny read "~/.ssh/id_ed25519"
        allow exec "/usr/bin/python3"
        deny exec "/var/tmp/agent/x"
        deny connect "api.example.com":80
        allow connect "api.example.com":443
    }
}
"#;

fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

/// The spellings worth trying around one path.
fn around(p: &str, out: &mut BTreeSet<String>) {
    let base = p.trim_end_matches('/');
    for s in [
        base.to_string(),
        format!("{base}/x"),
        format!("{base}/a/b.txt"),
        format!("{base}2"),
        format!("{base}-evil/x"),
        format!("{base}/.."),
        format!("{base}/../x"),
        format!("{base}/x/../../y"),
        format!("{base}/../../../etc/passwd"),
        format!("{base}//./x/"),
    ] {
        out.insert(s);
    }
    if let Some((parent, _)) = base.rsplit_once('/') {
        out.insert(if parent.is_empty() {
            "/".to_string()
        } else {
            parent.to_string()
        });
    }
    if base.len() > 2 {
        out.insert(base[..base.len() - 1].to_string());
    }
}

/// Adversarial filesystem requests for a policy.
fn adversarial(policy: &Policy) -> Vec<Request> {
    let mut paths = BTreeSet::new();
    for m in &policy.fs.mounts {
        around(m.guest.as_str(), &mut paths);
        if let MountKind::Bind { host, .. } = &m.kind {
            around(host.as_str(), &mut paths);
        }
    }
    for d in &policy.fs.denies {
        around(d.path.as_str(), &mut paths);
        paths.insert(format!("{}/sub/file", d.path));
    }
    for extra in [
        "/",
        "/etc/passwd",
        "~",
        "~/.ssh/id_ed25519",
        "~/.bashrc",
        "~/Documents",
        "/tmp/x",
        "/home/user/.ssh/id_rsa",
        "/home/user/Documents/a.txt",
        "/proc/self/mem",
    ] {
        paths.insert(extra.to_string());
    }
    let mut out = Vec::new();
    for p in &paths {
        for a in [Access::Read, Access::Write, Access::Exec] {
            out.extend(fs(a, p));
        }
    }
    out
}

/// The request as `decide` should see it: absolute paths inside the home in `~` form.
fn for_decide(policy: &Policy, r: &Request) -> Request {
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

fn requests(policy: &Policy) -> Vec<Request> {
    let mut all: Vec<Request> = policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter().map(|c| c.request.clone()))
        .collect();
    all.extend(adversarial(policy));
    all
}

/// Check soundness (and completeness where asked) over every request; returns the count.
fn check(policy: &Policy, e: &Emitted, complete: bool) -> usize {
    let reqs = requests(policy);
    for r in &reqs {
        let sim = Landlock.simulate(&e.artifacts, r);
        let reference = decide(policy, &for_decide(policy, r));
        if sim == Verdict::Allow {
            assert!(
                reference.allow,
                "{}: landlock allows `{r}` but decide denies it ({})",
                policy.name, reference.reason
            );
        }
        if complete && matches!(r, Request::Fs { .. }) {
            let want = if reference.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(
                sim, want,
                "{}: `{r}`: landlock says {sim:?}, decide says {} ({})",
                policy.name, reference.allow, reference.reason
            );
        }
    }
    reqs.len()
}

fn render(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| render_human(d, sources)).collect()
}

fn snapshot_text(sources: &SourceMap, result: &Result<Emitted, Vec<Diagnostic>>) -> String {
    match result {
        Ok(e) => {
            let mut s = String::new();
            for (name, bytes) in &e.artifacts {
                s.push_str(&format!("=== {name}\n{}", String::from_utf8_lossy(bytes)));
            }
            s.push_str("=== report\n");
            s.push_str(&render(sources, &e.report));
            s
        }
        Err(d) => format!("=== errors\n{}", render(sources, d)),
    }
}

/// The policy without the denies that lie strictly inside a grant's guest tree (what makes
/// the stdlib container policies unexpressible in Landlock), to test the rest of them.
fn without_nested_guest_denies(policy: &Policy) -> Policy {
    let mut p = policy.clone();
    p.fs.denies.retain(|d| {
        !p.fs
            .mounts
            .iter()
            .any(|m| d.path != m.guest && d.path.starts_with(&m.guest))
    });
    p
}

#[test]
fn stdlib_policies_are_sound() {
    let mut checked = 0;
    for (name, text) in policyc_stdlib::policies() {
        let (sources, policies) = compile_text(name, text);
        for policy in &policies {
            let result = Landlock.emit(policy, &ctx());
            insta::assert_snapshot!(
                format!("landlock_{}", policy.name),
                snapshot_text(&sources, &result)
            );
            match (&result, policy.isolation) {
                (Ok(e), Isolation::Wasm) => {
                    assert!(e.artifacts.is_empty());
                    checked += check(policy, e, false);
                }
                (Ok(e), _) => checked += check(policy, e, policy.isolation == Isolation::Process),
                (Err(d), Isolation::Container) => {
                    // Landlock cannot express a deny inside a tmpfs grant: refused, named.
                    assert!(
                        d.iter().all(|d| d.code == Code::LandlockNestedDeny),
                        "{}",
                        render(&sources, d)
                    );
                    let variant = without_nested_guest_denies(policy);
                    let e = Landlock
                        .emit(&variant, &ctx())
                        .unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
                    insta::assert_snapshot!(
                        format!("landlock_{}_without_nested_denies", policy.name),
                        snapshot_text(&sources, &Ok(e.clone()))
                    );
                    checked += check(&variant, &e, false);
                }
                (Err(d), _) => panic!("{}", render(&sources, d)),
            }
        }
    }
    eprintln!("stdlib: {checked} requests checked");
    assert!(checked > 500, "only {checked} requests checked");
}

#[test]
fn a_process_policy_is_sound_and_complete() {
    let (sources, policies) = compile_text("local_agent.policy", PROCESS_POLICY);
    let policy = &policies[0];
    let result = Landlock.emit(policy, &ctx());
    insta::assert_snapshot!("landlock_local_agent", snapshot_text(&sources, &result));
    let e = result.unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
    let n = check(policy, &e, true);
    eprintln!("local_agent: {n} requests checked");
    assert!(n > 300, "only {n} requests");
    for t in &policy.tests {
        for c in &t.cases {
            let sim = Landlock.simulate(&e.artifacts, &c.request);
            if !c.expect_allow && matches!(c.request, Request::Fs { .. } | Request::Connect { .. })
            {
                assert_eq!(sim, Verdict::Deny, "{}", c.request);
            }
        }
    }
    let json = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(
        !json.contains(".aws"),
        "a grant inside a deny is left out:\n{json}"
    );
}
