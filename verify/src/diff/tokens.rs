//! Capability tokens: added and removed tokens, and per token its audience, scopes,
//! lifetime and approval.

use super::{risk, Area, Class, Entry, Pair};
use policyc_compiler::ir::Token;
use std::collections::BTreeSet;

/// Every token entry.
pub fn diff(pair: &Pair<'_>) -> Vec<Entry> {
    let (o, n) = (&pair.old.policy.tokens, &pair.new.policy.tokens);
    let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        match (o.get(name), n.get(name)) {
            (None, Some(t)) => out.push(whole(pair, name, t, true)),
            (Some(t), None) => out.push(whole(pair, name, t, false)),
            (Some(a), Some(b)) => out.extend(changed(pair, name, a, b)),
            (None, None) => {}
        }
    }
    out
}

/// `5m`, `90s`, `1500ms`, `2h`.
pub(crate) fn ttl(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")];
    for (size, unit) in UNITS {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn summary(t: &Token) -> String {
    format!(
        "audience \"{}\", scope {}, ttl {}{}",
        t.audience,
        t.scopes.join(" "),
        ttl(t.ttl_ms),
        if t.approval { ", approval" } else { "" }
    )
}

fn whole(pair: &Pair<'_>, name: &str, t: &Token, added: bool) -> Entry {
    let (sign, class) = if added {
        ('+', Class::Widens)
    } else {
        ('-', Class::Narrows)
    };
    let absent = "no such token";
    let (old, new) = if added {
        (
            pair.old.note(absent, None),
            pair.new.note("declared", Some(t.span)),
        )
    } else {
        (
            pair.old.note("declared", Some(t.span)),
            pair.new.note(absent, None),
        )
    };
    Entry {
        area: Area::Tokens,
        class,
        change: format!("{sign} token {name} ({})", summary(t)),
        risk: None,
        old,
        new,
    }
}

fn changed(pair: &Pair<'_>, name: &str, a: &Token, b: &Token) -> Vec<Entry> {
    let entry = |class: Class, change: String, risk: Option<super::Risk>| Entry {
        area: Area::Tokens,
        class,
        change,
        risk,
        old: pair
            .old
            .note(format!("token {name}: {}", summary(a)), Some(a.span)),
        new: pair
            .new
            .note(format!("token {name}: {}", summary(b)), Some(b.span)),
    };
    let mut out = Vec::new();
    if a.audience != b.audience {
        out.push(entry(
            Class::Widens,
            format!(
                "~ token {name}: audience \"{}\" -> \"{}\"",
                a.audience, b.audience
            ),
            None,
        ));
    }
    for s in b.scopes.iter().filter(|s| !a.scopes.contains(s)) {
        out.push(entry(
            Class::Widens,
            format!("+ token {name}: scope {s}"),
            None,
        ));
    }
    for s in a.scopes.iter().filter(|s| !b.scopes.contains(s)) {
        out.push(entry(
            Class::Narrows,
            format!("- token {name}: scope {s}"),
            None,
        ));
    }
    if a.ttl_ms != b.ttl_ms {
        let longer = b.ttl_ms > a.ttl_ms;
        let change = format!("~ token {name}: ttl {} -> {}", ttl(a.ttl_ms), ttl(b.ttl_ms));
        let risk = longer.then(|| {
            risk::token(
                pair,
                format!(
                    "a stolen `{name}` token stays valid longer ({})",
                    ttl(b.ttl_ms)
                ),
            )
        });
        let class = if longer {
            Class::Widens
        } else {
            Class::Narrows
        };
        out.push(entry(class, change, risk));
    }
    if a.approval != b.approval {
        let (class, change, risk) = if b.approval {
            (
                Class::Narrows,
                format!("+ token {name}: needs approval"),
                None,
            )
        } else {
            (
                Class::Widens,
                format!("- token {name}: needs approval"),
                Some(risk::token(
                    pair,
                    format!("`{name}` is now issued without a person's approval"),
                )),
            )
        };
        out.push(entry(class, change, risk));
    }
    out
}
