//! `policyc exec`'s egress flags, and the supervisor they configure for a policy with
//! egress rules (the supervisor itself is `policyc_host::egress`).

use super::exit::fail;
use super::load::Loaded;
use super::plan::Sites;
use policyc_compiler::ir::{AuditItem, Policy};
use policyc_host::egress::tokens::{Secret, SecretArg, Settings, Source};
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{Config, Supervisor};
use policyc_targets::egress::{Artifact, Egress, FILE};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags for policies with egress rules.
#[derive(Debug, Default, clap::Args)]
pub struct Flags {
    /// Dial ADDR for HOST:PORT instead of resolving HOST (curl's spelling; repeatable). The
    /// only way to reach a loopback or private upstream: the range check refuses those.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<Pin>,
    /// Append one JSON line per egress decision to FILE (every connection; DNS lookups
    /// when the policy's audit block asks for `dns`), hash-chained, between a session-start
    /// and a session-end record; check it with `policyc audit verify`. Default when the
    /// policy's audit block asks for `egress` or `dns`: $XDG_STATE_HOME/policyc/audit.jsonl
    /// (or ~/.local/state/policyc/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// When the command exits, write the audit log's last record (its seq and hash) to
    /// FILE, to keep where the command cannot reach it: `policyc audit verify --anchor
    /// FILE` then detects a log rewritten as a whole or cut after a session's end.
    #[arg(long, value_name = "FILE")]
    audit_anchor: Option<PathBuf>,
    /// The DNS server the sandbox's resolver forwards names the policy does not list to,
    /// under `dns any` only (default: the first nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "ADDR:PORT")]
    dns_upstream: Option<SocketAddr>,
    /// The real credential of a token that an allow rule binds (`with token T`), read by
    /// policyc and kept in its memory only: `T=file:PATH`, `T=env:VAR` (VAR is removed from
    /// the command's environment) or `T=cmd:COMMAND` (its standard output). The command
    /// gets a capability in `POLICYC_TOKEN_<T>` instead, and policyc puts the credential in
    /// `Authorization: Bearer` for the bound endpoint only, or, for a mail token (scope
    /// `mail:read`, `mail:write` or `mail:send`), logs in to the IMAP or SMTP server with it
    /// after the command logged in to policyc with the capability as its password
    /// (repeatable).
    #[arg(long, value_name = "TOKEN=SOURCE")]
    secret: Vec<SecretArg>,
    /// A CA certificate file (PEM) policyc trusts, beside the system's, for the upstreams of
    /// token-bound endpoints (repeatable).
    #[arg(long, value_name = "FILE")]
    upstream_ca: Vec<PathBuf>,
    /// Who approves each use of a token with `approval required` (each message sent, each
    /// IMAP login, each HTTPS request): `sh -c CMD` with the request as JSON on its standard
    /// input (token, audience, scope, endpoint, and for SMTP the sender, recipients, size
    /// and subject); exit status 0 approves that one use. Without it, policyc asks on the
    /// terminal; with neither, such tokens are not issued.
    #[arg(long, value_name = "CMD")]
    approver: Option<String>,
    /// How long an approval may take before it counts as a refusal: seconds, or with a
    /// unit (`90s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    approval_timeout: std::time::Duration,
}

/// `--approval-timeout`: `N`, `Ns` or `Nm`, at least one second.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match s.strip_suffix('m') {
        Some(d) => (d, 60),
        None => (s.strip_suffix('s').unwrap_or(s), 1),
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n.saturating_mul(unit))),
        _ => Err(format!(
            "`{s}`: expected seconds (`60`, `90s`) or minutes (`2m`)"
        )),
    }
}

/// The supervisor for `policy`, when it allows any egress; `Ok(None)` when it has no egress
/// rules (`egress none` keeps its loopback-only namespace), or when it cannot start and
/// `best_effort` says to run anyway (after printing what is not enforced).
pub fn supervisor(
    loaded: &Loaded,
    flags: &Flags,
    best_effort: bool,
) -> Result<Option<Supervisor>, u8> {
    let Some(config) = config(loaded, flags)? else {
        return Ok(None);
    };
    match Supervisor::prepare(config) {
        Ok(s) => {
            for l in s.limits() {
                crate::output::say("policyc exec: note: ", "exec", crate::output::Level::Note, &l.to_string());
            }
            Ok(Some(s))
        }
        Err(e @ policyc_host::egress::Error::Tokens(_)) => Err(secret_error(&e.to_string())),
        Err(e) if best_effort => {
            crate::output::say("policyc exec: ", "exec", crate::output::Level::Warning, &format!("the egress supervisor could not start: {e}"));
            crate::output::say("policyc exec: ", "exec", crate::output::Level::Warning, "--best-effort: NOT enforced: which hosts the command reaches, DNS filtering, TLS server names and HTTP Host checks, the upstream address check; only the ports (Landlock) are");
            Ok(None)
        }
        Err(e) => Err(fail(format!(
            "the egress supervisor could not start: {e}; refusing to run (use --best-effort to run with ports enforced only)"
        ))),
    }
}

