//! From the checked IR to a [`Ruleset`]: which paths, which rights, and the rules Landlock
//! cannot express (which fail the build).
//!
//! Landlock is allow-only and rights are inherited: a rule on a directory grants its rights
//! on everything beneath it, through mount points too, and the rights of nested rules add
//! up. So three things need care:
//! - a deny beneath a grant that gives a right the deny removes cannot be expressed
//!   (`P0801`): granting around it would depend on the build machine's directory listing;
//! - a grant wholly inside a deny loses the denied accesses (`P0806` in the report), and
//!   leaves the ruleset when nothing remains;
//! - a mount nested in another must grant at least what the outer one does (`P0802`),
//!   since the outer rights reach into it.

use super::json::{PathRule, PortRule, Ruleset};
use super::rights::{rights_for, FsRight, NetRight, ScopeRight};
use crate::common::{innermost, mount_access, once, resolve_home, HomeFindings};
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Accesses, FsDeny, Isolation, Mount, MountKind, Net, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One mount as a Landlock rule, in the ruleset's path space.
#[derive(Debug)]
pub(crate) struct Grant<'p> {
    pub mount: &'p Mount,
    /// Guest path (container) or host path with `~` resolved (process).
    pub path: CanonPath,
    /// What the mount grants.
    pub written: BTreeSet<Access>,
    /// What remains after denies that cover the whole grant.
    pub access: BTreeSet<Access>,
    /// The denies that took accesses away.
    pub narrowed_by: Vec<&'p FsDeny>,
}

/// Where a deny applies, in the ruleset's path space.
#[derive(Debug)]
struct DenyLoc<'p> {
    path: CanonPath,
    deny: &'p FsDeny,
    covers: Covers,
}

/// Which grants a deny location takes accesses away from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Covers {
    /// Every grant at or beneath the location (a path deny).
    Beneath,
    /// Only this grant (a host-path deny covering a whole bind mount's source).
    Only(usize),
    /// None: a host-path deny seen through a bind mount, somewhere inside it.
    Nothing,
}

/// The resolved paths of a policy: guest paths, or host paths with a known home.
#[derive(Debug)]
pub(crate) struct Space {
    pub isolation: Isolation,
    pub home: Option<CanonPath>,
}

impl Space {
    /// A path of the policy in the ruleset's path space (`None`: `~` without a home).
    fn resolve(&self, p: &CanonPath) -> Option<CanonPath> {
        resolve_home(self.home.as_ref(), p)
    }
}

/// The target's name, for messages.
const TARGET: &str = "landlock";

/// The findings about the home directory (`P0803`).
const HOME: HomeFindings = HomeFindings {
    target: TARGET,
    code: Code::LandlockHomeUnknown,
    bad_hint: "pass an absolute home directory (`policyc exec --home`, default $HOME)",
    missing_hint: "under process isolation the Landlock ruleset names host paths; pass the home directory (`policyc exec --home`, default $HOME)",
};

/// Check `ctx.home` and every `~` path the ruleset needs to resolve.
pub(crate) fn space(policy: &Policy, home: Option<&str>) -> Result<Space, Vec<Diagnostic>> {
    let isolation = policy.isolation;
    if isolation != Isolation::Process {
        return Ok(Space {
            isolation,
            home: None,
        });
    }
    let home = HOME.given(policy, home)?;
    if home.is_none() {
        let errs = HOME.missing(policy, |m| Some(&m.guest));
        if !errs.is_empty() {
            return Err(errs);
        }
    }
    Ok(Space { isolation, home })
}

/// Every mount as a grant, before denies.
pub(crate) fn grants<'p>(policy: &'p Policy, space: &Space) -> Vec<Grant<'p>> {
    policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| {
            let path = space.resolve(&m.guest)?;
            let written = mount_access(m);
            Some(Grant {
                mount: m,
                path,
                access: written.clone(),
                written,
                narrowed_by: Vec::new(),
            })
        })
        .collect()
}

