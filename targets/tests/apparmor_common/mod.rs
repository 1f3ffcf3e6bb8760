//! Shared helpers for the AppArmor integration tests: compiling policies, adversarial
//! requests around every path a policy names, the reference check, and snapshots.
//! (`apparmor_parser` is run by policyc-host: `policyc_host::apparmor`.)

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::ast::Access;
use policyc_compiler::diag::render_human;
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, decide, Diagnostic, ModuleLoader, Request, SourceMap};
use policyc_targets::apparmor::AppArmor;
use policyc_targets::{EmitContext, Emitted, Target, Verdict};
use std::collections::BTreeSet;

/// A process-isolation policy: nesting, a grant inside a deny, denies inside grants.
pub const PROCESS_POLICY: &str = r#"use std::secrets
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
        dns allow-listed-only
    }
    test "documents" {
        allow read "~/Documents/a.txt"
        deny write "~/Documents/a.txt"
        allow write "~/Documents/out/r.csv"
        deny write "~/Documents/taxes/2024.pdf"
        deny read "~/.aws/config"
        deny read "~/.ssh/id_ed25519"
        allow exec "/usr/bin/python3"
        deny write "/usr/local/bin/x"
        deny exec "/var/tmp/agent/x"
        allow connect "api.example.com":443
    }
}
"#;

/// Path components that try to break out of a quoted profile string or change its meaning.
pub const HOSTILE: &[&str] = &[
    "quo\"te",
    "back\\slash",
    "trailing\\",
    "\\\"",
    "com,ma",
    "{alt,ernation}",
    "[class]",
    "^caret",
    "@{HOME}",
    "@{HOMEDIRS}x",
    "#include <abstractions/base>",
    "# comment",
    "x\" rwix,\\n  \"/",
    "x\" rwix, / rwix, \"",
    "sp ace",
    "tab-less\u{2028}line-separator",
    "ünïcødé 日本",
    "$var ${bool}",
    "star-less ( ) + | . $",
    "}",
    "{",
    ",",
];

/// A container policy mounting a hostile host path at a hostile guest path, with a deny
/// beneath it.
pub fn hostile_container(c: &str) -> String {
    let q = c.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "policy hostile {{ isolation container\n fs {{ read \"/host/{q}\" at \"/mnt/{q}\"\n deny \"/host/{q}/secret\" }} }}"
    )
}

/// A process policy granting a hostile home path, with a deny beneath it.
pub fn hostile_process(c: &str) -> String {
    let q = c.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "policy hostile {{ isolation process\n fs {{ write \"~/{q}\"\n deny \"~/{q}/secret\" }} }}"
    )
}

/// The home directory the tests build process policies with.
pub const HOME: &str = "/home/user";

/// Serves `use std::...` from the embedded stdlib.
#[derive(Debug)]
pub struct Stdlib;

impl ModuleLoader for Stdlib {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        policyc_stdlib::module_source(&parts).map(|(f, t)| (f.to_string(), t.to_string()))
    }
}

/// Compile one file's text; panics on errors.
pub fn compile_text(name: &str, text: &str) -> (SourceMap, Vec<Policy>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &Stdlib);
    assert!(
        !out.diagnostics.has_errors(),
        "{name} does not compile:\n{}",
        render(&sources, &out.diagnostics.0)
    );
    (sources, out.policies)
}

/// Every stdlib use-case policy, compiled.
pub fn stdlib() -> Vec<(SourceMap, Policy)> {
    let mut out = Vec::new();
    for (name, text) in policyc_stdlib::policies() {
        let (sources, policies) = compile_text(name, text);
        for p in policies {
            out.push((sources.clone(), p));
        }
    }
    out
}

pub fn ctx() -> EmitContext {
    EmitContext {
        home: Some(HOME.to_string()),
    }
}

pub fn render(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| render_human(d, sources)).collect()
}