/// What the supervisor for the loaded policy enforces, when it allows any egress (`None`
/// when it has no allow rules, or says `egress none`).
pub fn config(loaded: &Loaded, flags: &Flags) -> Result<Option<Config>, u8> {
    let policy = &loaded.policy;
    if policy.net.egress_none || !policy.net.rules.iter().any(|r| r.allow) {
        return Ok(None);
    }
    let bytes = loaded.artifact(&Egress, FILE)?;
    let artifact = Artifact::parse(&bytes).map_err(|e| fail(format!("{FILE}: {e}")))?;
    let tokens = token_settings(&loaded.sites, flags)?;
    Ok(Some(Config {
        locations: locations(&artifact, policy, &loaded.sites),
        artifact,
        pins: flags.resolve.clone(),
        audit_log: audit_log(policy, flags),
        record_egress: flags.audit_log.is_some(),
        policy_hash: loaded.sites.source_sha256.clone(),
        audit_anchor: flags.audit_anchor.clone(),
        dns_upstream: flags.dns_upstream,
        tokens,
    }))
}

/// `file:line` of each of the artifact's rules: the policy rule with the same action,
/// host and port.
fn locations(artifact: &Artifact, policy: &Policy, sites: &Sites) -> Vec<String> {
    artifact
        .rules
        .iter()
        .map(|a| {
            policy
                .net
                .rules
                .iter()
                .position(|r| r.allow == a.allow && r.host == a.host && r.port == a.port)
                .and_then(|i| sites.net_rules.get(i))
                .map_or_else(|| a.rule.clone(), Clone::clone)
        })
        .collect()
}

/// Where the audit log goes, and where its anchor.
pub(super) fn audit_paths(policy: &Policy, flags: &Flags) -> (Option<PathBuf>, Option<PathBuf>) {
    (audit_log(policy, flags), flags.audit_anchor.clone())
}

fn audit_log(policy: &Policy, flags: &Flags) -> Option<PathBuf> {
    if let Some(p) = &flags.audit_log {
        return Some(p.clone());
    }
    if ![
        AuditItem::Egress,
        AuditItem::Dns,
        AuditItem::Tokens,
        AuditItem::Writes,
        AuditItem::Denials,
    ]
    .iter()
    .any(|i| policy.audit.contains(i))
    {
        return None;
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("policyc/audit.jsonl"))
}

/// The secrets `--secret` names, read now (before the command starts), and the policy's hash
/// (the sha256 of its file, as `policyc token` computes it).
fn token_settings(sites: &Sites, flags: &Flags) -> Result<Settings, u8> {
    let mut settings = Settings {
        policy_hash: sites.source_sha256.clone(),
        upstream_roots: flags.upstream_ca.clone(),
        approver: flags.approver.clone(),
        approval_timeout: Some(flags.approval_timeout),
        ..Settings::default()
    };
    for arg in &flags.secret {
        let secret = Secret::read(arg).map_err(|e| secret_error(&e.to_string()))?;
        if let Source::Env(var) = &arg.source {
            settings.hide_env.push(var.clone());
        }
        if settings.secrets.insert(arg.token.clone(), secret).is_some() {
            return Err(secret_error(&format!(
                "--secret names token `{}` twice",
                arg.token
            )));
        }
    }
    Ok(settings)
}

/// A `--secret` problem (P1605): policyc does not start the command.
pub(super) fn secret_error(message: &str) -> u8 {
    crate::output::print_coded(
        "P1605",
        message,
        Some("give --secret TOKEN=file:PATH, TOKEN=env:VAR or TOKEN=cmd:COMMAND for a token an allow rule binds with `with token TOKEN`"),
        None,
        None,
        crate::output::error_format(),
    );
    super::exit::SETUP
}
