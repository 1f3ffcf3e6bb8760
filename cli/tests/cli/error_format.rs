//! `--error-format json`: whatever fails, every line policyc writes to stderr is one JSON
//! object with `code`, `severity` and `message`, and a problem with a file names it in
//! `file`.

use super::{policyc, scratch, stderr};
use std::path::Path;

const GOOD: &str = "policy good {\n    isolation process\n\n    fs {\n        read \"/usr\"\n    }\n\n    syscalls {\n        allow read\n    }\n}\n";
const BAD: &str = "policy bad {\n    isolation procss\n}\n";
const UNFORMATTED: &str =
    "policy   good { isolation process\n fs { read \"/usr\" } syscalls { allow read } }\n";

/// Every stderr line of `args` (run in `dir`, which fails) is a JSON object with a code,
/// a severity and a message; with `file`, some line names that file and every I/O line
/// names one.
#[track_caller]
fn only_json(dir: &Path, args: &[&str], file: Option<&str>) {
    let mut all = vec!["--error-format", "json"];
    all.extend_from_slice(args);
    let o = policyc(&all, dir);
    assert_ne!(o.status.code(), Some(0), "{args:?} should fail");
    let err = stderr(&o);
    assert!(!err.trim().is_empty(), "{args:?}: nothing on stderr");
    let mut files = Vec::new();
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {line}\nstderr:\n{err}"));
        for key in ["code", "severity", "message"] {
            assert!(v[key].is_string(), "{args:?}: no `{key}` in {line}");
        }
        if v["code"] == "io" {
            assert!(
                v["file"].is_string(),
                "{args:?}: an I/O error without `file`: {line}"
            );
        }
        if let Some(f) = v["file"].as_str() {
            files.push(f.to_string());
        }
    }
    if let Some(f) = file {
        assert!(
            files.iter().any(|x| x.contains(f)),
            "{args:?}: no line names `{f}`:\n{err}"
        );
    }
}

#[test]
fn argument_errors_are_json_and_help_stays_text() {
    let dir = scratch("error-format-json-args");
    let o = policyc(
        &["check", "--error-format=json", "--bogus", "x.policy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    assert_eq!(v["code"], "usage");
    assert!(v["message"].as_str().unwrap().contains("--bogus"), "{v}");
    let help = policyc(&["--error-format", "json", "check", "--help"], &dir);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"));
}

#[test]
fn every_command_prints_only_json_lines_on_stderr() {
    let dir = scratch("error-format-json");
    for (name, text) in [
        ("good.policy", GOOD),
        ("bad.policy", BAD),
        ("ugly.policy", UNFORMATTED),
        ("broken.policy", "policy {\n"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("afile"), "").unwrap();
    std::fs::write(dir.join("log.jsonl"), "not an audit record\n").unwrap();
    std::fs::write(dir.join("notutf8.policy"), b"policy p {\xff}\n").unwrap();
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["check", "bad.policy"], Some("bad.policy")),
        (&["check", "missing.policy"], Some("missing.policy")),
        (&["check", "notutf8.policy"], Some("notutf8.policy")),
        (&["build", "bad.policy", "--out", "out"], Some("bad.policy")),
        (
            &["build", "good.policy", "--target", "nope", "--out", "out"],
            None,
        ),
        (&["build", "good.policy", "--out", "afile"], None),
        (&["test", "bad.policy"], Some("bad.policy")),
        (&["test", "missing.policy"], Some("missing.policy")),
        (
            &["test", "good.policy", "--junit", "no/such/dir/j.xml"],
            Some("j.xml"),
        ),
        (&["fmt", "--check", "ugly.policy"], None),
        (&["fmt", "broken.policy"], Some("broken.policy")),
        (&["fuzz", "--cases", "10", "bad.policy"], Some("bad.policy")),
        (
            &["fuzz", "--cases", "10", "missing.policy"],
            Some("missing.policy"),
        ),
        (&["diff", "good.policy", "bad.policy"], Some("bad.policy")),
        (
            &["explain", "bad.policy", "read \"/usr/x\""],
            Some("bad.policy"),
        ),
        (&["explain", "good.policy", "frobnicate"], None),
        (
            &["exec", "bad.policy", "--", "/bin/true"],
            Some("bad.policy"),
        ),
        (
            &["exec", "missing.policy", "--", "/bin/true"],
            Some("missing.policy"),
        ),
        (&["audit", "verify", "log.jsonl"], Some("log.jsonl")),
        (&["audit", "verify", "missing.jsonl"], Some("missing.jsonl")),
        (&["token", "inspect", "not-a-capability"], None),
        (&["import", "seccomp", "missing.json"], Some("missing.json")),
        (&["check", "--bogus", "good.policy"], None),
        (&["frobnicate"], None),
        (&["build", "good.policy"], None),
    ];
    for (args, file) in cases {
        only_json(&dir, args, *file);
    }
}
