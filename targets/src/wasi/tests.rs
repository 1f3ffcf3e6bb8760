//! Unit tests: the manifest format and its reader, emit's checks, the host formats and the
//! simulator.

use super::*;
use crate::testing::{connect, fs, messages, resolve, EmitText};
use crate::{Target, Verdict};
use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_testkit::stdlib::{policy, HOME};

fn sim(e: &Emitted, r: &Request) -> Verdict {
    Wasi.simulate(&e.artifacts, r)
}

const SHEETS: &str = r#"policy sheets {
    isolation wasm
    fs {
        read "~/Documents/Finance" at "/data"
        scratch "/out" size 1MiB
        deny write "~/.bashrc"
        deny "~/.ssh"
    }
    net {
        egress via proxy {
            allow "formulas.example.com":443
            deny "*.formulas.example.com":*
        }
        dns allow-listed-only
    }
    limits { memory 64MiB }
}"#;

#[test]
fn manifest_names_resolved_host_paths_and_fresh_dirs() {
    let e = Wasi.emitted(SHEETS);
    let m = parse(&e.artifacts[FILE]).unwrap();
    assert_eq!(m.home.as_ref().map(CanonPath::as_str), Some(HOME));
    assert_eq!(m.preopens.len(), 2);
    assert_eq!(m.preopens[0].guest.as_str(), "/data");
    assert_eq!(
        m.preopens[0].source,
        Source::Host(CanonPath::parse("/home/user/Documents/Finance").unwrap())
    );
    assert_eq!(m.preopens[0].perms, Perms::ReadOnly);
    assert_eq!(m.preopens[1].source, Source::Scratch { size: 1 << 20 });
    assert_eq!(m.preopens[1].perms, Perms::ReadWrite);
    assert!(m.env.is_empty());
    assert_eq!(m.limits.memory, Some(64 << 20));
    assert!(m.network.egress);
    assert!(!m.network.rules[0].allow, "denies come first");
    let text = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(text.contains("\"format\": \"policyc-wasi\""), "{text}");
    assert!(text.contains("\"kind\": \"scratch\""), "{text}");
    assert!(text.ends_with("}\n"));
    // Byte-identical for identical input.
    assert_eq!(Wasi.emitted(SHEETS).artifacts, e.artifacts);
}

#[test]
fn read_only_preopens_and_fresh_dirs_get_no_host_formats() {
    let e = Wasi.emitted(SHEETS);
    assert!(!e.artifacts.contains_key(EXTISM_FILE));
    assert!(!e.artifacts.contains_key(WASMTIME_FILE));
    let msgs = messages(&e, Code::WasiFormatNotEmitted);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("`ro:`") && msgs[0].contains("O_CREAT"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("`::ro`"), "{msgs:?}");
    assert!(msgs
        .iter()
        .all(|m| m.contains("made fresh") && m.contains("egress")));
}

#[test]
fn read_write_only_policies_get_exact_host_formats() {
    let e = Wasi.emitted(
        r#"policy rw {
    isolation wasm
    fs { write "~/proj" at "/proj" }
    limits { memory 1MiB }
}"#,
    );
    let extism: serde_json::Value = serde_json::from_slice(&e.artifacts[EXTISM_FILE]).unwrap();
    assert_eq!(extism["allowed_paths"]["/home/user/proj"], "/proj");
    assert_eq!(extism["allowed_hosts"], serde_json::json!([]));
    assert_eq!(extism["memory"]["max_pages"], 16);
    let text = serde_json::to_string(&extism).unwrap();
    assert!(!text.contains("ro:"), "{text}");
    let run: serde_json::Value = serde_json::from_slice(&e.artifacts[WASMTIME_FILE]).unwrap();
    assert_eq!(
        run["argv"],
        serde_json::json!([
            "wasmtime",
            "run",
            "--dir",
            "/home/user/proj::/proj",
            "-W",
            "max-memory-size=1048576"
        ])
    );
    assert!(e
        .report
        .iter()
        .all(|d| d.code != Code::WasiFormatNotEmitted));
}

