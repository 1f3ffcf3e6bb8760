//! Unit tests: rights tables, the JSON format, emit's checks and the simulator.

use super::*;
use crate::testing::{connect, fs, messages, resolve, EmitText};
use crate::{Target, Verdict};
use policyc_compiler::ast::Access::{Exec, Read, Write};
use policyc_compiler::{Code, Request};
use policyc_testkit::stdlib::{policy, HOME};

fn json(e: &Emitted) -> serde_json::Value {
    serde_json::from_slice(&e.artifacts[FILE]).unwrap()
}

fn sim(e: &Emitted, r: &Request) -> Verdict {
    Landlock.simulate(&e.artifacts, r)
}

#[test]
fn rights_have_their_abi_and_object_type() {
    assert_eq!(FsRight::ALL.len(), 16);
    assert_eq!(FsRight::Refer.abi(), 2);
    assert_eq!(FsRight::Truncate.abi(), 3);
    assert_eq!(FsRight::IoctlDev.abi(), 5);
    assert_eq!(NetRight::ConnectTcp.abi(), 4);
    assert_eq!(ScopeRight::Signal.abi(), 6);
    let file: Vec<&str> = FsRight::ALL
        .iter()
        .filter(|r| r.applies_to_files())
        .map(|r| r.name())
        .collect();
    assert_eq!(
        file,
        [
            "execute",
            "write_file",
            "read_file",
            "truncate",
            "ioctl_dev"
        ]
    );
    for r in FsRight::ALL {
        let quoted = serde_json::to_string(&r).unwrap();
        assert_eq!(quoted, format!("\"{}\"", r.name()));
    }
}

const PROCESS: &str = r#"policy p {
    isolation process
    fs {
        read "~/Documents"
        write "~/Documents/out"
        exec "/usr"
        scratch "/var/tmp/agent" size 1MiB
    }
    net { egress none }
}"#;

#[test]
fn process_paths_are_host_paths_with_home_as_a_variable() {
    let e = Landlock.emitted(PROCESS);
    let j = json(&e);
    assert_eq!(j["abi"], 6);
    assert_eq!(j["variable"][0]["name"], "home");
    assert_eq!(j["variable"][0]["literal"][0], HOME);
    let text = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(text.contains("\"${home}/Documents\""), "{text}");
    assert!(text.contains("\"${home}/Documents/out\""), "{text}");
    assert!(text.contains("\"/usr\""), "{text}");
    let rs = parse(&e.artifacts[FILE]).unwrap();
    let usr = rs.paths.iter().find(|r| r.path.as_str() == "/usr").unwrap();
    assert!(usr.allowed.contains(&FsRight::Execute));
    assert!(!usr.allowed.contains(&FsRight::WriteFile));
    let scratch = rs
        .paths
        .iter()
        .find(|r| r.path.as_str() == "/var/tmp/agent")
        .unwrap();
    assert!(scratch.allowed.contains(&FsRight::WriteFile));
    assert!(!scratch.allowed.contains(&FsRight::Execute));
    for r in &rs.paths {
        assert!(
            !r.allowed.contains(&FsRight::Refer),
            "refer is never granted"
        );
    }
    assert_eq!(rs.handled_fs.len(), 16, "every right of the ABI is handled");
}

#[test]
fn process_simulation_matches_the_grants() {
    let e = Landlock.emitted(PROCESS);
    assert_eq!(sim(&e, &fs(Read, "~/Documents/a.txt")), Verdict::Allow);
    assert_eq!(
        sim(&e, &fs(Read, "/home/user/Documents/a.txt")),
        Verdict::Allow
    );
    assert_eq!(sim(&e, &fs(Write, "~/Documents/a.txt")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Write, "~/Documents/out/r.csv")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Read, "~/Documents2/a.txt")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Read, "~/.ssh/id_rsa")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Exec, "/usr/bin/python3")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Exec, "/var/tmp/agent/x")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Write, "/var/tmp/agent/x")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Read, "/usr2/x")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Read, "/usr/../etc/passwd")), Verdict::Deny);
    assert_eq!(sim(&e, &connect("example.com", 443)), Verdict::Deny);
}

#[test]
fn output_is_deterministic() {
    let a = Landlock.emitted(PROCESS);
    let b = Landlock.emitted(PROCESS);
    assert_eq!(a.artifacts, b.artifacts);
    assert!(a.artifacts[FILE].ends_with(b"}\n"));
}

