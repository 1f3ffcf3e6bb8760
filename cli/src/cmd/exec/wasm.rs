//! `policyc exec` for `wasm` policies: run a WASI module under wasmtime-wasi with exactly the
//! preopens, permissions and socket checks of the policy's `wasi.json`.
//!
//! Exit status: the module's own (`proc_exit`, or 0 when `_start` returns); 134 when the
//! module traps (as an abort would); 125 when policyc could not set the run up; 127 when the
//! module file is not found; 126 when it cannot be read or is not a module the host can run.

use super::exit::fail;
use super::load::Loaded;
use std::process::ExitCode;

#[cfg(feature = "wasm")]
pub fn run(loaded: &Loaded, command: &[String]) -> Result<ExitCode, u8> {
    use super::exit::{CANNOT_EXECUTE, NOT_FOUND, TRAP};
    use policyc_host::wasm::{run_json, ExitStatus, Options, Stdio};
    use policyc_targets::wasi::{Wasi, FILE};
    let manifest = with_passed_env(&loaded.artifact(&Wasi, FILE)?, &loaded.policy)?;
    let Some(module_path) = command.first() else {
        return Err(fail("no module given"));
    };
    let module = std::fs::read(module_path).map_err(|e| {
        let message = format!("`{module_path}`: {e}");
        crate::output::print_message(
            crate::output::error_format(),
            &format!("policyc exec: {message}"),
            "io",
            crate::output::Level::Error,
            &message,
            &[("file", module_path.as_str().into())],
        );
        if e.kind() == std::io::ErrorKind::NotFound {
            NOT_FOUND
        } else {
            CANNOT_EXECUTE
        }
    })?;
    let opts = Options {
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
        ..Options::with_args(command.iter().cloned())
    };
    match run_json(&manifest, &module, &opts) {
        Ok(output) => match output.status {
            ExitStatus::Exited(code) => Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))),
            ExitStatus::Trapped(why) => {
                crate::output::say(
                    "policyc exec: ",
                    "exec",
                    crate::output::Level::Error,
                    &format!("the module trapped: {why}"),
                );
                Err(TRAP)
            }
        },
        Err(policyc_host::wasm::Error::Module(why)) => {
            crate::output::say(
                "policyc exec: ",
                "exec",
                crate::output::Level::Error,
                &format!("`{module_path}` is not a module this host can run: {why}"),
            );
            Err(CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(e)),
    }
}

/// `wasi.json` with the variables the policy passes added to its `env` (which holds the
/// policy's `set` values); the module sees nothing else of the caller's environment.
#[cfg(feature = "wasm")]
fn with_passed_env(manifest: &[u8], policy: &policyc_compiler::ir::Policy) -> Result<Vec<u8>, u8> {
    let mut json: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| fail(format!("wasi.json: {e}")))?;
    let Some(env) = json.get_mut("env").and_then(|e| e.as_object_mut()) else {
        return Err(fail("wasi.json has no `env` object"));
    };
    for name in &policy.env.pass {
        if let Ok(v) = std::env::var(name) {
            env.entry(name.clone())
                .or_insert(serde_json::Value::String(v));
        }
    }
    serde_json::to_vec(&json).map_err(|e| fail(format!("wasi.json: {e}")))
}

#[cfg(not(feature = "wasm"))]
pub fn run(_: &Loaded, _: &[String]) -> Result<ExitCode, u8> {
    Err(fail(
        "this policyc was built without the `wasm` feature, so it cannot run WASI modules",
    ))
}
