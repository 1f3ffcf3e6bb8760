//! The simulator: answers requests by reading the emitted `wasi.json` back, never the IR.
//!
//! - A guest path resolves through the preopen with the longest guest prefix (as wasi-libc
//!   resolves it; nested preopens are rejected by the reader, so no other preopen reaches the
//!   path). No preopen: denied. Reading is allowed in every preopen, writing only in a
//!   read-write one. Executing is always denied: WASI has no exec.
//! - A `~` path names a host object: it resolves with the file's `home` and is reachable
//!   when some host preopen's directory holds it and the preopen allows the access there.
//!   Without a `home` the simulator cannot tell, and says so (not mediated).
//! - A connection is allowed when an allow rule matches the host (normalised exactly as the
//!   compiler normalises hosts) and the port, and no deny rule does; `egress none` denies
//!   everything. This is what the egress proxy enforces from the file; the module itself has
//!   no sockets under WASI preview 1, and a preview 2 host's socket check is narrower still.
//! - Name resolution follows the DNS mode: `allow-listed-only` resolves exactly the names an
//!   allow rule matches (on any port) and no port-less deny rule matches.
//! - Syscalls: a WebAssembly module has no instruction that makes one; it reaches the host
//!   only through the WASI functions it imports, so every syscall the program would make is
//!   denied. (The host process's own syscalls are the launcher's, and the build report says
//!   so.)
//!
//! A file that does not parse is treated as denying everything: the launcher refuses to run.

use super::manifest::{parse, Manifest, NetRule, Perms, Source};
use crate::common::{allow_if, ReadBack};
use crate::Verdict;
use policyc_compiler::ast::{Access, MetaOp};
use policyc_compiler::hosts::Host;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;

/// The artifact this target emits.
pub const FILE: &str = "wasi.json";

/// Decide a request against a parsed manifest.
pub fn decide(m: &Manifest, request: &Request) -> Verdict {
    match request {
        Request::Fs { access, path } => decide_fs(m, *access, path),
        Request::Connect { host, port } => allow_if(connect_allowed(m, host, *port)),
        Request::Resolve { host } => allow_if(resolve_allowed(m, host)),
        Request::Syscall { .. } => Verdict::Deny,
        // WASI can set times (on what the module may write) but has no chmod, chown or
        // xattr call at all.
        Request::Meta {
            change: MetaOp::Utime,
            path,
        } => decide_fs(m, Access::Write, path),
        Request::Meta { .. } => Verdict::Deny,
    }
}

fn decide_fs(m: &Manifest, access: Access, path: &CanonPath) -> Verdict {
    if access == Access::Exec {
        return Verdict::Deny;
    }
    if !path.is_home() {
        return allow_if(guest_allows(m, access, path));
    }
    let Some(object) = crate::common::resolve_home(m.home.as_ref(), path) else {
        return Verdict::NotMediated;
    };
    let reachable = m.preopens.iter().any(|p| {
        let Source::Host(host) = &p.source else {
            return false;
        };
        object
            .strip_prefix(host)
            .is_some_and(|rest| guest_allows(m, access, &p.guest.join(rest)))
    });
    allow_if(reachable)
}

fn guest_allows(m: &Manifest, access: Access, guest: &CanonPath) -> bool {
    match (m.resolve(guest), access) {
        (Some(_), Access::Read) => true,
        (Some(p), Access::Write) => p.perms == Perms::ReadWrite,
        _ => false,
    }
}

/// Whether the egress rules let the module connect to `host:port` (the matcher the egress
/// artifact's simulator uses too: [`crate::egress::connect_allowed`]).
pub fn connect_allowed(m: &Manifest, host: &Host, port: u16) -> bool {
    let net = &m.network;
    net.egress && crate::common::connect_rule(&net.rules, host, port).is_some()
}

/// Whether the DNS mode lets the module resolve `host`: names an allow rule matches, unless
/// a deny rule on every port matches them.
pub fn resolve_allowed(m: &Manifest, host: &Host) -> bool {
    let net = &m.network;
    let answered = net.rules.iter().filter(|r| r.allow).map(|r| &r.host);
    let refused = net
        .rules
        .iter()
        .filter(|r| !r.allow && r.port.is_none())
        .map(|r| &r.host);
    net.egress && crate::common::resolves(net.dns, answered, refused, host)
}

impl crate::common::NetRuleFields for NetRule {
    fn allows(&self) -> bool {
        self.allow
    }

    fn pattern(&self) -> &policyc_compiler::hosts::HostPattern {
        &self.host
    }

    fn port(&self) -> Option<u16> {
        self.port
    }
}

/// How the simulator reads the manifest back (see [`crate::Target::simulator`]). A module
/// makes no syscalls: every one made by number is denied.
pub(crate) const READ_BACK: ReadBack<Manifest> = ReadBack {
    file: FILE,
    read: |bytes| parse(bytes).ok(),
    decide,
    raw: Verdict::Deny,
};