#[test]
fn home_is_required_for_home_paths() {
    let p = policy(PROCESS);
    let err = Landlock.emit_home(&p, None).unwrap_err();
    assert!(err.iter().all(|d| d.code == Code::LandlockHomeUnknown));
    assert_eq!(err.len(), 2, "one per rule naming `~`");
    for bad in ["relative", "~/x", "/"] {
        let err = Landlock.emit_home(&p, Some(bad)).unwrap_err();
        assert_eq!(err[0].code, Code::LandlockHomeUnknown, "{bad}");
    }
    let no_home = policy(r#"policy p { isolation process; fs { read "/srv" } }"#);
    let e = Landlock.emit_home(&no_home, None).unwrap();
    assert!(!String::from_utf8_lossy(&e.artifacts[FILE]).contains("variable"));
    assert_eq!(sim(&e, &fs(Read, "~/x")), Verdict::NotMediated);
}

#[test]
fn a_deny_beneath_a_grant_fails_the_build() {
    let src = r#"policy p { isolation process; fs { read "~"; deny "~/.ssh" } }"#;
    let errs = Landlock.emit_text(src).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].code, Code::LandlockNestedDeny);
    assert!(
        errs[0].message.contains("deny \"~/.ssh\""),
        "{}",
        errs[0].message
    );
    assert!(
        errs[0].message.contains("read \"~\""),
        "{}",
        errs[0].message
    );
    assert!(errs[0].message.starts_with("landlock:"));
    assert!(errs[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("directory listing"));
}

#[test]
fn a_deny_of_a_right_the_grant_lacks_needs_nothing() {
    let e = Landlock.emitted(
        r#"policy p { isolation process; fs { read "~/docs"; deny write "~/docs/taxes" } }"#,
    );
    assert_eq!(sim(&e, &fs(Read, "~/docs/taxes/a")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Write, "~/docs/taxes/a")), Verdict::Deny);
    assert!(Landlock
        .codes(
            r#"policy p { isolation process; fs { write "~/docs"; deny write "~/docs/taxes" } }"#
        )
        .contains(&Code::LandlockNestedDeny));
}

#[test]
fn a_deny_outside_every_grant_needs_nothing() {
    let e = Landlock.emitted(
        r#"policy p { isolation process; fs { read "~/docs"; deny "~/.ssh"; deny "/etc/shadow" } }"#,
    );
    assert_eq!(sim(&e, &fs(Read, "~/.ssh/id_rsa")), Verdict::Deny);
}

#[test]
fn a_grant_inside_a_deny_is_narrowed_or_left_out() {
    let e = Landlock.emitted(
        r#"policy p { isolation process; fs { read "~/docs"; write "~/notes"; deny "~/docs"; deny write "~/notes" } }"#,
    );
    let rs = parse(&e.artifacts[FILE]).unwrap();
    assert!(
        rs.paths.iter().all(|r| !r.path.as_str().ends_with("/docs")),
        "left out"
    );
    let notes = rs
        .paths
        .iter()
        .find(|r| r.path.as_str().ends_with("/notes"))
        .unwrap();
    assert!(notes.allowed.contains(&FsRight::ReadFile));
    assert!(!notes.allowed.contains(&FsRight::WriteFile));
    let narrowed = messages(&e, Code::LandlockNarrowed);
    assert!(
        narrowed.iter().any(|m| m.contains("left out")),
        "{narrowed:?}"
    );
    assert!(
        narrowed.iter().any(|m| m.contains("grants only read")),
        "{narrowed:?}"
    );
}

#[test]
fn a_nested_mount_granting_less_fails_the_build() {
    assert_eq!(
        Landlock.codes(r#"policy p { isolation process; fs { write "/srv"; read "/srv/ro" } }"#),
        [Code::LandlockNestedMount]
    );
    assert_eq!(
        Landlock.codes(
            r#"policy p { isolation container; fs { exec "/opt" at "/opt"; scratch "/opt/s" size 1MiB } }"#
        ),
        [Code::LandlockNestedMount]
    );
    // Nested and granting more is fine: rights add up.
    assert!(Landlock
        .codes(r#"policy p { isolation process; fs { read "/srv"; write "/srv/out" } }"#)
        .is_empty());
}

const CONTAINER: &str = r#"policy c {
    isolation container
    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 1MiB
        deny "~/.ssh"
    }
    net { egress via proxy { allow "api.example.com":443 } }
}"#;

