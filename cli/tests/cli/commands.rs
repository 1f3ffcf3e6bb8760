//! The subcommands, run as a user would: exit statuses, output formats, files.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use std::path::Path;

const GOOD: &str = r#"use std::runtime::base
use std::runtime::python

policy notes {
    isolation container
    threats exfiltration
    include runtime_guards
    fs {
        read "~/Notes" at "/notes"
        scratch "/out" size 16MiB
    }
    net {
        egress none
    }
    syscalls {
        allow python
    }
    test "reads notes, writes only scratch" {
        allow read "/notes/a.md"
        deny write "/notes/a.md"
        allow write "/out/summary.md"
        deny connect "example.com":443
    }
}
"#;

#[test]
fn check_passes_a_good_policy() {
    let dir = scratch("good");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    let o = policyc(&["check", "notes.policy"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_stderr_has(&o, "checked 1 file: 1 policy, 0 errors");
}

#[test]
fn check_reports_errors_with_location_and_exit_1() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("bad.policy"),
        "policy p {\n    isolation container\n    fs { read \"docs\" }\n}\n",
    )
    .unwrap();
    let o = policyc(&["check", "bad.policy"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "error[P0201]");
    assert_stderr_has(&o, "--> bad.policy:3:15");
    let o = policyc(&["--error-format", "json", "check", "bad.policy"], &dir);
    assert_eq!(o.status.code(), Some(1));
    let first = stderr(&o).lines().next().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["code"], "P0201");
    assert_eq!(v["line"], 3);
    assert_eq!(v["column"], 15);
    assert!(v["hint"].as_str().is_some());
}

