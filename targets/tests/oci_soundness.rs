//! The OCI target against the reference semantics, over every stdlib policy and a container
//! policy written here (nested mounts, masks, a whole-mount deny, exec and write mounts),
//! with each policy's test cases and a generated set of adversarial requests (every mount's
//! guest and host path, children, sibling prefixes, `..` forms, `~` host objects, every deny
//! path and what lies beneath it, the runtime's own file systems).
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Equality for filesystem requests that resolve into a policy mount, and for every `~`
//!   host object: simulator == `decide`.
//! - Outside the policy's mounts the simulator never allows (the image and the runtime's
//!   file systems are not mediated; the read-only root denies writes).
//! - Every stdlib policy's `oci/config.json` and build report is an insta snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::ast::Access;
use policyc_compiler::diag::render_human;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, decide, Diagnostic, ModuleLoader, Request, SourceMap};
use policyc_targets::oci::{Oci, FILE};
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
    let errors: String = out
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| render_human(d, &sources))
        .collect();
    assert!(errors.is_empty(), "{name} does not compile:\n{errors}");
    (sources, out.policies)
}

fn ctx() -> EmitContext {
    EmitContext {
        home: Some(HOME.to_string()),
    }
}

/// A container policy exercising nested mounts, masks and narrowing.
const MIXED_POLICY: &str = r#"use std::secrets
use std::runtime::static
policy mixed {
    isolation container
    fs {
        read "~/Documents" at "/mnt/docs"
        read "~/Documents/shared" at "/mnt/docs/shared"
        tmpfs "/mnt/docs/cache" size 1MiB
        exec "~/tools" at "/opt/tools"
        write "~/out" at "/mnt/out"
        read "~/archive" at "/mnt/archive"
        scratch "/scratch" size 16MiB
        tmpfs "/tmp" size 8MiB
        deny secrets
        deny write persistence
        deny "~/Documents/private"
        deny "~/Documents/shared/secret"
        deny exec "~/tools/dangerous"
        deny write "~/Documents/notes"
        deny read "~/archive"
        deny write "~/tools"
    }
    net { egress none }
    include runtime_guards
    syscalls {
        allow static_binary
        deny unshare, setns, mount errno EPERM
        default errno EPERM
    }
    limits { memory 64MiB; pids 32; cpus 0.5; files 128 }
    test "mixed" {
        allow read "/mnt/docs/a.txt"
        deny read "/mnt/docs/private/key"
        deny read "~/Documents/private/key"
        allow read "~/Documents/shared/x"
        deny read "/mnt/docs/shared/secret"
        allow exec "/opt/tools/bin/tool"
        deny exec "/opt/tools/dangerous"
        allow read "/opt/tools/dangerous"
        allow write "/mnt/out/r.csv"
        deny exec "/mnt/out/r.sh"
        deny read "/mnt/archive/a"
        allow write "/mnt/docs/cache/x"
        deny connect "example.com":443
        deny resolve "example.com"
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
}

/// Adversarial requests for a policy.
fn adversarial(policy: &Policy) -> Vec<Request> {
    let mut paths = BTreeSet::new();
    for m in &policy.fs.mounts {
        around(m.guest.as_str(), &mut paths);
        if let MountKind::Bind { host, .. } = &m.kind {
            around(host.as_str(), &mut paths);
            // The host object's home spelling as an absolute guest path (it is not one).
            if let Some(rest) = host.as_str().strip_prefix('~') {
                paths.insert(format!("{HOME}{rest}/x"));
            }
        }
    }
    for d in &policy.fs.denies {
        around(d.path.as_str(), &mut paths);
        paths.insert(format!("{}/sub/file", d.path));
        // The deny seen through every bind mount whose source holds it.
        for m in &policy.fs.mounts {
            if let Some(rest) = m.host().and_then(|h| d.path.strip_prefix(h)) {
                around(m.guest.join(rest).as_str(), &mut paths);
            }
        }
    }
    for extra in [
        "/",
        "/etc/passwd",
        "/bin/sh",
        "~",
        "~/.ssh/id_ed25519",
        "~/.bashrc",
        "~/Documents",
        "/tmp/x",
        "/proc/self/mem",
        "/proc/self/fd/3",
        "/proc/1/root/etc/shadow",
        "/proc/kcore",
        "/proc/sys/kernel/core_pattern",
        "/proc/sysrq-trigger",
        "/sys/kernel/x",
        "/sys/firmware/efi",
        "/dev/null",
        "/dev/sda",
        "/dev/shm/x",
        "/dev/mqueue/q",
        "/dev/pts/0",
        "/var/run/docker.sock",
        "/run/user/1000/bus",
    ] {
        paths.insert(extra.to_string());
    }
    let mut out = Vec::new();
    for p in &paths {
        for a in [Access::Read, Access::Write, Access::Exec] {
            out.extend(fs(a, p));
        }
    }
    for h in [
        "example.com",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "0.0.0.0",
        "10.0.0.1",
        "169.254.169.254",
        "imap.mail.example.com",
    ] {
        let host = Host::parse(h).unwrap();
        out.push(Request::Connect {
            host: host.clone(),
            port: 443,
        });
        out.push(Request::Resolve { host });
    }
    for name in ["unshare", "mount", "read", "ptrace"] {
        out.push(Request::Syscall {
            name: name.to_string(),
            args: [0; 6],
        });
    }
    out
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

/// True when `decide` resolves the guest path of an fs request into a policy mount.
fn in_policy_mount(policy: &Policy, r: &Request) -> bool {
    match r {
        Request::Fs { path, .. } if path.is_home() => true,
        Request::Fs { path, .. } => resolve_mount(policy, path).is_some(),
        _ => false,
    }
}

/// The guest path an fs request reaches (a `~` object through the policy's binds).
fn guest_paths(policy: &Policy, path: &CanonPath) -> Vec<CanonPath> {
    if !path.is_home() {
        return vec![path.clone()];
    }
    policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| {
            let rest = path.strip_prefix(m.host()?)?;
            Some(m.guest.join(rest))
        })
        .collect()
}

/// Check soundness and equality over every request; returns the count. Beneath `narrowed`
/// (guest paths the report says a mask narrows) the simulator may deny what `decide` allows.
fn check(policy: &Policy, e: &Emitted, narrowed: &[&str]) -> usize {
    let reqs = requests(policy);
    let mut equal = 0;
    for r in &reqs {
        let sim = Oci.simulate(&e.artifacts, r);
        let reference = decide(policy, r);
        if sim == Verdict::Allow {
            assert!(
                reference.allow,
                "{}: oci allows `{r}` but decide denies it ({})",
                policy.name, reference.reason
            );
        }
        let is_narrowed = |r: &Request| match r {
            Request::Fs { path, .. } => guest_paths(policy, path).iter().any(|g| {
                narrowed
                    .iter()
                    .any(|n| g.starts_with(&CanonPath::parse(n).unwrap()))
            }),
            _ => false,
        };
        if is_narrowed(r) {
            assert_ne!(sim, Verdict::NotMediated, "{}: `{r}`", policy.name);
        } else if in_policy_mount(policy, r) {
            let want = if reference.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(
                sim, want,
                "{}: `{r}`: oci says {sim:?}, decide says {} ({})",
                policy.name, reference.allow, reference.reason
            );
            equal += 1;
        } else if matches!(r, Request::Fs { .. }) {
            assert_ne!(
                sim,
                Verdict::Allow,
                "{}: `{r}` is outside every mount",
                policy.name
            );
        }
    }
    assert!(
        equal > 50,
        "{}: only {equal} requests compared exactly",
        policy.name
    );
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
            s.push_str("=== stats\n");
            for (file, stats) in &e.stats {
                for (k, v) in stats {
                    s.push_str(&format!("{file}: {k} = {v}\n"));
                }
            }
            s
        }
        Err(d) => format!("=== errors\n{}", render(sources, d)),
    }
}