/// Where each deny applies in the ruleset's path space.
fn deny_locations<'p>(policy: &'p Policy, space: &Space, grants: &[Grant<'p>]) -> Vec<DenyLoc<'p>> {
    let mut out = Vec::new();
    for d in &policy.fs.denies {
        // Denies name host objects: under process isolation the ruleset's paths are host
        // paths; under container isolation a deny reaches the program only through the bind
        // mounts that map it (never a scratch area or tmpfs, which hold no host object).
        if space.isolation == Isolation::Process {
            if let Some(path) = space.resolve(&d.path) {
                out.push(DenyLoc {
                    path,
                    deny: d,
                    covers: Covers::Beneath,
                });
            }
        } else if space.isolation == Isolation::Container {
            out.extend(through_binds(d, grants));
        }
    }
    out
}

/// A deny on a host path, seen through each bind mount whose source it touches.
fn through_binds<'p>(d: &'p FsDeny, grants: &[Grant<'p>]) -> Vec<DenyLoc<'p>> {
    let mut out = Vec::new();
    for (i, g) in grants.iter().enumerate() {
        let MountKind::Bind { host, .. } = &g.mount.kind else {
            continue;
        };
        if host.starts_with(&d.path) {
            out.push(DenyLoc {
                path: g.path.clone(),
                deny: d,
                covers: Covers::Only(i),
            });
        } else if let Some(rest) = d.path.strip_prefix(host) {
            let path = g.path.join(rest);
            // Only where this mount is the one the guest path resolves through.
            if innermost(grants, &path, |g| &g.path) == Some(i) {
                out.push(DenyLoc {
                    path,
                    deny: d,
                    covers: Covers::Nothing,
                });
            }
        }
    }
    out
}

fn covers(loc: &DenyLoc<'_>, i: usize, g: &Grant<'_>) -> bool {
    match loc.covers {
        Covers::Beneath => g.path.starts_with(&loc.path),
        Covers::Only(j) => i == j,
        Covers::Nothing => false,
    }
}

/// Take away from each grant what the denies covering it deny.
fn narrow<'p>(grants: &mut [Grant<'p>], locs: &[DenyLoc<'p>]) {
    for (i, g) in grants.iter_mut().enumerate() {
        for loc in locs {
            if !covers(loc, i, g) {
                continue;
            }
            let before = g.access.len();
            g.access.retain(|a| !loc.deny.access.contains(a));
            if g.access.len() != before {
                g.narrowed_by.push(loc.deny);
            }
        }
    }
}

/// A grant for messages, with the ruleset path when it differs from the written one:
/// `` `read "~/Documents"` (at `/home/u/Documents`) ``.
impl fmt::Display for Grant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.mount)?;
        if self.path != self.mount.guest {
            write!(f, " (at `{}`)", self.path)?;
        }
        Ok(())
    }
}

