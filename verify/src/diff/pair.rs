//! Pairing the policies of two versions by name, and diffing each pair.

use super::{
    fs, net, scalars, sort_entries, syscalls, tokens, Area, Class, Entry, Pair, PolicyDiff, Report,
    Side, SideNote,
};
use policyc_compiler::ir::{Fs, Net, Policy, Syscalls};
use policyc_compiler::SourceMap;
use std::collections::BTreeMap;

/// One compiled file: its policies and the sources their spans point into.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub policies: &'a [Policy],
    pub sources: &'a SourceMap,
}

/// Diff every policy of `old` against the policy of the same name in `new`. A policy only
/// on one side is diffed against one that grants nothing (with the same isolation, threats,
/// limits and audit), so an added policy lists everything it grants.
pub fn diff(old: &[Input<'_>], new: &[Input<'_>]) -> Report {
    let index = |inputs: &[Input<'_>]| -> BTreeMap<String, (usize, usize)> {
        let mut out = BTreeMap::new();
        for (i, input) in inputs.iter().enumerate() {
            for (j, p) in input.policies.iter().enumerate() {
                out.entry(p.name.clone()).or_insert((i, j));
            }
        }
        out
    };
    let old_ix = index(old);
    let new_ix = index(new);
    let mut names: Vec<&String> = old_ix.keys().chain(new_ix.keys()).collect();
    names.sort();
    names.dedup();
    let side = |inputs: &[Input<'_>], ix: Option<&(usize, usize)>| {
        let (i, j) = *ix?;
        let input = inputs.get(i)?;
        Some((input.policies.get(j)?.clone(), input.sources.clone()))
    };
    let mut report = Report::default();
    for name in names {
        let o = side(old, old_ix.get(name));
        let n = side(new, new_ix.get(name));
        if let Some(d) = diff_pair(o, n) {
            report.policies.push(d);
        }
    }
    report
}

/// Diff one policy's two versions; `None` when neither exists.
fn diff_pair(
    old: Option<(Policy, SourceMap)>,
    new: Option<(Policy, SourceMap)>,
) -> Option<PolicyDiff> {
    let (old, new, presence) = match (old, new) {
        (Some(o), Some(n)) => (o, n, None),
        (Some(o), None) => {
            let n = (granting_nothing(&o.0), o.1.clone());
            (o, n, Some(Class::Narrows))
        }
        (None, Some(n)) => {
            let o = (granting_nothing(&n.0), n.1.clone());
            (o, n, Some(Class::Widens))
        }
        (None, None) => return None,
    };
    let pair = Pair {
        old: Side {
            policy: &old.0,
            sources: &old.1,
        },
        new: Side {
            policy: &new.0,
            sources: &new.1,
        },
    };
    let mut entries = Vec::new();
    entries.extend(scalars::isolation(&pair));
    entries.extend(fs::diff(&pair));
    entries.extend(net::diff(&pair));
    entries.extend(syscalls::diff(&pair));
    entries.extend(tokens::diff(&pair));
    entries.extend(scalars::limits(&pair));
    entries.extend(scalars::threats(&pair));
    entries.extend(scalars::audit(&pair));
    entries.extend(scalars::data(&pair));
    if let Some(class) = presence {
        entries.push(presence_entry(&pair, class));
    }
    sort_entries(&mut entries);
    let (old_file, new_file) = match presence {
        Some(Class::Widens) => (None, pair.new.file()),
        Some(_) => (pair.old.file(), None),
        None => (pair.old.file(), pair.new.file()),
    };
    let at = match presence {
        Some(Class::Narrows) => pair.old.loc(pair.old.policy.span),
        _ => pair.new.loc(pair.new.policy.span),
    };
    Some(PolicyDiff {
        policy: new.0.name.clone(),
        old_file,
        new_file,
        at,
        entries,
    })
}

/// The entry for a policy that exists on one side only.
fn presence_entry(pair: &Pair<'_>, class: Class) -> Entry {
    let name = &pair.new.policy.name;
    let (change, old, new) = if class == Class::Widens {
        (
            format!("+ policy {name}"),
            SideNote {
                reason: "no such policy".to_string(),
                at: None,
            },
            pair.new.note("declared", Some(pair.new.policy.span)),
        )
    } else {
        (
            format!("- policy {name}"),
            pair.old.note("declared", Some(pair.old.policy.span)),
            SideNote {
                reason: "no such policy".to_string(),
                at: None,
            },
        )
    };
    Entry {
        area: Area::Policy,
        class,
        change,
        risk: None,
        old,
        new,
    }
}

/// A policy with the same name and settings that grants nothing: no mounts, no egress, no
/// syscalls, no tokens.
fn granting_nothing(p: &Policy) -> Policy {
    Policy {
        fs: Fs::default(),
        net: Net {
            egress_none: true,
            rules: Vec::new(),
            dns: policyc_compiler::ast::DnsMode::None,
            span: p.net.span,
            block: p.net.block,
        },
        tokens: BTreeMap::new(),
        syscalls: Syscalls {
            default: p.syscalls.default,
            rules: BTreeMap::new(),
            span: p.syscalls.span,
        },
        tests: Vec::new(),
        ..p.clone()
    }
}
