//! `dnsmasq.conf` read back: the directives policyc writes, and how dnsmasq picks the one
//! that answers a name.
//!
//! dnsmasq matches `/example.com/` against `example.com` and every name beneath it, and
//! `/*.example.com/` against every name ending in `.example.com` (not `example.com`
//! itself). Of the patterns that match, the longest wins (`*.example.com` counts its dot,
//! so it beats `/example.com/` beneath it); on a tie the pattern without `*` wins; `/#/`
//! matches every name and loses to any other. A `server=` answers (forwarded upstream), an
//! `address=` with no address refuses (NXDOMAIN, never forwarded). With `no-resolv` and
//! no server for every name, a name nothing matches is refused.
//!
//! The reader accepts exactly the directives policyc writes; anything else fails (and the
//! simulator then denies everything).

use crate::index::DomainIndex;
use policyc_compiler::hosts::Host;

/// Why a `dnsmasq.conf` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dnsmasq.conf line {line}: {why}")]
pub struct Error {
    pub line: usize,
    pub why: String,
}

/// One `server=` or `address=` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The domain, without a leading `*.`; `None` for `/#/`.
    pub domain: Option<String>,
    /// `/*.domain/`: strict subdomains only.
    pub wildcard: bool,
    /// `server=` (answered upstream) rather than `address=` (refused).
    pub answer: bool,
}

/// A parsed `dnsmasq.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conf {
    /// `no-resolv`: no upstream other than the `server=` lines.
    pub no_resolv: bool,
    /// `no-hosts`: `/etc/hosts` answers nothing.
    pub no_hosts: bool,
    /// A `server=` without a domain: every name nothing else matches is forwarded.
    pub default_server: bool,
    /// Record types removed from answers (`filter-rr=`).
    pub filtered: Vec<String>,
    pub entries: Vec<Entry>,
}

impl Conf {
    /// Whether dnsmasq answers a lookup of `name` (a normalised domain) from upstream.
    pub fn answers(&self, name: &str) -> bool {
        let best = self
            .entries
            .iter()
            .filter_map(|e| e.rank(name).map(|r| (r, e)))
            .max_by_key(|(r, _)| *r)
            .map(|(_, e)| e);
        self.verdict(best)
    }

    /// Whether a lookup of `host` is answered: `None` for an address, which is never
    /// looked up.
    pub fn resolves(&self, host: &Host) -> Option<bool> {
        match host {
            Host::Domain(d) => Some(self.answers(d)),
            Host::Ip(_) => None,
        }
    }

    /// The configuration with its entries indexed by domain, for asking many questions.
    pub(crate) fn indexed(&self) -> Indexed<'_> {
        let keys = self.entries.iter().map(|e| e.domain.as_deref());
        Indexed {
            conf: self,
            index: DomainIndex::new(keys.collect::<Vec<_>>()),
        }
    }

    /// Whether the best-ranked entry (`None`: no entry matched) has the name answered.
    fn verdict(&self, best: Option<&Entry>) -> bool {
        match best {
            // dnsmasq forwards to a server without a domain before it applies `/#/`.
            Some(e) if e.domain.is_none() && self.default_server => true,
            Some(e) => e.answer,
            None => self.default_server || !self.no_resolv || !self.no_hosts,
        }
    }
}

/// A configuration with its entries indexed by domain: decides exactly as [`Conf::resolves`]
/// does, ranking only the entries that may match.
#[derive(Debug)]
pub(crate) struct Indexed<'c> {
    conf: &'c Conf,
    index: DomainIndex,
}

impl Indexed<'_> {
    /// Exactly [`Conf::resolves`].
    pub(crate) fn resolves(&self, host: &Host) -> Option<bool> {
        let Host::Domain(name) = host else {
            return None;
        };
        let best = self
            .index
            .candidates(host)
            .into_iter()
            .filter_map(|i| self.conf.entries.get(i))
            .filter_map(|e| e.rank(name).map(|r| (r, e)))
            .max_by_key(|(r, _)| *r)
            .map(|(_, e)| e);
        Some(self.conf.verdict(best))
    }
}

impl Entry {
    /// How well the entry matches `name` (higher wins), or `None`.
    fn rank(&self, name: &str) -> Option<(usize, bool)> {
        let Some(d) = &self.domain else {
            return Some((0, false));
        };
        let below = name
            .strip_suffix(d.as_str())
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'));
        if self.wildcard {
            below.then_some((d.len() + 1, false))
        } else {
            (name == d || below).then_some((d.len(), true))
        }
    }
}

/// Read a `dnsmasq.conf` as policyc writes it.
pub fn parse(text: &str) -> Result<Conf, Error> {
    let mut c = Conf::default();
    for (i, raw) in text.lines().enumerate() {
        let err = |why: &str| Error {
            line: i + 1,
            why: why.to_string(),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        match (key, value) {
            ("no-resolv", "") => c.no_resolv = true,
            ("no-hosts", "") => c.no_hosts = true,
            ("filter-rr", types) if !types.is_empty() => {
                c.filtered = types.split(',').map(str::to_string).collect();
            }
            ("server", v) => match v.strip_prefix('/') {
                None if !v.is_empty() && !v.contains('/') => c.default_server = true,
                Some(rest) => c.entries.push(entry(rest, true).ok_or_else(|| err(line))?),
                None => return Err(err("a `server=` line policyc does not write")),
            },
            ("address", v) => {
                let rest = v.strip_prefix('/').ok_or_else(|| err(line))?;
                c.entries.push(entry(rest, false).ok_or_else(|| err(line))?);
            }
            _ => return Err(err("a directive policyc does not write")),
        }
    }
    Ok(c)
}

/// `domain/upstream` for a server, `domain/` for a refusal; the domain is `#`, a
/// normalised name or `*.` and one.
fn entry(rest: &str, answer: bool) -> Option<Entry> {
    let (domain, target) = rest.split_once('/')?;
    if answer == target.is_empty() || target.contains('/') {
        return None;
    }
    if domain == "#" {
        return Some(Entry {
            domain: None,
            wildcard: false,
            answer,
        });
    }
    let (wildcard, name) = match domain.strip_prefix("*.") {
        Some(n) => (true, n),
        None => (false, domain),
    };
    match Host::parse(name) {
        Ok(Host::Domain(d)) if d == name => Some(Entry {
            domain: Some(d),
            wildcard,
            answer,
        }),
        _ => None,
    }
}
