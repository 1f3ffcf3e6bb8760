//! `wasi.json`: the typed manifest, its JSON form, and the reader that checks it.
//!
//! The format is documented in the module above ([`crate::wasi`]). The reader ([`parse`])
//! accepts exactly what policyc writes and checks everything a launcher relies on: the format
//! name and version, canonical absolute paths, unique and non-nested guest paths, non-zero
//! sizes and ports, canonical host patterns. Anything else is an error: a launcher refuses to
//! run rather than guess.

use super::Error;
use policyc_compiler::ast::{DnsMode, EgressVia};
use policyc_compiler::hosts::HostPattern;
use policyc_compiler::paths::CanonPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of the `format` key.
pub const FORMAT: &str = "policyc-wasi";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// A parsed `wasi.json`: what a WASI host grants the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The policy it was built from.
    pub policy: String,
    /// The home directory `~` was resolved with, when the build knew one.
    pub home: Option<CanonPath>,
    /// Sorted by guest path; no guest path lies beneath another.
    pub preopens: Vec<Preopen>,
    /// Environment variables given to the module (policyc writes none).
    pub env: BTreeMap<String, String>,
    pub network: Network,
    pub limits: Limits,
}

/// One preopened directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The path the module sees (absolute, canonical).
    pub guest: CanonPath,
    pub source: Source,
    pub perms: Perms,
}

/// Where a preopen's directory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An existing host directory (absolute, canonical, `~` resolved).
    Host(CanonPath),
    /// A fresh, empty host directory the launcher creates and deletes after the run.
    Scratch { size: u64 },
    /// The same, meant to live in memory (the launcher picks a RAM-backed place if it can).
    Tmpfs { size: u64 },
}

/// What a preopen allows. WASI has no execute right: nothing is ever executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Perms {
    ReadOnly,
    ReadWrite,
}

/// Network egress as the policy states it; the proxy and the host's socket check enforce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// `false` for `egress none`: no connection and no name resolution at all.
    pub egress: bool,
    /// Deny rules first, then allow rules.
    pub rules: Vec<NetRule>,
    pub dns: DnsMode,
}

/// One egress rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRule {
    pub allow: bool,
    pub host: HostPattern,
    /// `None`: every port.
    pub port: Option<u16>,
    pub via: EgressVia,
}

/// Resource limits a WASI host can enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Bytes of linear memory per memory.
    pub memory: Option<u64>,
}

