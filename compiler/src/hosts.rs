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

/// Why `ip` is not a public unicast address (loopback, private, link-local, CGNAT, ULA,
/// multicast, IPv4-mapped, documentation ...), or `None` when it is.
///
/// The one classification both sides use: the egress supervisor never dials such an address
/// (unless a `--resolve` pin names it for a name), and the egress target reports an allow
/// rule naming one as narrowed (`P1203`) and its simulator denies connections to it.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let why = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "this network",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(why)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let [s0, s1, ..] = s;
    let why = match () {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.to_ipv4_mapped().is_some() => "IPv4-mapped",
        _ if ip.is_multicast() => "multicast",
        _ if (s0 & 0xfe00) == 0xfc00 => "unique local (ULA)",
        _ if (s0 & 0xffc0) == 0xfe80 => "link-local",
        _ if (s0 & 0xffc0) == 0xfec0 => "site-local",
        // Addresses that embed an IPv4 address: the compatible form, NAT64, 6to4, Teredo.
        _ if s.iter().take(6).all(|x| *x == 0) => "IPv4-compatible",
        _ if s0 == 0x64 && s1 == 0xff9b => "NAT64",
        _ if s0 == 0x2002 => "6to4",
        _ if s0 == 0x2001 && s1 == 0 => "Teredo",
        _ if s0 == 0x2001 && s1 == 0xdb8 => "documentation",
        _ if s0 == 0x100 && s.iter().skip(1).take(3).all(|x| *x == 0) => "discard-only",
        _ => return None,
    };
    Some(why)
}

impl Host {
    /// For an address literal that is not a public unicast address, why not (see
    /// [`non_public`]); `None` for names and public addresses.
    pub fn non_public(&self) -> Option<&'static str> {
        match self {
            Host::Ip(ip) => non_public(*ip),
            Host::Domain(_) => None,
        }
    }
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

    #[test]
    fn every_special_range_is_refused_and_public_addresses_pass() {
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:169.254.169.254",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(non_public(ip).is_some(), "{a} passed the range check");
        }
        for a in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "1.1.1.1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(non_public(ip), None, "{a}");
        }
    }

    #[test]
    fn names_and_public_addresses_are_public_hosts() {
        for (raw, public) in [
            ("example.com", true),
            ("93.184.215.14", true),
            ("10.1.2.3", false),
            ("0x7f.1", false),
            ("[::ffff:169.254.169.254]", false),
            ("[fd00::1]", false),
        ] {
            let host = Host::parse(raw).map_err(|e| e.to_string());
            assert_eq!(host.map(|h| h.non_public().is_none()), Ok(public), "{raw}");
        }
    }
}
