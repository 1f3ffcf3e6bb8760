//! `audit { writes; denials }` recorded by `policyc exec` on the real kernel: the program's
//! creations, modifications, renames and deletions under its write grant (seen with
//! fanotify, attributed to the sandbox only) and each syscall the seccomp filter refused
//! are hash-chained records of the audit log; a write by another process into the same
//! folder during the run is not; an edited record fails verification. Fails instead of
//! skipping under `POLICYC_REQUIRE_LIVE=1`.

use super::{policyc, scratch, stderr};
use policyc_testkit::live::cannot_run;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ready() -> bool {
    let seccomp =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    let landlock = policyc_host::landlock::kernel_abi() >= 1;
    let python = Path::new("/usr/bin/python3").exists();
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if seccomp && landlock && python && root {
        return true;
    }
    cannot_run(&format!(
        "exec audit tests need root (fanotify), seccomp ({seccomp}), Landlock ({landlock}) and python3 ({python})"
    ));
    false
}

/// A folder with `audited.policy`: `{d}/out` is writable, the audit block asks for writes
/// and denials, and `acct` (in no runtime set) is refused by the default action.
fn folder(name: &str) -> PathBuf {
    let dir = scratch(&format!("exec-audit-{name}"));
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let d = dir.display();
    let policy = format!(
        r#"use std::runtime::base
use std::runtime::static
use std::runtime::python

policy audited {{
    isolation process
    fs {{ exec "/usr"; read "/etc"; write "{d}/out" }}
    net {{ egress none }}

    syscalls {{
        allow static_binary, python
    }}
    include runtime_guards
    audit {{ writes; denials }}
}}
"#
    );
    std::fs::write(dir.join("audited.policy"), policy).unwrap();
    dir
}

/// Writes two files, renames one, deletes the other, makes one refused call (`acct`), then
/// waits (at most 20 s) for the test's own file before it exits.
const PROGRAM: &str = r#"
import ctypes, os, sys, time
out = sys.argv[1]
with open(out + "/a.txt", "w") as f: f.write("one")
with open(out + "/b.txt", "w") as f: f.write("two")
os.rename(out + "/b.txt", out + "/c.txt")
os.remove(out + "/a.txt")
libc = ctypes.CDLL(None, use_errno=True)
print(libc.acct(None), ctypes.get_errno(), flush=True)
deadline = time.time() + 20
while not os.path.exists(out + "/host.txt") and time.time() < deadline:
    time.sleep(0.01)
