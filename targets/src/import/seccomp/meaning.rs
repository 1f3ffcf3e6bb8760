//! What a profile means for each syscall on one native architecture, as runc and
//! libseccomp make it mean: moby's selection by architecture, capability and kernel, runc's
//! skipping of rules whose action is the default, and libseccomp's handling of several
//! rules for one syscall.

use super::profile::{Entry, Filter, Profile};
use super::Options;
use crate::import::ImportError;
use crate::seccomp::dnf;
use crate::seccomp::json::RegionAction;
use policyc_compiler::ir::{ArgCond, DenyAction};
use policyc_compiler::syscalls::{self, Arch};
use std::collections::{BTreeMap, BTreeSet};

/// What one syscall does, when that is not the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same action whatever the arguments.
    Always(RegionAction),
    /// Disjoint conditional rules: where one holds, its action; elsewhere the default.
    Cond(Vec<(RegionAction, Vec<ArgCond>)>),
}

/// A syscall's decision and the entries (indices) it came from.
pub type Meaning = BTreeMap<String, (Decision, Vec<usize>)>;

/// Entries (paths) that have no effect on a syscall because an earlier unconditional rule
/// decides it, by syscall name.
pub type Shadowed = BTreeMap<String, BTreeSet<String>>;

/// The Go architecture name moby matches `includes`/`excludes` against.
pub fn go_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
        Arch::X32 => "x32",
        Arch::X86 => "x86",
        Arch::Arm => "arm",
    }
}

/// moby's `setupSeccomp` test for one entry.
pub fn selected(e: &Entry, arch: Arch, opts: &Options) -> bool {
    let goarch = go_arch(arch);
    let has_cap = |c: &String| opts.caps.contains(c);
    let kernel_ge = |k: (u32, u32)| opts.kernel >= k;
    let ex: &Filter = &e.excludes;
    if ex.arches.iter().any(|a| a == goarch)
        || ex.caps.iter().any(has_cap)
        || ex.min_kernel.is_some_and(kernel_ge)
    {
        return false;
    }
    let inc: &Filter = &e.includes;
    (inc.arches.is_empty() || inc.arches.iter().any(|a| a == goarch))
        && inc.caps.iter().all(has_cap)
        && inc.min_kernel.is_none_or(kernel_ge)
}

/// The default action.
pub fn default_action(p: &Profile) -> Result<DenyAction, ImportError> {
    match p.default.clone()? {
        RegionAction::Deny(d) => Ok(d),
        RegionAction::Allow => Err(ImportError::inexact("defaultAction", "allow by default")),
    }
}

/// One rule of one syscall: action, conditions, entry index.
type Rule = (RegionAction, Vec<ArgCond>, usize);

/// The meaning of every syscall the selected entries name on `arch`.
pub fn meaning(
    p: &Profile,
    arch: Arch,
    opts: &Options,
    shadowed: &mut Shadowed,
) -> Result<Meaning, ImportError> {
    let default = RegionAction::Deny(default_action(p)?);
    let mut rules: BTreeMap<&str, Vec<Rule>> = BTreeMap::new();
    for (i, e) in p.entries.iter().enumerate() {
        if !selected(e, arch, opts) {
            continue;
        }
        let act = e.action.clone()?;
        if act == default {
            continue;
        }
        for name in &e.names {
            if syscalls::number(arch, name).is_none() {
                continue;
            }
            let list = rules.entry(name.as_str()).or_default();
            for conds in &e.rules {
                list.push((act, conds.clone(), i));
            }
        }
    }
    let mut out = Meaning::new();
    for (name, rs) in rules {
        let d = decide(p, name, &rs)?;
        if let Decision::Always(act) = d {
            let lost = rs
                .iter()
                .filter(|r| r.0 != act)
                .filter_map(|r| p.entries.get(r.2));
            for e in lost {
                shadowed
                    .entry(name.to_string())
                    .or_default()
                    .insert(e.path.clone());
            }
        }
        let mut from: Vec<usize> = rs.iter().map(|r| r.2).collect();
        from.dedup();
        out.insert(name.to_string(), (d, from));
    }
    Ok(out)
}

/// libseccomp's result for one syscall's rules, added in profile order. The first
/// unconditional rule decides: libseccomp drops every later rule for a syscall that has an
/// unconditional one, and an unconditional rule replaces the conditional ones before it
/// (Podman's profile relies on this: `setns` is allowed by one entry and denied by a later
/// one without `CAP_SYS_ADMIN`). Conditional rules with different actions whose conditions
/// overlap depend on libseccomp's rule tree and are refused.
fn decide(p: &Profile, name: &str, rs: &[Rule]) -> Result<Decision, ImportError> {
    let path = |i: usize| p.entries.get(i).map(|e| e.path.clone()).unwrap_or_default();
    if let Some(first) = rs.iter().find(|r| r.1.is_empty()) {
        return Ok(Decision::Always(first.0));
    }
    for (k, a) in rs.iter().enumerate() {
        for b in rs.iter().skip(k + 1).filter(|b| b.0 != a.0) {
            let overlap = dnf::all_of(&a.1)
                .and_then(|x| dnf::and(&x, &dnf::all_of(&b.1)?))
                .map(|both| !both.is_empty())
                .unwrap_or(true);
            if overlap {
                return Err(ImportError::inexact(
                    path(b.2),
                    format!(
                        "the conditions on `{name}` overlap those of {} with another action; \
                         libseccomp's choice between them depends on its rule tree",
                        path(a.2)
                    ),
                )
                .with_hint("make the conditions of entries with different actions disjoint"));
            }
        }
    }
    let mut cond: Vec<(RegionAction, Vec<ArgCond>)> = rs
        .iter()
        .map(|r| {
            let mut c = r.1.clone();
            c.sort();
            (r.0, c)
        })
        .collect();
    cond.sort();
    cond.dedup();
    Ok(Decision::Cond(cond))
}
