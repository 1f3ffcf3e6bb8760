//! The review commands: `diff` over files, folders and git revisions, `explain`,
//! `build --check` and `fuzz --shard`.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use std::path::Path;
use std::process::Command;

const OLD: &str = r#"use std::secrets
use std::runtime::python

policy notes {
    isolation container
    threats exfiltration, tampering, persistence
    include runtime_guards
    fs {
        read "~/Notes" at "/notes"
        scratch "/out" size 16MiB
        deny secrets
        deny write persistence
    }
    net { egress none }
    syscalls { allow python }
    test "notes stay put" {
        allow read "/notes/a.md"
        deny write "/notes/a.md"
    }
}
"#;

/// `OLD` with the notes mount writable.
fn widened() -> String {
    OLD.replace(
        r#"read "~/Notes" at "/notes""#,
        r#"write "~/Notes" at "/notes""#,
    )
    .replace(
        r#"deny write "/notes/a.md""#,
        r#"allow write "/notes/a.md""#,
    )
}

/// `OLD` with its denies moved into a fragment and its blocks reordered.
fn refactored() -> String {
    OLD.replace(
        "policy notes {",
        "fragment guards {\n    fs {\n        deny write persistence\n        deny secrets\n    }\n}\n\npolicy notes {\n    include guards",
    )
    .replace("        deny secrets\n        deny write persistence\n", "")
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs (apt-get install git)");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

/// A repository with `policies/notes.policy` committed as `first`.
fn repo(name: &str, first: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/notes.policy"), first).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    dir
}

#[test]
fn diff_of_files_shows_the_widening_traced_to_its_lines_and_exits_1() {
    let dir = scratch("diff-files");
    std::fs::write(dir.join("old.policy"), OLD).unwrap();
    std::fs::write(dir.join("new.policy"), widened()).unwrap();
    let o = policyc(&["diff", "old.policy", "new.policy"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("widens     + write ~/Notes/**"), "{out}");
    assert!(
        out.contains("new: granted by the mount at `/notes` (new.policy:9)"),
        "{out}"
    );
    assert!(
        out.contains("old: the mount at `/notes` does not grant write (old.policy:9)"),
        "{out}"
    );
    let o = policyc(
        &["diff", "old.policy", "new.policy", "--fail-on", "none"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0));
    let o = policyc(&["diff", "new.policy", "old.policy"], &dir);
    assert_eq!(o.status.code(), Some(0), "narrowing only: {}", stdout(&o));
    assert!(stdout(&o).contains("narrows    - write ~/Notes/**"));
}

#[test]
fn diff_of_a_refactor_shows_no_change_in_effect() {
    let dir = scratch("diff-refactor");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("a/notes.policy"), OLD).unwrap();
    std::fs::write(dir.join("b/notes.policy"), refactored()).unwrap();
    let o = policyc(&["diff", "a", "b"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("policy notes (a/notes.policy -> b/notes.policy): no change in effect")
    );
    let o = policyc(&["diff", "a", "b", "--format", "markdown"], &dir);
    assert!(stdout(&o).contains("**No change in effect.**"));
}

#[test]
fn diff_formats_and_usage_errors() {
    let dir = scratch("diff-formats");
    std::fs::write(dir.join("old.policy"), OLD).unwrap();
    std::fs::write(dir.join("new.policy"), widened()).unwrap();
    let o = policyc(
        &["diff", "old.policy", "new.policy", "--format", "json"],
        &dir,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["policies"][0]["policy"], "notes");
    let o = policyc(
        &[
            "diff",
            "old.policy",
            "new.policy",
            "--format",
            "sarif",
            "-o",
            "d.sarif",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("d.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let o = policyc(
        &["diff", "old.policy", "new.policy", "--format", "markdown"],
        &dir,
    );
    assert!(stdout(&o).contains("<details>"));
    let o = policyc(&["diff", "old.policy"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert_stderr_has(&o, "give OLD and NEW");
    let o = policyc(&["diff", "old.policy", "missing.policy"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let o = policyc(&["diff", "--git", "HEAD"], &dir);
    assert_eq!(o.status.code(), Some(2), "not a repository");
}

#[test]
fn diff_against_a_git_revision_reads_the_old_side_with_git_show() {
    let dir = repo("diff-git", OLD);
    std::fs::write(dir.join("policies/notes.policy"), widened()).unwrap();
    let o = policyc(&["diff", "--git", "HEAD", "policies"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("(HEAD:policies/notes.policy -> policies/notes.policy)"),
        "{out}"
    );
    assert!(out.contains("+ write ~/Notes/**"), "{out}");
    std::fs::write(dir.join("policies/notes.policy"), refactored()).unwrap();
    let o = policyc(&["diff", "--git", "HEAD"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("no change in effect"));
    let o = policyc(&["diff", "--git", "no-such-rev"], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn explain_gives_the_deciding_rule_and_every_layer() {
    let dir = scratch("explain");
    std::fs::write(dir.join("notes.policy"), OLD).unwrap();
    let o = policyc(
        &["explain", "notes.policy", r#"read "~/.ssh/id_rsa""#],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("reference: deny"), "{out}");
    for layer in ["seccomp", "apparmor", "oci"] {
        assert!(out.contains(&format!("  {layer}")), "{layer}: {out}");
    }
    let o = policyc(&["explain", "notes.policy", "syscall clone3"], &dir);
    let out = stdout(&o);
    assert!(
        out.contains("std/runtime/base.policy:"),
        "the rule in its std module: {out}"
    );
    assert!(out.contains("in fragment runtime_guards"), "{out}");
    let o = policyc(
        &[
            "explain",
            "notes.policy",
            "syscall ioctl(1, 0x5412)",
            "--format",
            "json",
        ],
        &dir,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["reference"]["allow"], false);
    let seccomp = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["target"] == "seccomp")
        .unwrap();
    assert_eq!(seccomp["verdict"], "deny");
    assert_eq!(seccomp["outcome"], "pass");
    let o = policyc(&["explain", "notes.policy", "fly \"away\""], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn build_check_names_drifted_missing_and_extra_artifacts() {
    let dir = scratch("drift");
    std::fs::write(dir.join("notes.policy"), OLD).unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "notes.policy",
            "--out",
            "out",
            "--home",
            "/home/user",
        ];
        args.extend_from_slice(extra);
        policyc(&args, &dir)
    };
    assert_eq!(build(&[]).status.code(), Some(0));
    let o = build(&["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_stderr_has(&o, "are current");
    std::fs::write(dir.join("notes.policy"), widened()).unwrap();
    std::fs::write(dir.join("out/notes/stale.json"), "{}").unwrap();
    std::fs::remove_file(dir.join("out/notes/manifest.json")).unwrap();
    let before = std::fs::read(dir.join("out/notes/oci/config.json")).unwrap();
    let o = build(&["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("out/notes/oci/config.json` differs"), "{out}");
    assert!(out.contains("out/notes/manifest.json` is missing"), "{out}");
    assert!(
        out.contains("out/notes/stale.json` is not produced"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(dir.join("out/notes/oci/config.json")).unwrap(),
        before,
        "--check wrote"
    );
}

#[test]
fn fuzz_shards_together_run_the_whole_campaign() {
    let dir = scratch("shards");
    std::fs::write(dir.join("notes.policy"), OLD).unwrap();
    let run = |shard: &str| {
        let o = policyc(
            &["fuzz", "notes.policy", "--cases", "300", "--shard", shard],
            &dir,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        stdout(&o)
    };
    let whole = run("1/1");
    assert!(whole.contains("300 cases (shard 1/1 of 300)"), "{whole}");
    let counts: Vec<String> = ["1/3", "2/3", "3/3"].iter().map(|s| run(s)).collect();
    assert!(
        counts[0].contains("100 cases (shard 1/3 of 300)"),
        "{}",
        counts[0]
    );
    let o = policyc(&["fuzz", "notes.policy", "--shard", "4/3"], &dir);
    assert_eq!(o.status.code(), Some(2));
}