#[test]
fn stdlib_policies_are_sound() {
    let mut checked = 0;
    let mut bundles = 0;
    for (name, text) in policyc_stdlib::policies() {
        let (sources, policies) = compile_text(name, text);
        for policy in &policies {
            let result = Oci.emit(policy, &ctx());
            insta::assert_snapshot!(
                format!("oci_{}", policy.name),
                snapshot_text(&sources, &result)
            );
            let e = result.unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
            if policy.isolation != Isolation::Container {
                assert!(e.artifacts.is_empty(), "{}: no bundle", policy.name);
                continue;
            }
            bundles += 1;
            checked += check(policy, &e, &[]);
            // Every deny test of the policy that the bundle mediates, it denies.
            for c in policy.tests.iter().flat_map(|t| &t.cases) {
                let sim = Oci.simulate(&e.artifacts, &c.request);
                if c.expect_allow {
                    assert_ne!(sim, Verdict::Deny, "{}: `{}`", policy.name, c.request);
                }
            }
        }
    }
    eprintln!("stdlib: {bundles} bundles, {checked} requests checked");
    assert_eq!(bundles, 2);
    assert!(checked > 500, "only {checked} requests checked");
}

#[test]
fn a_mixed_policy_is_sound_and_exact_on_its_mounts() {
    let (sources, policies) = compile_text("mixed.policy", MIXED_POLICY);
    let policy = &policies[0];
    let result = Oci.emit(policy, &ctx());
    insta::assert_snapshot!("oci_mixed", snapshot_text(&sources, &result));
    let e = result.unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
    let n = check(policy, &e, &["/opt/tools/dangerous"]);
    eprintln!("mixed: {n} requests checked");
    for c in policy.tests.iter().flat_map(|t| &t.cases) {
        let sim = Oci.simulate(&e.artifacts, &c.request);
        let want = if c.expect_allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        // `allow read "/opt/tools/dangerous"` is narrowed by the mask (reported).
        if c.request.to_string() == "read \"/opt/tools/dangerous\"" {
            assert_eq!(sim, Verdict::Deny);
            continue;
        }
        assert_eq!(sim, want, "{}", c.request);
    }
    let json = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    for masked in [
        "\"/mnt/docs/private\"",
        "\"/mnt/docs/shared/secret\"",
        "\"/opt/tools/dangerous\"",
    ] {
        assert!(json.contains(masked), "{masked} is masked:\n{json}");
    }
    assert!(
        !json.contains("/mnt/docs/notes"),
        "a write deny beneath a read-only mount needs no mask"
    );
}

#[test]
fn emitting_twice_gives_identical_bytes() {
    for (name, text) in policyc_stdlib::policies() {
        let (_, policies) = compile_text(name, text);
        for p in &policies {
            let a = Oci.emit(p, &ctx()).unwrap().artifacts;
            let b = Oci.emit(p, &ctx()).unwrap().artifacts;
            assert_eq!(a, b, "{}", p.name);
        }
    }
}

#[test]
fn a_file_that_does_not_parse_denies_and_a_missing_one_is_not_mediated() {
    let r = fs(Access::Read, "/mnt/docs/a").unwrap();
    let mut a = policyc_targets::Artifacts::new();
    assert_eq!(Oci.simulate(&a, &r), Verdict::NotMediated);
    a.insert(FILE.to_string(), b"{ not json".to_vec());
    assert_eq!(Oci.simulate(&a, &r), Verdict::Deny);
}