#[test]
fn a_deny_inside_a_preopen_fails_only_when_it_removes_a_granted_right() {
    let d = Wasi.errors(
        r#"policy p {
    isolation wasm
    fs { read "~/Documents" at "/docs"; deny "~/Documents/taxes" }
}"#,
    );
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::WasiNestedDeny);
    assert!(d[0].message.starts_with("wasi: "), "{}", d[0].message);
    assert!(
        d[0].message.contains("~/Documents/taxes"),
        "{}",
        d[0].message
    );
    // A write deny under a read-only preopen removes nothing it gives.
    Wasi.emitted(
        r#"policy p {
    isolation wasm
    fs { read "~/Documents" at "/docs"; deny write "~/Documents/taxes"; deny exec "~/Documents/bin" }
}"#,
    );
    // ... but under a read-write one it does.
    let d = Wasi.errors(
        r#"policy p {
    isolation wasm
    fs { write "~/Documents" at "/docs"; deny write "~/Documents/.git/hooks" }
}"#,
    );
    assert_eq!(d[0].code, Code::WasiNestedDeny);
}

#[test]
fn a_deny_over_a_whole_preopen_narrows_it() {
    let e = Wasi.emitted(
        r#"policy p {
    isolation wasm
    fs { write "~/proj" at "/proj"; read "~/.aws" at "/aws"; deny write "~/proj"; deny "~/.aws" }
}"#,
    );
    let m = parse(&e.artifacts[FILE]).unwrap();
    assert_eq!(m.preopens.len(), 1, "{m:?}");
    assert_eq!(m.preopens[0].perms, Perms::ReadOnly);
    assert_eq!(messages(&e, Code::WasiNarrowed).len(), 2);
    assert_eq!(sim(&e, &fs(Access::Write, "/proj/x")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Access::Read, "/proj/x")), Verdict::Allow);
    assert_eq!(
        sim(&e, &fs(Access::Read, "/aws/credentials")),
        Verdict::Deny
    );
}

#[test]
fn nested_preopens_and_missing_homes_fail() {
    let d = Wasi.errors(
        r#"policy p {
    isolation wasm
    fs { read "~/Documents" at "/docs"; scratch "/docs/tmp" size 1MiB }
}"#,
    );
    assert_eq!(d[0].code, Code::WasiNestedPreopen);
    let d = Wasi
        .emit_home(
            &policy(
                r#"policy p { isolation wasm
 fs { read "~/Documents" at "/docs" } }"#,
            ),
            None,
        )
        .unwrap_err();
    assert_eq!(d[0].code, Code::WasiHomeUnknown);
    let d = Wasi
        .emit_home(
            &policy(
                r#"policy p { isolation wasm
 fs { read "/srv/data" at "/data" } }"#,
            ),
            Some("relative/home"),
        )
        .unwrap_err();
    assert_eq!(d[0].code, Code::WasiHomeUnknown);
}

#[test]
fn exec_grants_become_read_only_and_exec_is_always_denied() {
    let e = Wasi.emitted(
        r#"policy p {
    isolation wasm
    fs { exec "/opt/tools" at "/tools" }
}"#,
    );
    assert!(e.report.iter().any(|d| d.code == Code::WasiNarrowed));
    assert_eq!(sim(&e, &fs(Access::Exec, "/tools/run")), Verdict::Deny);
    assert_eq!(sim(&e, &fs(Access::Read, "/tools/run")), Verdict::Allow);
    assert_eq!(sim(&e, &fs(Access::Write, "/tools/run")), Verdict::Deny);
}

