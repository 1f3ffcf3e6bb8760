//! From the checked IR to file rules: which paths the profile names, with which
//! permissions, and where it denies more than the policy does (reported, `P0904`).
//!
//! AppArmor matches every rule against a path and takes the union of the allow rules, minus
//! every deny rule that matches (deny always wins). The reference semantics instead resolves
//! a path through the mount with the longest guest prefix. So:
//! - a mount nested in another that grants less gets deny rules for the difference on its
//!   tree (the outer `**` reaches into it); a mount nested inside *that* one which grants
//!   some of the difference loses it (reported);
//! - under process isolation a deny is a path deny on the host path: exact;
//! - under container isolation a deny names a host object: it takes accesses away from every
//!   bind mount whose source lies inside it (the mount's own grant shrinks, which is exact)
//!   and becomes a deny on the guest path of every bind mount whose source contains it and
//!   through which that guest path resolves; a mount nested beneath that guest path which
//!   grants a denied access loses it (reported). Scratch areas and tmpfs hold no host
//!   object, so no deny reaches them;
//! - policyc's fixed kernel-interface denies (`/proc/*/mem` and the like) win over any grant
//!   that covers them (reported).

use super::pattern::Pattern;
use super::profile::{FileRule, Perms};
use crate::common::{innermost, mount_access, resolve_home, HomeFindings};
use crate::index::PathIndex;
use policyc_compiler::ast::Access;
use policyc_compiler::ir::{FsDeny, Isolation, Mount, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic};
use std::collections::{BTreeMap, BTreeSet};

/// The target's name, for messages.
pub(crate) const TARGET: &str = "apparmor";

/// Kernel interfaces denied whatever the mounts grant (ADVERSARIAL 16), with what is denied.
pub(crate) const SYSTEM_DENIES: &[(&str, Deny)] = &[
    ("/proc/*/attr/**", Deny::All),
    ("/proc/*/task/*/attr/**", Deny::All),
    ("/proc/*/mem", Deny::All),
    ("/proc/*/task/*/mem", Deny::All),
    ("/proc/*/environ", Deny::All),
    ("/proc/*/task/*/environ", Deny::All),
    ("/proc/kcore", Deny::All),
    ("/proc/kallsyms", Deny::All),
    ("/proc/keys", Deny::All),
    ("/proc/sysrq-trigger", Deny::All),
    ("/proc/timer_list", Deny::All),
    ("/proc/sched_debug", Deny::All),
    ("/proc/sys/**", Deny::Write),
    ("/sys/kernel/security/**", Deny::All),
    ("/sys/kernel/debug/**", Deny::All),
    ("/sys/kernel/tracing/**", Deny::All),
    ("/sys/firmware/**", Deny::All),
    ("/sys/fs/bpf/**", Deny::All),
    ("/sys/**", Deny::Write),
    ("/dev/mem", Deny::All),
    ("/dev/kmem", Deny::All),
    ("/dev/port", Deny::All),
];

/// The patterns of the fixed denies: a glob ending in `/**` as it is, any other in the three
/// forms every path gets (itself, its directory form, everything beneath), so a file and a
/// directory of that name are denied alike.
pub(crate) fn system_patterns() -> Vec<(&'static str, Pattern, Deny)> {
    let mut out = Vec::new();
    for (glob, deny) in SYSTEM_DENIES {
        let base = Pattern::glob(glob);
        if glob.ends_with("/**") {
            out.push((*glob, base, *deny));
        } else {
            out.push((*glob, base.clone(), *deny));
            out.push((*glob, base.with_suffix("/"), *deny));
            out.push((*glob, base.with_suffix("/**"), *deny));
        }
    }
    out
}

/// What a fixed deny takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deny {
    All,
    Write,
}

impl Deny {
    pub(crate) fn accesses(self) -> BTreeSet<Access> {
        match self {
            Deny::All => [Access::Read, Access::Write, Access::Exec].into(),
            Deny::Write => [Access::Write].into(),
        }
    }
}