// ---- the JSON form ----

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonManifest {
    format: String,
    version: u32,
    policy: String,
    home: Option<String>,
    preopens: Vec<JsonPreopen>,
    env: BTreeMap<String, String>,
    network: JsonNetwork,
    #[serde(default, skip_serializing_if = "JsonLimits::is_empty")]
    limits: JsonLimits,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPreopen {
    guest: String,
    kind: JsonKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    access: Perms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonKind {
    Dir,
    Scratch,
    Tmpfs,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonNetwork {
    egress: JsonEgress,
    rules: Vec<JsonRule>,
    dns: DnsName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum JsonEgress {
    None,
    AllowListed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum DnsName {
    None,
    AllowListedOnly,
    Any,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRule {
    action: JsonAction,
    host: String,
    port: Option<u16>,
    via: JsonVia,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonVia {
    Proxy,
    Direct,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<u64>,
}

impl JsonLimits {
    fn is_empty(&self) -> bool {
        self.memory.is_none()
    }
}

fn dns_name(d: DnsMode) -> DnsName {
    match d {
        DnsMode::None => DnsName::None,
        DnsMode::AllowListedOnly => DnsName::AllowListedOnly,
        DnsMode::Any => DnsName::Any,
    }
}

fn dns_mode(d: DnsName) -> DnsMode {
    match d {
        DnsName::None => DnsMode::None,
        DnsName::AllowListedOnly => DnsMode::AllowListedOnly,
        DnsName::Any => DnsMode::Any,
    }
}

impl Manifest {
    /// The JSON bytes, pretty-printed with a final newline (stable for identical input).
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let j = JsonManifest {
            format: FORMAT.to_string(),
            version: VERSION,
            policy: self.policy.clone(),
            home: self.home.as_ref().map(ToString::to_string),
            preopens: self.preopens.iter().map(json_preopen).collect(),
            env: self.env.clone(),
            network: JsonNetwork {
                egress: if self.network.egress {
                    JsonEgress::AllowListed
                } else {
                    JsonEgress::None
                },
                rules: self.network.rules.iter().map(json_rule).collect(),
                dns: dns_name(self.network.dns),
            },
            limits: JsonLimits {
                memory: self.limits.memory,
            },
        };
        let mut bytes = serde_json::to_vec_pretty(&j).map_err(|e| Error::Json(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The preopen a guest path resolves through: the longest guest prefix, as wasi-libc
    /// picks it.
    pub fn resolve(&self, guest: &CanonPath) -> Option<&Preopen> {
        self.preopens
            .iter()
            .filter(|p| guest.starts_with(&p.guest))
            .max_by_key(|p| p.guest.depth())
    }
}

fn json_preopen(p: &Preopen) -> JsonPreopen {
    let (kind, host, size) = match &p.source {
        Source::Host(h) => (JsonKind::Dir, Some(h.to_string()), None),
        Source::Scratch { size } => (JsonKind::Scratch, None, Some(*size)),
        Source::Tmpfs { size } => (JsonKind::Tmpfs, None, Some(*size)),
    };
    JsonPreopen {
        guest: p.guest.to_string(),
        kind,
        host,
        size,
        access: p.perms,
    }
}

fn json_rule(r: &NetRule) -> JsonRule {
    JsonRule {
        action: if r.allow {
            JsonAction::Allow
        } else {
            JsonAction::Deny
        },
        host: r.host.to_string(),
        port: r.port,
        via: match r.via {
            EgressVia::Proxy => JsonVia::Proxy,
            EgressVia::Direct => JsonVia::Direct,
        },
    }
}

/// Read a `wasi.json` and check it.
pub fn parse(bytes: &[u8]) -> Result<Manifest, Error> {
    let j: JsonManifest = serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
    if j.format != FORMAT {
        return Err(Error::Invalid(format!(
            "`format` is `{}`, not `{FORMAT}`",
            j.format.escape_debug()
        )));
    }
    if j.version != VERSION {
        return Err(Error::Invalid(format!(
            "format version {} is not supported (this reader knows version {VERSION})",
            j.version
        )));
    }
    let home = j.home.as_deref().map(host_path).transpose()?;
    let mut preopens = j
        .preopens
        .into_iter()
        .map(preopen)
        .collect::<Result<Vec<_>, _>>()?;
    preopens.sort_by(|a, b| a.guest.cmp(&b.guest));
    check_guests(&preopens)?;
    let network = network(j.network)?;
    if j.limits.memory == Some(0) {
        return Err(Error::Invalid("`limits.memory` is zero".to_string()));
    }
    Ok(Manifest {
        policy: j.policy,
        home,
        preopens,
        env: j.env,
        network,
        limits: Limits {
            memory: j.limits.memory,
        },
    })
}

/// A path that must be absolute and already canonical.
fn canonical(raw: &str, what: &str) -> Result<CanonPath, Error> {
    crate::common::canonical(raw).ok_or_else(|| {
        Error::Invalid(format!(
            "{what} `{}` is not an absolute canonical path",
            raw.escape_debug()
        ))
    })
}

fn host_path(raw: &str) -> Result<CanonPath, Error> {
    canonical(raw, "host path")
}

fn preopen(j: JsonPreopen) -> Result<Preopen, Error> {
    let guest = canonical(&j.guest, "guest path")?;
    let source = match (j.kind, j.host, j.size) {
        (JsonKind::Dir, Some(h), None) => Source::Host(host_path(&h)?),
        (JsonKind::Scratch, None, Some(size)) if size > 0 => Source::Scratch { size },
        (JsonKind::Tmpfs, None, Some(size)) if size > 0 => Source::Tmpfs { size },
        _ => {
            return Err(Error::Invalid(format!(
                "preopen `{guest}`: a `dir` has a `host` and no `size`; a `scratch` or `tmpfs` has a non-zero `size` and no `host`"
            )))
        }
    };
    Ok(Preopen {
        guest,
        source,
        perms: j.access,
    })
}

/// Guest paths are unique and none lies beneath another (a nested preopen cannot hide the
/// outer directory's tree: the module can always reach it through the outer descriptor).
fn check_guests(preopens: &[Preopen]) -> Result<(), Error> {
    for (i, a) in preopens.iter().enumerate() {
        for (j, b) in preopens.iter().enumerate() {
            if i != j && a.guest.starts_with(&b.guest) {
                return Err(Error::Invalid(format!(
                    "preopen `{}` lies at or beneath preopen `{}`",
                    a.guest, b.guest
                )));
            }
        }
    }
    Ok(())
}

fn network(j: JsonNetwork) -> Result<Network, Error> {
    let egress = j.egress == JsonEgress::AllowListed;
    if !egress && (!j.rules.is_empty() || j.dns != DnsName::None) {
        return Err(Error::Invalid(
            "`egress` is `none` but rules or DNS are given".to_string(),
        ));
    }
    let rules = j
        .rules
        .into_iter()
        .map(rule)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Network {
        egress,
        rules,
        dns: dns_mode(j.dns),
    })
}

fn rule(j: JsonRule) -> Result<NetRule, Error> {
    let host = match HostPattern::parse(&j.host) {
        Ok(h) if h.to_string() == j.host => h,
        _ => {
            return Err(Error::Invalid(format!(
                "egress host `{}` is not a normalised host pattern",
                j.host.escape_debug()
            )))
        }
    };
    if j.port == Some(0) {
        return Err(Error::Invalid(format!("egress rule `{host}` has port 0")));
    }
    Ok(NetRule {
        allow: j.action == JsonAction::Allow,
        host,
        port: j.port,
        via: match j.via {
            JsonVia::Proxy => EgressVia::Proxy,
            JsonVia::Direct => EgressVia::Direct,
        },
    })
}