/// Emit, panicking with the rendered errors.
pub fn emit(sources: &SourceMap, policy: &Policy) -> Emitted {
    AppArmor
        .emit(policy, &ctx())
        .unwrap_or_else(|d| panic!("{}: {}", policy.name, render(sources, &d)))
}

/// The emitted profile's text.
pub fn profile_text(e: &Emitted) -> String {
    String::from_utf8(e.artifacts[policyc_targets::apparmor::FILE].clone()).unwrap()
}

/// What a snapshot holds: the artifacts and the report, or the errors.
pub fn snapshot_text(sources: &SourceMap, result: &Result<Emitted, Vec<Diagnostic>>) -> String {
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

pub fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

/// The spellings worth trying around one path: itself, children, sibling prefixes,
/// `..` forms, its parent and a truncation.
pub fn around(p: &str, out: &mut BTreeSet<String>) {
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
    if base.chars().count() > 2 {
        let cut: String = base.chars().take(base.chars().count() - 1).collect();
        out.insert(cut);
    }
}

/// Adversarial filesystem requests for a policy: around every mount (guest and host), every
/// deny and beneath it, and a fixed list of sensitive paths.
pub fn adversarial(policy: &Policy) -> Vec<Request> {
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
        "/proc/self/attr/current",
        "/proc/1/attr/apparmor/exec",
        "/proc/kcore",
        "/proc/sysrq-trigger",
        "/sys/kernel/security/apparmor/policy/.load",
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

/// The request as `decide` should see it: under process isolation, absolute paths inside
/// the home in `~` form (the profile names one object either way).
pub fn for_decide(policy: &Policy, r: &Request) -> Request {
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

/// The policy's own test cases and the adversarial requests.
pub fn requests(policy: &Policy) -> Vec<Request> {
    let mut all: Vec<Request> = policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter().map(|c| c.request.clone()))
        .collect();
    all.extend(adversarial(policy));
    all
}

/// Soundness over `reqs` (simulated `Allow` implies `decide` allows), and equality for
/// filesystem requests the profile mediates when `exact`. Returns how many were checked.
///
/// The profile is read back from the emitted bytes once (`simulate` reads it for every
/// request, which is slow over thousands); every 64th request also goes through
/// `simulate` itself, which must agree.
pub fn check(policy: &Policy, e: &Emitted, reqs: &[Request], exact: bool) -> usize {
    let parsed = e
        .artifacts
        .get(policyc_targets::apparmor::FILE)
        .map(|b| policyc_targets::apparmor::parse(std::str::from_utf8(b).unwrap()).unwrap());
    for (i, r) in reqs.iter().enumerate() {
        let sim = match &parsed {
            Some(p) => policyc_targets::apparmor::decide_parsed(p, r),
            None => Verdict::NotMediated,
        };
        if i % 64 == 0 {
            assert_eq!(sim, AppArmor.simulate(&e.artifacts, r), "{r}");
        }
        let reference = decide(policy, &for_decide(policy, r));
        if sim == Verdict::Allow {
            assert!(
                reference.allow,
                "{}: apparmor allows `{r}` but decide denies it ({})",
                policy.name, reference.reason
            );
        }
        // A `~` path is a host object the mount table decides about (container), or needs
        // `@{HOME}`, which a profile defines only when the policy names a `~` path.
        let home_unresolved = matches!(r, Request::Fs { path, .. } if path.is_home())
            && parsed.as_ref().is_none_or(|p| p.home.is_none());
        if exact && matches!(r, Request::Fs { .. }) && !home_unresolved {
            let want = if reference.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(
                sim, want,
                "{}: `{r}`: apparmor says {sim:?}, decide says {} ({})",
                policy.name, reference.allow, reference.reason
            );
        }
        if home_unresolved {
            assert_eq!(sim, Verdict::NotMediated, "{}: `{r}`", policy.name);
        }
    }
    reqs.len()
}
