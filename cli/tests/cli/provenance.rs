//! Artifacts a reviewer can read: provenance headers and `file:line` comments in text
//! artifacts, origins in the manifest, drift on both, and `policyc diff --artifacts`.

use super::{policyc, scratch, stderr, stdout};
use std::path::{Path, PathBuf};

const HOME: &str = "/home/user";

fn stdlib_policy(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../stdlib-policies/policies")
        .join(format!("{name}.policy"));
    std::fs::read_to_string(path).unwrap()
}

/// A scratch folder holding `email.policy` (the stdlib's email assistant), built into `out`.
fn built(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("email.policy"), stdlib_policy("email_assistant")).unwrap();
    let o = policyc(
        &["build", "email.policy", "--out", "out", "--home", HOME],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    dir
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join("out/email_assistant").join(rel)).unwrap()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(dir, "manifest.json")).unwrap()
}

/// The line of `email.policy` that holds `needle`.
fn policy_line(needle: &str) -> usize {
    stdlib_policy("email_assistant")
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn text_artifacts_name_their_policy_source_and_version() {
    let dir = built("prov-header");
    let m = manifest(&dir);
    let sha = m["source"]["sha256"].as_str().unwrap();
    for file in ["apparmor.profile", "squid.conf", "dnsmasq.conf"] {
        let text = read(&dir, file);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "# policyc {}: policy `email_assistant` from `email.policy` (sha256 {sha}); a `# FILE:LINE` comment names the rule the lines below it come from.",
                env!("CARGO_PKG_VERSION")
            ),
            "{file}"
        );
        assert!(!text.contains(dir.to_str().unwrap()), "{file}: {text}");
    }
}

#[test]
fn rules_carry_the_file_and_line_they_come_from() {
    let dir = built("prov-lines");
    let mail = policy_line("read \"~/Mail\" at \"/mail\"");
    let imap = policy_line("allow \"imap.mail.example.com\":993");
    let profile = read(&dir, "apparmor.profile");
    let lines: Vec<&str> = profile.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "\"/mail\" r,")
        .unwrap();
    assert_eq!(lines[at - 1].trim(), format!("# email.policy:{mail}"));
    let squid = read(&dir, "squid.conf");
    let lines: Vec<&str> = squid.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with("dstdomain -n imap.mail.example.com"))
        .unwrap();
    assert_eq!(lines[at - 1], format!("# email.policy:{imap}"));
    let dnsmasq = read(&dir, "dnsmasq.conf");
    assert!(
        dnsmasq.contains(&format!(
            "# email.policy:{imap}\nserver=/imap.mail.example.com/"
        )),
        "{dnsmasq}"
    );
}

#[test]
fn the_manifest_maps_json_entries_to_their_rules() {
    let dir = built("prov-manifest");
    let m = manifest(&dir);
    let mail = format!(
        "email.policy:{}",
        policy_line("read \"~/Mail\" at \"/mail\"")
    );
    let smtp587 = format!(
        "email.policy:{}",
        policy_line("allow \"smtp.mail.example.com\":587")
    );
    let artifacts = m["artifacts"].as_array().unwrap();
    let entry = |path: &str| {
        artifacts
            .iter()
            .find(|a| a["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {m}"))
            .clone()
    };
    let mut checked = 0;
    for (path, rule, field, want) in [
        (
            "oci/config.json",
            &mail,
            "destination",
            serde_json::json!("/mail"),
        ),
        ("egress.json", &smtp587, "port", serde_json::json!(587)),
    ] {
        let art: serde_json::Value = serde_json::from_str(&read(&dir, path)).unwrap();
        let text = read(&dir, path);
        let lines: Vec<&str> = text.lines().collect();
        let origins = entry(path)["origins"].as_array().unwrap().clone();
        let o = origins
            .iter()
            .find(|o| o["rule"] == *rule)
            .unwrap_or_else(|| panic!("{rule} not in {origins:?}"));
        let pointer = o["pointer"].as_str().unwrap();
        assert_eq!(
            art.pointer(pointer).unwrap()[field],
            want,
            "{path} {pointer}"
        );
        let [first, last] = [
            o["lines"][0].as_u64().unwrap(),
            o["lines"][1].as_u64().unwrap(),
        ];
        let span = lines[first as usize - 1..last as usize].join("\n");
        assert!(span.contains(&format!("\"{field}\": {want}")), "{span}");
        checked += 1;
    }
    assert_eq!(checked, 2);
    // Text artifacts list lines.
    assert!(entry("apparmor.profile")["origins"][0]["lines"].is_array());
}

