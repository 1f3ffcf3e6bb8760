//! Live: `apparmor_parser -Q -K -M <the pinned features>` (through
//! `policyc_host::apparmor`) compiles every profile policyc emits (stdlib, a process
//! policy, hostile paths and homes, nesting and network variants), with a clean stderr, and
//! reads every path exactly as the simulator does (checked with `-D rule-exprs`, which
//! prints each rule's path after unquoting and variable expansion).
//!
//! AppArmor need not be in the running kernel: `-Q` skips loading, `-K` the cache, and `-M`
//! pins the features so the result does not depend on this machine. Skips (with a message)
//! when `apparmor_parser` is not installed, unless `POLICYC_REQUIRE_LIVE=1`, when it fails.

// The policies and hostile spellings the AppArmor tests of policyc-targets share.
#[path = "../../../targets/tests/apparmor_common/mod.rs"]
mod apparmor_common;

use apparmor_common::{hostile_container, hostile_process, HOSTILE, PROCESS_POLICY};
use policyc_compiler::ir::Policy;
use policyc_compiler::SourceMap;
use policyc_host::apparmor::{parser, run_offline};
use policyc_targets::apparmor::{self, AppArmor, Pattern, Rule, Tok};
use policyc_targets::{EmitContext, Emitted, Target};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::{compile_text, ctx, render};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The parser, or `None` after saying why the test is skipped; panics when live runs are
/// required.
fn parser_or_skip() -> Option<PathBuf> {
    let found = parser();
    if found.is_none() {
        cannot_run("apparmor_parser is not installed (apt-get install apparmor)");
    }
    found
}

/// Compile a profile offline with the pinned features: the exit status's success and
/// stderr.
fn parser_check(parser: &Path, profile: &str) -> (bool, String) {
    let out = run_offline(parser, profile.as_bytes(), &[]).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Emit, panicking with the rendered errors.
fn emit(sources: &SourceMap, policy: &Policy) -> Emitted {
    AppArmor
        .emit(policy, &ctx())
        .unwrap_or_else(|d| panic!("{}: {}", policy.name, render(sources, &d)))
}

/// The emitted profile's text.
fn profile_text(e: &Emitted) -> String {
    String::from_utf8(e.artifacts[apparmor::FILE].clone()).unwrap()
}

/// Every profile the live tests compile: a name and the profile text.
fn profiles() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (sources, policy) in policyc_testkit::stdlib::policies() {
        let e = AppArmor
            .emit(&policy, &ctx())
            .unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
        if !e.artifacts.is_empty() {
            out.push((policy.name.clone(), profile_text(&e)));
        }
    }
    let mut texts = vec![
        ("local_agent".to_string(), PROCESS_POLICY.to_string()),
        (
            "nested".to_string(),
            "policy nested { isolation process\n fs { write \"/data\"; read \"/data/ro\"; write \"/data/ro/out\"; exec \"/data/bin\" } }".to_string(),
        ),
        (
            "root".to_string(),
            "policy root { isolation process\n fs { write \"/\" }\n net { egress direct { allow \"example.com\":443 }\n dns any } }".to_string(),
        ),
        (
            "dns_only".to_string(),
            "policy dns_only { isolation process\n net { egress direct { deny \"evil.example\":443 }\n dns any } }".to_string(),
        ),
    ];
    for (i, c) in HOSTILE.iter().enumerate() {
        texts.push((format!("hostile_container_{i}"), hostile_container(c)));
        texts.push((format!("hostile_process_{i}"), hostile_process(c)));
    }
    for (name, text) in texts {
        let (sources, policies) = compile_text(&format!("{name}.policy"), &text);
        out.push((name, profile_text(&emit(&sources, &policies[0]))));
    }
    for (i, home) in HOSTILE.iter().enumerate() {
        let (sources, policies) = compile_text(
            "home.policy",
            "policy home { isolation process\n fs { read \"~/Documents\"; deny \"~/.ssh\" } }",
        );
        let home = format!("/home/{home}");
        let Ok(canon) = policyc_compiler::paths::CanonPath::parse(&home) else {
            continue;
        };
        let e = AppArmor
            .emit(
                &policies[0],
                &EmitContext {
                    home: Some(canon.to_string()),
                },
            )
            .unwrap_or_else(|d| panic!("{}", render(&sources, &d)));
        out.push((format!("hostile_home_{i}"), profile_text(&e)));
    }
    out
}

