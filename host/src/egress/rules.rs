//! What the supervisor may let through: the policy's egress rules, each with the place it
//! was written, and the two questions the broker and the resolver ask of them.

use policyc_compiler::hosts::{Host, HostPattern};

/// One egress rule as the supervisor enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `allow` or `deny`.
    pub allow: bool,
    /// The host (or `*.domain`) it names.
    pub host: HostPattern,
    /// The port it names; `None` is every port.
    pub port: Option<u16>,
    /// Where it was written, `file:line`, for the audit log.
    pub at: String,
}

impl Rule {
    fn matches(&self, host: &Host, port: u16) -> bool {
        self.host.matches(host) && self.port.is_none_or(|p| p == port)
    }
}

/// A policy's egress rules: a connection is allowed when an allow rule matches its host
/// and port and no deny rule does (deny wins, as in the reference semantics).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// The rules, in any order.
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules { rules }
    }

    /// The allow rule that lets `host:port` through, if any does and no deny rule forbids it.
    pub fn connect(&self, host: &Host, port: u16) -> Option<&Rule> {
        if self.rules.iter().any(|r| !r.allow && r.matches(host, port)) {
            return None;
        }
        self.rules.iter().find(|r| r.allow && r.matches(host, port))
    }

    /// True when some allow rule names `host` on some port and no deny rule forbids the
    /// host on every port.
    pub fn names(&self, host: &Host) -> bool {
        let denied_everywhere = self
            .rules
            .iter()
            .any(|r| !r.allow && r.port.is_none() && r.host.matches(host));
        !denied_everywhere && self.rules.iter().any(|r| r.allow && r.host.matches(host))
    }

    /// The ports allow rules name, sorted: one listener each inside the namespace.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .rules
            .iter()
            .filter(|r| r.allow)
            .filter_map(|r| r.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The allow rules that name every port: reachable through the proxy only.
    pub fn any_port(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.allow && r.port.is_none())
    }

    /// The exact domain names allow rules name, sorted.
    pub fn exact_names(&self) -> Vec<Host> {
        let mut names: Vec<Host> = self
            .rules
            .iter()
            .filter(|r| r.allow)
            .filter_map(|r| match &r.host {
                HostPattern::Exact(h @ Host::Domain(_)) => Some(h.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rule(allow: bool, host: &str, port: Option<u16>) -> Rule {
        Rule {
            allow,
            host: HostPattern::parse(host).unwrap(),
            port,
            at: "p.policy:1".into(),
        }
    }

    #[test]
    fn host_and_port_must_both_match_and_deny_wins() {
        let rules = Rules::new(vec![
            rule(true, "imap.example.com", Some(993)),
            rule(true, "*.example.org", Some(443)),
            rule(false, "bad.example.org", None),
        ]);
        let h = |s: &str| Host::parse(s).unwrap();
        assert!(rules.connect(&h("imap.example.com"), 993).is_some());
        assert!(rules.connect(&h("IMAP.example.com."), 993).is_some());
        assert!(rules.connect(&h("imap.example.com"), 443).is_none());
        assert!(rules.connect(&h("a.example.org"), 443).is_some());
        assert!(rules.connect(&h("example.org"), 443).is_none());
        assert!(rules.connect(&h("bad.example.org"), 443).is_none());
        assert!(!rules.names(&h("bad.example.org")));
        assert!(rules.names(&h("x.example.org")));
        assert!(!rules.names(&h("evil.example")));
        assert_eq!(rules.ports(), vec![443, 993]);
    }
}