#[test]
fn bpf_programs_map_instruction_ranges_to_their_rules() {
    let dir = built("prov-bpf");
    let m = manifest(&dir);
    let (_, base) = policyc_stdlib::module_source(&["std", "runtime", "base"]).unwrap();
    let tiocsti = base.lines().position(|l| l.contains("== 0x5412")).unwrap() + 1;
    let python = policy_line("allow python");
    for arch in ["x86_64", "aarch64"] {
        let path = format!("seccomp.{arch}.bpf");
        let entry = m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["path"] == path.as_str())
            .unwrap()
            .clone();
        let bytes = std::fs::read(dir.join("out/email_assistant").join(&path)).unwrap();
        let count = bytes.len() / 8;
        let origins = entry["origins"].as_array().unwrap();
        let find = |part: &str| {
            origins
                .iter()
                .find(|o| o["part"] == part)
                .unwrap_or_else(|| panic!("no `{part}` in {origins:?}"))
                .clone()
        };
        let deny = find("ioctl: deny 1");
        assert!(
            deny["rule"]
                .as_str()
                .unwrap()
                .ends_with(&format!("base.policy:{tiocsti}")),
            "{deny}"
        );
        let allow = find("ioctl: allow");
        assert_eq!(allow["rule"], format!("email.policy:{python}"), "{allow}");
        let range = |o: &serde_json::Value| {
            (
                o["instructions"][0].as_u64().unwrap() as usize,
                o["instructions"][1].as_u64().unwrap() as usize,
            )
        };
        let ((a, b), (c, d)) = (range(&deny), range(&allow));
        // The deny comes first, ends in its `ret` (BPF_RET | BPF_K), and the allow follows.
        assert!(
            a <= b && b < c && c <= d && d < count,
            "{deny} {allow} of {count}"
        );
        assert_eq!(bytes[b * 8], 0x06, "instruction {b} of {path} is a ret");
        assert_eq!(bytes[d * 8], 0x06, "instruction {d} of {path} is a ret");
        // Every range lies in the program, none overlaps the next.
        let mut ranges: Vec<(usize, usize)> = origins.iter().map(range).collect();
        ranges.sort_unstable();
        assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0), "{ranges:?}");
        assert!(ranges.iter().all(|r| r.1 < count));
    }
    // Deterministic: a second build writes the same manifest.
    let o = policyc(
        &["build", "email.policy", "--out", "again", "--home", HOME],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.join("again/email_assistant/manifest.json")).unwrap(),
        std::fs::read(dir.join("out/email_assistant/manifest.json")).unwrap()
    );
}

#[test]
fn json_artifacts_keep_only_their_consumers_keys() {
    let dir = built("prov-json");
    let config: serde_json::Value = serde_json::from_str(&read(&dir, "oci/config.json")).unwrap();
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            [
                "ociVersion",
                "process",
                "root",
                "hostname",
                "mounts",
                "linux",
                "annotations"
            ]
            .contains(&k.as_str()),
            "unexpected key {k} in config.json"
        );
    }
    let seccomp: serde_json::Value = serde_json::from_str(&read(&dir, "seccomp.json")).unwrap();
    assert!(seccomp.get("provenance").is_none() && seccomp.get("policyc").is_none());
}