/// Why a grant loses an access it was written with.
#[derive(Debug, Clone)]
pub(crate) enum Cause<'p> {
    /// A policy deny, denied at this path of the profile.
    Deny(&'p FsDeny, CanonPath),
    /// The difference between an outer mount and the inner one it contains.
    Nested { outer: &'p Mount, inner: &'p Mount },
    /// One of policyc's fixed kernel-interface denies.
    System(&'static str),
}

/// One mount as rules, in the profile's path space.
#[derive(Debug)]
pub(crate) struct Grant<'p> {
    pub mount: &'p Mount,
    /// Guest path (container) or host path with `~` kept (process), as written.
    pub path: CanonPath,
    /// `path` with `~` resolved, for comparing paths (one object, however it is written).
    pub key: CanonPath,
    /// What remains after denies that cover the whole grant (exact narrowing).
    pub access: BTreeSet<Access>,
    /// Where the profile denies more than the policy: the accesses lost beneath some path.
    pub losses: Vec<(BTreeSet<Access>, Cause<'p>)>,
}

/// A deny rule to write: a path, what it denies, and why.
#[derive(Debug, Clone)]
pub(crate) struct DenyLoc<'p> {
    pub path: CanonPath,
    /// `path` with `~` resolved.
    pub key: CanonPath,
    pub access: BTreeSet<Access>,
    pub cause: Cause<'p>,
}

/// The findings about the home directory (`P0902`).
const HOME: HomeFindings = HomeFindings {
    target: TARGET,
    code: Code::AppArmorHomeUnknown,
    bad_hint: "pass an absolute home directory (default $HOME)",
    missing_hint: "under process isolation the profile names host paths, with `@{HOME}` defined from the home directory; pass it (default $HOME)",
};

/// The home directory `@{HOME}` is defined from: only under process isolation, and only
/// when some mount or deny names a `~` path (so a profile that does not need it does not
/// carry the build machine's home). Then it must be given and absolute (`P0902`).
pub(crate) fn home(policy: &Policy, home: Option<&str>) -> Result<Option<String>, Vec<Diagnostic>> {
    let needed = policy.fs.mounts.iter().any(|m| m.guest.is_home())
        || policy.fs.denies.iter().any(|d| d.path.is_home());
    if policy.isolation != Isolation::Process || !needed {
        return Ok(None);
    }
    match HOME.given(policy, home)? {
        Some(h) => Ok(Some(h.to_string())),
        None => Err(HOME.missing(policy, |m| Some(&m.guest))),
    }
}

/// Resolves `~` for comparisons: under process isolation with a known home, `~/x` and
/// `/home/user/x` are one object, and nesting and denies must see that.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolver {
    home: Option<CanonPath>,
}

impl Resolver {
    pub(crate) fn new(home: Option<&str>) -> Resolver {
        Resolver {
            home: home.and_then(|h| CanonPath::parse(h).ok()),
        }
    }

    /// The path with `~` resolved (unchanged without a home).
    pub(crate) fn key(&self, p: &CanonPath) -> CanonPath {
        resolve_home(self.home.as_ref(), p).unwrap_or_else(|| p.clone())
    }
}

/// Every mount as a grant, narrowed by the denies that cover it whole.
pub(crate) fn grants<'p>(policy: &'p Policy, r: &Resolver) -> Vec<Grant<'p>> {
    policy
        .fs
        .mounts
        .iter()
        .map(|m| {
            let mut access = mount_access(m);
            for d in covering_denies(policy, m, r) {
                access.retain(|a| !d.access.contains(a));
            }
            Grant {
                mount: m,
                path: m.guest.clone(),
                key: r.key(&m.guest),
                access,
                losses: Vec::new(),
            }
        })
        .collect()
}

/// The denies that cover a mount whole: its host source (container) or its path (process)
/// lies inside the deny.
pub(crate) fn covering_denies<'p>(policy: &'p Policy, m: &Mount, r: &Resolver) -> Vec<&'p FsDeny> {
    let object = match policy.isolation {
        Isolation::Process => Some(&m.guest),
        _ => m.host(),
    };
    policy
        .fs
        .denies
        .iter()
        .filter(|d| object.is_some_and(|o| r.key(o).starts_with(&r.key(&d.path))))
        .collect()
}

