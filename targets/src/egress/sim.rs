//! The simulator, and the decisions the egress supervisor makes: both read the parsed
//! `egress.json`, never the IR.
//!
//! - A connection to `host:port` is allowed when no deny rule matches host and port and an
//!   allow rule does ([`connect_allowed`] returns that rule); `egress none` denies every
//!   connection. A `*.example.com` rule matches strict subdomains only, never
//!   `example.com` itself.
//! - A connection to an address literal that is not public (loopback, private, link-local,
//!   CGNAT, ULA, multicast, IPv4-mapped ...: `policyc_compiler::hosts::non_public`) is
//!   denied whatever the rules say: the supervisor never dials such an address. The build
//!   report says so for each allow rule that names one (`P1203`).
//! - A name resolves under `dns allow-listed-only` when a pattern of `dns.names` matches it
//!   and none of `dns.refused` does; `dns any` resolves every name, `dns none` (and
//!   `egress none`) none.
//! - Filesystem access and syscalls are not this layer's: not mediated.
//!
//! This is exactly what `policyc_compiler::eval::decide` says for connect and resolve
//! requests, except for the reported narrowing above; the property tests check it on random
//! policies.

use super::artifact::{Artifact, Rule};
use crate::common::{allow_if, connect_rule, resolves, NetRuleFields, ReadBack};
use crate::Verdict;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::Request;

/// The artifact this target emits.
pub const FILE: &str = "egress.json";

/// Decide a request against a parsed artifact.
pub fn decide(a: &Artifact, request: &Request) -> Verdict {
    match request {
        Request::Connect { host, port } => allow_if(connect_allowed(a, host, *port).is_some()),
        Request::Resolve { host } => allow_if(resolve_allowed(a, host)),
        Request::Fs { .. } | Request::Meta { .. } | Request::Syscall { .. } => Verdict::NotMediated,
    }
}

/// The allow rule that admits a connection to `host:port`, or `None` when it is denied
/// (always for an address that is not public, whatever the rules say).
pub fn connect_allowed<'a>(a: &'a Artifact, host: &Host, port: u16) -> Option<&'a Rule> {
    if !a.egress || host.non_public().is_some() {
        return None;
    }
    connect_rule(&a.rules, host, port)
}

/// Whether the resolver may answer a lookup of `host`.
pub fn resolve_allowed(a: &Artifact, host: &Host) -> bool {
    a.egress && resolves(a.dns.mode, &a.dns.names, &a.dns.refused, host)
}

impl NetRuleFields for Rule {
    fn allows(&self) -> bool {
        self.allow
    }

    fn pattern(&self) -> &HostPattern {
        &self.host
    }

    fn port(&self) -> Option<u16> {
        self.port
    }
}

/// How the simulator reads the artifact back (see [`crate::Target::simulator`]). A file
/// that does not parse denies everything: the supervisor refuses to start.
pub(crate) const READ_BACK: ReadBack<Artifact> = ReadBack {
    file: FILE,
    read: |bytes| Artifact::parse(bytes).ok(),
    decide,
    raw: Verdict::NotMediated,
};
