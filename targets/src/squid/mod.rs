//! The squid target: `squid.conf`, for operators who run their own proxy (the
//! `squid-openssl` build, which can peek at TLS). It lets through exactly the connections
//! the policy allows, by host and port, checks the server name of every TLS ClientHello
//! without decrypting anything, and refuses everything else.
//!
//! # `squid.conf`
//!
//! ```text
//! http_port 3128 ssl-bump tls-cert=/etc/squid/policyc-peek.pem generate-host-certificates=off
//! cache deny all
//! acl policyc_step1 at_step SslBump1
//! acl policyc_r1_host dstdomain -n .cdn.example.com
//! acl policyc_r1_apex dstdomain -n cdn.example.com
//! acl policyc_r1_sni ssl::server_name --client-requested .cdn.example.com
//! acl policyc_r1_sni_apex ssl::server_name --client-requested cdn.example.com
//! acl policyc_r1_port port 443
//! http_access allow policyc_r1_host !policyc_r1_apex policyc_r1_port
//! http_access deny all
//! ssl_bump peek policyc_step1
//! ssl_bump splice policyc_r1_sni !policyc_r1_sni_apex policyc_r1_port
//! ssl_bump terminate all
//! on_unsupported_protocol tunnel all
//! ```
//!
//! - One group of ACLs per egress rule, in decision order (denies first): the host
//!   (`dstdomain -n`: no lookups, so an address never matches a name), the server name a TLS
//!   client sends (`ssl::server_name --client-requested`; squid matches a ClientHello
//!   without one by the CONNECT host), and the port (none for a rule on every port).
//! - squid's `.example.com` includes `example.com` itself where policyc's `*.example.com`
//!   does not, so a wildcard rule also names the apex and excludes it (`!…_apex`): the
//!   configuration is exact, neither wider nor narrower.
//! - `http_access` decides the CONNECT (and a plain HTTP request) by host and port;
//!   `ssl_bump` peeks at the ClientHello and splices it only when its server name and the
//!   port match an allow rule and no deny rule, and terminates it otherwise. A tunnel that
//!   does not speak TLS (IMAP with STARTTLS, say) passes once `http_access` allowed it.
//! - Rules on IP addresses are not emitted (`P1301`): a TLS client sends no server name to
//!   an address, so squid could not check it; connections to addresses are refused.
//! - The peek certificate (`tls-cert=`) is required by squid on an `ssl-bump` port but
//!   never signs anything: nothing is bumped. Create it once
//!   (`openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=peek -keyout F -out F`).
//!
//! The [`conf`] module reads the file back and decides as squid does; the build fails
//! (`P1303`) unless it decides every host and port as `egress.json` does, but for the
//! addresses it reports.

pub mod conf;

#[cfg(test)]
mod tests;

pub use conf::{parse, Acl, Conf, Line};

use crate::common::{allow_if, counts, ReadBack};
use crate::egress::{artifact_for, Artifact};
use crate::index::IndexedRules;
use crate::{EmitContext, Emitted, Target, Verdict};
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::{EgressRule, Isolation, Policy};
use policyc_compiler::{Code, Diagnostic, Request};
use std::fmt::Write as _;

/// The file this target emits.
pub const FILE: &str = "squid.conf";
/// Where the configuration expects the peek certificate.
pub const PEEK_CERT: &str = "/etc/squid/policyc-peek.pem";

/// The text of one rule: its ACLs, its `http_access` line and its `ssl_bump` line.
struct RuleText {
    acls: String,
    access: String,
    bump: String,
}

fn rule_text(i: usize, r: &EgressRule) -> Option<RuleText> {
    let (name, apex) = match &r.host {
        HostPattern::Exact(Host::Domain(d)) => (d.clone(), None),
        HostPattern::Subdomains(d) => (format!(".{d}"), Some(d.clone())),
        HostPattern::Exact(Host::Ip(_)) => return None,
    };
    let p = format!("policyc_r{i}");
    let mut acls = format!(
        "acl {p}_host dstdomain -n {name}\nacl {p}_sni ssl::server_name --client-requested {name}\n"
    );
    let mut host = format!("{p}_host");
    let mut sni = format!("{p}_sni");
    if let Some(a) = apex {
        let _ = writeln!(acls, "acl {p}_apex dstdomain -n {a}");
        let _ = writeln!(
            acls,
            "acl {p}_sni_apex ssl::server_name --client-requested {a}"
        );
        host.push_str(&format!(" !{p}_apex"));
        sni.push_str(&format!(" !{p}_sni_apex"));
    }
    if let Some(port) = r.port {
        let _ = writeln!(acls, "acl {p}_port port {port}");
        host.push_str(&format!(" {p}_port"));
        sni.push_str(&format!(" {p}_port"));
    }
    let (access, bump) = if r.allow {
        ("allow", "splice")
    } else {
        ("deny", "terminate")
    };
    Some(RuleText {
        acls,
        access: format!("http_access {access} {host}\n"),
        bump: format!("ssl_bump {bump} {sni}\n"),
    })
}

/// The rules in decision order: denies, then allows.
fn ordered(policy: &Policy) -> Vec<&EgressRule> {
    let mut rules: Vec<&EgressRule> = policy.net.rules.iter().collect();
    rules.sort_by_key(|r| r.allow);
    rules
}

