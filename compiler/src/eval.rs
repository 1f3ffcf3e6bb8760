//! The reference semantics: `decide(policy, request)`, written once over the checked IR.
//! Every target's simulator is tested against it. The book's "Semantics" chapter states the
//! same rules in prose; keep them in step.
//!
//! Filesystem:
//! - A guest path resolves through the mount with the longest guest prefix (as a mount table
//!   does). No mount: denied. The mount's kind decides which accesses it grants.
//! - A home path (`~...`) names a host object: it is allowed when some bind mount reaches it
//!   and the guest path it is reached through is allowed.
//! - A deny names a host object: it matches when its path is a prefix of the host object a
//!   guest path resolves to through a bind mount (under process isolation the guest path is
//!   the host path). Scratch areas and tmpfs hold no host object, so no deny reaches them.
//!   Deny always wins.
//!
//! Network: deny rules first, then allow rules, else denied. `egress none` denies every
//! connection and every name resolution. DNS `allow-listed-only` resolves exactly the hosts
//! that some allow rule matches (on any port).
//!
//! Syscalls: a deny wins; then any allow alternative whose conditions hold; else the default
//! action.

use crate::ast::{Access, DnsMode};
use crate::hosts::Host;
use crate::ir::{DenyAction, Mount, Policy};
use crate::paths::CanonPath;
use crate::request::Request;
use crate::span::Span;
use serde::Serialize;

/// What a request gets: from the reference semantics, a target's simulator, or a live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    Deny,
    /// This target does not mediate this kind of request (another layer must). The
    /// reference semantics decides every request, so it never says this.
    NotMediated,
}

impl Verdict {
    /// `Allow` when `allow` holds, else `Deny`: the verdict a test case expects.
    pub fn allow_or_deny(allow: bool) -> Verdict {
        if allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }
}

/// The reference's verdict, with the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// True when the policy allows the request (see [`Decision::verdict`]).
    pub allow: bool,
    /// For denied syscalls: what the kernel returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<DenyAction>,
    /// The rule that decided, in words.
    pub reason: String,
    /// Where that rule is written; `None` for the built-in default.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl Decision {
    /// The verdict alone: allow or deny.
    pub fn verdict(&self) -> Verdict {
        Verdict::allow_or_deny(self.allow)
    }

    fn allow(reason: String, span: Span) -> Self {
        Decision {
            allow: true,
            action: None,
            reason,
            span: Some(span),
        }
    }

    fn deny(reason: String, span: Option<Span>) -> Self {
        Decision {
            allow: false,
            action: None,
            reason,
            span,
        }
    }
}

/// Decide a request under a policy, keeping `~` symbolic: a `~` path and an absolute path
/// are different objects (see [`decide_at`] for a known home directory).
pub fn decide(policy: &Policy, request: &Request) -> Decision {
    decide_at(policy, request, None)
}

/// Decide a request under a policy for a known home directory: `~` and the home
/// directory's absolute path then name the same files. Every `~` path of the policy and
/// the request is read as that absolute path, so under `process` isolation `read "/"`
/// reaches `~/notes` and `deny "~/.ssh"` covers `/home/u/.ssh`, and under `container`
/// isolation `read "/home" at "/h"` reaches the host object `~/notes`. A home of `None`
/// keeps `~` symbolic, as [`decide`] does.
pub fn decide_at(policy: &Policy, request: &Request, home: Option<&CanonPath>) -> Decision {
    let home = home.filter(|h| !h.is_home());
    match request {
        Request::Fs { access, path } => decide_path(policy, *access, path, home),
        // Changing a file's mode, owner, times or extended attributes is writing to it.
        Request::Meta { path, .. } => decide_path(policy, Access::Write, path, home),
        Request::Connect { host, port } => decide_connect(policy, host, *port),
        Request::Resolve { host } => decide_resolve(policy, host),
        Request::Syscall { name, args } => decide_syscall(policy, name, args),
    }
}

/// The mount a guest path resolves through: the longest guest prefix.
pub fn resolve_mount<'p>(policy: &'p Policy, guest: &CanonPath) -> Option<&'p Mount> {
    resolve_mount_at(policy, guest, None)
}

