//! The policy DNS resolver: the only resolver the sandbox has, answering from the policy.
//!
//! It listens inside the sandbox's network namespace (the broker opens its sockets there, at
//! `127.0.0.53:53`) and answers:
//!
//! - an A query for a name an allow rule lists with the name's synthetic loopback address
//!   from the address book ([`Names`]), so that the connection that follows reaches the
//!   broker, which knows the name by the address;
//! - any other type for such a name (AAAA, TXT, ANY, NULL, SVCB, HTTPS, MX ...) with NOERROR
//!   and no records (NODATA). AAAA has no answer because every synthetic address is IPv4:
//!   with an empty AAAA answer, resolvers' `getaddrinfo` returns the A answer and clients
//!   connect over IPv4 at once, where a refused or failed AAAA would make some of them give
//!   up or retry;
//! - a name no allow rule lists (or an address literal, or anything that is not a valid host
//!   name) with NXDOMAIN: programs see "no such host" at once, where REFUSED would make
//!   glibc try again and report a temporary failure. Nobody upstream is asked;
//! - everything under `dns none` with REFUSED; a query that is not a standard query with one
//!   question of class IN with NOTIMP, FORMERR or REFUSED; a packet that does not parse, or a
//!   response, with nothing at all.
//!
//! Under `dns any` alone, an A query for a name no rule lists is forwarded to the upstream
//! resolver (by default the host's first `nameserver`), and the sandbox still gets a synthetic
//! address (never the real one), or NXDOMAIN when the name does not exist upstream; the
//! broker decides on the connection as on any other. Every other type for such a name gets
//! NODATA and is never forwarded. If the upstream resolver fails, the answer is SERVFAIL.

mod artifact;
mod audit;
mod message;
mod serve;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod upstream;

pub use audit::{AuditSink, Decision, DnsEvent, Rcode, Reason, Transport};
pub use serve::{Error, Running};
pub use upstream::{system_upstream, upstream_from_resolv_conf};

use crate::egress::names::Names;
use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::Host;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use upstream::Upstream;

/// How long the resolver waits for the upstream resolver (`dns any`).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// The resolver: the address book it answers from, where it reports, and, under `dns any`,
/// the upstream resolver it forwards A queries to.
#[derive(Clone)]
pub struct Resolver {
    names: Arc<Names>,
    upstream: Option<SocketAddr>,
    audit: Option<AuditSink>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("names", &self.names)
            .field("upstream", &self.upstream)
            .field("audit", &self.audit.is_some())
            .finish()
    }
}

/// What the resolver does with one query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    rcode: Rcode,
    answer: Option<Ipv4Addr>,
    decision: Decision,
    reason: Reason,
    rule: Option<String>,
    upstream: bool,
}

impl Outcome {
    fn deny(rcode: Rcode, reason: Reason, rule: Option<String>) -> Outcome {
        Outcome {
            rcode,
            answer: None,
            decision: Decision::Deny,
            reason,
            rule,
            upstream: false,
        }
    }
}

impl Resolver {
    /// A resolver answering from `names` (and the policy behind it). Under `dns any` its
    /// upstream is the host's first `nameserver` in `/etc/resolv.conf`; with none there,
    /// forwarded queries fail (SERVFAIL) until [`Resolver::with_upstream`] names one.
    pub fn new(names: Arc<Names>) -> Resolver {
        let upstream = (names.policy().dns_mode() == DnsMode::Any)
            .then(|| system_upstream(Path::new("/etc/resolv.conf")))
            .flatten();
        Resolver {
            names,
            upstream,
            audit: None,
        }
    }

    /// Forward `dns any` queries to `addr` instead (never used under another mode).
    pub fn with_upstream(mut self, addr: SocketAddr) -> Resolver {
        self.upstream = Some(addr);
        self
    }

    /// Report every decision to `sink`.
    pub fn with_audit(mut self, sink: AuditSink) -> Resolver {
        self.audit = Some(sink);
        self
    }

    /// The address book the resolver answers from.
    pub fn names(&self) -> &Arc<Names> {
        &self.names
    }

    /// The answer to one DNS message received over `transport`, or `None` to drop it (a
    /// packet that does not parse, or not a query).
    pub async fn answer(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let query = message::parse_query(packet)?;
        let outcome = match self.decide(&query) {
            Ok(outcome) => outcome,
            Err(host) => self.forward(&host).await,
        };
        let reply = message::reply(&query, outcome.rcode, outcome.answer);
        self.report(&query, &outcome, transport);
        reply
    }

