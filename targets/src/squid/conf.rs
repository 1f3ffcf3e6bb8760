//! `squid.conf` read back: the directives policyc writes, and how squid decides a CONNECT
//! with them.
//!
//! A connection to `host:port` is a CONNECT to `host:port` followed by a TLS ClientHello
//! whose server name is `host` (an address carries none). squid checks `http_access` on
//! the CONNECT (first line whose ACLs all match; `dstdomain -n` never matches an address
//! against a name, nor looks anything up), then, having peeked at the ClientHello, the first
//! `ssl_bump` line of step 2 whose ACLs match: `splice` lets the bytes through, `terminate`
//! closes the connection. `.example.com` in `dstdomain` and `ssl::server_name` matches
//! `example.com` and every name beneath it; `example.com` only itself. With
//! `--client-requested`, `ssl::server_name` sees the name the client sent; a ClientHello
//! without one is matched by the CONNECT host (squid 5.7, checked live).
//!
//! The reader accepts exactly the directives policyc writes; anything else fails (and the
//! simulator then denies everything).

use crate::index::DomainIndex;
use policyc_compiler::hosts::Host;
use std::collections::BTreeMap;

/// Why a `squid.conf` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("squid.conf line {line}: {why}")]
pub struct Error {
    pub line: usize,
    pub why: String,
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acl {
    /// `dstdomain -n NAME` (`dot`: `.NAME`, the name and every name beneath it).
    Domain { name: String, dot: bool },
    /// `ssl::server_name --client-requested NAME` (`dot` as above).
    ServerName { name: String, dot: bool },
    /// `port N`.
    Port(u16),
    /// `at_step SslBump1`.
    Step1,
}

/// An access line: allow (or splice) when every ACL matches, `!` negating one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub allow: bool,
    /// ACL names, each with `true` when negated; `all` matches everything.
    pub acls: Vec<(String, bool)>,
}

/// A parsed `squid.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conf {
    pub acls: BTreeMap<String, Acl>,
    pub http_access: Vec<Line>,
    /// `ssl_bump` lines after `peek` at step 1: `allow` is `splice`, else `terminate`.
    pub ssl_bump: Vec<Line>,
    /// `ssl_bump peek` at step 1 comes first.
    pub peeks: bool,
}

/// What one CONNECT shows squid.
struct Seen<'a> {
    host: &'a Host,
    port: u16,
    /// The ClientHello's server name.
    sni: Option<&'a str>,
    step1: bool,
}

fn name_matches(pattern: &str, dot: bool, name: &str) -> bool {
    name == pattern
        || (dot
            && name
                .strip_suffix(pattern)
                .is_some_and(|head| head.ends_with('.')))
}

impl Conf {
    fn acl_matches(&self, name: &str, seen: &Seen<'_>) -> bool {
        if name == "all" {
            return true;
        }
        match self.acls.get(name) {
            Some(Acl::Domain { name, dot }) => match seen.host {
                Host::Domain(d) => name_matches(name, *dot, d),
                Host::Ip(_) => false,
            },
            Some(Acl::ServerName { name, dot }) => match (seen.sni, seen.host) {
                (Some(s), _) => name_matches(name, *dot, s),
                (None, Host::Domain(d)) => name_matches(name, *dot, d),
                (None, Host::Ip(_)) => false,
            },
            Some(Acl::Port(p)) => *p == seen.port,
            Some(Acl::Step1) => seen.step1,
            None => false,
        }
    }

    /// The first line whose ACLs all match decides; none: denied.
    fn first(&self, lines: &[Line], seen: &Seen<'_>) -> bool {
        lines
            .iter()
            .find(|l| {
                l.acls
                    .iter()
                    .all(|(a, negated)| self.acl_matches(a, seen) != *negated)
            })
            .is_some_and(|l| l.allow)
    }

    /// Whether a TLS connection to `host:port` gets through.
    pub fn connects(&self, host: &Host, port: u16) -> bool {
        let seen = Seen::connect(host, port);
        self.peeks && self.first(&self.http_access, &seen) && self.first(&self.ssl_bump, &seen)
    }

    /// The configuration with its lines indexed, for asking many questions of it.
    pub(crate) fn indexed(&self) -> Indexed<'_> {
        let keys = |lines: &'_ [Line]| {
            DomainIndex::new(lines.iter().map(|l| self.line_key(l)).collect::<Vec<_>>())
        };
        Indexed {
            conf: self,
            access: keys(&self.http_access),
            bump: keys(&self.ssl_bump),
        }
    }

    /// The domain a line can only match at or beneath: the name of its first ACL that is not
    /// negated and names a host or server name (in a connection, the server name is the
    /// host's). `None`: the line may match any host.
    fn line_key<'a>(&'a self, line: &Line) -> Option<&'a str> {
        line.acls
            .iter()
            .filter(|(_, negated)| !negated)
            .find_map(|(a, _)| match self.acls.get(a) {
                Some(Acl::Domain { name, .. } | Acl::ServerName { name, .. }) => {
                    Some(name.as_str())
                }
                _ => None,
            })
    }
}