/// `path` with a leading `~` read as `home`.
fn at_home(path: &CanonPath, home: &CanonPath) -> CanonPath {
    match path.as_str().strip_prefix('~') {
        Some(rest) => home.join(rest.trim_start_matches('/')),
        None => path.clone(),
    }
}

/// [`resolve_mount`], with the mounts' `~` paths read as `home` when one is given.
fn resolve_mount_at<'p>(
    policy: &'p Policy,
    guest: &CanonPath,
    home: Option<&CanonPath>,
) -> Option<&'p Mount> {
    let at = |p: &CanonPath| home.map_or_else(|| p.clone(), |h| at_home(p, h));
    policy
        .fs
        .mounts
        .iter()
        .filter(|m| guest.starts_with(&at(&m.guest)))
        .max_by_key(|m| at(&m.guest).depth())
}

/// A filesystem path decided for a known or symbolic home directory (see [`decide_at`]).
fn decide_path(
    policy: &Policy,
    access: Access,
    path: &CanonPath,
    home: Option<&CanonPath>,
) -> Decision {
    match home {
        Some(home) if policy.isolation == crate::ir::Isolation::Process => {
            decide_guest(policy, access, &at_home(path, home), Some(home))
        }
        Some(home) if path.is_home() => {
            decide_host_object(policy, access, &at_home(path, home), Some(home))
        }
        Some(home) => decide_guest(policy, access, path, Some(home)),
        None => decide_fs(policy, access, path),
    }
}

fn decide_fs(policy: &Policy, access: Access, path: &CanonPath) -> Decision {
    if path.is_home() && policy.isolation != crate::ir::Isolation::Process {
        return decide_host_object(policy, access, path, None);
    }
    decide_guest(policy, access, path, None)
}

/// A guest path through its mount. With a home (process isolation only), every `~` path
/// of the policy is read as that absolute path and `guest` is absolute.
fn decide_guest(
    policy: &Policy,
    access: Access,
    guest: &CanonPath,
    home: Option<&CanonPath>,
) -> Decision {
    let at = |p: &CanonPath| home.map_or_else(|| p.clone(), |h| at_home(p, h));
    let Some(mount) = resolve_mount_at(policy, guest, home) else {
        return Decision::deny(format!("`{guest}` is not inside any mount"), None);
    };
    let host = mount.host().and_then(|h| {
        guest
            .strip_prefix(&at(&mount.guest))
            .map(|rest| at(h).join(rest))
    });
    // Denies name host objects. Under process isolation the program sees host paths; under
    // container and wasm isolation a deny reaches the program through the bind mounts that
    // map the denied object, and never touches scratch areas or tmpfs (they hold no host
    // object).
    let object = if policy.isolation == crate::ir::Isolation::Process {
        Some(guest.clone())
    } else {
        host
    };
    for d in &policy.fs.denies {
        let hit = object.as_ref().is_some_and(|h| h.starts_with(&at(&d.path)));
        if hit && d.access.contains(&access) {
            let from = d
                .list
                .as_ref()
                .map_or(String::new(), |l| format!(" (from `{l}`)"));
            return Decision::deny(format!("denied by `deny {}`{from}", d.path), Some(d.span));
        }
    }
    if mount.allows(access) {
        Decision::allow(
            format!("granted by the mount at `{}`", mount.guest),
            mount.span,
        )
    } else {
        Decision::deny(
            format!(
                "the mount at `{}` does not grant {}",
                mount.guest,
                access.keyword()
            ),
            Some(mount.span),
        )
    }
}

