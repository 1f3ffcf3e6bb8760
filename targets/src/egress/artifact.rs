//! `egress.json`: the typed artifact, its JSON form, and the reader that checks it.
//!
//! The format is documented in the module above ([`crate::egress`]). The reader
//! ([`Artifact::parse`]) accepts exactly what policyc writes and checks everything the
//! supervisor relies on: the format name and version, canonical host patterns, non-zero ports
//! and TTLs, denies before allows, tokens that exist, and DNS lists that are exactly the ones
//! the rules give. Anything else is an error: the supervisor refuses to start rather than
//! guess.

use super::Error;
use policyc_compiler::ast::{DnsMode, EgressVia};
use policyc_compiler::hosts::HostPattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of the `format` key.
pub const FORMAT: &str = "policyc-egress";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// A parsed `egress.json`: what the egress supervisor lets the program reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The policy it was built from.
    pub policy: String,
    /// `false` for `egress none`: no connection, no name resolution, no rules.
    pub egress: bool,
    /// In decision order: every deny rule, then every allow rule.
    pub rules: Vec<Rule>,
    pub dns: Dns,
    /// Every token the policy defines, by name.
    pub tokens: BTreeMap<String, TokenGrant>,
    pub audit: Audit,
}

/// One egress rule, as the policy states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// A normalised host or `*.domain` (strict subdomains only).
    pub host: HostPattern,
    /// `None`: every port.
    pub port: Option<u16>,
    pub via: EgressVia,
    /// The token the supervisor attaches to connections this rule admits.
    pub token: Option<String>,
    /// The rule as written in its `egress` block (`allow "api.example.com":443 with token
    /// api`), for audit records and messages.
    pub rule: String,
}

/// What the resolver may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    pub mode: DnsMode,
    /// Under `allow-listed-only`: the patterns whose names are answered (those of the allow
    /// rules, sorted, without repeats). Empty under the other modes.
    pub names: Vec<HostPattern>,
    /// Under `allow-listed-only`: the patterns never answered even when `names` matches
    /// (those of the deny rules on every port, sorted, without repeats). Empty otherwise.
    pub refused: Vec<HostPattern>,
}

/// A token the policy defines: recorded for the supervisor that issues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    pub audience: String,
    pub scopes: Vec<String>,
    /// Lifetime in milliseconds (never zero).
    pub ttl_ms: u64,
    /// True when a person must approve each issue.
    pub approval: bool,
}

/// What the audit log records about the network, from the policy's `audit` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// One record per connection decision.
    pub egress: bool,
    /// One record per name lookup.
    pub dns: bool,
    /// One record per token issued or used.
    pub tokens: bool,
    /// Records for every denial.
    pub denials: bool,
}

