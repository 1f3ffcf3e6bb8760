//! The WASI target: `wasi.json`, policyc's capability manifest for WASI hosts, plus the
//! host formats that can express a policy exactly (`extism.json`, `wasmtime-run.json`; see
//! [`formats`]).
//!
//! # `wasi.json`, format version 1
//!
//! ```json
//! {
//!   "format": "policyc-wasi",
//!   "version": 1,
//!   "policy": "spreadsheet_generator",
//!   "home": "/home/user",
//!   "preopens": [
//!     { "guest": "/data", "kind": "dir", "host": "/home/user/Documents/Finance", "access": "read-only" },
//!     { "guest": "/out", "kind": "scratch", "size": 67108864, "access": "read-write" }
//!   ],
//!   "env": {},
//!   "network": {
//!     "egress": "allow-listed",
//!     "rules": [
//!       { "action": "deny", "host": "*.formulas.example.com", "port": null, "via": "proxy" },
//!       { "action": "allow", "host": "formulas.example.com", "port": 443, "via": "proxy" }
//!     ],
//!     "dns": "allow-listed-only"
//!   },
//!   "limits": { "memory": 268435456 }
//! }
//! ```
//!
//! - `format` and `version` name the format; a reader refuses any other (fail closed).
//! - `policy`: the policy's name. `home`: the home directory `~` was resolved with (`null`
//!   when the build had none and needed none). The file names host paths, so it is built for
//!   one machine's home.
//! - `preopens`, sorted by `guest` (absolute, canonical; none lies at or beneath another,
//!   since the module can always reach an outer preopen's whole tree through its
//!   descriptor). `kind` is `dir` (an existing host directory, `host` absolute and canonical
//!   with `~` resolved), `scratch` or `tmpfs` (a fresh, empty host directory the launcher
//!   creates for the run and deletes after it; `size` in bytes is recorded, not enforced by
//!   a WASI host). `access` is `read-only` or `read-write`; nothing is ever executable (WASI
//!   has no exec). A launcher grants exactly these preopens and no others; with
//!   wasmtime-wasi that is `preopened_dir(host, guest, FsPerms::ReadOnly | ReadWrite)`.
//! - `env`: the environment given to the module: always empty from policyc (no variable is
//!   passed through; tokens never travel in the environment).
//! - `network`: `egress` is `none` (no connection, no name resolution, `rules` empty and
//!   `dns` `none`) or `allow-listed`. `rules` are the policy's egress rules, denies first:
//!   `host` is a normalised host or `*.domain` pattern (lower-case, punycode, IPv4 in dotted
//!   form, IPv6 in brackets; written exactly as `policyc_compiler::hosts` prints it), `port`
//!   a port or `null` for every port, `via` `proxy` or `direct`. A connection is allowed when
//!   an allow rule matches and no deny rule does. `dns` is `none`, `allow-listed-only` (names
//!   some allow rule matches) or `any`.
//! - `limits.memory`: bytes of linear memory per memory, when the policy limits memory.
//!
//! # What WASI cannot express
//!
//! A preopen grants a whole tree: a deny beneath a preopen's host directory that removes a
//! right the preopen gives fails the build (`P1101`), as does a mount nested in another's
//! guest path (`P1102`) and a `~` path without a home (`P1103`). Denies covering a whole
//! preopen narrow it and `exec` grants become read-only (`P1104`); what the host leaves to
//! other layers is `P1105`; host formats that would widen are not emitted (`P1106`). The
//! [`emit`] module has the details; [`sim`] is the simulator, which reads only the file.

mod emit;
pub mod formats;
mod manifest;
mod report;
mod sim;

#[cfg(test)]
mod tests;

pub use formats::{EXTISM_FILE, WASMTIME_FILE};
pub use manifest::{
    parse, Limits, Manifest, NetRule, Network, Perms, Preopen, Source, FORMAT, VERSION,
};
pub use sim::{connect_allowed, decide as decide_parsed, resolve_allowed, FILE};

use crate::{Artifacts, EmitContext, Emitted, Target, Verdict};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::syscalls::Arch;
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeMap;

/// Why a `wasi.json` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not a valid wasi.json: {0}")]
    Json(String),
    #[error("wasi.json: {0}")]
    Invalid(String),
}

/// Serialise the manifest and check that it reads back exactly.
fn round_trip(policy: &Policy, m: &Manifest) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let fail = |why: String| {
        vec![Diagnostic::new(
            Code::WasiRoundTrip,
            policy.span,
            format!("wasi: {why}"),
        )]
    };
    let bytes = m.to_json().map_err(|e| fail(e.to_string()))?;
    match parse(&bytes) {
        Ok(back) if &back == m => Ok(bytes),
        Ok(_) => Err(fail("wasi.json reads back differently".to_string())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Figures for the build manifest.
fn stats(m: &Manifest) -> BTreeMap<String, u64> {
    let count = |f: fn(&Preopen) -> bool| m.preopens.iter().filter(|p| f(p)).count() as u64;
    crate::common::counts([
        ("preopens", m.preopens.len() as u64),
        ("read_only", count(|p| p.perms == Perms::ReadOnly)),
        (
            "fresh_dirs",
            count(|p| !matches!(p.source, Source::Host(_))),
        ),
        ("egress_rules", m.network.rules.len() as u64),
    ])
}

/// The wasi target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasi;

impl Target for Wasi {
    fn name(&self) -> &'static str {
        "wasi"
    }

    fn in_stack(&self, isolation: Isolation) -> bool {
        isolation == Isolation::Wasm
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        if policy.isolation != Isolation::Wasm {
            return Ok(Emitted::nothing(report::not_wasm(policy)));
        }
        let home = emit::home(policy, ctx.home.as_deref())?;
        let planned = emit::plan(policy, home.as_ref())?;
        let m = emit::manifest(policy, home.as_ref(), &planned);
        let bytes = round_trip(policy, &m)?;
        let mut e = Emitted::one(FILE, bytes, stats(&m), report::report(policy, &planned, &m));
        let (files, not_emitted) = formats::emit(policy, &planned, &m);
        e.artifacts.extend(files);
        e.report.extend(not_emitted);
        Ok(e)
    }

    fn simulate_raw(
        &self,
        artifacts: &Artifacts,
        _abi: Arch,
        _nr: u32,
        _args: [u64; 6],
    ) -> Verdict {
        // A module makes no syscalls (see `sim`); without a manifest nothing runs at all.
        if artifacts.contains_key(sim::FILE) {
            Verdict::Deny
        } else {
            Verdict::NotMediated
        }
    }

    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn crate::Simulator> {
        sim::READ_BACK.simulator(artifacts)
    }
}
