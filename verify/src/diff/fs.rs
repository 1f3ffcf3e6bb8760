//! Filesystem reach: which paths each access reaches before and after.
//!
//! The probes are every path either version names (mount guest and host paths, deny paths)
//! and, for each, a child no rule names, which stands for the rest of its subtree. A change
//! at a child is reported for the subtree (`+ write ~/Documents/**`), a change at the path
//! alone for the path; subtree entries swallow the same change further down and list the
//! paths below that do not follow it (`except ~/Documents/.git/**`).

use super::{risk, Area, Class, Entry, Pair, Side};
use policyc_compiler::ast::Access;
use policyc_compiler::eval::Decision;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{decide, Request};
use std::collections::BTreeSet;

/// The child that stands for "anything else beneath this path".
const CHILD: &str = "policyc-any-child";

/// The most exceptions one entry lists.
const MAX_EXCEPT: usize = 5;

/// One probe whose verdict changed.
#[derive(Debug, Clone)]
struct Change {
    path: CanonPath,
    /// True when the change holds for what lies beneath `path`.
    subtree: bool,
    /// The verdict after the change.
    allow_now: bool,
    /// The request that shows it.
    probe: CanonPath,
}

/// Every filesystem entry.
pub fn diff(pair: &Pair<'_>) -> Vec<Entry> {
    let paths = probe_paths(pair);
    let mut out = Vec::new();
    for access in [Access::Read, Access::Write, Access::Exec] {
        let changes: Vec<Change> = paths
            .iter()
            .filter_map(|p| change_at(pair, access, p))
            .collect();
        for c in &changes {
            if covered(c, &changes) {
                continue;
            }
            out.push(entry(pair, access, c, &paths));
        }
    }
    out
}

/// Every path either version names.
fn probe_paths(pair: &Pair<'_>) -> BTreeSet<CanonPath> {
    let mut out = BTreeSet::new();
    for p in [pair.old.policy, pair.new.policy] {
        for m in &p.fs.mounts {
            out.insert(m.guest.clone());
            if let Some(h) = m.host() {
                out.insert(h.clone());
            }
        }
        for d in &p.fs.denies {
            out.insert(d.path.clone());
        }
    }
    out
}

fn ask(side: &Side<'_>, access: Access, path: &CanonPath) -> Decision {
    decide(
        side.policy,
        &Request::Fs {
            access,
            path: path.clone(),
        },
    )
}

/// The pair of verdicts at one path.
fn verdicts(pair: &Pair<'_>, access: Access, path: &CanonPath) -> (bool, bool) {
    (
        ask(&pair.old, access, path).allow,
        ask(&pair.new, access, path).allow,
    )
}

fn change_at(pair: &Pair<'_>, access: Access, p: &CanonPath) -> Option<Change> {
    let child = p.join(CHILD);
    let (o, n) = verdicts(pair, access, &child);
    if o != n {
        return Some(Change {
            path: p.clone(),
            subtree: true,
            allow_now: n,
            probe: child,
        });
    }
    let (o, n) = verdicts(pair, access, p);
    (o != n).then(|| Change {
        path: p.clone(),
        subtree: false,
        allow_now: n,
        probe: p.clone(),
    })
}

/// True when a subtree change above `c` already says the same.
fn covered(c: &Change, all: &[Change]) -> bool {
    all.iter().any(|d| {
        d.subtree && d.path != c.path && c.path.starts_with(&d.path) && d.allow_now == c.allow_now
    })
}

/// The paths below a subtree change that do not follow it, topmost only.
fn exceptions(
    pair: &Pair<'_>,
    access: Access,
    c: &Change,
    paths: &BTreeSet<CanonPath>,
) -> Vec<String> {
    if !c.subtree {
        return Vec::new();
    }
    let expected = verdicts(pair, access, &c.probe);
    let mut odd: Vec<&CanonPath> = Vec::new();
    for q in paths {
        if q == &c.path || !q.starts_with(&c.path) || odd.iter().any(|o| q.starts_with(o)) {
            continue;
        }
        if verdicts(pair, access, q) != expected {
            odd.push(q);
        }
    }
    odd.iter().map(|q| format!("{q}/**")).collect()
}

/// `~/Documents/**` for a subtree, the path alone otherwise.
pub(crate) fn shown(path: &CanonPath, subtree: bool) -> String {
    match (subtree, path.as_str()) {
        (false, p) => p.to_string(),
        (true, "/") => "/**".to_string(),
        (true, p) => format!("{p}/**"),
    }
}

fn entry(pair: &Pair<'_>, access: Access, c: &Change, paths: &BTreeSet<CanonPath>) -> Entry {
    let sign = if c.allow_now { '+' } else { '-' };
    let mut change = format!("{sign} {} {}", access.keyword(), shown(&c.path, c.subtree));
    let except = exceptions(pair, access, c, paths);
    if !except.is_empty() {
        let more = except.len().saturating_sub(MAX_EXCEPT);
        let listed: Vec<&str> = except.iter().take(MAX_EXCEPT).map(String::as_str).collect();
        change.push_str(&format!(" except {}", listed.join(", ")));
        if more > 0 {
            change.push_str(&format!(" and {more} more"));
        }
    }
    let old = ask(&pair.old, access, &c.probe);
    let new = ask(&pair.new, access, &c.probe);
    let class = if c.allow_now {
        Class::Widens
    } else {
        Class::Narrows
    };
    Entry {
        area: Area::Fs,
        class,
        change,
        risk: c
            .allow_now
            .then(|| risk::fs(pair, access, &c.path, c.subtree))
            .flatten(),
        old: pair.old.note(unprobed(&old.reason), old.span),
        new: pair.new.note(unprobed(&new.reason), new.span),
    }
}

/// A reason with the probe child written as the subtree it stands for.
fn unprobed(reason: &str) -> String {
    reason.replace(&format!("/{CHILD}"), "/**")
}
