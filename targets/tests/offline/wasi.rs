//! The WASI target against the reference semantics, over every stdlib policy and wasm
//! policies written here, with each policy's test cases, the adversarial path spellings of
//! [`policyc_testkit::spelling`] and hosts in every spelling (IP literals included).
//!
//! - Soundness, always: the simulator's `Allow` implies `decide`'s allow.
//! - Equality where WASI expresses the rule exactly: filesystem reads and writes (exec is
//!   always denied: WASI has none), connects and name resolution.
//! - The stdlib wasm policy's `wasi.json` (and its report) is an insta snapshot.
//!
//! The named tests `adv27_*`, `adv28_*` and `adv29_*` are ADVERSARIAL.md's WASI items at
//! the simulator level; `host/tests/wasm_live.rs` checks the same against wasmtime.

use crate::harness::{
    self, as_written, build_snapshotted, compile_one, requests, snapshot_build, tally,
};
use policyc_compiler::ast::Access;
use policyc_compiler::decide;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Request, SourceMap};
use policyc_targets::wasi::{parse, Perms, Wasi, FILE};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::spelling::{fs, ACCESSES};
use policyc_testkit::stdlib::{compile_text, ctx, policies, render};
use std::collections::BTreeSet;

/// A wasm policy with every preopen kind, a read-write host tree, denies that narrow,
/// denies beneath a read-only preopen that remove nothing it gives, and direct egress to an
/// IP literal.
const AGENT_POLICY: &str = r#"use std::secrets
policy wasm_agent {
    isolation wasm
    fs {
        read "~/Documents/Finance" at "/data"
        write "~/Projects/sheets" at "/work"
        exec "/opt/tools" at "/tools"
        read "~/.aws" at "/aws"
        scratch "/out" size 64MiB
        tmpfs "/tmp" size 16MiB
        deny secrets
        deny write persistence
        deny write "~/Documents/Finance/2023"
        deny exec "~/Projects/sheets/bin"
    }
    net {
        egress direct {
            allow "api.example.com":443
            allow "*.cdn.example.net":443
            allow "192.0.2.10":8080
            deny "evil.cdn.example.net":*
        }
        dns allow-listed-only
    }
    test "trees" {
        allow read "/data/2024/ledger.csv"
        deny write "/data/2024/ledger.csv"
        allow write "/work/book.xlsx"
        deny read "/aws/credentials"
        deny exec "/tools/run"
        allow connect "192.0.2.10":8080
        deny connect "evil.cdn.example.net":443
    }
}
"#;

/// Hosts in every spelling: the policy's own rule hosts and their neighbours, IP literals in
/// every `inet_aton` form, IPv6 and mapped forms.
fn adversarial_net(policy: &Policy) -> Vec<Request> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for r in &policy.net.rules {
        let h = r.host.to_string();
        let bare = h.trim_start_matches("*.").to_string();
        for s in [
            bare.clone(),
            bare.to_uppercase(),
            format!("{bare}."),
            format!("a.{bare}"),
            format!("a.b.{bare}"),
            format!("evil-{bare}"),
            format!("{bare}.evil.org"),
            format!("x{bare}"),
        ] {
            names.insert(s);
        }
    }
    let more = ["Example.COM.", "bücher.example", "[::1]", "93.184.216.34"];
    for s in policyc_testkit::spelling::HOSTS.iter().chain(&more) {
        names.insert(s.to_string());
    }
    let mut out = Vec::new();
    for n in &names {
        let Ok(host) = Host::parse(n) else { continue };
        out.push(Request::Resolve { host: host.clone() });
        for port in [443, 80, 8080, 53] {
            out.push(Request::Connect {
                host: host.clone(),
                port,
            });
        }
    }
    out
}

/// What WASI expresses exactly: every request but exec, syscalls and the metadata changes
/// WASI has no call for.
fn exact(r: &Request) -> bool {
    match r {
        Request::Fs { access, .. } => *access != Access::Exec,
        Request::Connect { .. } | Request::Resolve { .. } => true,
        Request::Syscall { .. } | Request::Meta { .. } => false,
    }
}

/// Check soundness and equality where WASI is exact; returns the count.
fn check(policy: &Policy, e: &Emitted, equal: &dyn Fn(&Request) -> bool) -> usize {
    let mut reqs = requests(policy);
    reqs.extend(adversarial_net(policy));
    let preopens = e.artifacts.contains_key(FILE);
    harness::check(
        Wasi.name(),
        policy,
        &reqs,
        as_written,
        |_, r| Wasi.simulate(&e.artifacts, r),
        |case| {
            if equal(case.request) {
                case.assert_equal();
            }
            let exec = matches!(
                case.request,
                Request::Fs {
                    access: Access::Exec,
                    ..
                }
            );
            if preopens && exec {
                assert_eq!(
                    case.sim,
                    Verdict::Deny,
                    "{}: WASI has no exec",
                    case.request
                );
            }
        },
    )
}

fn stdlib_wasm() -> (SourceMap, Policy) {
    let text = policyc_stdlib::policy_source("spreadsheet_generator.policy").unwrap();
    let (sources, p) = compile_one("spreadsheet_generator.policy", text);
    assert_eq!(p.isolation, Isolation::Wasm);
    (sources, p)
}

fn agent() -> (SourceMap, Policy) {
    compile_one("wasm_agent.policy", AGENT_POLICY)
}

#[test]
fn stdlib_policies_are_sound() {
    let mut checked = 0;
    for (sources, policy) in &policies() {
        let e = Wasi
            .emit(policy, &ctx())
            .unwrap_or_else(|d| panic!("{}", render(sources, &d)));
        if policy.isolation == Isolation::Wasm {
            snapshot_build(Wasi.name(), &policy.name, sources, &Ok(e.clone()), false);
            checked += check(policy, &e, &exact);
        } else {
            assert!(e.artifacts.is_empty(), "{}", policy.name);
            checked += check(policy, &e, &|_| false);
        }
    }
    tally("wasi stdlib", checked, 500);
}

