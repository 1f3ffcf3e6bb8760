//! The egress artifact (`egress.json`) as the resolver's name policy.
//!
//! A name is *listed* when an allow rule's pattern matches it and no deny rule for every port
//! does: the `dns.names` and `dns.refused` lists the artifact derives for
//! `allow-listed-only`. Under that mode this is exactly
//! [`resolve_allowed`](policyc_targets::egress::resolve_allowed); under `dns any` the same
//! names are answered from the policy and only the others go upstream.

use crate::egress::names::{NameDecision, NamePolicy};
use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_targets::egress::{resolve_allowed, Artifact, Dns};

impl NamePolicy for Artifact {
    fn dns_mode(&self) -> DnsMode {
        if self.egress {
            self.dns.mode
        } else {
            DnsMode::None
        }
    }

    fn listed(&self, host: &Host) -> NameDecision {
        if !self.egress {
            return NameDecision::unlisted();
        }
        let listed = if self.dns.mode == DnsMode::AllowListedOnly {
            resolve_allowed(self, host)
        } else {
            let lists = Dns::derive(DnsMode::AllowListedOnly, &self.rules);
            !lists.refused.iter().any(|p| p.matches(host))
                && lists.names.iter().any(|p| p.matches(host))
        };
        if !listed {
            return NameDecision::unlisted();
        }
        NameDecision {
            allow: true,
            rule: self
                .rules
                .iter()
                .find(|r| r.allow && r.host.matches(host))
                .map(|r| r.rule.clone()),
        }
    }

    fn exact_names(&self) -> Vec<Host> {
        self.rules
            .iter()
            .filter(|r| r.allow)
            .filter_map(|r| match &r.host {
                HostPattern::Exact(h) => Some(h.clone()),
                HostPattern::Subdomains(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use policyc_compiler::request::Request;

    fn artifact(mode: &str) -> Artifact {
        let src = format!(
            "policy p {{\n  isolation process\n  net {{\n    egress via proxy {{\n      \
             deny \"*.bad.example.com\":*\n      allow \"api.example.com\":443\n      \
             allow \"*.example.com\":443\n    }}\n    dns {mode}\n  }}\n}}\n"
        );
        let policy = policyc_testkit::stdlib::policy(&src);
        let target = policyc_targets::registry()
            .iter()
            .find(|t| t.name() == "egress")
            .unwrap();
        let emitted = target.emit(&policy, &Default::default()).unwrap();
        Artifact::parse(&emitted.artifacts[policyc_targets::egress::FILE]).unwrap()
    }

    #[test]
    fn listed_names_are_what_the_artifact_resolves() {
        let a = artifact("allow-listed-only");
        for name in [
            "api.example.com",
            "x.example.com",
            "example.com",
            "x.bad.example.com",
            "attacker.example",
        ] {
            let h = Host::parse(name).unwrap();
            let sim =
                policyc_targets::egress::decide_parsed(&a, &Request::Resolve { host: h.clone() });
            assert_eq!(
                a.listed(&h).allow,
                sim == policyc_targets::Verdict::Allow,
                "{name}"
            );
        }
    }
}