/// Where each policy deny is written, in the profile's path space.
fn policy_denies<'p>(policy: &'p Policy, grants: &[Grant<'p>], r: &Resolver) -> Vec<DenyLoc<'p>> {
    let mut out = Vec::new();
    for d in &policy.fs.denies {
        if policy.isolation == Isolation::Process {
            out.push(DenyLoc {
                path: d.path.clone(),
                key: r.key(&d.path),
                access: d.access.clone(),
                cause: Cause::Deny(d, d.path.clone()),
            });
        } else {
            out.extend(through_binds(d, grants));
        }
    }
    out
}

/// A deny on a host path strictly inside a bind mount's source, at the guest path it is
/// reached through (only where that bind mount is the one the path resolves through).
/// Container isolation only: guest paths never start with `~` there.
fn through_binds<'p>(d: &'p FsDeny, grants: &[Grant<'p>]) -> Vec<DenyLoc<'p>> {
    let mut out = Vec::new();
    for (i, g) in grants.iter().enumerate() {
        let Some(host) = g.mount.host() else { continue };
        let Some(rest) = d.path.strip_prefix(host).filter(|r| !r.is_empty()) else {
            continue;
        };
        let path = g.path.join(rest);
        if innermost(grants, &path, |g| &g.key) == Some(i) {
            out.push(DenyLoc {
                access: d.access.clone(),
                cause: Cause::Deny(d, path.clone()),
                key: path.clone(),
                path,
            });
        }
    }
    out
}

/// For each mount inside another (or at the same object, written differently), a deny of
/// what the outer grants and the inner does not.
fn nested_denies<'p>(grants: &[Grant<'p>]) -> Vec<DenyLoc<'p>> {
    let mut out = Vec::new();
    let index = PathIndex::new(grants.iter().map(|g| &g.key));
    for (i, inner) in grants.iter().enumerate() {
        for j in index.at_or_above(&inner.key) {
            let Some(outer) = grants.get(j) else { continue };
            if i == j || !inner.key.starts_with(&outer.key) {
                continue;
            }
            let diff: BTreeSet<Access> = outer.access.difference(&inner.access).copied().collect();
            if !diff.is_empty() {
                out.push(DenyLoc {
                    path: inner.path.clone(),
                    key: inner.key.clone(),
                    access: diff,
                    cause: Cause::Nested {
                        outer: outer.mount,
                        inner: inner.mount,
                    },
                });
            }
        }
    }
    out
}

/// True when a deny location is the grant's own (the deny it was written for), so taking
/// the access away is what the policy means.
fn own(loc: &DenyLoc<'_>, g: &Grant<'_>) -> bool {
    match &loc.cause {
        Cause::Nested { inner, .. } => std::ptr::eq(*inner, g.mount),
        Cause::Deny(..) | Cause::System(_) => loc.key == g.key,
    }
}

/// Record what deny rules take from grants at or beneath them beyond what the policy
/// denies, and what policyc's fixed denies take from grants that reach them.
fn record_losses<'p>(grants: &mut [Grant<'p>], locs: &[DenyLoc<'p>]) {
    let index = PathIndex::new(locs.iter().map(|l| &l.key));
    for g in grants.iter_mut() {
        for loc in index
            .at_or_above(&g.key)
            .into_iter()
            .filter_map(|i| locs.get(i))
        {
            let lost: BTreeSet<Access> = g.access.intersection(&loc.access).copied().collect();
            if g.key.starts_with(&loc.key) && !own(loc, g) && !lost.is_empty() {
                g.losses.push((lost, loc.cause.clone()));
            }
        }
        for (glob, deny) in SYSTEM_DENIES {
            let base = system_base(glob);
            let reaches = base
                .as_ref()
                .is_some_and(|b| b.starts_with(&g.key) || g.key.starts_with(b));
            let lost: BTreeSet<Access> = g.access.intersection(&deny.accesses()).copied().collect();
            if reaches && !lost.is_empty() {
                g.losses.push((lost, Cause::System(glob)));
            }
        }
    }
}