impl Dns {
    /// The lists a resolver answers from under `mode`, derived from the rules: what every
    /// writer must record and every reader checks.
    pub fn derive(mode: DnsMode, rules: &[Rule]) -> Dns {
        let list = |f: fn(&Rule) -> bool| {
            let mut v: Vec<HostPattern> = rules
                .iter()
                .filter(|r| f(r))
                .map(|r| r.host.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        match mode {
            DnsMode::AllowListedOnly => Dns {
                mode,
                names: list(|r| r.allow),
                refused: list(|r| !r.allow && r.port.is_none()),
            },
            DnsMode::None | DnsMode::Any => Dns {
                mode,
                names: Vec::new(),
                refused: Vec::new(),
            },
        }
    }
}

// ---- the JSON form ----

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonArtifact {
    format: String,
    version: u32,
    policy: String,
    egress: JsonEgress,
    rules: Vec<JsonRule>,
    dns: JsonDns,
    tokens: BTreeMap<String, TokenGrant>,
    audit: Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum JsonEgress {
    None,
    AllowListed,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRule {
    action: JsonAction,
    host: String,
    port: Option<u16>,
    via: EgressVia,
    token: Option<String>,
    rule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonAction {
    Allow,
    Deny,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDns {
    mode: DnsMode,
    names: Vec<String>,
    refused: Vec<String>,
}

impl Artifact {
    /// The JSON bytes, pretty-printed with a final newline (stable for identical input).
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let j = JsonArtifact {
            format: FORMAT.to_string(),
            version: VERSION,
            policy: self.policy.clone(),
            egress: if self.egress {
                JsonEgress::AllowListed
            } else {
                JsonEgress::None
            },
            rules: self.rules.iter().map(json_rule).collect(),
            dns: JsonDns {
                mode: self.dns.mode,
                names: self.dns.names.iter().map(ToString::to_string).collect(),
                refused: self.dns.refused.iter().map(ToString::to_string).collect(),
            },
            tokens: self.tokens.clone(),
            audit: self.audit,
        };
        let mut bytes = serde_json::to_vec_pretty(&j).map_err(|e| Error::Json(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Read an `egress.json` and check it (fail closed: anything policyc would not write is
    /// an error).
    pub fn parse(bytes: &[u8]) -> Result<Artifact, Error> {
        let j: JsonArtifact =
            serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
        if j.format != FORMAT {
            return Err(invalid(format!(
                "`format` is `{}`, not `{FORMAT}`",
                j.format.escape_debug()
            )));
        }
        if j.version != VERSION {
            return Err(invalid(format!(
                "format version {} is not supported (this reader knows version {VERSION})",
                j.version
            )));
        }
        for (name, t) in &j.tokens {
            if t.ttl_ms == 0 || t.audience.is_empty() {
                return Err(invalid(format!(
                    "token `{}` has no lifetime or no audience",
                    name.escape_debug()
                )));
            }
        }
        let rules = j
            .rules
            .into_iter()
            .map(|r| rule(r, &j.tokens))
            .collect::<Result<Vec<_>, _>>()?;
        check_order(&rules)?;
        let egress = j.egress == JsonEgress::AllowListed;
        if egress == rules.is_empty() {
            return Err(invalid(
                "`egress` is `none` exactly when there are no rules".to_string(),
            ));
        }
        if !egress && j.dns.mode != DnsMode::None {
            return Err(invalid("`egress` is `none` but DNS is not".to_string()));
        }
        let dns = Dns {
            mode: j.dns.mode,
            names: patterns(&j.dns.names)?,
            refused: patterns(&j.dns.refused)?,
        };
        if dns != Dns::derive(dns.mode, &rules) {
            return Err(invalid(
                "`dns.names` and `dns.refused` are not the lists the rules give".to_string(),
            ));
        }
        Ok(Artifact {
            policy: j.policy,
            egress,
            rules,
            dns,
            tokens: j.tokens,
            audit: j.audit,
        })
    }
}

fn invalid(why: String) -> Error {
    Error::Invalid(why)
}

fn json_rule(r: &Rule) -> JsonRule {
    JsonRule {
        action: if r.allow {
            JsonAction::Allow
        } else {
            JsonAction::Deny
        },
        host: r.host.to_string(),
        port: r.port,
        via: r.via,
        token: r.token.clone(),
        rule: r.rule.clone(),
    }
}

/// A host pattern written exactly as `policyc_compiler::hosts` prints it.
fn pattern(raw: &str) -> Result<HostPattern, Error> {
    match HostPattern::parse(raw) {
        Ok(h) if h.to_string() == raw => Ok(h),
        _ => Err(invalid(format!(
            "host `{}` is not a normalised host pattern",
            raw.escape_debug()
        ))),
    }
}

fn patterns(raw: &[String]) -> Result<Vec<HostPattern>, Error> {
    raw.iter().map(|r| pattern(r)).collect()
}

fn rule(j: JsonRule, tokens: &BTreeMap<String, TokenGrant>) -> Result<Rule, Error> {
    let host = pattern(&j.host)?;
    if j.port == Some(0) {
        return Err(invalid(format!("egress rule `{host}` has port 0")));
    }
    if let Some(t) = &j.token {
        if !j.action.eq(&JsonAction::Allow) || !tokens.contains_key(t) {
            return Err(invalid(format!(
                "egress rule `{host}` carries token `{}`, which is not an allow rule's defined token",
                t.escape_debug()
            )));
        }
    }
    Ok(Rule {
        allow: j.action == JsonAction::Allow,
        host,
        port: j.port,
        via: j.via,
        token: j.token,
        rule: j.rule,
    })
}

/// Every deny rule comes before every allow rule.
fn check_order(rules: &[Rule]) -> Result<(), Error> {
    let first_allow = rules.iter().position(|r| r.allow).unwrap_or(rules.len());
    match rules.iter().skip(first_allow).find(|r| !r.allow) {
        Some(r) => Err(invalid(format!(
            "deny rule `{}` comes after an allow rule (denies come first)",
            r.host
        ))),
        None => Ok(()),
    }
}
