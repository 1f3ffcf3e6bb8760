//! The GitHub Action, run locally: each step of `action.yml` is `ci/policyc-action.sh STEP`,
//! run here on a fixture repository whose pull request widens a stdlib policy (the diff
//! step exits 1, names the widening and its line, and writes SARIF that validates against
//! the SARIF 2.1.0 schema), and then refactors it (no change in effect).

use super::{scratch, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const STEPS: [&str; 5] = ["install", "check", "test", "drift", "diff"];

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs (apt-get install git)");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

fn policyc_in(dir: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "policyc {args:?}: {}", stderr(&o));
}

/// Run one step of the action in `dir` as the composite action does.
fn step(dir: &Path, name: &str, summary: &Path) -> Output {
    Command::new("bash")
        .arg(root().join("ci/policyc-action.sh"))
        .arg(name)
        .current_dir(dir)
        .env("POLICYC", env!("CARGO_BIN_EXE_policyc"))
        .env("POLICIES", "policies")
        .env("ARTIFACTS", "build")
        .env("HOME_DIR", "/home/user")
        .env("BASE", "HEAD~1")
        .env("FAIL_ON", "widen")
        .env("SARIF", "policyc-diff.sarif")
        .env("GITHUB_STEP_SUMMARY", summary)
        .output()
        .unwrap()
}

/// Commit the policy text and its rebuilt artifacts.
fn commit(dir: &Path, text: &str, message: &str) {
    std::fs::write(dir.join("policies/document_organizer.policy"), text).unwrap();
    policyc_in(
        dir,
        &[
            "build",
            "policies",
            "--out",
            "build",
            "--home",
            "/home/user",
        ],
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn fixture(name: &str) -> (PathBuf, String) {
    let dir = scratch(name);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let text = policyc_stdlib::policy_source("document_organizer.policy")
        .unwrap()
        .to_string();
    commit(&dir, &text, "the stdlib document organiser");
    (dir, text)
}

fn run_all(dir: &Path) -> Vec<(String, Output)> {
    let summary = dir.join("summary.md");
    STEPS
        .iter()
        .map(|s| (s.to_string(), step(dir, s, &summary)))
        .collect()
}

#[test]
fn action_yml_runs_exactly_the_script_steps() {
    let yml = std::fs::read_to_string(root().join("action.yml")).unwrap();
    for s in STEPS {
        assert!(
            yml.contains(&format!("ci/policyc-action.sh\" {s}\n")),
            "action.yml has no `{s}` step"
        );
    }
    assert!(yml.contains("github/codeql-action/upload-sarif"));
    let example =
        std::fs::read_to_string(root().join(".github/workflows/policyc-review.example.yml"))
            .unwrap();
    assert!(example.contains("--shard ${{ matrix.shard }}/8"));
    assert!(example.contains("fetch-depth: 0"));
}

#[test]
fn a_widening_pull_request_fails_with_the_change_traced_to_its_line() {
    let (dir, text) = fixture("action-widen");
    let widened = text.replace(
        r#"read "~/Documents" at "/mnt/docs""#,
        r#"write "~/Documents" at "/mnt/docs""#,
    );
    assert_ne!(widened, text);
    let widened = widened
        .replace(r#"deny write "/mnt/docs/taxes/2023/return.pdf""#, "")
        .replace(r#"deny write "/mnt/docs/new-file.txt""#, "")
        .replace(r#"deny write "~/Documents/taxes/2023/return.pdf""#, "")
        .replace(
            r#"deny write "/mnt/scratch/../docs/taxes/2023/return.pdf""#,
            "",
        );
    commit(&dir, &widened, "let the organiser write in place");
    let runs = run_all(&dir);
    for (name, o) in &runs[..4] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "step {name}: {}{}",
            stdout(o),
            stderr(o)
        );
    }
    let diff = &runs[4].1;
    assert_eq!(diff.status.code(), Some(1), "{}", stderr(diff));
    let out = stdout(diff);
    let line = widened
        .lines()
        .position(|l| l.contains(r#"write "~/Documents" at "/mnt/docs""#))
        .unwrap()
        + 1;
    assert!(out.contains("+ write ~/Documents/**"), "{out}");
    assert!(
        out.contains(&format!("(policies/document_organizer.policy:{line})")),
        "line {line}: {out}"
    );
    assert!(out.contains("risk (tampering)"), "{out}");
    // The committed artifacts at the base and now, by their simulators: the OCI bundle now
    // allows writes under the mount, as the policy does, and nothing drifts.
    assert!(
        out.contains("artifacts, by their simulators: HEAD~1:build -> build,"),
        "{out}"
    );
    assert!(out.contains("  oci: widens "), "{out}");
    let traced =
        format!("the policy changed too: allow (policies/document_organizer.policy:{line})");
    assert!(
        out.lines()
            .any(|l| l.starts_with("    + write ") && l.ends_with(&traced)),
        "{out}"
    );
    assert!(!out.contains("DRIFT"), "{out}");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("policyc-diff.sarif")).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("verify/tests/diff/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["level"] == "error"
        && r["locations"][0]["physicalLocation"]["region"]["startLine"] == line));
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("## policyc: change in effective permissions"),
        "{summary}"
    );
    assert!(summary.contains("| `document_organizer` |"), "{summary}");
}

#[test]
fn a_refactoring_pull_request_shows_no_change_in_effect() {
    let (dir, text) = fixture("action-refactor");
    let moved = text
        .replace(
            "policy document_organizer {",
            "/// What no organiser may touch.\nfragment organizer_guards {\n    fs {\n        deny write persistence\n        deny secrets\n    }\n}\n\npolicy document_organizer {\n    include organizer_guards",
        )
        .replace("        deny secrets\n        deny write persistence\n", "");
    assert_ne!(moved, text);
    commit(&dir, &moved, "move the guards into a fragment");
    let runs = run_all(&dir);
    for (name, o) in &runs {
        assert_eq!(
            o.status.code(),
            Some(0),
            "step {name}: {}{}",
            stdout(o),
            stderr(o)
        );
    }
    let out = stdout(&runs[4].1);
    assert!(
        out.contains("policy document_organizer (HEAD~1:policies/document_organizer.policy -> policies/document_organizer.policy): no change in effect"),
        "{out}"
    );
    // The rebuilt artifacts differ in their provenance comments only: no layer changes.
    assert!(
        out.contains("document_organizer: no change in effect ("),
        "{out}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("**No change in effect.**"), "{summary}");
    assert!(
        summary.contains("#### Artifacts, by their simulators"),
        "{summary}"
    );
}
