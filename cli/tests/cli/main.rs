//! The `policyc` binary, run as a user would, in one test binary: the subcommands' exit
//! statuses, output formats and files (`commands`), check agreeing with build
//! (`check_build`), the policy blocks of README.md and the book (`docs`), the review
//! commands (`review`: diff, explain, build --check, fuzz shards), the GitHub Action's
//! steps on a fixture repository (`action`), `policyc import` (`import`), progress bars on
//! a terminal only (`progress`), provenance in
//! built artifacts and `diff --artifacts` (`provenance`), and
//! `policyc exec` on the real kernel (`exec`, `exec_egress`, `exec_container`, `exec_image`,
//! `exec_trace`, `exec_audit`, `exec_wasm`, `exec_from`: a built folder run with `--from`,
//! `exec_stdlib`: every stdlib policy with a real program, and the email assistant with its
//! mail relays and approvals, `exec_mail`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod action;
mod audit;
mod check_build;
mod commands;
mod diff_builds;
mod docs;
mod error_format;
mod exec;
mod exec_audit;
mod exec_container;
mod exec_egress;
mod exec_from;
mod exec_image;
mod exec_inherit;
mod exec_ipc;
mod exec_mail;
mod exec_stdlib;
mod exec_trace;
mod exec_wasm;
mod import;
mod long_paths;
mod modules;
mod progress;
mod provenance;
mod review;
mod suppress;
mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `policyc` with `args` in `cwd`; a default audit log goes under `cwd`, never into
/// the caller's state folder (where tests running at once would contend for it).
fn policyc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_STATE_HOME", cwd.join(".state"))
        .output()
        .unwrap()
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policyc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert that a run's stderr holds `what`.
#[track_caller]
fn assert_stderr_has(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(err.contains(what), "no `{what}` in stderr:\n{err}");
}