#[test]
fn apparmor_parser_compiles_every_profile() {
    let Some(parser) = parser_or_skip() else {
        return;
    };
    let all = profiles();
    assert!(all.len() > 50, "only {} profiles", all.len());
    for (name, text) in &all {
        let (ok, stderr) = parser_check(&parser, text);
        assert!(
            ok,
            "{name}: apparmor_parser rejects the profile:\n{stderr}\n{text}"
        );
        assert!(
            stderr.trim().is_empty(),
            "{name}: apparmor_parser says:\n{stderr}\n{text}"
        );
    }
    eprintln!("{} profiles compiled", all.len());
}

/// The path text `apparmor_parser` should print for a rule (`-D rule-exprs`, after unquoting
/// and expanding `@{HOME}`): special bytes keep their backslash, the others are raw.
fn expected_aare(p: &Pattern, home: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let lit = |b: u8, out: &mut Vec<u8>| {
        if b"*?[]{}^,\\".contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    };
    if p.home {
        for b in home.unwrap().bytes() {
            lit(b, &mut out);
        }
    }
    for t in &p.toks {
        match t {
            Tok::Byte(b) => lit(*b, &mut out),
            Tok::Star => out.push(b'*'),
            Tok::StarStar => out.extend_from_slice(b"**"),
        }
    }
    out
}

/// The `aare:` texts the parser printed, for paths.
fn printed_aare(dump: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    for line in dump.split(|b| *b == b'\n') {
        let Some(rest) = line.strip_prefix(b"aare: ") else {
            continue;
        };
        let sep = b"   ->   ";
        let Some(i) = rest.windows(sep.len()).position(|w| w == sep) else {
            continue;
        };
        let text = &rest[..i];
        if text.first() == Some(&b'/') {
            out.insert(text.to_vec());
        }
    }
    out
}

#[test]
fn apparmor_parser_reads_every_path_as_the_simulator_does() {
    let Some(parser) = parser_or_skip() else {
        return;
    };
    for (name, text) in profiles() {
        let profile = apparmor::parse(&text).unwrap();
        let want: BTreeSet<Vec<u8>> = profile
            .rules
            .iter()
            .filter_map(|r| match r {
                Rule::File(f) => Some(expected_aare(&f.pattern, profile.home.as_deref())),
                _ => None,
            })
            .collect();
        let out = run_offline(&parser, text.as_bytes(), &["-D", "rule-exprs"]).unwrap();
        assert!(out.status.success(), "{name}");
        let mut dump = out.stdout.clone();
        dump.extend_from_slice(&out.stderr);
        let got = printed_aare(&dump);
        let show = |s: &BTreeSet<Vec<u8>>| {
            s.iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            show(&got),
            show(&want),
            "{name}: the parser reads the paths differently\n{text}"
        );
    }
}

#[test]
fn a_trailing_backslash_written_naively_would_swallow_the_next_rule() {
    // Why policyc writes `\` in octal: apparmor_parser's lexer lets `\"` continue a quoted
    // string, so `"/a\\"` followed by another rule runs on into it.
    let Some(parser) = parser_or_skip() else {
        return;
    };
    let naive = "profile policyc.p flags=(mediate_deleted) {\n  \"/a\\\\\" r,\n  \"/b\" r,\n}\n";
    let (ok, _) = parser_check(&parser, naive);
    assert!(
        !ok,
        "the lexer hazard is gone; the octal escape is still harmless"
    );
    let ours = "profile policyc.p flags=(mediate_deleted) {\n  \"/a\\134\" r,\n  \"/b\" r,\n}\n";
    let (ok, stderr) = parser_check(&parser, ours);
    assert!(ok, "{stderr}");
    assert!(apparmor::parse(ours).is_ok());
    assert!(apparmor::parse(naive).is_err());
}