/// The configuration text, and a `P1301` entry for each allow rule left out.
fn text(policy: &Policy) -> (String, Vec<Diagnostic>) {
    let mut s = format!(
        "# squid.conf for squid-openssl, compiled by policyc from policy `{}`: CONNECT and\n\
         # plain HTTP by host and port, TLS by the server name it peeks at; nothing else.\n\
         http_port 3128 ssl-bump tls-cert={PEEK_CERT} generate-host-certificates=off\n\
         cache deny all\n\
         acl policyc_step1 at_step SslBump1\n",
        policy.name
    );
    let mut narrowed = Vec::new();
    let mut texts = Vec::new();
    for (i, r) in ordered(policy).into_iter().enumerate() {
        match rule_text(i + 1, r) {
            Some(t) => texts.push(t),
            None if r.allow => narrowed.push(Diagnostic::new(
                Code::SquidNarrowed,
                r.span,
                format!("squid: `{r}` is not emitted: a TLS client sends no server name to an address, so squid could not check the ClientHello; connections to `{}` are refused", r.host),
            ).with_hint("name the host instead of its address, or run the program under `policyc exec`, whose supervisor enforces the rule")),
            None => {}
        }
    }
    if policy.net.egress_none {
        texts.clear();
    }
    for t in &texts {
        s.push_str(&t.acls);
    }
    texts.iter().for_each(|t| s.push_str(&t.access));
    s.push_str("http_access deny all\nssl_bump peek policyc_step1\n");
    texts.iter().for_each(|t| s.push_str(&t.bump));
    s.push_str("ssl_bump terminate all\non_unsupported_protocol tunnel all\n");
    (s, narrowed)
}

/// The hosts and ports that decide every other: each rule's host, a fresh name beneath each
/// domain, and one unrelated; each rule's port and one no rule names.
fn probes(a: &Artifact) -> Vec<(Host, u16)> {
    let mut hosts = vec![Host::Domain("policyc-fresh.invalid".to_string())];
    // Each port once, in the order the rules name them.
    let mut seen = std::collections::BTreeSet::new();
    let mut ports: Vec<u16> = a
        .rules
        .iter()
        .filter_map(|r| r.port)
        .filter(|p| seen.insert(*p))
        .collect();
    ports.push((1..=u16::MAX).find(|p| !ports.contains(p)).unwrap_or(1));
    for r in &a.rules {
        match &r.host {
            HostPattern::Exact(h) => hosts.push(h.clone()),
            HostPattern::Subdomains(d) => hosts.push(Host::Domain(d.clone())),
        }
        if let HostPattern::Exact(Host::Domain(d)) | HostPattern::Subdomains(d) = &r.host {
            if let Ok(h) = Host::parse(&format!("policyc-fresh.{d}")) {
                hosts.push(h);
            }
        }
    }
    hosts
        .iter()
        .flat_map(|h| ports.iter().map(move |p| (h.clone(), *p)))
        .collect()
}

/// Read the text back and check that it decides as the artifact does, but for addresses.
fn check(policy: &Policy, text: &str) -> Result<Conf, Vec<Diagnostic>> {
    let fail = |why: String| {
        vec![Diagnostic::new(
            Code::SquidRoundTrip,
            policy.span,
            format!("squid: {why}"),
        )]
    };
    let c = parse(text).map_err(|e| fail(e.to_string()))?;
    let a = artifact_for(policy);
    let rules = IndexedRules::new(&a.rules);
    let lines = c.indexed();
    for (h, port) in probes(&a) {
        let want = a.egress && rules.connect_rule(&h, port).is_some();
        let got = lines.connects(&h, port);
        if got && !want || got != want && matches!(h, Host::Domain(_)) {
            return Err(fail(format!(
                "`{h}:{port}` is decided differently from egress.json"
            )));
        }
    }
    Ok(c)
}

/// `P1302`: what the configuration leaves to others or to the operator.
fn report(policy: &Policy) -> Diagnostic {
    Diagnostic::new(
        Code::SquidNotMediated,
        policy.span,
        format!("squid: the configuration decides connections by host and port and TLS by the server name alone: it does not check that the server name equals the CONNECT host (one allowed name may front for another) and splices a ClientHello without one to an allowed CONNECT host, dials whatever its resolver returns for an allowed name (loopback and private addresses included), leaves name lookups to the resolver (see dnsmasq.conf), and needs the peek certificate `{PEEK_CERT}` (it signs nothing)"),
    )
}

/// Decide a request against a parsed configuration.
pub fn decide(c: &Conf, request: &Request) -> Verdict {
    match request {
        Request::Connect { host, port } => allow_if(c.connects(host, *port)),
        _ => Verdict::NotMediated,
    }
}

const READ_BACK: ReadBack<Conf> = ReadBack {
    file: FILE,
    read: |bytes| parse(std::str::from_utf8(bytes).ok()?).ok(),
    decide,
    raw: Verdict::NotMediated,
};

/// The squid target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Squid;

impl Target for Squid {
    fn name(&self) -> &'static str {
        "squid"
    }

    fn comment_leader(&self, _artifact: &str) -> Option<&'static str> {
        Some("#")
    }

    /// For operators: no isolation level's stack holds it.
    fn in_stack(&self, _isolation: Isolation) -> bool {
        false
    }

    fn in_build(&self, _policy: &Policy) -> bool {
        true
    }

    fn emit(&self, policy: &Policy, _ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        let (text, mut report_entries) = text(policy);
        let c = check(policy, &text)?;
        report_entries.insert(0, report(policy));
        let stats = counts([
            ("acls", c.acls.len() as u64),
            ("http_access", c.http_access.len() as u64),
        ]);
        Ok(Emitted::one(FILE, text.into_bytes(), stats, report_entries))
    }

    fn simulator(&self, artifacts: &crate::Artifacts) -> Box<dyn crate::Simulator> {
        READ_BACK.simulator(artifacts)
    }
}
