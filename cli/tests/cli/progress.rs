//! Progress bars: drawn on a terminal for a run longer than a second, never when standard
//! error is a pipe or a file, in CI, or with JSON output.

use super::{scratch, stderr, stdout};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const POLICY: &str = r#"use std::runtime::python

policy notes {
    isolation container
    threats exfiltration
    include runtime_guards
    fs {
        read "~/Notes" at "/notes"
        scratch "/out" size 16MiB
    }
    net { egress none }
    syscalls { allow python }
}
"#;

/// Cases enough for a fuzz run longer than the progress delay (one second).
const CASES: &str = "400000";

/// `policyc fuzz` on the policy, long enough for progress, with `CI` as given.
fn long_fuzz(ci: Option<&str>, extra: &[&str]) -> (Output, Duration) {
    let dir = scratch(&format!("progress-{}", ci.unwrap_or("unset")));
    std::fs::write(dir.join("notes.policy"), POLICY).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_policyc"));
    cmd.args(["fuzz", "notes.policy", "--cases", CASES])
        .args(extra)
        .current_dir(&dir);
    match ci {
        Some(v) => cmd.env("CI", v),
        None => cmd.env_remove("CI"),
    };
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

/// Bytes only a drawn bar or spinner writes: carriage returns and terminal escapes.
fn drawn(text: &str) -> bool {
    text.contains('\r') || text.contains('\u{1b}') || text.contains("] ")
}

#[test]
fn no_progress_bytes_when_stderr_is_not_a_terminal() {
    let (out, took) = long_fuzz(None, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        took > Duration::from_secs(2),
        "the run ({took:?}) is too short to prove anything"
    );
    let err = stderr(&out);
    assert!(!drawn(&err), "progress on a pipe: {err:?}");
    assert!(!drawn(&stdout(&out)), "progress on stdout");
    assert!(stdout(&out).contains(&format!("fuzz notes: {CASES} cases")));
}

/// Run `policyc fuzz` under `script`, which gives it a pseudo-terminal: what the terminal
/// showed.
fn on_a_terminal(ci: Option<&str>) -> String {
    let dir = scratch(&format!("progress-pty-{}", ci.unwrap_or("unset")));
    std::fs::write(dir.join("notes.policy"), POLICY).unwrap();
    let line = format!(
        "{} fuzz notes.policy --cases {CASES}",
        env!("CARGO_BIN_EXE_policyc")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]).current_dir(&dir);
    match ci {
        Some(v) => cmd.env("CI", v),
        None => cmd.env_remove("CI"),
    };
    let out = cmd.output().expect("`script` (util-linux) runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn a_bar_appears_on_a_terminal_for_a_long_run_and_not_in_ci() {
    let shown = on_a_terminal(None);
    assert!(shown.contains(&format!("/{CASES}")), "no bar: {shown:?}");
    assert!(shown.contains("notes ["), "no bar: {shown:?}");
    let ci = on_a_terminal(Some("true"));
    assert!(!ci.contains(&format!("/{CASES}")), "a bar in CI: {ci:?}");
    assert!(ci.contains(&format!("fuzz notes: {CASES} cases")), "{ci}");
}
