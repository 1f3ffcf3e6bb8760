//! One audit event per DNS decision, for the audit log's `dns` lines.

use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The response code a query got (RFC 1035 section 4.1.1), as the audit log spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rcode {
    /// The name exists; the answer may be empty (no record of that type: NODATA).
    NoError,
    /// The query was not a well-formed question.
    FormErr,
    /// The upstream resolver did not answer (`dns any` only), or the address book is full.
    ServFail,
    /// The name does not exist, as far as the sandbox is concerned.
    NxDomain,
    /// Not a standard query (an update, a notify ...).
    NotImp,
    /// The resolver does not serve this query (`dns none`, a class other than IN).
    Refused,
}

impl Rcode {
    /// The name `dig` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the resolver answered as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// An allow rule lists the name: answered from the policy, nobody asked upstream.
    Listed,
    /// `dns any`: the upstream resolver was asked for the name's A record.
    Forwarded,
    /// No rule allows the name (or a deny rule names it).
    NotAllowed,
    /// The name is an address literal, or not a valid host name.
    NotAName,
    /// The name may be resolved, but only A records are served.
    TypeNotServed,
    /// The policy says `dns none`.
    DnsOff,
    /// Not a standard query of class IN with one question.
    BadQuery,
    /// The upstream resolver failed or timed out (`dns any`).
    UpstreamFailed,
    /// The address book is full.
    BookFull,
}

/// The policy's verdict on the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allow,
    Deny,
}

/// The transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Udp,
    Tcp,
}

/// One DNS decision, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsEvent {
    /// The name asked for, as the query spelled it (without the trailing dot).
    pub name: String,
    /// The query type (`A`, `TXT`, `TYPE65280` ...).
    #[serde(rename = "type")]
    pub qtype: String,
    pub rcode: Rcode,
    pub decision: Decision,
    pub reason: Reason,
    /// The synthetic address answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Ipv4Addr>,
    /// The allow rule that listed the name, as the policy writes it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// True when the upstream resolver was asked (only under `dns any`).
    pub upstream: bool,
    pub transport: Transport,
}

/// Where the resolver reports its decisions.
pub type AuditSink = Arc<dyn Fn(&DnsEvent) + Send + Sync>;
