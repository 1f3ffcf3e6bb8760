//! Host names, IP literals and host patterns, normalised identically on the policy side and
//! the request side: case, a trailing dot, internationalised names (to punycode), and IPv4
//! literals in every `inet_aton` spelling (`2130706433`, `0x7f.1`, `0177.0.0.1`) all fold to
//! one form before anything is compared.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A normalised host: a lower-case ASCII domain name or an IP address.
///
/// It serialises as one string, the name or the address (IPv6 without brackets), and
/// deserialises only from a string [`Host::parse`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Host {
    Domain(String),
    Ip(IpAddr),
}

/// What an egress rule names: one host, or every strict subdomain of a domain.
///
/// It serialises as one string, as written in a policy: the host for
/// [`HostPattern::Exact`] (as [`Host`] serialises), `*.example.com` for
/// [`HostPattern::Subdomains`]; and deserialises only from a string [`HostPattern::parse`]
/// accepts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    Exact(Host),
    /// `*.example.com`, stored as `example.com`.
    Subdomains(String),
}

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Host, D::Error> {
        let raw = String::deserialize(d)?;
        Host::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HostPattern::Exact(h) => h.serialize(s),
            HostPattern::Subdomains(d) => s.collect_str(&format_args!("*.{d}")),
        }
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HostPattern, D::Error> {
        let raw = String::deserialize(d)?;
        HostPattern::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("host `{0}` is malformed")]
    Malformed(String),
    #[error("host pattern `{0}` is too broad")]
    TooBroad(String),
}

impl Host {
    /// Normalise a host as written in a policy or a request.
    pub fn parse(raw: &str) -> Result<Host, HostError> {
        let bad = || HostError::Malformed(crate::diag::clip(&raw.escape_debug().to_string()));
        if raw.is_empty()
            || raw.len() > 260
            || raw.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(bad());
        }
        if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return inner.parse::<Ipv6Addr>().map(ip6).map_err(|_| bad());
        }
        if raw.contains(':') {
            return raw.parse::<Ipv6Addr>().map(ip6).map_err(|_| bad());
        }
        let trimmed = raw.strip_suffix('.').unwrap_or(raw);
        if let Some(v4) = parse_inet_aton(trimmed) {
            return Ok(Host::Ip(IpAddr::V4(v4)));
        }
        let ascii = idna::domain_to_ascii(trimmed).map_err(|_| bad())?;
        if !valid_domain(&ascii) {
            return Err(bad());
        }
        // A name whose last label is numeric would be read as an address by resolvers.
        if ascii
            .rsplit('.')
            .next()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Host::Domain(ascii))
    }
}

fn ip6(a: Ipv6Addr) -> Host {
    match a.to_ipv4_mapped() {
        Some(v4) => Host::Ip(IpAddr::V4(v4)),
        None => Host::Ip(IpAddr::V6(a)),
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
        }
    }
}

impl HostPattern {
    /// Parse `host` or `*.domain`. `*`, `*.tld` and wildcards over addresses are too broad.
    pub fn parse(raw: &str) -> Result<HostPattern, HostError> {
        let Some(suffix) = raw.strip_prefix("*.") else {
            if raw.contains('*') {
                return Err(HostError::TooBroad(crate::diag::clip(
                    &raw.escape_debug().to_string(),
                )));
            }
            return Host::parse(raw).map(HostPattern::Exact);
        };
        match Host::parse(suffix) {
            Ok(Host::Domain(d)) if d.contains('.') => Ok(HostPattern::Subdomains(d)),
            Ok(_) => Err(HostError::TooBroad(crate::diag::clip(
                &raw.escape_debug().to_string(),
            ))),
            Err(HostError::Malformed(_)) if suffix.contains('*') => Err(HostError::TooBroad(
                crate::diag::clip(&raw.escape_debug().to_string()),
            )),
            Err(e) => Err(e),
        }
    }

    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Exact(h), _) => h == host,
            (HostPattern::Subdomains(s), Host::Domain(d)) => d
                .strip_suffix(s.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Subdomains(_), Host::Ip(_)) => false,
        }
    }

    /// True when every host this pattern matches is also matched by `other`.
    pub fn within(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Exact(h), o) => o.matches(h),
            (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => {
                a == b || HostPattern::Subdomains(b.clone()).matches(&Host::Domain(a.clone()))
            }
            (HostPattern::Subdomains(_), HostPattern::Exact(_)) => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => write!(f, "{h}"),
            HostPattern::Subdomains(d) => write!(f, "*.{d}"),
        }
    }
}

fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

/// IPv4 in the forms `inet_aton(3)` accepts: 1 to 4 parts, each decimal, octal (leading
/// `0`) or hex (`0x`); the last part fills the remaining bytes.
fn parse_inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| parse_c_number(p))
        .collect::<Option<_>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let rest_bytes = 4 - init.len();
    if *last >= 1u64 << (8 * rest_bytes) {
        return None;
    }
    let mut value: u64 = 0;
    for n in init {
        value = (value << 8) | n;
    }
    value = (value << (8 * rest_bytes)) | last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_c_number(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        if hex.is_empty() {
            return Some(0);
        }
        return u64::from_str_radix(hex, 16).ok();
    }
    if p.len() > 1 && p.starts_with('0') {
        return u64::from_str_radix(p.get(1..)?, 8).ok();
    }
    if p.chars().all(|c| c.is_ascii_digit()) {
        return p.parse().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> String {
        Host::parse(s)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn every_spelling_of_loopback_is_one_address() {
        for s in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0x7f.1",
            "127.1",
            "127.0.1",
            "[::ffff:127.0.0.1]",
            "::ffff:7f00:1",
        ] {
            assert_eq!(h(s), "127.0.0.1", "{s}");
        }
        assert_eq!(h("[::1]"), "[::1]");
        assert!(h("256.0.0.1").starts_with("ERR"));
        assert!(h("1.2.3.4.5").starts_with("ERR"));
    }

    #[test]
    fn names_fold_case_dots_and_idn() {
        assert_eq!(h("Example.COM."), "example.com");
        assert_eq!(h("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(h("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
        assert!(h("exa mple.com").starts_with("ERR"));
        assert!(h("-bad.com").starts_with("ERR"));
        assert!(h("a..b").starts_with("ERR"));
        assert!(h("").starts_with("ERR"));
        assert!(h("foo.123").starts_with("ERR"));
    }

    #[test]
    fn wildcards_match_strict_subdomains_only() {
        let p = HostPattern::parse("*.example.com").unwrap();
        let m = |s: &str| p.matches(&Host::parse(s).unwrap());
        assert!(m("a.example.com"));
        assert!(m("A.B.Example.com."));
        assert!(!m("example.com"));
        assert!(!m("evil-example.com"));
        assert!(!m("aexample.com"));
        assert!(!m("example.com.evil.org"));
        for broad in ["*", "*.com", "*.*", "a*.example.com", "*.1.2.3.4"] {
            assert!(HostPattern::parse(broad).is_err(), "{broad}");
        }
    }

    #[test]
    fn within_is_containment() {
        let w = HostPattern::parse("*.example.com").unwrap();
        let sub = HostPattern::parse("*.a.example.com").unwrap();
        let exact = HostPattern::parse("x.example.com").unwrap();
        assert!(sub.within(&w));
        assert!(exact.within(&w));
        assert!(!w.within(&sub));
        assert!(!w.within(&exact));
    }
}
