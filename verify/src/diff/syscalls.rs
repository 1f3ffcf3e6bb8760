//! Syscalls: each syscall either version names, asked of both versions with arguments on
//! both sides of every condition either version writes, so a new argument condition, a
//! dropped deny or a widened allow shows as the calls it lets through. Calls allowed or
//! denied alike but with another errno, and a changed default action, are neutral.

use super::{risk, Area, Class, Entry, Pair};
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction, SyscallRule};
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::{decide, Request};
use std::collections::BTreeSet;

/// Every syscall entry.
pub fn diff(pair: &Pair<'_>) -> Vec<Entry> {
    let (o, n) = (&pair.old.policy.syscalls, &pair.new.policy.syscalls);
    let names: BTreeSet<&String> = o.rules.keys().chain(n.rules.keys()).collect();
    let mut out: Vec<Entry> = names.into_iter().filter_map(|s| one(pair, s)).collect();
    if o.default != n.default {
        out.push(Entry {
            area: Area::Syscalls,
            class: Class::Neutral,
            change: format!(
                "~ syscall default: {} -> {}",
                action(o.default),
                action(n.default)
            ),
            risk: None,
            old: pair.old.note("the default action", Some(o.span)),
            new: pair.new.note("the default action", Some(n.span)),
        });
    }
    out
}

/// `errno EPERM`, `kill`.
pub(crate) fn action(a: DenyAction) -> String {
    match a {
        DenyAction::Kill => "kill".to_string(),
        DenyAction::Errno(n) => match syscalls::errno_name(n) {
            Some(name) => format!("errno {name}"),
            None => format!("errno {n}"),
        },
    }
}

fn number(n: u64) -> String {
    if n >= 0x1000 {
        format!("{n:#x}")
    } else {
        n.to_string()
    }
}

/// `arg1 & 0xff == 2`.
fn cond(c: &ArgCond) -> String {
    let mask = c.mask.map(|m| format!(" & {m:#x}")).unwrap_or_default();
    format!("arg{}{mask} {} {}", c.arg, c.op.symbol(), number(c.value))
}

fn conds(cs: &[ArgCond]) -> String {
    cs.iter().map(cond).collect::<Vec<_>>().join(" and ")
}

/// When a rule lets the call through: `never`, `always`, `if arg0 == 1 or arg0 == 2`,
/// `always unless arg1 == 0x5412`.
fn allowed_when(rule: Option<&SyscallRule>) -> String {
    let Some(rule) = rule else {
        return "never".to_string();
    };
    if rule.allow.is_empty() || rule.always_denied() {
        return "never".to_string();
    }
    let mut out = if rule.unconditional() {
        "always".to_string()
    } else {
        let alts: Vec<String> = rule.allow.iter().map(|a| conds(a)).collect();
        format!("if {}", alts.join(" or "))
    };
    if !rule.deny.is_empty() {
        let denies: Vec<String> = rule.deny.iter().map(|d| conds(&d.when)).collect();
        out.push_str(&format!(" unless {}", denies.join(" or ")));
    }
    out
}

/// A value that satisfies a condition, and one that does not.
fn witnesses(c: &ArgCond) -> [u64; 2] {
    let v = c.value;
    let (yes, no) = match c.op {
        CmpOp::Eq => (v, v ^ 1),
        CmpOp::Ne => (v ^ 1, v),
        CmpOp::Lt => (v.saturating_sub(1), v),
        CmpOp::Le => (v, v.saturating_add(1)),
        CmpOp::Gt => (v.saturating_add(1), v),
        CmpOp::Ge => (v, v.saturating_sub(1)),
    };
    // Outside the mask, set every bit: the comparison must not see them.
    let spill = c.mask.map_or(0, |m| !m);
    [yes | spill, no | spill]
}

fn set(args: &mut [u64; 6], c: &ArgCond, v: u64) {
    if let Some(slot) = args.get_mut(usize::from(c.arg)) {
        *slot = v;
    }
}

/// Argument vectors around every condition of both versions' rules.
fn arg_vectors(rules: &[&SyscallRule]) -> Vec<[u64; 6]> {
    let mut out = BTreeSet::from([[0u64; 6]]);
    let groups = rules.iter().flat_map(|r| {
        r.allow
            .iter()
            .map(Vec::as_slice)
            .chain(r.deny.iter().map(|d| d.when.as_slice()))
    });
    for group in groups {
        let mut all = [0u64; 6];
        for c in group {
            let [yes, no] = witnesses(c);
            set(&mut all, c, yes);
            for v in [yes, no] {
                let mut one = [0u64; 6];
                set(&mut one, c, v);
                out.insert(one);
            }
        }
        out.insert(all);
    }
    out.into_iter().collect()
}

/// The native architectures with no number for `name`.
fn missing_on(name: &str) -> Vec<&'static str> {
    Arch::NATIVE
        .iter()
        .filter(|a| syscalls::number(**a, name).is_none())
        .map(|a| a.name())
        .collect()
}

fn one(pair: &Pair<'_>, name: &str) -> Option<Entry> {
    let (ro, rn) = (
        pair.old.policy.syscalls.rules.get(name),
        pair.new.policy.syscalls.rules.get(name),
    );
    let vectors = arg_vectors(&ro.into_iter().chain(rn).collect::<Vec<_>>());
    let ask = |args: &[u64; 6]| {
        let req = Request::Syscall {
            name: name.to_string(),
            args: *args,
        };
        (decide(pair.old.policy, &req), decide(pair.new.policy, &req))
    };
    let mut widened = None;
    let mut narrowed = None;
    let mut reaction = None;
    for v in &vectors {
        let (o, n) = ask(v);
        match (o.allow, n.allow) {
            (false, true) => {
                widened.get_or_insert(*v);
            }
            (true, false) => {
                narrowed.get_or_insert(*v);
            }
            (false, false) if o.action != n.action => {
                reaction.get_or_insert(*v);
            }
            _ => {}
        }
    }
    let witness = widened.or(narrowed).or(reaction)?;
    let (o, n) = ask(&witness);
    let (was, now) = (allowed_when(ro), allowed_when(rn));
    let (class, sign) = match (widened.is_some(), narrowed.is_some()) {
        (true, false) => (Class::Widens, "+"),
        (false, true) => (Class::Narrows, "-"),
        (true, true) => (Class::Widens, "±"),
        (false, false) => (Class::Neutral, "~"),
    };
    let mut change = if class == Class::Neutral {
        format!(
            "~ syscall {name}: {} -> {}",
            o.action.map(action).unwrap_or_default(),
            n.action.map(action).unwrap_or_default()
        )
    } else if [&was, &now].iter().all(|w| *w == "never" || *w == "always") {
        format!("{sign} syscall {name}")
    } else {
        format!("{sign} syscall {name}: now {now} (was {was})")
    };
    let missing = missing_on(name);
    if !missing.is_empty() {
        change.push_str(&format!(" [no such syscall on {}]", missing.join(", ")));
    }
    Some(Entry {
        area: Area::Syscalls,
        class,
        change,
        risk: widened.and_then(|_| risk::syscall(pair, name)),
        old: pair.old.note(o.reason, o.span),
        new: pair.new.note(n.reason, n.span),
    })
}