/// A host object is reachable when some bind mount maps it, no other mount hides it at that
/// guest path, and that guest path is allowed. With a home, the object and the policy's
/// `~` paths are absolute.
fn decide_host_object(
    policy: &Policy,
    access: Access,
    object: &CanonPath,
    home: Option<&CanonPath>,
) -> Decision {
    let mut last_denial = None;
    for m in &policy.fs.mounts {
        let Some(host) = m.host() else { continue };
        let host = home.map_or_else(|| host.clone(), |h| at_home(host, h));
        let Some(rest) = object.strip_prefix(&host) else {
            continue;
        };
        let guest = m.guest.join(rest);
        // A mount nested at or above this guest path hides the host object there.
        if resolve_mount(policy, &guest).is_some_and(|r| r.guest != m.guest) {
            continue;
        }
        let d = decide_guest(policy, access, &guest, home);
        if d.allow {
            return d;
        }
        last_denial.get_or_insert(d);
    }
    last_denial
        .unwrap_or_else(|| Decision::deny(format!("no mount reaches host object `{object}`"), None))
}

fn decide_connect(policy: &Policy, host: &Host, port: u16) -> Decision {
    let net = &policy.net;
    if net.egress_none {
        return Decision::deny("`egress none`".to_string(), Some(net.span));
    }
    let port_ok = |p: Option<u16>| p.is_none_or(|p| p == port);
    if let Some(r) = net
        .rules
        .iter()
        .find(|r| !r.allow && r.host.matches(host) && port_ok(r.port))
    {
        return Decision::deny(format!("denied by egress rule `{}`", r.host), Some(r.span));
    }
    match net
        .rules
        .iter()
        .find(|r| r.allow && r.host.matches(host) && port_ok(r.port))
    {
        Some(r) => Decision::allow(format!("allowed by egress rule `{}`", r.host), r.span),
        None => Decision::deny(format!("no egress rule allows `{host}:{port}`"), None),
    }
}

fn decide_resolve(policy: &Policy, host: &Host) -> Decision {
    let net = &policy.net;
    match net.dns {
        DnsMode::None => Decision::deny(
            "DNS is off (`dns none` or `egress none`)".to_string(),
            Some(net.span),
        ),
        DnsMode::Any => Decision::allow("`dns any`".to_string(), net.span),
        DnsMode::AllowListedOnly => {
            if let Some(r) = net
                .rules
                .iter()
                .find(|r| !r.allow && r.port.is_none() && r.host.matches(host))
            {
                return Decision::deny(format!("denied by egress rule `{}`", r.host), Some(r.span));
            }
            match net.rules.iter().find(|r| r.allow && r.host.matches(host)) {
                Some(r) => {
                    Decision::allow(format!("`{host}` is allow-listed by `{}`", r.host), r.span)
                }
                None => Decision::deny(format!("`{host}` is not allow-listed for DNS"), None),
            }
        }
    }
}

fn decide_syscall(policy: &Policy, name: &str, args: &[u64; 6]) -> Decision {
    let sc = &policy.syscalls;
    let default = || Decision {
        allow: false,
        action: Some(sc.default),
        reason: format!("`{name}` is not allowed (default action)"),
        span: None,
    };
    let Some(rule) = sc.rules.get(name) else {
        return default();
    };
    if let Some(d) = rule.deny_rule_for(args) {
        return Decision {
            allow: false,
            action: Some(d.action),
            reason: format!("`{name}` is denied"),
            span: Some(d.span),
        };
    }
    let span = rule.allow_span.unwrap_or_default();
    if rule
        .allow
        .iter()
        .any(|alt| alt.iter().all(|c| c.holds(args)))
    {
        return Decision::allow(format!("`{name}` is allowed"), span);
    }
    if rule.allow.is_empty() {
        return default();
    }
    Decision {
        reason: format!("`{name}` is allowed only when its conditions hold"),
        span: Some(span),
        ..default()
    }
}

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseOutcome {
    pub test: String,
    pub request: String,
    pub expect_allow: bool,
    pub decision: Decision,
    #[serde(skip)]
    pub span: Span,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.expect_allow == self.decision.allow
    }
}

/// Run every test case of a policy against the reference semantics.
pub fn run_tests(policy: &Policy) -> Vec<CaseOutcome> {
    policy
        .tests
        .iter()
        .flat_map(|t| {
            t.cases.iter().map(move |c| CaseOutcome {
                test: t.name.clone(),
                request: c.request.to_string(),
                expect_allow: c.expect_allow,
                decision: decide(policy, &c.request),
                span: c.span,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