#[test]
fn missing_files_and_bad_usage_exit_2() {
    let dir = scratch("missing");
    assert_eq!(
        policyc(&["check", "nope.policy"], &dir).status.code(),
        Some(2)
    );
    assert_eq!(policyc(&["check"], &dir).status.code(), Some(2));
    assert_eq!(policyc(&["frobnicate"], &dir).status.code(), Some(2));
    std::fs::write(dir.join("bin.policy"), [0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(
        policyc(&["check", "bin.policy"], &dir).status.code(),
        Some(2)
    );
}

#[test]
fn no_policy_file_or_no_policy_exits_2_with_a_message() {
    // An empty folder (a mistyped path in CI) is not "nothing wrong".
    let dir = scratch("empty-inputs");
    std::fs::create_dir_all(dir.join("none")).unwrap();
    for cmd in [
        &["check", "none"][..],
        &["fmt", "--check", "none"],
        &["test", "none"],
        &["build", "none", "--out", "out"],
        &["fuzz", "none", "--cases", "10"],
    ] {
        let o = policyc(cmd, &dir);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
        assert_stderr_has(&o, "no `.policy` file found in `none`");
    }
    let o = policyc(&["--error-format", "json", "check", "none"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    assert_eq!(v["code"], "usage");
    // A file with no policy in it: nothing to test or build.
    std::fs::write(dir.join("empty.policy"), "").unwrap();
    let o = policyc(&["test", "empty.policy"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "no policy to test in `empty.policy`");
    let o = policyc(&["build", "empty.policy", "--out", "out"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "no policy to build in `empty.policy`");
    assert!(!dir.join("out").exists(), "nothing is written");
    // Nor anything to check or format: a file of comments and blank lines is as empty.
    std::fs::write(dir.join("comments.policy"), "# nothing yet\n\n").unwrap();
    for file in ["empty.policy", "comments.policy"] {
        for cmd in [&["check", file][..], &["fmt", "--check", file]] {
            let o = policyc(cmd, &dir);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
            assert_stderr_has(&o, "no policy or fragment in");
        }
    }
    // A fragment-only module is something to check.
    std::fs::write(
        dir.join("module.policy"),
        "fragment f {\n    threats exfiltration\n}\n",
    )
    .unwrap();
    let o = policyc(&["check", "module.policy"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn test_prints_a_line_per_case_and_layer_and_a_summary() {
    let dir = scratch("test");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    let o = policyc(&["test", "."], &dir);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    // Four cases, each on the reference semantics and the container stack's three layers.
    for layer in ["reference", "seccomp", "apparmor", "oci"] {
        let rows = out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(layer))
            .count();
        assert_eq!(rows, 4, "{layer}: {out}");
    }
    assert!(out.contains("PASS  oci           notes > reads notes, writes only scratch > deny write \"/notes/a.md\""), "{out}");
    assert!(out.contains("n/a   seccomp       notes > reads notes, writes only scratch > allow read \"/notes/a.md\""), "{out}");
    assert!(out.contains("stack notes: "), "{out}");
    assert!(out.contains("coverage notes: "), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(summary.starts_with("summary: "), "{out}");
    assert!(summary.contains(" 0 failed"), "{summary}");
    assert!(summary.contains(" 0 findings"), "{summary}");

    let failing = GOOD.replace("deny write \"/notes/a.md\"", "allow write \"/notes/a.md\"");
    std::fs::write(dir.join("notes.policy"), failing).unwrap();
    let o = policyc(&["test", "--quiet", "notes.policy"], &dir);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "FAIL  reference     notes > reads notes, writes only scratch > allow write \"/notes/a.md\""
        ),
        "{out}"
    );
    assert!(
        out.contains("at notes.policy:20:9: the mount at `/notes` does not grant write"),
        "{out}"
    );
    // The layers agree with the policy, not with the wrong test: they fail it too.
    assert!(out.contains("FAIL  oci           notes"), "{out}");
    assert!(!out.contains("PASS"), "--quiet prints only failures: {out}");
    assert!(out.lines().last().unwrap().contains(" 3 failed"), "{out}");
}

#[test]
fn test_writes_json_and_junit_reports() {
    let dir = scratch("test-reports");
    let failing = GOOD.replace("deny write \"/notes/a.md\"", "allow write \"/notes/a.md\"");
    std::fs::write(dir.join("notes.policy"), failing).unwrap();
    let o = policyc(
        &[
            "test",
            "--format",
            "json",
            "--junit",
            "junit.xml",
            "notes.policy",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["summary"]["ok"], false);
    assert_eq!(doc["summary"]["failed"], 3);
    let p = &doc["policies"][0];
    assert_eq!(p["policy"], "notes");
    let fails: Vec<&serde_json::Value> = p["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert_eq!(fails.len(), 3);
    assert!(fails
        .iter()
        .any(|c| c["layer"] == "reference" && c["location"] == "notes.policy:20:9"));
    assert!(p["stack_checked"].as_u64().unwrap() > 1000);
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    let suite = xml
        .lines()
        .find(|l| l.contains("<testsuite name=\"notes\""))
        .unwrap_or_else(|| panic!("no suite for `notes`:\n{xml}"));
    for attr in ["tests=\"16\"", "failures=\"3\"", "file=\"notes.policy\""] {
        assert!(suite.contains(attr), "{attr} not in {suite}");
    }
    assert!(
        xml.contains("name=\"allow write &quot;/notes/a.md&quot; [reference]\""),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"not mediated by this target\"/>"),
        "{xml}"
    );
}

#[test]
fn fuzz_runs_a_seeded_campaign_and_finds_no_leak_in_a_sound_policy() {
    let dir = scratch("fuzz");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    let run = || {
        policyc(
            &["fuzz", "notes.policy", "--cases", "3000", "--seed", "7"],
            &dir,
        )
    };
    let (a, b) = (run(), run());
    assert_eq!(a.status.code(), Some(0), "{}{}", stdout(&a), stderr(&a));
    let out = stdout(&a);
    assert!(out.contains("fuzz notes: 3000 cases, seed 7"), "{out}");
    assert!(out.contains("no leak"), "{out}");
    // The same seed draws the same requests: identical verdict counts.
    let counts = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("allowed "))
            .map(String::from)
            .collect()
    };
    assert_eq!(counts(&out), counts(&stdout(&b)));
    assert_eq!(counts(&out).len(), 3, "{out}");
    let none = policyc(&["fuzz", "notes.policy", "--policy", "nope"], &dir);
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn fmt_check_reports_and_fmt_rewrites_idempotently() {
    let dir = scratch("fmt");
    let messy = "policy p {   isolation wasm  # keep me\n fs { read \"/d\" ; }}";
    std::fs::write(dir.join("p.policy"), messy).unwrap();
    let o = policyc(&["fmt", "--check", "p.policy"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "p.policy\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("p.policy")).unwrap(),
        messy,
        "--check must not write"
    );

    assert_eq!(policyc(&["fmt", "p.policy"], &dir).status.code(), Some(0));
    let once = std::fs::read_to_string(dir.join("p.policy")).unwrap();
    assert!(once.contains("# keep me"), "{once}");
    assert_eq!(
        policyc(&["fmt", "--check", "p.policy"], &dir).status.code(),
        Some(0)
    );
    assert_eq!(policyc(&["fmt", "p.policy"], &dir).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(dir.join("p.policy")).unwrap(), once);
}

#[test]
fn output_does_not_depend_on_the_working_directory() {
    let dir = scratch("det");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/notes.policy"), GOOD).unwrap();
    let a = policyc(&["check", "--emit-ir", "sub/notes.policy"], &dir);
    let b = policyc(&["check", "--emit-ir", "notes.policy"], &dir.join("sub"));
    assert_eq!(a.status.code(), Some(0));
    assert!(!stdout(&a).is_empty());
    assert_eq!(stdout(&a), stdout(&b));
    assert!(!stdout(&a).contains(dir.to_str().unwrap()));
}

#[test]
fn help_exists_for_every_subcommand() {
    let dir = scratch("help");
    for sub in ["build", "check", "fmt", "fuzz", "test"] {
        let o = policyc(&[sub, "--help"], &dir);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("Usage: policyc"), "{sub}");
    }
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn build_is_byte_identical_across_working_directories() {
    let dir = scratch("build-det");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("a/b/notes.policy"), GOOD).unwrap();
    let o = policyc(
        &[
            "build",
            "a/b/notes.policy",
            "--out",
            "out1",
            "--home",
            "/home/u",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = policyc(
        &[
            "build",
            "notes.policy",
            "--out",
            "../../out2",
            "--home",
            "/home/u",
        ],
        &dir.join("a/b"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let one = tree(&dir.join("out1"));
    assert!(
        one.iter().any(|(p, _)| p == "notes/manifest.json"),
        "{one:?}"
    );
    assert_eq!(one, tree(&dir.join("out2")));
    let manifest = String::from_utf8(
        one.iter()
            .find(|(p, _)| p == "notes/manifest.json")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(!manifest.contains(dir.to_str().unwrap()), "{manifest}");
    let v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(v["policy"], "notes");
    assert_eq!(v["source"]["file"], "notes.policy");
    assert_eq!(v["source"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_failed_build_leaves_earlier_outputs_intact() {
    let dir = scratch("build-fail");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    assert_eq!(
        policyc(&["build", ".", "--out", "out"], &dir).status.code(),
        Some(0)
    );
    let before = tree(&dir.join("out"));
    std::fs::write(
        dir.join("notes.policy"),
        GOOD.replace("\"/notes\"", "\"notes\""),
    )
    .unwrap();
    let o = policyc(&["build", ".", "--out", "out"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "nothing was written");
    assert_eq!(tree(&dir.join("out")), before);
}

#[test]
fn build_rejects_unknown_targets() {
    let dir = scratch("build-target");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    let o = policyc(
        &["build", ".", "--out", "out", "--target", "seccomp,nonesuch"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert_stderr_has(&o, "unknown target `nonesuch`");
    assert!(!dir.join("out").exists());
}

#[test]
fn a_grant_that_covers_the_home_directory_is_not_a_leak() {
    // `~` and `/home/user` name the same files: `read "/"` reaches `~/notes` in the
    // reference semantics as it does in Landlock's and AppArmor's artifacts.
    let dir = scratch("home-covered");
    std::fs::write(
        dir.join("root.policy"),
        "policy root {\n    isolation process\n\n    fs {\n        read \"/\"\n        write \"~/out\"\n    }\n\n    test \"home\" {\n        allow read \"~/notes.txt\"\n        allow read \"/home/user/notes.txt\"\n        deny write \"/home/user/notes.txt\"\n        allow write \"/home/user/out/a\"\n    }\n}\n",
    )
    .unwrap();
    let out = policyc(&["test", "--home", "/home/user", "root.policy"], &dir);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("LEAK"), "{text}");
    assert!(text.contains(", 0 findings"), "{text}");
}

#[test]
fn a_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte() {
    let dir = scratch("not-utf8");
    std::fs::write(
        dir.join("bad.policy"),
        b"policy p {\n    isolation wasm\n    fs { read \"/d\xff\" }\n}\n",
    )
    .unwrap();
    let o = policyc(&["check", "bad.policy"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "byte 0xff at offset 47 (line 3, column 18)");
    assert_stderr_has(&o, " --> bad.policy:3:18");
    assert_stderr_has(&o, "1 error");
    let o = policyc(&["--error-format", "json", "check", "bad.policy"], &dir);
    let first = stderr(&o).lines().next().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["file"], "bad.policy");
    assert_eq!(
        (v["line"].as_u64(), v["column"].as_u64()),
        (Some(3), Some(18))
    );
}

#[test]
fn junit_lists_files_that_were_not_tested_and_an_unwritable_path_fails_first() {
    let dir = scratch("junit-untested");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    std::fs::write(
        dir.join("broken.policy"),
        "policy broken {\n    isolaton wasm\n}\n",
    )
    .unwrap();
    let o = policyc(
        &["test", "--junit", "j.xml", "notes.policy", "broken.policy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let xml = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    assert!(xml.contains("<testsuite name=\"files\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"broken.policy\" classname=\"files\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<error message=\"the file has errors"),
        "{xml}"
    );
    assert!(xml.contains("<testsuite name=\"notes\""), "{xml}");

    // The report path is opened before any policy is tested.
    let o = policyc(
        &["test", "--junit", "no/such/dir/j.xml", "notes.policy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "cannot write `no/such/dir/j.xml`");
    assert!(
        stdout(&o).is_empty(),
        "tested before failing:\n{}",
        stdout(&o)
    );
}

#[test]
fn build_out_naming_a_file_is_a_usage_error_before_anything_is_built() {
    let dir = scratch("out-file");
    std::fs::write(dir.join("notes.policy"), GOOD).unwrap();
    std::fs::write(dir.join("afile"), "keep me").unwrap();
    let o = policyc(&["build", "notes.policy", "--out", "afile"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "`--out afile` names a file; it must be a directory");
    assert_eq!(
        std::fs::read_to_string(dir.join("afile")).unwrap(),
        "keep me"
    );
}
