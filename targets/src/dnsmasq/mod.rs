//! The dnsmasq target: `dnsmasq.conf`, for operators who run their own resolver. It answers
//! exactly the names the policy lets the program resolve, forwarding them upstream, and
//! refuses every other name (NXDOMAIN) without asking anyone.
//!
//! # `dnsmasq.conf`
//!
//! ```text
//! no-resolv
//! no-hosts
//! filter-rr=TXT,NULL,SVCB,HTTPS,ANY
//! server=/imap.mail.example.com/192.0.2.53
//! address=/*.imap.mail.example.com/
//! address=/#/
//! ```
//!
//! - `no-resolv` and `no-hosts`: no upstream but the `server=` lines, no `/etc/hosts`.
//! - For every domain a policy pattern is built on (`imap.mail.example.com` for both
//!   `imap.mail.example.com` and `*.imap.mail.example.com`), one line for the name itself
//!   and one for the names beneath it (`/*.name/`), each `server=/…/UPSTREAM` (answered) or
//!   `address=/…/` (refused), as the policy decides that name and a fresh name beneath it.
//!   dnsmasq's `/name/` also matches every name beneath; the `/*.name/` line, which is
//!   longer, takes those back, so every name is decided exactly as the policy decides it
//!   (the domain matching of dnsmasq includes the apex, policyc's `*.` does not: nothing is
//!   widened or narrowed). `address=/#/` refuses every other name.
//! - Under `dns any`, a `server=UPSTREAM` line forwards every name; under `dns none` and
//!   `egress none`, only `address=/#/`.
//! - `filter-rr` removes TXT, NULL, SVCB and HTTPS records from answers, and all but address
//!   records from answers to ANY (the queries themselves still go upstream, for allowed
//!   names only).
//! - `UPSTREAM` is [`UPSTREAM`], a documentation address: replace it with your resolver's
//!   (`sed -i 's/192.0.2.53/10.0.0.2/'`). Choose where dnsmasq listens on its command line
//!   (`dnsmasq --conf-file=dnsmasq.conf --listen-address=127.0.0.53 --bind-interfaces`).
//!
//! Names are looked up, addresses are not: a request to resolve an IP literal is not
//! mediated. The [`conf`] module reads the file back and decides as dnsmasq does; the build
//! fails (`P1402`) unless it decides every name as `egress.json` does.

pub mod conf;

#[cfg(test)]
mod tests;

pub use conf::{parse, Conf, Entry};

use crate::common::{counts, ReadBack};
use crate::egress::{artifact_for, Artifact};
use crate::index::IndexedPatterns;
use crate::{EmitContext, Emitted, Target, Verdict};
use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Diagnostic, Request};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The file this target emits.
pub const FILE: &str = "dnsmasq.conf";
/// The upstream resolver the file names: a documentation address (RFC 5737) for the
/// operator to replace.
pub const UPSTREAM: &str = "192.0.2.53";

/// The domains the policy's DNS patterns are built on, sorted.
fn bases(a: &Artifact) -> BTreeSet<String> {
    a.dns
        .names
        .iter()
        .chain(&a.dns.refused)
        .filter_map(|p| match p {
            HostPattern::Exact(Host::Domain(d)) | HostPattern::Subdomains(d) => Some(d.clone()),
            HostPattern::Exact(Host::Ip(_)) => None,
        })
        .collect()
}

/// The domains the policy's DNS patterns are built on, and every parent domain of them, to
/// ask whether a name is taken without scanning every base.
struct Taken<'b> {
    bases: &'b BTreeSet<String>,
    /// Every domain some base lies strictly beneath.
    parents: BTreeSet<&'b str>,
}

impl<'b> Taken<'b> {
    fn new(bases: &'b BTreeSet<String>) -> Self {
        let parents = bases
            .iter()
            .flat_map(|b| {
                b.char_indices()
                    .filter(|(_, c)| *c == '.')
                    .filter_map(|(i, _)| b.get(i + 1..))
            })
            .collect();
        Taken { bases, parents }
    }

    /// True when `name` is a base or some base lies beneath it.
    fn contains(&self, name: &str) -> bool {
        self.bases.contains(name) || self.parents.contains(name)
    }
}

/// A name beneath `base` that is none of `bases` and lies beneath none of them except
/// through `base`: it stands for every such name (`None`: no name fits beneath `base`).
fn fresh_below(base: &str, taken: &Taken<'_>) -> Option<Host> {
    (0..=taken.bases.len()).find_map(|i| {
        let name = format!("policyc-fresh-{i}.{base}");
        match Host::parse(&name) {
            Ok(h) if !taken.contains(&name) => Some(h),
            _ => None,
        }
    })
}

/// [`crate::egress::resolve_allowed`] on an artifact, with its patterns indexed: the same answers without
/// scanning every pattern for every name.
struct Resolver<'a> {
    a: &'a Artifact,
    names: IndexedPatterns<'a>,
    refused: IndexedPatterns<'a>,
}

