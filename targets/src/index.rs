//! Finding the rules that may match a host, or the paths at, above or beneath a path,
//! without scanning every rule or path: the round-trip
//! checks of the squid and dnsmasq targets ask one question per rule of configurations with
//! one line per rule, which scanned linearly is quadratic in the policy's size.
//!
//! A rule, ACL or entry that can only match a domain equal to `d` or beneath `d` is keyed by
//! `d`; anything else is unkeyed and always a candidate. The candidates for a host are the
//! unkeyed items and those keyed by the host or by one of its parent domains, in their
//! original order: a superset of the items that match, so a caller that applies its own
//! predicate to the candidates decides exactly as a scan of every item would.

use crate::common::NetRuleFields;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::paths::CanonPath;
use std::collections::BTreeMap;

/// Item positions by the domain they are keyed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DomainIndex {
    keyed: BTreeMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
}

impl DomainIndex {
    /// Index items by their keys, in order (`None`: the item may match any host).
    pub(crate) fn new<'k>(keys: impl IntoIterator<Item = Option<&'k str>>) -> Self {
        let mut index = DomainIndex::default();
        for (i, key) in keys.into_iter().enumerate() {
            match key {
                Some(k) => index.keyed.entry(k.to_string()).or_default().push(i),
                None => index.unkeyed.push(i),
            }
        }
        index
    }

    /// The positions of every item that may match `host`, ascending.
    pub(crate) fn candidates(&self, host: &Host) -> Vec<usize> {
        let mut out = self.unkeyed.clone();
        if let Host::Domain(d) = host {
            out.extend(self.keyed.get(d.as_str()).into_iter().flatten());
            for (i, c) in d.char_indices() {
                if c == '.' {
                    let parent = d.get(i + 1..).unwrap_or_default();
                    out.extend(self.keyed.get(parent).into_iter().flatten());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The key of a host pattern: the domain it names (an address: none).
pub(crate) fn pattern_key(p: &HostPattern) -> Option<&str> {
    match p {
        HostPattern::Exact(Host::Domain(d)) | HostPattern::Subdomains(d) => Some(d.as_str()),
        HostPattern::Exact(Host::Ip(_)) => None,
    }
}

/// Egress rules with an index, deciding connections as [`crate::common::connect_rule`] does.
#[derive(Debug)]
pub(crate) struct IndexedRules<'r, R> {
    rules: &'r [R],
    index: DomainIndex,
}

impl<'r, R: NetRuleFields> IndexedRules<'r, R> {
    /// Index the rules by the domains they name.
    pub(crate) fn new(rules: &'r [R]) -> Self {
        let index = DomainIndex::new(rules.iter().map(|r| pattern_key(r.pattern())));
        IndexedRules { rules, index }
    }

    /// Exactly [`crate::common::connect_rule`] on the same rules.
    pub(crate) fn connect_rule(&self, host: &Host, port: u16) -> Option<&'r R> {
        let hit = |r: &&R| r.pattern().matches(host) && r.port().is_none_or(|p| p == port);
        let found: Vec<&'r R> = self
            .index
            .candidates(host)
            .into_iter()
            .filter_map(|i| self.rules.get(i))
            .filter(hit)
            .collect();
        if found.iter().any(|r| !r.allows()) {
            return None;
        }
        found.into_iter().find(|r| r.allows())
    }
}

/// Host patterns with an index, answering "does any match?" as a scan would.
#[derive(Debug)]
pub(crate) struct IndexedPatterns<'p> {
    patterns: Vec<&'p HostPattern>,
    index: DomainIndex,
}

impl<'p> IndexedPatterns<'p> {
    /// Index the patterns by the domains they name.
    pub(crate) fn new(patterns: impl IntoIterator<Item = &'p HostPattern>) -> Self {
        let patterns: Vec<&HostPattern> = patterns.into_iter().collect();
        let index = DomainIndex::new(patterns.iter().map(|p| pattern_key(p)));
        IndexedPatterns { patterns, index }
    }

    /// True when a pattern matches `host`.
    pub(crate) fn any_matches(&self, host: &Host) -> bool {
        self.index
            .candidates(host)
            .into_iter()
            .filter_map(|i| self.patterns.get(i))
            .any(|p| p.matches(host))
    }
}

/// Item positions by the canonical path they are keyed by, to find the items at, above or
/// beneath a path without comparing it with every item.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathIndex {
    keyed: BTreeMap<String, Vec<usize>>,
}

