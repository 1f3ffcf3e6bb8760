//! `policyc exec --trace-denials` on the real kernel: a syscall the seccomp filter refuses is
//! reported with its layer and the rule (`file:line`) that refused it, the program still
//! gets exactly the policy's errno, and a connection the egress supervisor refuses is
//! reported likewise. Fails instead of skipping under `POLICYC_REQUIRE_LIVE=1`.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::path::{Path, PathBuf};

fn ready(programs: &[&str]) -> bool {
    let seccomp =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    let landlock = policyc_host::landlock::kernel_abi() >= 1;
    let missing: Vec<&&str> = programs.iter().filter(|p| !Path::new(p).exists()).collect();
    if seccomp && landlock && missing.is_empty() && nix_root() {
        return true;
    }
    cannot_run(&format!(
        "--trace-denials tests need root, seccomp ({seccomp}), Landlock ({landlock}) and {missing:?}"
    ));
    false
}

fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A folder with `trace.policy`: its syscalls block (line 10) allows what the runtimes
/// need, and line 12 denies `fchmodat` and `chmod` with `EROFS`.
fn folder(name: &str) -> PathBuf {
    let dir = scratch(&format!("trace-{name}"));
    let d = dir.display();
    let policy = format!(
        r#"use std::runtime::base
use std::runtime::static
use std::runtime::python

policy traced {{
    isolation process
    fs {{ exec "/usr"; read "/etc"; scratch "{d}/scratch" size 1MiB }}
    net {{ egress none }}

    syscalls {{
        allow static_binary, python
        deny fchmodat, chmod errno EROFS
    }}
    include runtime_guards
}}
"#
    );
    std::fs::write(dir.join("trace.policy"), policy).unwrap();
    dir
}

#[test]
fn a_denied_syscall_is_reported_with_its_rule_and_the_policys_errno_is_kept() {
    if !ready(&["/bin/chmod"]) {
        return;
    }
    let dir = folder("seccomp");
    let script = format!(
        "echo > {0}/f && /bin/chmod 600 {0}/f",
        dir.join("scratch").display()
    );
    let o = policyc(
        &[
            "exec",
            "--trace-denials",
            "trace.policy",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ],
        &dir,
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    // The program saw the policy's errno, exactly as without tracing.
    assert_stderr_has(&o, "Read-only file system");
    assert_stderr_has(&o, "denied by seccomp: syscall `fchmodat`");
    assert_stderr_has(
        &o,
        "failed with EROFS: a deny rule (errno) (trace.policy:12)",
    );
}

#[test]
fn a_call_no_rule_allows_points_at_the_syscalls_block_in_json() {
    if !ready(&["/usr/bin/python3"]) {
        return;
    }
    let dir = folder("json");
    let log = dir.join("denials.jsonl");
    // acct(2) is in no runtime set: the default action refuses it.
    let script = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.acct(None)\nprint(r, os.strerror(ctypes.get_errno()))\n";
    let flag = format!("--trace-denials={}", log.display());
    let o = policyc(
        &[
            "exec",
            &flag,
            "trace.policy",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            script,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "-1 Operation not permitted\n", "{}", stderr(&o));
    let lines = std::fs::read_to_string(&log).unwrap();
    let acct: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["syscall"] == "acct")
        .collect();
    assert_eq!(acct.len(), 1, "{lines}");
    let v = &acct[0];
    assert_eq!(v["layer"], "seccomp");
    assert_eq!(v["errno"], "EPERM");
    // The policy has no `default` statement: the syscalls block itself (line 10).
    assert_eq!(v["rule"], "trace.policy:10", "{v}");
    assert_eq!(v["why"], "not allowed by any rule of the syscalls block");
    assert!(
        !stderr(&o).contains("denied by"),
        "JSON goes to the file only"
    );
}

#[test]
fn a_refused_connection_is_reported_with_the_egress_layer() {
    if !ready(&["/usr/bin/python3"]) {
        return;
    }
    let dir = scratch("trace-egress");
    std::fs::write(
        dir.join("web.policy"),
        r#"use std::runtime::base
use std::runtime::static
use std::runtime::python

policy web {
    isolation process
    fs { exec "/usr"; read "/etc" }
    net {
        egress via proxy { allow "plain.test":443 }
        dns allow-listed-only
    }
    syscalls { allow static_binary, python }
    include runtime_guards
}
"#,
    )
    .unwrap();
    let script = "import urllib.request, urllib.error\ntry:\n    urllib.request.urlopen('http://evil.example/', timeout=10)\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n";
    let log = dir.join("denials.jsonl");
    let flag = format!("--trace-denials={}", log.display());
    let o = policyc(
        &[
            "exec",
            &flag,
            "web.policy",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            script,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "403\n", "{}", stderr(&o));
    let lines = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["layer"] == "egress")
        .unwrap_or_else(|| panic!("no egress denial in {lines}"));
    assert_eq!(v["host"], "evil.example", "{v}");
    assert_eq!(v["port"], 80, "{v}");
    // No rule refused it: the policy's `net` block (line 8), not its `dns` line.
    assert_eq!(v["rule"], "web.policy:8", "{v}");
    assert!(v["why"].as_str().unwrap().contains("no allow rule"), "{v}");
}