#[test]
fn container_rules_name_guest_paths() {
    let e = Landlock.emitted(CONTAINER);
    let text = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(text.contains("\"/mnt/docs\""), "{text}");
    assert!(!text.contains("home"), "{text}");
    assert_eq!(sim(&e, &fs(Read, "/mnt/docs/a")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Write, "/mnt/docs/a")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Read, "/mnt/docs2/a")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Read, "~/Documents/a")), Verdict::NotMediated);
    assert!(e.report.iter().any(|d| d.message.contains("mount table")));
}

#[test]
fn a_host_deny_inside_a_bind_source_fails_the_build() {
    let src = r#"policy c { isolation container; fs { read "~" at "/home"; deny "~/.ssh" } }"#;
    let errs = Landlock.emit_text(src).unwrap_err();
    assert_eq!(errs[0].code, Code::LandlockNestedDeny);
    assert!(errs[0].message.contains("/home"), "{}", errs[0].message);
    // Seen both as a guest path and through the bind of `/etc`: one error.
    let errs = Landlock
        .emit_text(
            r#"policy c { isolation container; fs { read "/etc" at "/etc"; deny "/etc/shadow" } }"#,
        )
        .unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    // A deny covering the whole source drops the mount.
    let e = Landlock.emitted(
        r#"policy c { isolation container; fs { read "~/.ssh" at "/keys"; tmpfs "/tmp" size 1MiB; deny "~/.ssh" } }"#,
    );
    assert_eq!(sim(&e, &fs(Read, "/keys/id_rsa")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Read, "/tmp/x")), Verdict::Allow);
}

#[test]
fn network_rules_follow_egress() {
    let e = Landlock.emitted(CONTAINER);
    let j = json(&e);
    assert_eq!(j["netPort"][0]["port"][0], 443);
    assert_eq!(
        sim(&e, &connect("api.example.com", 443)),
        Verdict::NotMediated
    );
    assert_eq!(sim(&e, &connect("evil.example", 443)), Verdict::NotMediated);
    assert_eq!(sim(&e, &connect("api.example.com", 80)), Verdict::Deny);
    assert!(e
        .report
        .iter()
        .any(|d| d.message.contains("supervisor's proxy port")));
    let any = Landlock.emitted(
        r#"policy p { isolation process; net { egress direct { allow "a.example.com":* } } }"#,
    );
    let rs = parse(&any.artifacts[FILE]).unwrap();
    assert_eq!(
        rs.handled_net.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["bind_tcp"]
    );
    assert_eq!(
        sim(&any, &connect("a.example.com", 80)),
        Verdict::NotMediated
    );
    assert_eq!(sim(&e, &resolve("example.com")), Verdict::NotMediated);
}

#[test]
fn older_abis_enforce_less() {
    let e = Landlock.emitted(PROCESS);
    let deny_connect = connect("example.com", 443);
    assert_eq!(
        simulate_with_abi(&e.artifacts, &deny_connect, 4),
        Verdict::Deny
    );
    assert_eq!(
        simulate_with_abi(&e.artifacts, &deny_connect, 3),
        Verdict::NotMediated
    );
    let read = fs(Read, "/etc/passwd");
    assert_eq!(simulate_with_abi(&e.artifacts, &read, 1), Verdict::Deny);
    assert_eq!(
        simulate_with_abi(&e.artifacts, &read, 0),
        Verdict::NotMediated
    );
    let rs = parse(&e.artifacts[FILE]).unwrap();
    let gaps: Vec<&str> = unenforced_at(&rs, 3).iter().map(|g| g.right).collect();
    assert_eq!(
        gaps,
        [
            "ioctl_dev",
            "bind_tcp",
            "connect_tcp",
            "abstract_unix_socket",
            "signal"
        ]
    );
    assert!(unenforced_at(&rs, 6).is_empty());
    let abi = messages(&e, Code::LandlockAbi);
    assert_eq!(abi.len(), 5, "ABI 2, 3, 4, 5 and 6: {abi:?}");
    assert!(abi.iter().all(|m| m.contains("best-effort")));
}

