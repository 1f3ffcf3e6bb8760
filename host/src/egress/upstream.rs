//! Where the broker dials: the supervisor resolves an allowed name itself, keeps only
//! public addresses, and dials the address it checked. An explicit pin (`--resolve
//! HOST:PORT:ADDR`, as curl spells it) names the address for one host and port instead,
//! and is the only way to reach a non-public address.

use policyc_compiler::hosts::Host;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `--resolve HOST:PORT:ADDR`: connections to `HOST:PORT` dial `ADDR:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub host: Host,
    pub port: u16,
    pub addr: IpAddr,
}

/// Why a `--resolve` argument was not understood.
#[derive(Debug, thiserror::Error)]
#[error("--resolve `{0}`: expected HOST:PORT:ADDR (as curl spells it), e.g. imap.example.com:993:127.0.0.1")]
pub struct BadPin(String);

impl std::str::FromStr for Pin {
    type Err = BadPin;

    fn from_str(s: &str) -> Result<Pin, BadPin> {
        let bad = || BadPin(s.to_string());
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.strip_prefix('[').unwrap_or(addr);
        let addr = addr.strip_suffix(']').unwrap_or(addr);
        Ok(Pin {
            host: Host::parse(host).map_err(|_| bad())?,
            port: port.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

/// Why the broker will not dial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is not a public address ({1})")]
    NotPublic(IpAddr, &'static str),
    #[error("`{0}` did not resolve: {1}")]
    NoAnswer(String, String),
    #[error("`{0}` resolved only to addresses that are not public: {1}")]
    OnlyPrivate(String, String),
}

/// The pins, by host and port.
#[derive(Debug, Clone, Default)]
pub struct Upstream {
    pins: BTreeMap<(Host, u16), IpAddr>,
}

impl Upstream {
    /// Dial pinned hosts where the pins say, and resolve the others.
    pub fn new(pins: &[Pin]) -> Upstream {
        Upstream {
            pins: pins
                .iter()
                .map(|p| ((p.host.clone(), p.port), p.addr))
                .collect(),
        }
    }

    /// The address to dial for an allowed `host:port`, and the addresses it resolved to.
    pub async fn address(&self, host: &Host, port: u16) -> Result<SocketAddr, Refused> {
        if let Some(addr) = self.pins.get(&(host.clone(), port)) {
            return Ok(SocketAddr::new(*addr, port));
        }
        match host {
            // An address a rule names exactly is dialled as named, unless it is one the
            // range check refuses (loopback, metadata, private ...).
            Host::Ip(ip) => match non_public(*ip) {
                Some(why) => Err(Refused::NotPublic(*ip, why)),
                None => Ok(SocketAddr::new(*ip, port)),
            },
            Host::Domain(name) => resolve(name, port).await,
        }
    }
}

async fn resolve(name: &str, port: u16) -> Result<SocketAddr, Refused> {
    let answers: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| Refused::NoAnswer(name.to_string(), e.to_string()))?
        .collect();
    if let Some(a) = answers.iter().find(|a| non_public(a.ip()).is_none()) {
        return Ok(*a);
    }
    let seen = answers
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(Refused::OnlyPrivate(name.to_string(), seen))
}

/// Why `ip` is not a public unicast address, or `None` when it is.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn pins_are_curls_spelling() {
        let p: Pin = "Imap.Example.com:993:127.0.0.1".parse().unwrap();
        assert_eq!(p.host, Host::parse("imap.example.com").unwrap());
        assert_eq!((p.port, p.addr), (993, "127.0.0.1".parse().unwrap()));
        let p: Pin = "a.example:443:[::1]".parse().unwrap();
        assert_eq!(p.addr, "::1".parse::<IpAddr>().unwrap());
        for bad in [
            "a.example",
            "a.example:443",
            "a.example:x:1.2.3.4",
            ":443:1.2.3.4",
        ] {
            assert!(bad.parse::<Pin>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn pinned_hosts_dial_the_pin_and_ip_literals_are_range_checked() {
        let up = Upstream::new(&["a.example:443:127.0.0.1".parse().unwrap()]);
        let h = |s: &str| Host::parse(s).unwrap();
        assert_eq!(
            up.address(&h("a.example"), 443).await.unwrap(),
            "127.0.0.1:443".parse().unwrap()
        );
        assert!(matches!(
            up.address(&h("169.254.169.254"), 80).await,
            Err(Refused::NotPublic(..))
        ));
        assert!(matches!(
            up.address(&h("[::ffff:127.0.0.1]"), 80).await,
            Err(Refused::NotPublic(..))
        ));
    }
}