    /// The outcome of a query from the policy alone, or `Err(host)` when it must be
    /// forwarded upstream (`dns any`, an A query for a name no rule lists).
    fn decide(&self, query: &Message) -> Result<Outcome, Host> {
        if query.metadata.op_code != OpCode::Query {
            return Ok(Outcome::deny(Rcode::NotImp, Reason::BadQuery, None));
        }
        let [q] = query.queries.as_slice() else {
            return Ok(Outcome::deny(Rcode::FormErr, Reason::BadQuery, None));
        };
        if q.query_class() != DNSClass::IN {
            return Ok(Outcome::deny(Rcode::Refused, Reason::BadQuery, None));
        }
        let policy = self.names.policy();
        let mode = policy.dns_mode();
        if mode == DnsMode::None {
            return Ok(Outcome::deny(Rcode::Refused, Reason::DnsOff, None));
        }
        let Some(host) = host_of(q.name()) else {
            return Ok(Outcome::deny(Rcode::NxDomain, Reason::NotAName, None));
        };
        let listed = policy.listed(&host);
        let a_query = q.query_type() == RecordType::A;
        if !listed.allow {
            return match mode {
                DnsMode::Any if a_query => Err(host),
                DnsMode::Any => Ok(Outcome::deny(Rcode::NoError, Reason::TypeNotServed, None)),
                _ => Ok(Outcome::deny(
                    Rcode::NxDomain,
                    Reason::NotAllowed,
                    listed.rule,
                )),
            };
        }
        if !a_query {
            return Ok(Outcome::deny(
                Rcode::NoError,
                Reason::TypeNotServed,
                listed.rule,
            ));
        }
        Ok(self.synthetic(&host, Reason::Listed, listed.rule, false))
    }

    /// The synthetic answer for an allowed name (SERVFAIL when the book is full).
    fn synthetic(&self, host: &Host, reason: Reason, rule: Option<String>, up: bool) -> Outcome {
        match self.names.address_for(host) {
            Some(addr) => Outcome {
                rcode: Rcode::NoError,
                answer: Some(addr),
                decision: Decision::Allow,
                reason,
                rule,
                upstream: up,
            },
            None => Outcome {
                upstream: up,
                ..Outcome::deny(Rcode::ServFail, Reason::BookFull, rule)
            },
        }
    }

    /// `dns any`: ask upstream whether `host` has an A record; answer synthetically.
    async fn forward(&self, host: &Host) -> Outcome {
        let failed = Outcome {
            upstream: true,
            ..Outcome::deny(Rcode::ServFail, Reason::UpstreamFailed, None)
        };
        let (Some(server), Ok(name)) = (self.upstream, Name::from_ascii(format!("{host}."))) else {
            return failed;
        };
        let allowed = |rcode| Outcome {
            rcode,
            answer: None,
            decision: Decision::Allow,
            reason: Reason::Forwarded,
            rule: None,
            upstream: true,
        };
        match upstream::query_a(server, &name, UPSTREAM_TIMEOUT).await {
            Ok(Upstream::Exists) => self.synthetic(host, Reason::Forwarded, None, true),
            Ok(Upstream::NoData) => allowed(Rcode::NoError),
            Ok(Upstream::NxDomain) => allowed(Rcode::NxDomain),
            Err(_) => failed,
        }
    }

    fn report(&self, query: &Message, outcome: &Outcome, transport: Transport) {
        let Some(sink) = &self.audit else { return };
        let (name, qtype) = query.queries.first().map_or_else(
            || (String::new(), String::new()),
            |q| {
                let name = q.name().to_ascii();
                let name = name.strip_suffix('.').unwrap_or(&name).to_string();
                (name, message::type_name(q.query_type()))
            },
        );
        sink(&DnsEvent {
            name,
            qtype,
            rcode: outcome.rcode,
            decision: outcome.decision,
            reason: outcome.reason,
            answer: outcome.answer,
            rule: outcome.rule.clone(),
            upstream: outcome.upstream,
            transport,
        });
    }
}

/// The host a query names, normalised as policies are; `None` for an address literal or
/// anything that is not a valid host name.
fn host_of(name: &Name) -> Option<Host> {
    let ascii = name.to_ascii();
    match Host::parse(ascii.strip_suffix('.').unwrap_or(&ascii)) {
        Ok(h @ Host::Domain(_)) => Some(h),
        _ => None,
    }
}