#[test]
fn abi_report_names_the_deny_tests_an_older_kernel_loses() {
    let e = Landlock.emitted(
        r#"policy p { isolation process; net { egress none }
        test "t" { deny connect "example.com":443; deny read "/etc/passwd" } }"#,
    );
    let abi4 = e
        .report
        .iter()
        .find(|d| d.code == Code::LandlockAbi && d.message.contains("ABI 4"))
        .unwrap();
    assert!(
        abi4.message.contains("1 of this policy's deny tests"),
        "{}",
        abi4.message
    );
    assert!(
        abi4.message.contains("connect \"example.com\":443"),
        "{}",
        abi4.message
    );
}

#[test]
fn wasm_policies_get_no_ruleset() {
    let e = Landlock.emitted(r#"policy w { isolation wasm; fs { read "/data" } }"#);
    assert!(e.artifacts.is_empty());
    assert_eq!(e.report.len(), 1);
    assert!(e.report[0].message.contains("preopens"));
    assert_eq!(sim(&e, &fs(Read, "/data/x")), Verdict::NotMediated);
}

#[test]
fn dollar_signs_are_escaped_and_read_back() {
    let e = Landlock
        .emitted(r#"policy p { isolation process; fs { read "/srv/a$b"; read "~/${home}" } }"#);
    let text = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(text.contains("\"/srv/a$$b\""), "{text}");
    assert!(text.contains("\"${home}/$${home}\""), "{text}");
    assert_eq!(sim(&e, &fs(Read, "/srv/a$b/x")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Read, "~/${home}/x")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Read, "/home/user/x")), Verdict::Deny);
}

fn parse_err(text: &str) -> String {
    parse(text.as_bytes()).unwrap_err().to_string()
}

const MINIMAL: &str = r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}]}"#;

#[test]
fn the_reader_accepts_landlockconfig_and_rejects_the_rest() {
    let rs = parse(MINIMAL.as_bytes()).unwrap();
    assert_eq!(required_abi(MINIMAL.as_bytes()).unwrap(), 1);
    assert!(rs.paths.is_empty());
    for (bad, why) in [
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["abi.all"]}]}"#,
            "unknown variant",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["truncate"]}]}"#,
            "ABI 3",
        ),
        (
            r#"{"abi": 9, "ruleset": [{"handledAccessFs": ["read_file"]}]}"#,
            "ABI 9",
        ),
        (r#"{"abi": 1, "ruleset": []}"#, "empty"),
        (r#"{"abi": 1, "ruleset": [{}]}"#, "handles nothing"),
        (
            r#"{"abi": 1, "extra": 1, "ruleset": [{"handledAccessFs": ["read_file"]}]}"#,
            "unknown field",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}], "pathBeneath": [{"allowedAccess": ["execute"], "parent": ["/usr"]}]}"#,
            "not handled",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}], "pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["/usr/../etc"]}]}"#,
            "canonical",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}], "pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["usr"]}]}"#,
            "canonical",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}], "pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["${home}/x"]}]}"#,
            "not defined",
        ),
        (
            r#"{"abi": 1, "ruleset": [{"handledAccessFs": ["read_file"]}], "pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["${other}/x"]}]}"#,
            "unknown variable",
        ),
        (
            r#"{"abi": 1, "variable": [{"name": "home", "literal": ["/a", "/b"]}], "ruleset": [{"handledAccessFs": ["read_file"]}]}"#,
            "exactly one",
        ),
        (
            r#"{"abi": 1, "variable": [{"name": "home", "literal": ["~"]}], "ruleset": [{"handledAccessFs": ["read_file"]}]}"#,
            "canonical",
        ),
        (
            r#"{"abi": 4, "ruleset": [{"handledAccessNet": ["connect_tcp"]}], "netPort": [{"allowedAccess": ["connect_tcp"], "port": [70000]}]}"#,
            "65535",
        ),
        ("not json", "valid"),
    ] {
        let e = parse_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn an_unparseable_artifact_denies_everything() {
    let mut artifacts = crate::Artifacts::new();
    artifacts.insert(FILE.to_string(), b"{}".to_vec());
    assert_eq!(
        Landlock.simulate(&artifacts, &fs(Read, "/x")),
        Verdict::Deny
    );
    assert_eq!(
        Landlock.simulate(&crate::Artifacts::new(), &fs(Read, "/x")),
        Verdict::NotMediated
    );
}
