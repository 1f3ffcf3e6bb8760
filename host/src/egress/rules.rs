//! What the supervisor may let through: the policy's `egress.json`, decided with the
//! artifact's own reader ([`connect_allowed`]), each rule with the place it was written.

use policyc_compiler::hosts::{Host, HostPattern};
use policyc_targets::egress::{connect_allowed, Artifact};

/// An allow rule that admitted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'a> {
    /// Where it was written (`file:line`), or the rule as written when that is unknown.
    pub at: &'a str,
    /// The rule as written.
    pub text: &'a str,
    /// The token the rule binds (`with token T`).
    pub token: Option<&'a str>,
}

/// The artifact and where each of its rules was written.
#[derive(Debug, Clone)]
pub struct Rules {
    artifact: Artifact,
    locations: Vec<String>,
}

impl Rules {
    /// `locations[i]` is where `artifact.rules[i]` was written (`file:line`); missing ones
    /// are reported by the rule's text.
    pub fn new(artifact: Artifact, locations: Vec<String>) -> Rules {
        Rules {
            artifact,
            locations,
        }
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// Where the artifact's rule `i` was written (`file:line`), when known.
    pub fn location(&self, i: usize) -> Option<&str> {
        self.locations.get(i).map(String::as_str)
    }

    /// The allow rule that lets `host:port` through, if any does and no deny rule forbids it.
    pub fn connect(&self, host: &Host, port: u16) -> Option<Matched<'_>> {
        let rule = connect_allowed(&self.artifact, host, port)?;
        let i = self
            .artifact
            .rules
            .iter()
            .position(|r| std::ptr::eq(r, rule))?;
        let at = self
            .locations
            .get(i)
            .map_or(rule.rule.as_str(), String::as_str);
        Some(Matched {
            at,
            text: &rule.rule,
            token: rule.token.as_deref(),
        })
    }

    /// The ports allow rules name, sorted: one listener each inside the namespace.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .artifact
            .rules
            .iter()
            .filter(|r| r.allow)
            .filter_map(|r| r.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The allow rules that name every port (as written): reachable through the proxy only.
    pub fn any_port(&self) -> Vec<(String, String)> {
        self.artifact
            .rules
            .iter()
            .zip(
                self.locations
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .filter(|(r, _)| r.allow && r.port.is_none())
            .map(|(r, at)| {
                let host = match &r.host {
                    HostPattern::Exact(h) => h.to_string(),
                    HostPattern::Subdomains(d) => format!("*.{d}"),
                };
                (at.cloned().unwrap_or_else(|| r.rule.clone()), host)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use policyc_targets::egress::{Egress, FILE};
    use policyc_targets::{EmitContext, Target as _};

    fn artifact(net: &str) -> Artifact {
        let text = format!("policy p {{\n    isolation process\n    net {{\n{net}\n    }}\n}}\n");
        let mut sources = policyc_compiler::SourceMap::new();
        let id = sources.add("p.policy", text);
        let out = policyc_compiler::compile(&mut sources, id, &policyc_compiler::NoModules);
        assert!(!out.diagnostics.has_errors(), "{:?}", out.diagnostics);
        let policy = out.policies.first().unwrap();
        let emitted = Egress.emit(policy, &EmitContext::default()).unwrap();
        Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap()
    }

    #[test]
    fn host_and_port_must_both_match_and_deny_wins() {
        let a = artifact(
            "egress via proxy {\n allow \"imap.example.com\":993\n allow \"*.example.org\":443\n deny \"bad.example.org\"\n }",
        );
        let n = a.rules.len();
        let rules = Rules::new(a, (1..=n).map(|i| format!("p.policy:{i}")).collect());
        let h = |s: &str| Host::parse(s).unwrap();
        let m = rules.connect(&h("IMAP.example.com."), 993).unwrap();
        assert!(m.text.contains("imap.example.com"), "{m:?}");
        assert!(m.at.starts_with("p.policy:"), "{m:?}");
        assert!(rules.connect(&h("imap.example.com"), 443).is_none());
        assert!(rules.connect(&h("a.example.org"), 443).is_some());
        assert!(rules.connect(&h("example.org"), 443).is_none());
        assert!(rules.connect(&h("bad.example.org"), 443).is_none());
        assert_eq!(rules.ports(), vec![443, 993]);
    }
}
