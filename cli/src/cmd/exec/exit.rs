//! `policyc exec`'s own exit statuses (otherwise it exits with its command's), shared by
//! the process and wasm launchers.

use std::os::unix::process::ExitStatusExt as _;

/// policyc could not set the sandbox up.
pub const SETUP: u8 = 125;
/// The command exists but cannot be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;
/// The module trapped (as an abort would end a process).
#[cfg_attr(not(feature = "wasm"), allow(dead_code))]
pub const TRAP: u8 = 134;

/// Print why the sandbox could not be set up; the status to exit with.
pub fn fail(msg: impl std::fmt::Display) -> u8 {
    crate::output::say(
        "policyc exec: ",
        "exec",
        crate::output::Level::Error,
        &msg.to_string(),
    );
    SETUP
}

/// The status a shell reports for a finished process: its exit code, or 128 + N when
/// signal N killed it.
pub fn of_process(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + (sig & 0x7f)).unwrap_or(255),
        (None, None) => 1,
    }
}