/// The directory a fixed deny lies in (its literal prefix up to the last `/`), or the
/// whole path when it has no glob.
fn system_base(glob: &str) -> Option<CanonPath> {
    let lit = Pattern::glob(glob).literal_prefix();
    let base = if lit.len() == glob.len() {
        lit.as_str()
    } else {
        lit.rsplit_once('/')
            .map_or("/", |(b, _)| if b.is_empty() { "/" } else { b })
    };
    CanonPath::parse(base).ok()
}

/// The grants and deny rules of a policy.
pub(crate) fn plan<'p>(
    policy: &'p Policy,
    home: Option<&str>,
) -> (Vec<Grant<'p>>, Vec<DenyLoc<'p>>) {
    let r = Resolver::new(home);
    let mut grants = grants(policy, &r);
    let mut locs = policy_denies(policy, &grants, &r);
    locs.extend(nested_denies(&grants));
    record_losses(&mut grants, &locs);
    (grants, locs)
}

/// Allow permissions for a set of accesses: read `r`, write `wk` (locks too), exec `mix`
/// (mapping libraries and executing, staying in this profile).
pub(crate) fn allow_perms(access: &BTreeSet<Access>) -> Perms {
    Perms {
        read: access.contains(&Access::Read),
        write: access.contains(&Access::Write),
        link: false,
        lock: access.contains(&Access::Write),
        mmap: access.contains(&Access::Exec),
        exec: access.contains(&Access::Exec),
    }
}

/// Deny permissions for a set of accesses: read `r`, write `wlk`, exec `mx`.
pub(crate) fn deny_perms(access: &BTreeSet<Access>) -> Perms {
    let write = access.contains(&Access::Write);
    let exec = access.contains(&Access::Exec);
    Perms {
        read: access.contains(&Access::Read),
        write,
        link: write,
        lock: write,
        mmap: exec,
        exec,
    }
}

/// The patterns naming a path, its directory form and everything beneath it: `/data`,
/// `/data/` and `/data/**` (for `/`: `/` and `/**`). Never `/data*`, which would match
/// `/data2`.
pub(crate) fn tree_patterns(path: &CanonPath) -> Vec<Pattern> {
    let (home, rest) = match path.as_str().strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, path.as_str()),
    };
    let base = Pattern::literal(home, rest);
    if rest == "/" {
        return vec![base.clone(), base.with_suffix("**")];
    }
    vec![base.clone(), base.with_suffix("/"), base.with_suffix("/**")]
}

/// The file rules: fixed denies, policy denies (merged by path), then grants.
pub(crate) fn file_rules(
    grants: &[Grant<'_>],
    locs: &[DenyLoc<'_>],
) -> (Vec<FileRule>, Vec<FileRule>, Vec<FileRule>) {
    let system = system_patterns()
        .into_iter()
        .map(|(_, pattern, deny)| FileRule {
            deny: true,
            pattern,
            perms: deny_perms(&deny.accesses()),
        })
        .collect();
    let mut denied: BTreeMap<&CanonPath, BTreeSet<Access>> = BTreeMap::new();
    for loc in locs {
        denied
            .entry(&loc.path)
            .or_default()
            .extend(loc.access.iter().copied());
    }
    let denies = tree_rules(denied.into_iter(), true);
    let mut granted: BTreeMap<&CanonPath, BTreeSet<Access>> = BTreeMap::new();
    for g in grants.iter().filter(|g| !g.access.is_empty()) {
        granted
            .entry(&g.path)
            .or_default()
            .extend(g.access.iter().copied());
    }
    let allows = tree_rules(granted.into_iter(), false);
    (system, denies, allows)
}

fn tree_rules<'a>(
    paths: impl Iterator<Item = (&'a CanonPath, BTreeSet<Access>)>,
    deny: bool,
) -> Vec<FileRule> {
    let mut out = Vec::new();
    for (path, access) in paths {
        let perms = if deny {
            deny_perms(&access)
        } else {
            allow_perms(&access)
        };
        out.extend(tree_patterns(path).into_iter().map(|pattern| FileRule {
            deny,
            pattern,
            perms,
        }));
    }
    out
}