"#;

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn writes_and_denials_are_chained_records_and_other_processes_writes_are_not() {
    if !ready() {
        return;
    }
    let dir = folder("run");
    let out = dir.join("out");
    let log = dir.join("audit.jsonl");
    let log_flag = format!("--audit-log={}", log.display());
    let child = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args([
            "exec",
            &log_flag,
            "audited.policy",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            PROGRAM,
            out.to_str().unwrap(),
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The test's own writes into the same folder while the program runs: once the
    // program's files are there, so both happen in one session.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.join("c.txt").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(out.join("host.txt"), "from the host").unwrap();
    std::fs::write(out.join("c-host.txt"), "also").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "-1 1\n",
        "acct failed with EPERM"
    );

    let all = records(&log);
    let kinds: Vec<&str> = all.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"session-start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"session-end"), "{kinds:?}");
    let o_ = out.display();
    let writes: Vec<(String, String, Option<String>)> = all
        .iter()
        .filter(|r| r["kind"] == "write")
        .map(|r| {
            let (path, from) = match r.get("file_result") {
                Some(to) => (to["path"].clone(), Some(r["file"]["path"].clone())),
                None => (r["file"]["path"].clone(), None),
            };
            (
                r["write"].as_str().unwrap().to_string(),
                path.as_str().unwrap().to_string(),
                from.map(|f| f.as_str().unwrap().to_string()),
            )
        })
        .collect();
    let w = |k: &str, p: &str, f: Option<&str>| {
        (
            k.to_string(),
            format!("{o_}/{p}"),
            f.map(|f| format!("{o_}/{f}")),
        )
    };
    assert_eq!(
        writes,
        [
            w("create", "a.txt", None),
            w("modify", "a.txt", None),
            w("delete", "a.txt", None),
            w("create", "b.txt", None),
            w("modify", "b.txt", None),
            w("rename", "c.txt", Some("b.txt")),
        ],
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("host.txt"),
        "another process's write was recorded as the program's:\n{text}"
    );
    let denials: Vec<&Value> = all.iter().filter(|r| r["kind"] == "denial").collect();
    assert_eq!(denials.len(), 1, "{text}");
    let d = denials[0];
    assert_eq!(d["layer"], "seccomp");
    assert_eq!(d["syscall"], "acct");
    assert_eq!(d["errno"], "EPERM");
    assert_eq!(d["decision"], "deny");
    // The location the compiler keeps for the syscalls block: a line of the policy file.
    assert!(
        d["rule"].as_str().unwrap().starts_with("audited.policy:"),
        "{d}"
    );
    assert_eq!(d["reason"], "not allowed by any rule of the syscalls block");
    assert!(d["nr"].as_u64().is_some() && d["pid"].as_u64().is_some());
    let end = all.last().unwrap();
    assert_eq!(end["count"], 7, "six writes and one denial");
    assert_eq!(end["writes_unattributed"], 0);

    let v = policyc(&["audit", "verify", log.to_str().unwrap()], &dir);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));

    // `show` prints them readably and filters by kind.
    let s = policyc(
        &["audit", "show", "--kind", "write", log.to_str().unwrap()],
        &dir,
    );
    let shown = String::from_utf8_lossy(&s.stdout).into_owned();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    assert!(
        shown.contains(&format!("rename {o_}/b.txt -> {o_}/c.txt")),
        "{shown}"
    );
    let s = policyc(
        &["audit", "show", "--kind", "denial", log.to_str().unwrap()],
        &dir,
    );
    let shown = String::from_utf8_lossy(&s.stdout).into_owned();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        shown.contains("seccomp `acct` failed with EPERM"),
        "{shown}"
    );

    // An edited write record breaks the chain.
    let edited = dir.join("edited.jsonl");
    std::fs::write(&edited, text.replacen("/a.txt\"", "/x.txt\"", 1)).unwrap();
    assert_ne!(std::fs::read(&edited).unwrap(), text.as_bytes());
    let v = policyc(&["audit", "verify", edited.to_str().unwrap()], &dir);
    assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
    assert!(stderr(&v).contains("P1702"), "{}", stderr(&v));
    // So does an edited denial.
    let edited = dir.join("edited-denial.jsonl");
    std::fs::write(&edited, text.replacen("\"EPERM\"", "\"EACCES\"", 1)).unwrap();
    let v = policyc(&["audit", "verify", edited.to_str().unwrap()], &dir);
    assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
}

/// `audit { writes }` is recorded for process policies only: the stdlib wasm policy, which
/// asks for it, is refused (125) rather than run as if it were recorded, and with
/// `--best-effort` runs saying the writes are not recorded.
#[test]
fn writes_asked_of_a_wasm_policy_are_refused_or_said_to_be_unrecorded() {
    let dir = super::scratch("audit-wasm");
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../stdlib-policies/policies/spreadsheet_generator.policy");
    let home = dir.display().to_string();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(["exec", "--quiet", "--home", &home])
            .args(extra)
            .arg(&policy)
            .args(["--", "/nonexistent/module.wasm"])
            .env("XDG_STATE_HOME", dir.join(".state"))
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let err = super::stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("audits `writes`, which `policyc exec` records for process policies only, not under wasm isolation"),
        "{err}"
    );
    let o = run(&["--best-effort"]);
    let err = super::stderr(&o);
    assert!(
        err.contains("the program's writes are NOT recorded in the audit log"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(127), "the module is not there\n{err}");
}
