//! A small in-memory name policy for the unit tests: allow and deny host patterns.

use crate::egress::names::{NameDecision, NamePolicy};
use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::{Host, HostPattern};

/// Allow rules (each blamed on `test.policy:<line>`, lines from 1) and deny rules for every
/// port; a deny wins.
#[derive(Debug)]
pub struct ListPolicy {
    mode: DnsMode,
    allow: Vec<HostPattern>,
    deny: Vec<HostPattern>,
}

impl ListPolicy {
    /// Panics on a malformed pattern (test input only).
    pub fn new(mode: DnsMode, allow: &[&str], deny: &[&str]) -> ListPolicy {
        let parse = |s: &&str| HostPattern::parse(s).unwrap_or_else(|e| panic!("{e}"));
        ListPolicy {
            mode,
            allow: allow.iter().map(parse).collect(),
            deny: deny.iter().map(parse).collect(),
        }
    }
}

impl NamePolicy for ListPolicy {
    fn dns_mode(&self) -> DnsMode {
        self.mode
    }

    fn listed(&self, host: &Host) -> NameDecision {
        if self.deny.iter().any(|p| p.matches(host)) {
            return NameDecision::unlisted();
        }
        match self.allow.iter().position(|p| p.matches(host)) {
            Some(i) => NameDecision {
                allow: true,
                rule: Some(format!("test.policy:{}", i + 1)),
            },
            None => NameDecision::unlisted(),
        }
    }

    fn exact_names(&self) -> Vec<Host> {
        self.allow
            .iter()
            .filter_map(|p| match p {
                HostPattern::Exact(h) => Some(h.clone()),
                HostPattern::Subdomains(_) => None,
            })
            .collect()
    }
}