impl PathIndex {
    /// Index items by their paths, in order.
    pub(crate) fn new<'k>(keys: impl IntoIterator<Item = &'k CanonPath>) -> Self {
        let mut keyed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, k) in keys.into_iter().enumerate() {
            keyed.entry(k.as_str().to_string()).or_default().push(i);
        }
        PathIndex { keyed }
    }

    /// The positions of every item whose path `path` starts with (is it or lies beneath it,
    /// as [`CanonPath::starts_with`] says), ascending.
    pub(crate) fn at_or_above(&self, path: &CanonPath) -> Vec<usize> {
        let s = path.as_str();
        let mut out: Vec<usize> = Vec::new();
        let mut add = |key: &str| out.extend(self.keyed.get(key).into_iter().flatten());
        if s.starts_with('/') && s != "/" {
            add("/");
        }
        for (i, c) in s.char_indices() {
            if c == '/' && i > 0 {
                add(s.get(..i).unwrap_or_default());
            }
        }
        add(s);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The positions of every item whose path starts with `path` (is it or lies beneath
    /// it), ascending.
    pub(crate) fn at_or_below(&self, path: &CanonPath) -> Vec<usize> {
        let prefix = path.as_str();
        let mut out: Vec<usize> = self
            .keyed
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> CanonPath {
        CanonPath::parse(s).unwrap()
    }

    const PATHS: &[&str] = &[
        "/", "/a", "/a/b", "/a/b/c", "/ab", "/a-b", "/a/bc", "/b", "~", "~/a", "~/a/b", "~/ab",
    ];

    #[test]
    fn path_index_finds_exactly_what_a_scan_finds() {
        let keys: Vec<CanonPath> = PATHS.iter().map(|p| path(p)).collect();
        let index = PathIndex::new(&keys);
        for q in PATHS.iter().map(|p| path(p)) {
            let above: Vec<usize> = (0..keys.len())
                .filter(|&i| q.starts_with(&keys[i]))
                .collect();
            let below: Vec<usize> = (0..keys.len())
                .filter(|&i| keys[i].starts_with(&q))
                .collect();
            let filter = |c: Vec<usize>, f: &dyn Fn(usize) -> bool| -> Vec<usize> {
                c.into_iter().filter(|&i| f(i)).collect()
            };
            assert_eq!(
                filter(index.at_or_above(&q), &|i| q.starts_with(&keys[i])),
                above,
                "{q}"
            );
            assert_eq!(
                filter(index.at_or_below(&q), &|i| keys[i].starts_with(&q)),
                below,
                "{q}"
            );
        }
    }

    #[test]
    fn domain_candidates_hold_every_match_in_order() {
        let patterns: Vec<HostPattern> = [
            "example.com",
            "*.example.com",
            "a.example.com",
            "*.a.example.com",
            "xample.com",
            "*.example.org",
            "192.0.2.1",
        ]
        .iter()
        .map(|p| HostPattern::parse(p).unwrap())
        .collect();
        let index = IndexedPatterns::new(&patterns);
        let hosts = [
            "example.com",
            "a.example.com",
            "b.a.example.com",
            "xample.com",
            "com",
            "example.org",
            "x.example.org",
            "192.0.2.1",
            "192.0.2.2",
            "aexample.com",
        ];
        for h in hosts.iter().map(|h| Host::parse(h).unwrap()) {
            let scan = patterns.iter().any(|p| p.matches(&h));
            assert_eq!(index.any_matches(&h), scan, "{h}");
            let candidates = index.index.candidates(&h);
            assert!(
                candidates.windows(2).all(|w| w[0] < w[1]),
                "{h}: {candidates:?}"
            );
            for (i, p) in patterns.iter().enumerate() {
                if p.matches(&h) {
                    assert!(candidates.contains(&i), "{h}: {p} left out");
                }
            }
        }
    }
}