impl<'a> Seen<'a> {
    /// What a TLS connection to `host:port` shows squid: its host as the server name.
    fn connect(host: &'a Host, port: u16) -> Self {
        let sni = match host {
            Host::Domain(d) => Some(d.as_str()),
            Host::Ip(_) => None,
        };
        Seen {
            host,
            port,
            sni,
            step1: false,
        }
    }
}

/// A configuration with its lines indexed by the domain they name: decides exactly as
/// [`Conf::connects`] does, looking only at the lines that may match.
#[derive(Debug)]
pub(crate) struct Indexed<'c> {
    conf: &'c Conf,
    access: DomainIndex,
    bump: DomainIndex,
}

impl Indexed<'_> {
    /// Exactly [`Conf::connects`].
    pub(crate) fn connects(&self, host: &Host, port: u16) -> bool {
        let seen = Seen::connect(host, port);
        let c = self.conf;
        c.peeks
            && self.first(&c.http_access, &self.access, &seen)
            && self.first(&c.ssl_bump, &self.bump, &seen)
    }

    /// [`Conf::first`] over the candidate lines, in order.
    fn first(&self, lines: &[Line], index: &DomainIndex, seen: &Seen<'_>) -> bool {
        index
            .candidates(seen.host)
            .into_iter()
            .filter_map(|i| lines.get(i))
            .find(|l| {
                l.acls
                    .iter()
                    .all(|(a, negated)| self.conf.acl_matches(a, seen) != *negated)
            })
            .is_some_and(|l| l.allow)
    }
}

/// Read a `squid.conf` as policyc writes it.
pub fn parse(text: &str) -> Result<Conf, Error> {
    let mut c = Conf::default();
    for (i, raw) in text.lines().enumerate() {
        let err = |why: String| Error { line: i + 1, why };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["http_port", _, "ssl-bump", ..] | ["cache", "deny", "all"] => {}
            ["on_unsupported_protocol", "tunnel", "all"] => {}
            ["acl", name, rest @ ..] => {
                let acl = acl(rest)
                    .ok_or_else(|| err(format!("an ACL policyc does not write: {line}")))?;
                if *name == "all" || c.acls.insert((*name).to_string(), acl).is_some() {
                    return Err(err(format!("ACL `{name}` is defined twice")));
                }
            }
            ["http_access", action, acls @ ..] if !acls.is_empty() => {
                let allow = match *action {
                    "allow" => true,
                    "deny" => false,
                    _ => return Err(err(format!("`http_access {action}`"))),
                };
                c.http_access.push(access(allow, acls, &c).map_err(err)?);
            }
            ["ssl_bump", "peek", step] if c.ssl_bump.is_empty() && !c.peeks => {
                if c.acls.get(*step) != Some(&Acl::Step1) {
                    return Err(err("`ssl_bump peek` is not limited to step 1".to_string()));
                }
                c.peeks = true;
            }
            ["ssl_bump", action, acls @ ..] if c.peeks && !acls.is_empty() => {
                let allow = match *action {
                    "splice" => true,
                    "terminate" => false,
                    _ => return Err(err(format!("`ssl_bump {action}`"))),
                };
                c.ssl_bump.push(access(allow, acls, &c).map_err(err)?);
            }
            _ => return Err(err(format!("a directive policyc does not write: {line}"))),
        }
    }
    Ok(c)
}

fn acl(rest: &[&str]) -> Option<Acl> {
    let name = |raw: &str| -> Option<(String, bool)> {
        let (dot, n) = match raw.strip_prefix('.') {
            Some(n) => (true, n),
            None => (false, raw),
        };
        match Host::parse(n) {
            Ok(Host::Domain(d)) if d == n => Some((d, dot)),
            _ => None,
        }
    };
    match rest {
        ["dstdomain", "-n", raw] => name(raw).map(|(name, dot)| Acl::Domain { name, dot }),
        ["ssl::server_name", "--client-requested", raw] => {
            name(raw).map(|(name, dot)| Acl::ServerName { name, dot })
        }
        ["port", p] => p.parse().ok().filter(|p| *p != 0).map(Acl::Port),
        ["at_step", "SslBump1"] => Some(Acl::Step1),
        _ => None,
    }
}

fn access(allow: bool, acls: &[&str], c: &Conf) -> Result<Line, String> {
    let acls = acls
        .iter()
        .map(|a| {
            let (negated, name) = match a.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, *a),
            };
            if name != "all" && !c.acls.contains_key(name) {
                return Err(format!("ACL `{name}` is not defined"));
            }
            Ok((name.to_string(), negated))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Line { allow, acls })
}
