//! `policyc exec`'s egress flags, and the supervisor they configure for a policy with
//! egress rules (the supervisor itself is `policyc_host::egress`).

use super::exit::fail;
use policyc_compiler::ir::{AuditItem, Policy};
use policyc_compiler::SourceMap;
use policyc_host::egress::rules::Rule;
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{Config, Supervisor};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags for policies with egress rules.
#[derive(Debug, Default, clap::Args)]
pub struct Flags {
    /// Dial ADDR for HOST:PORT instead of resolving HOST (curl's spelling; repeatable). The
    /// only way to reach a loopback or private upstream: the range check refuses those.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<Pin>,
    /// Append one JSON line per egress decision to FILE. Default when the policy's audit
    /// block asks for `egress`: $XDG_STATE_HOME/policyc/audit.jsonl (or
    /// ~/.local/state/policyc/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// The DNS server the sandbox's resolver asks for allowed names (default: the first
    /// nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "ADDR:PORT")]
    dns_upstream: Option<SocketAddr>,
}

/// The supervisor for `policy`, when it allows any egress; `Ok(None)` when it has no egress
/// rules (`egress none` keeps its loopback-only namespace), or when it cannot start and
/// `best_effort` says to run anyway (after printing what is not enforced).
pub fn supervisor(
    policy: &Policy,
    sources: &SourceMap,
    flags: &Flags,
    best_effort: bool,
) -> Result<Option<Supervisor>, u8> {
    if policy.net.egress_none || !policy.net.rules.iter().any(|r| r.allow) {
        return Ok(None);
    }
    let config = Config {
        policy: policy.name.clone(),
        rules: rules(policy, sources),
        pins: flags.resolve.clone(),
        audit_log: audit_log(policy, flags),
        dns_upstream: flags.dns_upstream,
    };
    match Supervisor::prepare(config) {
        Ok(s) => {
            for l in s.limits() {
                eprintln!("policyc exec: note: {l}");
            }
            Ok(Some(s))
        }
        Err(e) if best_effort => {
            eprintln!("policyc exec: the egress supervisor could not start: {e}");
            eprintln!("policyc exec: --best-effort: NOT enforced: which hosts the command reaches, DNS filtering, TLS server names and HTTP Host checks, the upstream address check; only the ports (Landlock) are");
            Ok(None)
        }
        Err(e) => Err(fail(format!(
            "the egress supervisor could not start: {e}; refusing to run (use --best-effort to run with ports enforced only)"
        ))),
    }
}

fn rules(policy: &Policy, sources: &SourceMap) -> Vec<Rule> {
    policy
        .net
        .rules
        .iter()
        .map(|r| {
            let at = sources.location(r.span);
            let at = at
                .rsplit_once(':')
                .map_or(at.clone(), |(fl, _)| fl.to_string());
            Rule {
                allow: r.allow,
                host: r.host.clone(),
                port: r.port,
                at,
            }
        })
        .collect()
}

fn audit_log(policy: &Policy, flags: &Flags) -> Option<PathBuf> {
    if let Some(p) = &flags.audit_log {
        return Some(p.clone());
    }
    if !policy.audit.contains(&AuditItem::Egress) {
        return None;
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("policyc/audit.jsonl"))
}