/// `P0801`: a deny beneath a grant that gives a right the deny removes. The paths of one
/// written deny (a path list such as `deny secrets`) beneath one grant make one diagnostic
/// that lists them all.
fn nested_denies(grants: &[Grant<'_>], locs: &[DenyLoc<'_>]) -> Vec<Diagnostic> {
    // Spans compare equal whatever their position: key on where they are.
    type Key = ((policyc_compiler::FileId, u32, u32), usize);
    let mut order: Vec<Key> = Vec::new();
    let mut hits: BTreeMap<Key, Vec<(&DenyLoc<'_>, BTreeSet<Access>)>> = BTreeMap::new();
    for loc in locs {
        for (i, g) in grants.iter().enumerate() {
            let lost: BTreeSet<Access> = g.access.intersection(&loc.deny.access).copied().collect();
            if covers(loc, i, g) || lost.is_empty() || !loc.path.starts_with(&g.path) {
                continue;
            }
            let key = (loc.deny.span.key(), i);
            if !hits.contains_key(&key) {
                order.push(key);
            }
            hits.entry(key).or_default().push((loc, lost));
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let g = grants.get(key.1)?;
            nested_deny(g, hits.get(&key)?)
        })
        .collect()
}

/// Most paths one `P0801` diagnostic names before it counts the rest.
const LISTED: usize = 20;

/// One `P0801` diagnostic: a deny (or the paths of one path list) beneath one grant.
fn nested_deny(g: &Grant<'_>, hits: &[(&DenyLoc<'_>, BTreeSet<Access>)]) -> Option<Diagnostic> {
    let lost: BTreeSet<Access> = hits.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    let ((first, _), rest) = hits.split_first()?;
    let (msg, left_out) = if rest.is_empty() {
        (
            format!(
                "{TARGET}: {} lies beneath the grant {}, which gives {} there; Landlock is allow-only and cannot take a right away beneath a grant",
                first.deny.cited(),
                g,
                Accesses(&lost),
            ),
            format!("`{}`", first.path),
        )
    } else {
        let paths: Vec<String> = hits.iter().map(|(l, _)| format!("`{}`", l.path)).collect();
        let shown = paths
            .iter()
            .take(LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = paths.len().saturating_sub(LISTED);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let written = first.deny.list.as_deref().map_or_else(
            || first.deny.cited().to_string(),
            |list| format!("`deny {list}`"),
        );
        (
            format!(
                "{TARGET}: {} paths of {written} lie beneath the grant {}, which gives {} there: {shown}{tail}; Landlock is allow-only and cannot take a right away beneath a grant",
                paths.len(),
                g,
                Accesses(&lost),
            ),
            "these paths".to_string(),
        )
    };
    let fresh = matches!(
        g.mount.kind,
        MountKind::Scratch { .. } | MountKind::Tmpfs { .. }
    );
    let mut hint = format!(
        "grant trees that leave {left_out} out, or drop the deny; policyc does not grant around it, since that would depend on the build machine's directory listing"
    );
    if fresh {
        hint.push_str("; a scratch area or tmpfs starts empty, but the rights on it reach whatever the program creates in it");
    }
    Some(Diagnostic::new(Code::LandlockNestedDeny, first.deny.span, msg).with_hint(hint))
}

/// `P0802`: a grant nested in another that grants less than the outer one.
fn nested_mounts(grants: &[Grant<'_>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, inner) in grants.iter().enumerate() {
        for (j, outer) in grants.iter().enumerate() {
            let extra: BTreeSet<Access> =
                outer.access.difference(&inner.written).copied().collect();
            if i == j || extra.is_empty() || !inner.path.starts_with(&outer.path) {
                continue;
            }
            let msg = format!(
                "{TARGET}: {} lies inside {}, whose {} Landlock would also grant inside it",
                inner,
                outer,
                Accesses(&extra),
            );
            out.push(
                Diagnostic::new(Code::LandlockNestedMount, inner.mount.span, msg).with_hint(
                    "Landlock rights are inherited down a tree; keep the outer grant from covering the narrower one",
                ),
            );
        }
    }
    out
}

/// The checked grants of a policy, or the diagnostics for what Landlock cannot express.
pub(crate) fn checked_grants<'p>(
    policy: &'p Policy,
    space: &Space,
) -> Result<Vec<Grant<'p>>, Vec<Diagnostic>> {
    let mut grants = grants(policy, space);
    let locs = deny_locations(policy, space, &grants);
    narrow(&mut grants, &locs);
    let mut errors = nested_denies(&grants, &locs);
    errors.extend(nested_mounts(&grants));
    // A deny can reach the same grant as a guest path and through a bind: say it once.
    once(&mut errors);
    if errors.is_empty() {
        Ok(grants)
    } else {
        Err(errors)
    }
}

/// TCP rights: what is handled and which ports may be connected to.
pub(crate) fn net_rules(net: &Net) -> (BTreeSet<NetRight>, Vec<PortRule>) {
    let all: BTreeSet<NetRight> = NetRight::ALL.into_iter().collect();
    if net.egress_none {
        return (all, Vec::new());
    }
    if net.rules.iter().any(|r| r.allow && r.port.is_none()) {
        return ([NetRight::BindTcp].into_iter().collect(), Vec::new());
    }
    let ports: BTreeSet<u16> = net
        .rules
        .iter()
        .filter(|r| r.allow)
        .filter_map(|r| r.port)
        .collect();
    let rules = ports
        .into_iter()
        .map(|port| PortRule {
            port,
            allowed: [NetRight::ConnectTcp].into_iter().collect(),
        })
        .collect();
    (all, rules)
}

/// Build the ruleset from checked grants.
pub(crate) fn ruleset(policy: &Policy, space: &Space, grants: &[Grant<'_>]) -> Ruleset {
    let mut merged: BTreeMap<CanonPath, BTreeSet<FsRight>> = BTreeMap::new();
    for g in grants.iter().filter(|g| !g.access.is_empty()) {
        merged
            .entry(g.path.clone())
            .or_default()
            .extend(rights_for(&g.access));
    }
    let (handled_net, ports) = net_rules(&policy.net);
    let mut rs = Ruleset {
        abi: 0,
        home: space.home.clone(),
        handled_fs: FsRight::ALL.into_iter().collect(),
        handled_net,
        scoped: ScopeRight::ALL.into_iter().collect(),
        paths: merged
            .into_iter()
            .map(|(path, allowed)| PathRule { path, allowed })
            .collect(),
        ports,
    };
    rs.abi = rs.needed_abi();
    rs
}

/// The span of the first mount that grants `access` after narrowing, if any.
pub(crate) fn first_granting(grants: &[Grant<'_>], access: Access) -> Option<Span> {
    grants
        .iter()
        .find(|g| g.access.contains(&access))
        .map(|g| g.mount.span)
}