#[test]
fn the_stdlib_wasm_policy_tests_pass_under_wasi() {
    let (_, policy) = stdlib_wasm();
    let e = Wasi.emit(&policy, &ctx()).unwrap();
    let mut cases = 0;
    for t in &policy.tests {
        for c in &t.cases {
            let sim = Wasi.simulate(&e.artifacts, &c.request);
            let want = if c.expect_allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(sim, want, "{}: {}", t.name, c.request);
            cases += 1;
        }
    }
    assert!(cases >= 50, "{cases}");
}

#[test]
fn a_wasm_agent_policy_is_sound_and_exact() {
    let (policy, e) = build_snapshotted(&Wasi, "wasm_agent", AGENT_POLICY, false);
    tally("wasi wasm_agent", check(&policy, &e, &exact), 500);
    let m = parse(&e.artifacts[FILE]).unwrap();
    let guests: Vec<(&str, Perms)> = m
        .preopens
        .iter()
        .map(|p| (p.guest.as_str(), p.perms))
        .collect();
    assert_eq!(
        guests,
        [
            ("/data", Perms::ReadOnly),
            ("/out", Perms::ReadWrite),
            ("/tmp", Perms::ReadWrite),
            ("/tools", Perms::ReadOnly),
            ("/work", Perms::ReadWrite),
        ],
        "`~/.aws` is left out (secrets covers it)"
    );
}

/// ADVERSARIAL 27 (simulator): `..`, absolute paths outside every preopen and sibling
/// prefixes reach nothing; a host object outside every preopen's directory is unreachable
/// whatever path names it.
#[test]
fn adv27_dotdot_cannot_escape_preopen() {
    for (_, policy) in [stdlib_wasm(), agent()] {
        let e = Wasi.emit(&policy, &ctx()).unwrap();
        for raw in [
            "/data/../../etc/passwd",
            "/data/../home/user/.ssh/id_ed25519",
            "/data/./../work/../../root",
            "/out/../../../../proc/self/mem",
            "/data2/ledger.csv",
            "/dat",
            "/data-evil/x",
            "/etc/passwd",
            "/home/user/Documents/Finance/2024/ledger.csv",
            "~/Documents/Finance/../Personal/diary.txt",
            "~/.ssh/id_ed25519",
            "~/Documents/Finance2/x",
        ] {
            for a in ACCESSES {
                let r = fs(a, raw).unwrap();
                assert_eq!(
                    Wasi.simulate(&e.artifacts, &r),
                    Verdict::Deny,
                    "{}: {r}",
                    policy.name
                );
                assert!(!decide(&policy, &r).allow, "{}: {r}", policy.name);
            }
        }
    }
}

/// ADVERSARIAL 28 (simulator): every write through a read-only preopen is denied, and no
/// host format that cannot say read-only (Extism's `ro:`, `wasmtime run --dir`) is emitted.
#[test]
fn adv28_read_only_preopen_refuses_every_write_flag() {
    for (_, policy) in [stdlib_wasm(), agent()] {
        let e = Wasi.emit(&policy, &ctx()).unwrap();
        let m = parse(&e.artifacts[FILE]).unwrap();
        let ro: Vec<_> = m
            .preopens
            .iter()
            .filter(|p| p.perms == Perms::ReadOnly)
            .collect();
        assert!(!ro.is_empty());
        for p in ro {
            for rest in ["", "x", "a/b.txt", "../x", "./x/../y"] {
                let raw = format!("{}/{rest}", p.guest);
                let Some(r) = fs(Access::Write, &raw) else {
                    continue;
                };
                let Request::Fs { path, .. } = &r else {
                    unreachable!()
                };
                if path.starts_with(&p.guest) {
                    assert_eq!(Wasi.simulate(&e.artifacts, &r), Verdict::Deny, "{r}");
                }
            }
        }
        assert!(!e.artifacts.contains_key(policyc_targets::wasi::EXTISM_FILE));
        assert!(!e
            .artifacts
            .contains_key(policyc_targets::wasi::WASMTIME_FILE));
        for (name, bytes) in &e.artifacts {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("ro:"), "{name}");
            assert!(!text.contains("--dir"), "{name}");
        }
    }
}

/// ADVERSARIAL 29 (simulator): no connection and no name resolution without an allow rule;
/// with one, only what it names, in every spelling, and never what a deny names.
#[test]
fn adv29_no_network_unless_granted() {
    let (_, none) = compile_text(
        "offline.policy",
        r#"policy offline {
    isolation wasm
    fs { scratch "/out" size 1MiB }
}"#,
    );
    let offline = &none[0];
    let e = Wasi.emit(offline, &ctx()).unwrap();
    let m = parse(&e.artifacts[FILE]).unwrap();
    assert!(!m.network.egress && m.network.rules.is_empty());
    let (_, stdlib) = stdlib_wasm();
    for r in adversarial_net(&stdlib) {
        assert_eq!(Wasi.simulate(&e.artifacts, &r), Verdict::Deny, "{r}");
    }
    let e = Wasi.emit(&stdlib, &ctx()).unwrap();
    let allowed: Vec<String> = adversarial_net(&stdlib)
        .into_iter()
        .filter(|r| Wasi.simulate(&e.artifacts, r) == Verdict::Allow)
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        allowed,
        [
            "resolve \"formulas.example.com\"",
            "connect \"formulas.example.com\":443",
        ]
        .repeat(3),
        "the bare name, upper case and trailing-dot spellings, nothing else"
    );
}