#[test]
fn simulator_reads_paths_hosts_and_dns() {
    let e = Wasi.emitted(SHEETS);
    for (r, want) in [
        (fs(Access::Read, "/data/a.csv"), Verdict::Allow),
        (fs(Access::Write, "/data/a.csv"), Verdict::Deny),
        (fs(Access::Write, "/out/b.xlsx"), Verdict::Allow),
        (fs(Access::Exec, "/out/b.xlsx"), Verdict::Deny),
        (fs(Access::Read, "/data2/x"), Verdict::Deny),
        (fs(Access::Read, "/data/../etc/passwd"), Verdict::Deny),
        (
            fs(Access::Read, "~/Documents/Finance/a.csv"),
            Verdict::Allow,
        ),
        (
            fs(Access::Write, "~/Documents/Finance/a.csv"),
            Verdict::Deny,
        ),
        (
            fs(Access::Read, "~/Documents/Finance2/a.csv"),
            Verdict::Deny,
        ),
        (fs(Access::Read, "~/.ssh/id_rsa"), Verdict::Deny),
        (connect("FORMULAS.example.com.", 443), Verdict::Allow),
        (connect("formulas.example.com", 80), Verdict::Deny),
        (connect("a.formulas.example.com", 443), Verdict::Deny),
        (connect("93.184.216.34", 443), Verdict::Deny),
        (resolve("formulas.example.com"), Verdict::Allow),
        (resolve("a.formulas.example.com"), Verdict::Deny),
        (resolve("example.com"), Verdict::Deny),
        (
            Request::Syscall {
                name: "ptrace".to_string(),
                args: [0; 6],
            },
            Verdict::Deny,
        ),
    ] {
        assert_eq!(sim(&e, &r), want, "{r}");
    }
}

#[test]
fn non_wasm_policies_get_no_manifest() {
    let e = Wasi.emitted(
        r#"policy p {
    isolation process
    fs { read "/srv" }
    syscalls { allow read }
}"#,
    );
    assert!(e.artifacts.is_empty());
    assert_eq!(e.report[0].code, Code::WasiNotMediated);
    assert_eq!(sim(&e, &fs(Access::Read, "/srv/x")), Verdict::NotMediated);
}

fn reparse(edit: impl Fn(&mut serde_json::Value)) -> Result<Manifest, Error> {
    let e = Wasi.emitted(SHEETS);
    let mut v: serde_json::Value = serde_json::from_slice(&e.artifacts[FILE]).unwrap();
    edit(&mut v);
    parse(&serde_json::to_vec(&v).unwrap())
}

#[test]
fn the_reader_fails_closed() {
    assert!(reparse(|_| {}).is_ok());
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let bad: Vec<(&str, Edit)> = vec![
        ("version", Box::new(|v| v["version"] = 2.into())),
        ("format", Box::new(|v| v["format"] = "wasi".into())),
        ("unknown key", Box::new(|v| v["extra"] = true.into())),
        (
            "relative host",
            Box::new(|v| v["preopens"][0]["host"] = "home/user/x".into()),
        ),
        (
            "uncanonical guest",
            Box::new(|v| v["preopens"][0]["guest"] = "/data/../etc".into()),
        ),
        (
            "home guest",
            Box::new(|v| v["preopens"][0]["guest"] = "~/data".into()),
        ),
        (
            "nested guest",
            Box::new(|v| v["preopens"][1]["guest"] = "/data/out".into()),
        ),
        (
            "scratch with host",
            Box::new(|v| v["preopens"][1]["host"] = "/tmp".into()),
        ),
        (
            "zero size",
            Box::new(|v| v["preopens"][1]["size"] = 0.into()),
        ),
        (
            "unknown access",
            Box::new(|v| v["preopens"][0]["access"] = "read-exec".into()),
        ),
        (
            "unnormalised host",
            Box::new(|v| v["network"]["rules"][1]["host"] = "Formulas.Example.com".into()),
        ),
        (
            "port zero",
            Box::new(|v| v["network"]["rules"][1]["port"] = 0.into()),
        ),
        (
            "rules without egress",
            Box::new(|v| v["network"]["egress"] = "none".into()),
        ),
    ];
    for (what, edit) in bad {
        assert!(reparse(edit).is_err(), "{what} was accepted");
    }
    let e = Wasi.emitted(SHEETS);
    let mut broken = e.artifacts.clone();
    broken.insert(FILE.to_string(), b"{".to_vec());
    assert_eq!(
        Wasi.simulate(&broken, &fs(Access::Read, "/data/a")),
        Verdict::Deny
    );
}