impl<'a> Resolver<'a> {
    fn new(a: &'a Artifact) -> Self {
        Resolver {
            a,
            names: IndexedPatterns::new(&a.dns.names),
            refused: IndexedPatterns::new(&a.dns.refused),
        }
    }

    /// Exactly [`crate::egress::resolve_allowed`].
    fn allowed(&self, host: &Host) -> bool {
        self.a.egress
            && match self.a.dns.mode {
                DnsMode::None => false,
                DnsMode::Any => true,
                DnsMode::AllowListedOnly => {
                    !self.refused.any_matches(host) && self.names.any_matches(host)
                }
            }
    }
}

/// The names that decide every other: each base, a fresh name beneath each, and one
/// beneath none.
fn representatives(bases: &BTreeSet<String>) -> Vec<Host> {
    let taken = Taken::new(bases);
    let mut out: Vec<Host> = bases.iter().map(|b| Host::Domain(b.clone())).collect();
    out.extend(bases.iter().filter_map(|b| fresh_below(b, &taken)));
    out.push(Host::Domain("policyc-fresh.invalid".to_string()));
    out
}

/// The configuration text.
fn text(policy: &Policy, a: &Artifact) -> String {
    let mut s = format!(
        "# dnsmasq.conf for policy `{}`, compiled by policyc: the names the policy lets the\n\
         # program resolve are forwarded to {UPSTREAM} (replace it with your resolver);\n\
         # any other name is refused without asking upstream.\n",
        policy.name
    );
    s.push_str("no-resolv\nno-hosts\nfilter-rr=TXT,NULL,SVCB,HTTPS,ANY\n");
    let line = |s: &mut String, pattern: &str, answer: bool| {
        let _ = if answer {
            writeln!(s, "server=/{pattern}/{UPSTREAM}")
        } else {
            writeln!(s, "address=/{pattern}/")
        };
    };
    match a.dns.mode {
        DnsMode::Any if a.egress => {
            let _ = writeln!(s, "server={UPSTREAM}");
        }
        DnsMode::AllowListedOnly if a.egress => {
            let all = bases(a);
            let taken = Taken::new(&all);
            let resolver = Resolver::new(a);
            for b in &all {
                line(&mut s, b, resolver.allowed(&Host::Domain(b.clone())));
                let below = fresh_below(b, &taken).is_some_and(|h| resolver.allowed(&h));
                line(&mut s, &format!("*.{b}"), below);
            }
            s.push_str("address=/#/\n");
        }
        _ => s.push_str("address=/#/\n"),
    }
    s
}

/// Read the text back and check that it decides every representative name as the
/// artifact does.
fn check(policy: &Policy, a: &Artifact, text: &str) -> Result<Conf, Vec<Diagnostic>> {
    let fail = |why: String| {
        vec![Diagnostic::new(
            Code::DnsmasqRoundTrip,
            policy.span,
            format!("dnsmasq: {why}"),
        )]
    };
    let c = parse(text).map_err(|e| fail(e.to_string()))?;
    let mut names = representatives(&bases(a));
    names.push(Host::Domain("example.com".to_string()));
    let resolver = Resolver::new(a);
    let conf = c.indexed();
    for h in &names {
        if conf.resolves(h) != Some(resolver.allowed(h)) {
            return Err(fail(format!(
                "`{h}` is decided differently from egress.json"
            )));
        }
    }
    Ok(c)
}

/// `P1401`: what the configuration leaves to others or to the operator.
fn report(policy: &Policy) -> Vec<Diagnostic> {
    vec![Diagnostic::new(
        Code::DnsmasqNotMediated,
        policy.span,
        format!("dnsmasq: the configuration decides name lookups only, forwards the names it answers to {UPSTREAM} (a placeholder: set your resolver), and leaves where it listens to its command line; queries of other record types for those names go upstream, with TXT, NULL, SVCB and HTTPS records removed from the answers"),
    )]
}

/// Decide a request against a parsed configuration.
pub fn decide(c: &Conf, request: &Request) -> Verdict {
    match request {
        Request::Resolve { host } => c
            .resolves(host)
            .map_or(Verdict::NotMediated, crate::common::allow_if),
        _ => Verdict::NotMediated,
    }
}

const READ_BACK: ReadBack<Conf> = ReadBack {
    file: FILE,
    read: |bytes| parse(std::str::from_utf8(bytes).ok()?).ok(),
    decide,
    raw: Verdict::NotMediated,
};

/// The dnsmasq target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dnsmasq;

impl Target for Dnsmasq {
    fn name(&self) -> &'static str {
        "dnsmasq"
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
        let a = artifact_for(policy);
        let text = text(policy, &a);
        let c = check(policy, &a, &text)?;
        let answered = c.entries.iter().filter(|e| e.answer).count() as u64;
        let stats = counts([("entries", c.entries.len() as u64), ("answered", answered)]);
        Ok(Emitted::one(FILE, text.into_bytes(), stats, report(policy)))
    }

    fn simulator(&self, artifacts: &crate::Artifacts) -> Box<dyn crate::Simulator> {
        READ_BACK.simulator(artifacts)
    }
}
