//! `policyc check` runs the checks `policyc build` runs for each target of a policy's stack,
//! so a clean check means a successful build: on every policy of the repository's corpora
//! and the stdlib, both succeed or both fail.

use super::{policyc, scratch, stderr};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.policy` file of the target corpora and the stdlib that defines a policy (the
/// `std` modules hold fragments only: `build` has nothing to build there).
fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("targets/tests"), repo().join("stdlib-policies")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("stdlib-policies/std") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "policy") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn check_succeeds_exactly_when_build_does_on_every_corpus_file() {
    let dir = scratch("check-build");
    let files = corpus();
    assert!(files.len() > 30, "only {} policy files", files.len());
    let (mut disagree, mut failing) = (Vec::new(), 0);
    for (i, f) in files.iter().enumerate() {
        let f = f.to_str().unwrap();
        let check = policyc(&["check", "--home", "/home/user", f], &dir);
        let out = dir.join(format!("out{i}"));
        let build = policyc(
            &[
                "build",
                "--home",
                "/home/user",
                f,
                "--out",
                out.to_str().unwrap(),
            ],
            &dir,
        );
        let (c, b) = (check.status.code(), build.status.code());
        if b != Some(0) {
            failing += 1;
        }
        if (c == Some(0)) != (b == Some(0)) {
            disagree.push(format!(
                "{f}: check exited {c:?}, build {b:?}\n{}",
                stderr(&build)
            ));
        }
    }
    // The corpora hold policies each target refuses: the agreement is tested both ways.
    assert!(failing > 10, "only {failing} corpus files fail to build");
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

#[test]
fn check_reports_what_a_target_cannot_express_as_one_error_per_rule() {
    let dir = scratch("check-landlock");
    std::fs::write(
        dir.join("etc.policy"),
        "use std::secrets\n\npolicy etc {\n    isolation process\n\n    fs {\n        read \"/etc\"\n        deny secrets\n    }\n}\n",
    )
    .unwrap();
    let out = policyc(&["check", "etc.policy"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("error[P0801]").count(), 1, "{err}");
    assert!(err.contains("paths of `deny secrets` lie beneath the grant `read \"/etc\"`"));
    assert!(err.contains("`/etc/gshadow`"), "{err}");
    assert!(err.contains("etc.policy:8:9"), "{err}");
    assert!(err.contains("1 policy, 1 error"), "{err}");
}

#[test]
fn check_reports_a_deny_inside_a_writable_container_mount() {
    let dir = scratch("check-oci");
    std::fs::write(
        dir.join("git.policy"),
        "policy git {\n    isolation container\n\n    fs {\n        write \"~/Projects/app\" at \"/work\"\n        deny write \"~/Projects/app/.git\"\n    }\n}\n",
    )
    .unwrap();
    let out = policyc(&["check", "--home", "/home/user", "git.policy"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("error[P1008]"), "{}", stderr(&out));
}

/// A policy whose tests expect a host and a name denied that only an egress rule denies.
const CALDAV: &str = "policy p {\n    isolation process\n\n    net {\n        egress via proxy {\n            allow \"caldav.example.com\":443\n        }\n        dns allow-listed-only\n    }\n\n    test \"only caldav\" {\n        deny resolve \"leak.attacker.example\"{STATED}\n        deny connect \"evil.example.com\":443{STATED}\n    }\n}\n";

/// The layers that pass a case, from `policyc test`'s human rows.
fn passing_layers(text: &str, case: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("PASS") && l.ends_with(case))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|layer| layer != "reference")
        .collect()
}

#[test]
fn test_passes_a_deny_only_when_a_layer_enforces_it_or_the_policy_states_the_limit() {
    let dir = scratch("unenforced");
    std::fs::write(dir.join("p.policy"), CALDAV.replace("{STATED}", "")).unwrap();
    let out = policyc(&["test", "p.policy"], &dir);
    let text = super::stdout(&out);
    for case in [
        "deny resolve \"leak.attacker.example\"",
        "deny connect \"evil.example.com\":443",
    ] {
        let enforced_by = passing_layers(&text, case);
        let unenforced = text.contains(&format!(
            "UNENFORCED stack         p > only caldav > {case}"
        ));
        assert!(
            enforced_by.is_empty() == unenforced,
            "{case}: enforced by {enforced_by:?}, UNENFORCED row: {unenforced}\n{text}"
        );
        if unenforced {
            assert_eq!(out.status.code(), Some(1), "{text}");
        }
    }

    let stated = CALDAV.replace("{STATED}", " unenforced \"the office proxy filters hosts\"");
    std::fs::write(dir.join("p.policy"), stated).unwrap();
    let out = policyc(&["test", "p.policy"], &dir);
    let text = super::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("UNENFORCED"), "{text}");
    let fmt = policyc(&["fmt", "--check", "p.policy"], &dir);
    assert_eq!(fmt.status.code(), Some(0), "{}", super::stdout(&fmt));
}
