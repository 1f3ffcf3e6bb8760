//! The egress target: `egress.json`, the artifact the egress supervisor enforces (its DNS
//! resolver answers from it, its CONNECT proxy and listeners dial only what it allows).
//!
//! # `egress.json`, format version 1
//!
//! ```json
//! {
//!   "format": "policyc-egress",
//!   "version": 1,
//!   "policy": "mail_fetcher",
//!   "egress": "allow-listed",
//!   "rules": [
//!     { "action": "deny", "host": "*.imap.mail.example.com", "port": null, "via": "proxy",
//!       "token": null, "rule": "deny \"*.imap.mail.example.com\":*" },
//!     { "action": "allow", "host": "imap.mail.example.com", "port": 993, "via": "proxy",
//!       "token": "imap_read", "rule": "allow \"imap.mail.example.com\":993 with token imap_read" }
//!   ],
//!   "dns": {
//!     "mode": "allow-listed-only",
//!     "names": ["imap.mail.example.com"],
//!     "refused": ["*.imap.mail.example.com"]
//!   },
//!   "tokens": {
//!     "imap_read": { "audience": "imap.mail.example.com", "scopes": ["mail:read"],
//!                    "ttl_ms": 900000, "approval": false }
//!   },
//!   "audit": { "egress": true, "dns": true, "tokens": true, "denials": true }
//! }
//! ```
//!
//! - `format` and `version` name the format; a reader refuses any other (fail closed).
//! - `policy`: the policy's name.
//! - `egress`: `none` (no connection and no name lookup at all; `rules` is empty and
//!   `dns.mode` is `none`) or `allow-listed` (at least one rule).
//! - `rules`, in decision order: every deny rule, then every allow rule. `action` is `allow`
//!   or `deny`; `host` a normalised host or `*.domain` pattern (lower-case, punycode, IPv4 in
//!   dotted form, IPv6 in brackets, exactly as `policyc_compiler::hosts` prints it;
//!   `*.example.com` matches strict subdomains, never `example.com` itself); `port` a port
//!   or `null` for every port; `via` `proxy` or `direct`; `token` the name of the token the
//!   supervisor attaches to what the rule admits (`null`: none; only allow rules carry one);
//!   `rule` the rule as written in its `egress` block, for audit records. A connection to
//!   `host:port` is allowed when no deny rule matches both and an allow rule does.
//! - `dns.mode`: `none`, `allow-listed-only` or `any`. Under `allow-listed-only`, `names`
//!   lists the allow rules' patterns and `refused` the patterns of the deny rules on every
//!   port (each sorted, without repeats): a lookup is answered when some `names` pattern
//!   matches the name and no `refused` pattern does. Both are empty under the other modes.
//!   The reader checks that both lists are exactly what the rules give.
//! - `tokens`: every token the policy defines, by name: `audience`, `scopes`, `ttl_ms`
//!   (never zero) and `approval` (a person must approve each issue).
//! - `audit`: which decisions the supervisor records (`egress`: connections, `dns`: lookups,
//!   `tokens`: tokens issued and used, `denials`: every denial), from the policy's `audit`
//!   block.
//!
//! The artifact is written for every policy, `egress none` included (then it denies every
//! connection and lookup). The layer joins the stack of every isolation level when the policy
//! has egress rules ([`crate::stack_for`]).
//!
//! # For the supervisor
//!
//! Read the file with [`Artifact::parse`], then decide with [`connect_allowed`] (the allow
//! rule that admits `host:port`, whose `token` and `rule` the supervisor uses) and
//! [`resolve_allowed`]. These are the simulator's own decisions ([`sim`]), checked against
//! the reference semantics. They differ from it in one reported way: a connection to an
//! address that is not public is denied whatever the rules say (`P1203` names each allow
//! rule that names one).

mod artifact;
mod emit;
mod sim;

#[cfg(test)]
mod tests;

pub use artifact::{Artifact, Audit, Dns, Rule, TokenGrant, FORMAT, VERSION};
pub use sim::{connect_allowed, decide as decide_parsed, resolve_allowed, FILE};

use crate::{EmitContext, Emitted, Target};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeMap;

/// Why an `egress.json` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not a valid egress.json: {0}")]
    Json(String),
    #[error("egress.json: {0}")]
    Invalid(String),
}

/// The artifact for `policy`, as [`Egress`] writes it: what the operators' proxy and
/// resolver configurations are compiled from.
pub(crate) fn artifact_for(policy: &Policy) -> Artifact {
    emit::artifact(policy)
}

/// Serialise the artifact and check that it reads back exactly.
fn round_trip(policy: &Policy, a: &Artifact) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let fail = |why: String| {
        vec![Diagnostic::new(
            Code::EgressRoundTrip,
            policy.span,
            format!("egress: {why}"),
        )]
    };
    let bytes = a.to_json().map_err(|e| fail(e.to_string()))?;
    match Artifact::parse(&bytes) {
        Ok(back) if &back == a => Ok(bytes),
        Ok(_) => Err(fail("egress.json reads back differently".to_string())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Figures for the build manifest.
fn stats(a: &Artifact) -> BTreeMap<String, u64> {
    let allows = a.rules.iter().filter(|r| r.allow).count() as u64;
    crate::common::counts([
        ("rules", a.rules.len() as u64),
        ("allow_rules", allows),
        ("dns_names", a.dns.names.len() as u64),
        ("tokens", a.tokens.len() as u64),
    ])
}

/// The egress target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Egress;

impl Target for Egress {
    fn name(&self) -> &'static str {
        "egress"
    }

    /// Not a layer of every policy of a level: only of policies with egress rules (see
    /// [`Target::in_stack_for`]).
    fn in_stack(&self, _isolation: Isolation) -> bool {
        false
    }

    fn in_stack_for(&self, policy: &Policy) -> bool {
        !policy.net.egress_none
    }

    /// Every policy's build holds `egress.json` (for `egress none`, one that denies all).
    fn in_build(&self, _policy: &Policy) -> bool {
        true
    }

    fn emit(&self, policy: &Policy, _ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        let a = emit::artifact(policy);
        let bytes = round_trip(policy, &a)?;
        Ok(Emitted::one(FILE, bytes, stats(&a), emit::report(policy)))
    }

    fn simulator(&self, artifacts: &crate::Artifacts) -> Box<dyn crate::Simulator> {
        sim::READ_BACK.simulator(artifacts)
    }
}
