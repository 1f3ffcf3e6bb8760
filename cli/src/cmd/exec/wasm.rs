//! `policyc exec` for `wasm` policies: run a WASI preview 1 module or preview 2 component
//! under wasmtime-wasi with exactly the preopens, permissions and socket checks of the
//! policy's `wasi.json`. A component of a policy with egress rules gets the egress
//! supervisor's network: its sockets live in the supervisor's namespace, its connects reach
//! only the supervisor's listeners, and its name lookups are answered from the policy.
//!
//! Exit status: the module's own (`proc_exit`, or 0 when `_start` returns; a component's
//! `run` result is 0 or 1, or `wasi:cli/exit`'s); 134 when it traps (as an abort would);
//! 125 when policyc could not set the run up (including an egress supervisor that cannot
//! start, unless `--best-effort`); 127 when the file is not found; 126 when it cannot be
//! read or is not a module or component the host can run.

use super::exit::fail;
use super::load::Loaded;
use std::process::ExitCode;

#[cfg(feature = "wasm")]
pub fn run(
    loaded: &Loaded,
    command: &[String],
    best_effort: bool,
    flags: &super::egress::Flags,
) -> Result<ExitCode, u8> {
    use super::exit::{CANNOT_EXECUTE, NOT_FOUND, TRAP};
    use policyc_host::wasm::{kind, run_json, ExitStatus, Kind, Network, Options, Stdio};
    use policyc_targets::wasi::{Wasi, FILE};
    super::trace::unrecorded_elsewhere(loaded, best_effort)?;
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
    // A preview 1 module has no sockets: only a component needs the supervisor.
    let supervisor = match kind(&module) {
        Some(Kind::Component) => supervisor(loaded, flags, best_effort)?,
        _ => None,
    };
    let running = match &supervisor {
        Some(s) => Some(s.serve().map_err(|e| {
            fail(format!(
                "the egress supervisor could not start: {e}; refusing to run"
            ))
        })?),
        None => None,
    };
    if let Some(s) = &supervisor {
        s.started(std::process::id(), module_path);
    }
    let opts = Options {
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
        network: supervisor.as_ref().map(Network::of),
        ..Options::with_args(command.iter().cloned())
    };
    let result = run_json(&manifest, &module, &opts);
    drop(running);
    match result {
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
                &format!("`{module_path}` is not a module or component this host can run: {why}"),
            );
            Err(CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(e)),
    }
}

/// The egress supervisor for a component of `policy`, prepared (not yet serving); `None`
/// when the policy allows no egress, or when it cannot start and `best_effort` says to run
/// the component without a network.
#[cfg(feature = "wasm")]
fn supervisor(
    loaded: &Loaded,
    flags: &super::egress::Flags,
    best_effort: bool,
) -> Result<Option<policyc_host::egress::Supervisor>, u8> {
    use crate::output::{say, Level};
    use policyc_host::egress::{Error, Supervisor};
    let Some(config) = super::egress::config(loaded, flags)? else {
        return Ok(None);
    };
    match Supervisor::prepare(config) {
        Ok(s) => {
            for l in s.limits() {
                say("policyc exec: note: ", "exec", Level::Note, &l);
            }
            Ok(Some(s))
        }
        Err(e @ Error::Tokens(_)) => Err(super::egress::secret_error(&e.to_string())),
        Err(e) if best_effort => {
            say(
                "policyc exec: ",
                "exec",
                Level::Warning,
                &format!("the egress supervisor could not start: {e}"),
            );
            say(
                "policyc exec: ",
                "exec",
                Level::Warning,
                "--best-effort: NOT enforced: the policy's egress rules; the component runs with no network at all",
            );
            Ok(None)
        }
        Err(e) => Err(fail(format!(
            "the egress supervisor could not start: {e}; refusing to run (use --best-effort to run the component with no network)"
        ))),
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
pub fn run(_: &Loaded, _: &[String], _: bool, _: &super::egress::Flags) -> Result<ExitCode, u8> {
    Err(fail(
        "this policyc was built without the `wasm` feature, so it cannot run WASI modules",
    ))
}
