//! Running one test alone in a fresh process of this test binary, for tests that must have
//! no other test thread beside them: one that forks and runs ordinary std code in the
//! child, one that installs a filter on every thread of its process.

use std::process::{Command, Output};

/// Set in a re-run: the name of the one test it is for.
const RERUN: &str = "POLICYC_LIVE_RERUN";

/// A test's name as the harness knows it (`module::function`), from `module_path!()`.
pub fn name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{function}"),
        None => function.to_string(),
    }
}

/// True in the process [`rerun`] started for test `name`.
pub fn is_rerun_of(name: &str) -> bool {
    std::env::var(RERUN).is_ok_and(|v| v == name)
}

/// Run test `name` alone (`--exact`, one test thread) in a fresh process of this test
/// binary, where [`is_rerun_of`] is true; what it printed.
pub fn rerun(name: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(RERUN, name)
        .output()
        .unwrap()
}

/// Run test `name` alone ([`rerun`]) and fail unless it ran and passed there; its output
/// is passed on.
pub fn run_alone(name: &str) {
    let out = rerun(name);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "`{name}` failed when run alone ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
