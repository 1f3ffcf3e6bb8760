//! Where the broker dials: the supervisor resolves an allowed name itself, keeps only
//! public addresses, and dials the address it checked. An explicit pin (`--resolve
//! HOST:PORT:ADDR`, as curl spells it) names the address for one host and port instead,
//! and is the only way to reach a non-public address.

pub use policyc_compiler::hosts::non_public;
use policyc_compiler::hosts::Host;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
