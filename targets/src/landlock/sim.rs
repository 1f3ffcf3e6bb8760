//! The simulator: answers requests by reading the emitted `landlock.json` back, never the IR.
//!
//! - A filesystem request needs one right: `read_file` to read, `write_file` to write,
//!   `execute` to run. It is allowed when some rule's parent is a component-wise prefix of
//!   the path and grants that right; a right the ruleset does not handle (or the kernel's
//!   ABI lacks) is not mediated.
//! - `~` paths resolve through the file's `home` variable; without one (container isolation,
//!   where a `~` path is a host object the mount table decides about) they are not mediated.
//! - A TCP connect is denied unless its port has a `connect_tcp` rule; one that has is not
//!   mediated, since Landlock cannot see the host (another layer decides it).
//! - Name resolution (UDP) and syscalls are not Landlock's.
//!
//! A file that does not parse is treated as denying everything: the launcher refuses to run.

use super::json::{parse, Ruleset};
use super::rights::{FsRight, NetRight, MAX_KNOWN_ABI};
use crate::common::{allow_if, deny_unless_left, ReadBack};
use crate::{Artifacts, Verdict};
use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;

/// The artifact this target emits.
pub const FILE: &str = "landlock.json";

/// Decide a request as a kernel with Landlock ABI `abi` enforces the ruleset in
/// best-effort mode: rights that ABI lacks are not enforced (0: no Landlock at all).
pub fn simulate_with_abi(artifacts: &Artifacts, request: &Request, abi: u32) -> Verdict {
    match crate::common::read(artifacts, FILE, |b| parse(b).ok()) {
        Ok(rs) => decide(&rs, request, abi),
        Err(v) => v,
    }
}

/// Decide a request against a parsed ruleset at kernel ABI `abi`.
pub fn decide(rs: &Ruleset, request: &Request, abi: u32) -> Verdict {
    match request {
        Request::Fs { access, path } => decide_fs(rs, *access, path, abi),
        // Landlock does not mediate metadata; `policyc exec` mounts every path of the
        // ruleset without `write_file` read-only (and leaves the others out of the
        // sandbox's file system), so a change of mode, owner, times or xattrs needs the
        // right a write needs.
        Request::Meta { path, .. } => decide_fs(rs, Access::Write, path, abi),
        Request::Connect { port, .. } => decide_connect(rs, *port, abi),
        Request::Resolve { .. } | Request::Syscall { .. } => Verdict::NotMediated,
    }
}

fn decide_fs(rs: &Ruleset, access: Access, path: &CanonPath, abi: u32) -> Verdict {
    let right = FsRight::for_request(access);
    if !rs.handled_fs.contains(&right) || right.abi() > abi {
        return Verdict::NotMediated;
    }
    // In the ruleset's path space (a `~` path without a home is not mediated).
    let Some(path) = crate::common::resolve_home(rs.home.as_ref(), path) else {
        return Verdict::NotMediated;
    };
    let granted = rs
        .paths
        .iter()
        .any(|r| path.starts_with(&r.path) && r.allowed.contains(&right));
    allow_if(granted)
}

fn decide_connect(rs: &Ruleset, port: u16, abi: u32) -> Verdict {
    let right = NetRight::ConnectTcp;
    if !rs.handled_net.contains(&right) || right.abi() > abi {
        return Verdict::NotMediated;
    }
    let open = rs
        .ports
        .iter()
        .any(|r| r.port == port && r.allowed.contains(&right));
    deny_unless_left(open)
}

/// How the simulator reads the ruleset back (see [`crate::Target::simulator`]), to decide
/// requests as a kernel with the ruleset's own ABI (or newer) enforces it.
pub(crate) const READ_BACK: ReadBack<Ruleset> = ReadBack {
    file: FILE,
    read: |bytes| parse(bytes).ok(),
    decide: |rs, request| decide(rs, request, MAX_KNOWN_ABI),
    raw: Verdict::NotMediated,
};