#[test]
fn build_check_sees_a_moved_rule_in_the_comments_and_manifest() {
    let dir = built("prov-drift");
    let o = policyc(
        &[
            "build",
            "--check",
            "email.policy",
            "--out",
            "out",
            "--home",
            HOME,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // One comment line more at the top: every rule moves down a line, nothing else changes.
    let text = format!("# moved\n{}", stdlib_policy("email_assistant"));
    std::fs::write(dir.join("email.policy"), text).unwrap();
    let o = policyc(
        &[
            "build",
            "--check",
            "email.policy",
            "--out",
            "out",
            "--home",
            HOME,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for file in [
        "apparmor.profile",
        "squid.conf",
        "dnsmasq.conf",
        "manifest.json",
    ] {
        assert!(
            out.contains(&format!("email_assistant/{file}` differs")),
            "{file}: {out}"
        );
    }
    assert!(!out.contains("oci/config.json"), "{out}");
}

/// `old.policy` (the email assistant) and `new.policy` (its mail mount writable, its second
/// SMTP port moved) in a scratch folder.
fn pair(name: &str) -> PathBuf {
    let dir = scratch(name);
    let old = stdlib_policy("email_assistant");
    let new = old
        .replace(
            "read \"~/Mail\" at \"/mail\"",
            "write \"~/Mail\" at \"/mail\"",
        )
        .replace(
            "\"smtp.mail.example.com\":587",
            "\"smtp.mail.example.com\":2525",
        );
    assert_ne!(old, new);
    std::fs::write(dir.join("old.policy"), old).unwrap();
    std::fs::write(dir.join("new.policy"), new).unwrap();
    dir
}

#[test]
fn diff_artifacts_shows_each_changed_artifact_with_its_rules() {
    let dir = pair("diff-art");
    let o = policyc(
        &["diff", "--artifacts=text", "old.policy", "new.policy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let mail = policy_line("read \"~/Mail\" at \"/mail\"");
    let smtp = policy_line("allow \"smtp.mail.example.com\":587");
    assert!(out.contains("+ write ~/Mail/**"), "{out}");
    assert!(
        out.contains(
            "--- old/email_assistant/apparmor.profile\n+++ new/email_assistant/apparmor.profile\n"
        ),
        "{out}"
    );
    assert!(out.contains("-  \"/mail\" r,\n-  \"/mail/\" r,"), "{out}");
    assert!(out.contains("+  \"/mail\" rwk,"), "{out}");
    assert!(
        out.contains(&format!("@@ old.policy:{mail} -> new.policy:{mail}\n")),
        "{out}"
    );
    assert!(
        out.contains("-      \"port\": 587,\n+      \"port\": 2525,"),
        "{out}"
    );
    assert!(
        out.contains(&format!(" old.policy:{smtp} -> new.policy:{smtp}\n")),
        "{out}"
    );
    assert!(
        out.contains("artifact email_assistant/oci/config.json (oci)"),
        "{out}"
    );
    // The syscall filter did not change: no BPF or seccomp.json entry.
    assert!(!out.contains("seccomp"), "{out}");
}

#[test]
fn diff_artifacts_as_json_and_markdown() {
    let dir = pair("diff-art-json");
    let o = policyc(
        &[
            "diff",
            "--artifacts=text",
            "--format",
            "json",
            "old.policy",
            "new.policy",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["permissions"]["policies"].is_array(), "{v}");
    let arts = v["artifacts"].as_array().unwrap();
    let squid = arts.iter().find(|a| a["path"] == "squid.conf").unwrap();
    assert_eq!(squid["target"], "squid");
    assert_eq!(squid["change"]["kind"], "text");
    let hunk = &squid["change"]["hunks"][0];
    assert!(hunk["header"].as_str().unwrap().starts_with("@@ -"));
    assert!(hunk["lines"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("+acl policyc_r3_port port 2525")));
    let o = policyc(
        &[
            "diff",
            "--artifacts=text",
            "--format",
            "markdown",
            "old.policy",
            "new.policy",
        ],
        &dir,
    );
    let md = stdout(&o);
    assert!(md.contains("#### Artifacts"), "{md}");
    assert!(md.contains("<details><summary><code>email_assistant/egress.json</code> (egress)</summary>\n\n```diff\n"), "{md}");
}

#[test]
fn diff_artifacts_of_a_refactor_and_with_sarif() {
    let dir = pair("diff-art-same");
    let o = policyc(
        &["diff", "--artifacts=text", "old.policy", "old.policy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("\nartifacts: no change\n"),
        "{}",
        stdout(&o)
    );
    let o = policyc(
        &[
            "diff",
            "--artifacts=text",
            "--format",
            "sarif",
            "old.policy",
            "new.policy",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--artifacts=text"), "{}", stderr(&o));
    // A target that cannot build a side says why instead of showing a diff.
    let o = policyc(
        &[
            "diff",
            "--artifacts=text",
            "--home",
            "relative",
            "old.policy",
            "new.policy",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("artifacts of email_assistant (oci)\nthe old policy does not build for oci:\n  old.policy:"),
        "{out}"
    );
}

/// The program `name` on this machine, or `None` after saying why the test cannot run
/// (which fails it under `POLICYC_REQUIRE_LIVE=1`).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        policyc_testkit::live::cannot_run(&format!("`{name}` is not installed"));
    }
    found
}

fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn stamped_configurations_load_in_their_programs() {
    let dir = built("prov-load");
    let art = dir.join("out/email_assistant");
    // AppArmor: compiled offline against the features policyc pins.
    let Some(parser) = policyc_host::apparmor::parser() else {
        policyc_testkit::live::cannot_run("apparmor_parser is not installed");
        return;
    };
    let profile = std::fs::read(art.join("apparmor.profile")).unwrap();
    let o = policyc_host::apparmor::run_offline(&parser, &profile, &[]).unwrap();
    assert!(
        o.status.success(),
        "apparmor_parser: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // dnsmasq: its own syntax check.
    let Some(dnsmasq) = program("dnsmasq") else {
        return;
    };
    let (ok, text) = run(std::process::Command::new(dnsmasq)
        .arg("--test")
        .arg("-C")
        .arg(art.join("dnsmasq.conf")));
    assert!(ok, "dnsmasq --test: {text}");
    // squid: `-k parse`, with a peek certificate made here in place of the operator's.
    let (Some(squid), Some(openssl)) = (program("squid"), program("openssl")) else {
        return;
    };
    let (key, cert, pem) = (dir.join("k.pem"), dir.join("c.pem"), dir.join("peek.pem"));
    let (ok, text) = run(std::process::Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=policyc-test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(ok, "openssl: {text}");
    let both = [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat();
    std::fs::write(&pem, both).unwrap();
    let conf =
        read(&dir, "squid.conf").replace("/etc/squid/policyc-peek.pem", pem.to_str().unwrap());
    assert!(conf.starts_with("# policyc "), "{conf}");
    let conf_path = dir.join("squid.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let (ok, text) = run(std::process::Command::new(squid)
        .args(["-k", "parse", "-f"])
        .arg(&conf_path));
    assert!(ok, "squid -k parse: {text}");
}

fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs (apt-get install git)");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

#[test]
fn diff_artifacts_against_a_git_revision_with_an_added_policy() {
    let dir = scratch("diff-art-git");
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let email = stdlib_policy("email_assistant");
    std::fs::write(dir.join("policies/email.policy"), &email).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    std::fs::write(
        dir.join("policies/email.policy"),
        email.replace(
            "\"smtp.mail.example.com\":587",
            "\"smtp.mail.example.com\":2525",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/report.policy"),
        stdlib_policy("report_writer"),
    )
    .unwrap();
    let o = policyc(
        &["diff", "--artifacts=text", "--git", "HEAD", "policies"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let smtp = policy_line("allow \"smtp.mail.example.com\":587");
    // The old side is named as git names it.
    assert!(
        out.contains(&format!(
            " HEAD:policies/email.policy:{smtp} -> policies/email.policy:{smtp}\n"
        )),
        "{out}"
    );
    // A policy only the new side has: its artifacts against nothing.
    assert!(
        out.contains("--- /dev/null\n+++ new/report_writer/landlock.json\n"),
        "{out}"
    );
    assert!(out.contains("binary artifact differs: absent -> "), "{out}");
}
