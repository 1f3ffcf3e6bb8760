//! The settings compared as values: isolation level, limits, threats, audit and data
//! classes.

use super::{risk, Area, Class, Entry, Pair};
use policyc_compiler::ir::Isolation;
use std::collections::BTreeSet;

/// How strongly a level isolates: process < container < wasm.
fn strength(i: Isolation) -> u8 {
    match i {
        Isolation::Process => 0,
        Isolation::Container => 1,
        Isolation::Wasm => 2,
    }
}

fn policy_entry(pair: &Pair<'_>, area: Area, class: Class, change: String, what: &str) -> Entry {
    Entry {
        area,
        class,
        change,
        risk: None,
        old: pair.old.note(what, Some(pair.old.policy.span)),
        new: pair.new.note(what, Some(pair.new.policy.span)),
    }
}

/// A changed isolation level (and so a changed stack of enforcement layers).
pub fn isolation(pair: &Pair<'_>) -> Option<Entry> {
    let (a, b) = (pair.old.policy.isolation, pair.new.policy.isolation);
    if a == b {
        return None;
    }
    let weaker = strength(b) < strength(a);
    let mut e = policy_entry(
        pair,
        Area::Isolation,
        if weaker {
            Class::Widens
        } else {
            Class::Narrows
        },
        format!("~ isolation {} -> {}", a.keyword(), b.keyword()),
        "the isolation level",
    );
    e.risk = weaker.then(|| risk::isolation(pair, a, b));
    Some(e)
}

fn size(v: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (s, u) in UNITS {
        if v >= s && v % s == 0 {
            return format!("{}{u}", v / s);
        }
    }
    v.to_string()
}

fn cpus(v: u64) -> String {
    if v % 1000 == 0 {
        (v / 1000).to_string()
    } else {
        format!("{}.{:03}", v / 1000, v % 1000)
            .trim_end_matches('0')
            .to_string()
    }
}

/// A limit's name, old and new value, and how a value prints.
type LimitRow = (&'static str, Option<u64>, Option<u64>, fn(u64) -> String);

/// Raised, lowered, added or removed limits. No limit is the widest.
pub fn limits(pair: &Pair<'_>) -> Vec<Entry> {
    let (a, b) = (&pair.old.policy.limits, &pair.new.policy.limits);
    let rows: [LimitRow; 4] = [
        ("memory", a.memory, b.memory, size),
        ("pids", a.pids, b.pids, |v| v.to_string()),
        ("cpus", a.millicpus, b.millicpus, cpus),
        ("files", a.files, b.files, |v| v.to_string()),
    ];
    let mut out = Vec::new();
    for (name, old, new, show) in rows {
        if old == new {
            continue;
        }
        let widens = match (old, new) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(o), Some(n)) => n > o,
        };
        let shown = |v: Option<u64>| v.map_or("unlimited".to_string(), show);
        out.push(policy_entry(
            pair,
            Area::Limits,
            if widens {
                Class::Widens
            } else {
                Class::Narrows
            },
            format!("~ limit {name}: {} -> {}", shown(old), shown(new)),
            "the limits",
        ));
    }
    out
}

/// Items of a set added and removed; `removed_class` is the class of a removal.
fn set_entries<T: Ord + Copy>(
    pair: &Pair<'_>,
    area: Area,
    sets: (&BTreeSet<T>, &BTreeSet<T>),
    word: fn(T) -> &'static str,
    removed_class: Class,
    what: &str,
) -> Vec<Entry> {
    let added_class = match removed_class {
        Class::Widens => Class::Narrows,
        Class::Narrows => Class::Widens,
        Class::Neutral => Class::Neutral,
    };
    let (a, b) = sets;
    let added = b
        .difference(a)
        .map(|t| (added_class, format!("+ {what} {}", word(*t))));
    let removed = a
        .difference(b)
        .map(|t| (removed_class, format!("- {what} {}", word(*t))));
    added
        .chain(removed)
        .map(|(class, change)| policy_entry(pair, area, class, change, what))
        .collect()
}

/// Declared threats: dropping one drops the checks it drives, so it widens.
pub fn threats(pair: &Pair<'_>) -> Vec<Entry> {
    set_entries(
        pair,
        Area::Threats,
        (&pair.old.policy.threats, &pair.new.policy.threats),
        |t| t.keyword(),
        Class::Widens,
        "threat",
    )
}

/// Audit items: dropping one leaves actions unrecorded, so it widens.
pub fn audit(pair: &Pair<'_>) -> Vec<Entry> {
    set_entries(
        pair,
        Area::Audit,
        (&pair.old.policy.audit, &pair.new.policy.audit),
        |t| t.keyword(),
        Class::Widens,
        "audit",
    )
}

/// Data classes describe what the agent handles; neither way grants anything.
pub fn data(pair: &Pair<'_>) -> Vec<Entry> {
    set_entries(
        pair,
        Area::Data,
        (&pair.old.policy.data, &pair.new.policy.data),
        |t| t.keyword(),
        Class::Neutral,
        "data",
    )
}
