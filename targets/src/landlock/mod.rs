//! The Landlock target: `landlock.json`, in landlock-lsm/landlockconfig's format.
//!
//! **Paths.** The ruleset names the paths the sandboxed program sees: under `process`
//! isolation the host paths, with `~` resolved from [`EmitContext::home`] and written
//! `${home}/...` (a landlockconfig variable the file defines); under `container` isolation
//! the guest paths, since the ruleset is applied inside the mount namespace where mounts
//! appear at their guest paths. `wasm` policies get no ruleset: WASI preopens enforce them.
//!
//! **Rights.** `read` grants `read_file` and `read_dir`; `write` adds `write_file`,
//! `remove_dir`, `remove_file`, `make_dir`, `make_reg`, `make_sock`, `make_fifo`, `make_sym`,
//! `truncate` and `ioctl_dev`; `exec` adds `execute`; scratch areas and tmpfs are read and
//! write, never execute. Every filesystem right up to the ruleset's ABI is handled, so none
//! is silently unrestricted. `refer` is handled and never granted: it would let a file be
//! renamed or linked into another directory (Landlock checks that the move gains no rights,
//! but the policy never asks for it); renames within one directory still work, and tools like
//! `mv` fall back to copy and delete on the EXDEV they get. `make_char` and `make_block` are
//! not granted either (no agent creates device nodes).
//!
//! **Files and directories.** Directory-only rights (`read_dir`, `remove_*`, `make_*`,
//! `refer`) mean nothing on a regular file and the kernel rejects them there. Whether a
//! granted path is a file cannot be known when building (no `stat` on the build machine), so
//! the file lists the tree rights and the launcher (`policyc_host::landlock::apply`) drops the directory-only ones for a path that
//! is not a directory when it opens it, reporting each such rule (landlockconfig's own
//! loader does the same, through the `landlock` crate).
//!
//! **What cannot be expressed.** Landlock is allow-only and inherited down a tree: a deny
//! beneath a grant that gives a right the deny removes fails the build (`P0801`); a mount
//! nested in one that grants more fails it (`P0802`); a grant wholly inside a deny loses the
//! denied accesses (reported, `P0806`). The `emit` module has the details.
//!
//! **Network (ABI 4).** `egress none` handles `connect_tcp` and `bind_tcp` with no port rule:
//! no TCP at all. Egress allow rules open `connect_tcp` on their ports (Landlock cannot see
//! hosts, so the simulator says such a connect is not mediated); a rule for every port
//! leaves `connect_tcp` unhandled, and says so. Binding is always denied. UDP, and so DNS, is
//! not Landlock's before ABI 10 and is reported.
//!
//! **Scopes (ABI 6).** Abstract UNIX sockets and signals are always scoped to the sandbox.
//!
//! **ABI.** The file's `abi` is the highest ABI of any right it names, and a launcher treats
//! it as the minimum: `policyc_host::landlock::apply` without best effort fails on an older kernel, and
//! [`unenforced_at`] lists what best effort would drop. The build report has one `P0804` warning
//! per ABI above 1 that the ruleset uses, with the policy's deny tests an older kernel no
//! longer enforces (found with [`simulate_with_abi`]).

mod emit;
mod json;
mod report;
mod rights;
mod sim;

#[cfg(test)]
mod tests;

pub use json::{parse, PathRule, PortRule, Ruleset, HOME_VAR};
pub use rights::{
    unenforced_at, FsRight, Gap, NetRight, ScopeRight, MAX_EMITTED_ABI, MAX_KNOWN_ABI,
};
pub use sim::{decide as decide_parsed, simulate_with_abi, FILE};

use crate::{Artifacts, EmitContext, Emitted, Target};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::Diagnostic;

/// Why a `landlock.json` could not be read, or a ruleset not applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a valid landlock.json: {0}")]
    Json(String),
    #[error("landlock.json: {0}")]
    Invalid(String),
    #[error("rule path `{0}` does not exist; Landlock rules attach to existing files, and a missing path is not skipped")]
    MissingPath(String),
    #[error("rule path `{0}` cannot be opened: {1}")]
    Open(String, std::io::Error),
    #[error("rule path `{path}` is or passes through a symlink{}; write the real path in the policy", resolves_to(.resolved))]
    Symlink {
        path: String,
        /// Where it resolves to, when it is not itself a symlink.
        resolved: Option<String>,
    },
    #[error("the kernel cannot enforce the ruleset: {0}")]
    Kernel(String),
}

fn resolves_to(resolved: &Option<String>) -> String {
    resolved
        .as_ref()
        .map(|p| format!(" (it resolves to `{p}`)"))
        .unwrap_or_default()
}

/// The minimum Landlock ABI a `landlock.json` needs.
pub fn required_abi(json: &[u8]) -> Result<u32, Error> {
    parse(json).map(|rs| rs.abi)
}

/// Serialise the ruleset and check that it reads back exactly: what a launcher loads is
/// what was built.
fn round_trip(policy: &Policy, rs: &Ruleset) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let fail = |why: String| {
        vec![Diagnostic::new(
            policyc_compiler::Code::LandlockRoundTrip,
            policy.span,
            format!("landlock: {why}"),
        )]
    };
    let bytes = rs.to_json().map_err(|e| fail(e.to_string()))?;
    match parse(&bytes) {
        Ok(back) if &back == rs => Ok(bytes),
        Ok(_) => Err(fail("landlock.json reads back differently".to_string())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Figures for the build manifest.
fn stats(rs: &Ruleset) -> std::collections::BTreeMap<String, u64> {
    crate::common::counts([
        ("abi", u64::from(rs.abi)),
        ("path_rules", rs.paths.len() as u64),
        ("port_rules", rs.ports.len() as u64),
    ])
}

/// The landlock target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Landlock;

impl Target for Landlock {
    fn name(&self) -> &'static str {
        "landlock"
    }

    fn in_stack(&self, isolation: Isolation) -> bool {
        isolation == Isolation::Process
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        if policy.isolation == Isolation::Wasm {
            return Ok(Emitted::nothing(report::wasm(policy)));
        }
        let space = emit::space(policy, ctx.home.as_deref())?;
        let grants = emit::checked_grants(policy, &space)?;
        let rs = emit::ruleset(policy, &space, &grants);
        let bytes = round_trip(policy, &rs)?;
        let mut e = Emitted::one(FILE, bytes, stats(&rs), Vec::new());
        e.report = report::report(policy, &grants, &rs, &e.artifacts);
        Ok(e)
    }

    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn crate::Simulator> {
        sim::READ_BACK.simulator(artifacts)
    }
}
