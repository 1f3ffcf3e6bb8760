//! `policyc import seccomp`: an OCI / Docker / Podman seccomp profile as a policy's
//! `syscalls` block.
//!
//! The profile is read as Docker and Podman read it for a container on x86_64 (`amd64`)
//! and on aarch64 (`arm64`): entries are selected by `includes`/`excludes` for the
//! architecture, the capability set ([`Options::caps`]) and the kernel version
//! ([`Options::kernel`]); then as runc hands it to libseccomp: rules whose action is the
//! default are skipped, names the architecture does not have are skipped, and an entry with
//! two conditions on one argument becomes one rule per condition. The policy says, for
//! every syscall, what that filter does on each native architecture, and the import fails
//! where one statement cannot say it for both.

mod meaning;
mod profile;

use super::render::{comment, format_policy};
use super::{value, ImportError, Imported};
use crate::seccomp::json::RegionAction;
use meaning::{Decision, Meaning};
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction};
use policyc_compiler::syscalls::{self, Arch};
use std::collections::{BTreeMap, BTreeSet};

pub use profile::kernel_version;

/// The kernel assumed for `minKernel` when none is given: 5.13, the first with Landlock,
/// which policyc's process isolation needs.
pub const DEFAULT_KERNEL: (u32, u32) = (5, 13);

/// How to read a profile.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy's name.
    pub name: String,
    /// The file the profile came from, for the header comment.
    pub source: String,
    /// The capabilities of the container (`CAP_SYS_ADMIN`, ...), for `includes.caps` and
    /// `excludes.caps`.
    pub caps: BTreeSet<String>,
    /// The kernel version `minKernel` is compared with.
    pub kernel: (u32, u32),
    /// The architectures whose meaning the policy must keep (both native ones by default).
    pub arches: Vec<Arch>,
}

impl Options {
    /// Defaults: no capabilities, [`DEFAULT_KERNEL`], both native architectures.
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Options {
            name: name.into(),
            source: source.into(),
            caps: BTreeSet::new(),
            kernel: DEFAULT_KERNEL,
            arches: Arch::NATIVE.to_vec(),
        }
    }
}

/// A capability as Docker spells it: upper case with the `CAP_` prefix.
pub fn capability(raw: &str) -> String {
    let up = raw.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Import a profile's JSON text.
pub fn import(json: &str, opts: &Options) -> Result<Imported, ImportError> {
    let doc = value::parse(json)?;
    let p = profile::read(&doc)?;
    let default = meaning::default_action(&p)?;
    let mut per_arch: Vec<(Arch, Meaning)> = Vec::new();
    let mut shadowed = meaning::Shadowed::new();
    for arch in &opts.arches {
        per_arch.push((*arch, meaning::meaning(&p, *arch, opts, &mut shadowed)?));
    }
    let merged = merge(&p, &per_arch)?;
    let mut text = String::new();
    header(&mut text, &p, opts, &shadowed);
    text.push_str(&render(opts, default, &merged));
    let text = format_policy(&text)?;
    Ok(Imported { text })
}

/// One decision per name, the same on every architecture that has the name (a name an
/// architecture lacks is no syscall there, so it takes the other's decision).
fn merge(
    p: &profile::Profile,
    per_arch: &[(Arch, Meaning)],
) -> Result<BTreeMap<String, Decision>, ImportError> {
    let mut out = BTreeMap::new();
    let names: BTreeSet<&String> = per_arch.iter().flat_map(|(_, m)| m.keys()).collect();
    for name in names {
        let here: Vec<Option<&(Decision, Vec<usize>)>> = per_arch
            .iter()
            .filter(|(a, _)| syscalls::number(*a, name).is_some())
            .map(|(_, m)| m.get(name))
            .collect();
        let decisions: Vec<Option<&Decision>> = here.iter().map(|h| h.map(|h| &h.0)).collect();
        if decisions.windows(2).any(|w| w.first() != w.last()) {
            let sources: Vec<Vec<usize>> = here
                .iter()
                .map(|h| h.map(|h| h.1.clone()).unwrap_or_default())
                .collect();
            return Err(differs(p, name, &sources));
        }
        if let Some(d) = decisions.into_iter().flatten().next() {
            out.insert(name.clone(), d.clone());
        }
    }
    Ok(out)
}

/// The error for a syscall whose meaning depends on the architecture; it names an entry
/// that applies on one architecture and not the other.
fn differs(p: &profile::Profile, name: &str, sources: &[Vec<usize>]) -> ImportError {
    let all: BTreeSet<usize> = sources.iter().flatten().copied().collect();
    let blame = all
        .iter()
        .find(|i| !sources.iter().all(|s| s.contains(i)))
        .or(all.iter().next())
        .and_then(|i| p.entries.get(*i));
    let place = blame.map_or_else(
        || "syscalls".to_string(),
        |e| {
            if !e.includes.arches.is_empty() {
                format!("{}.includes.arches", e.path)
            } else if !e.excludes.arches.is_empty() {
                format!("{}.excludes.arches", e.path)
            } else {
                e.path.clone()
            }
        },
    );
    ImportError::inexact(
        place,
        format!(
            "`{name}` means something different on x86_64 and on aarch64, and a policy \
             names a syscall once for both"
        ),
    )
    .with_hint("import for one architecture with `--arch x86_64` or `--arch aarch64`")
}

/// Why a name the selected entries list is left out, if it is.
fn dropped_reason(name: &str, arches: &[Arch]) -> Option<&'static str> {
    if arches.iter().any(|a| syscalls::number(*a, name).is_some()) {
        return None;
    }
    let thirty_two = [Arch::X86, Arch::Arm, Arch::X32]
        .iter()
        .any(|a| syscalls::number(*a, name).is_some());
    Some(if thirty_two { "32-bit" } else { "unknown" })
}

/// A condition as policy text.
fn cond_text(c: &ArgCond) -> String {
    let op = match c.op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    };
    match c.mask {
        Some(m) => format!("arg{} & {m:#x} {op} {}", c.arg, c.value),
        None => format!("arg{} {op} {}", c.arg, c.value),
    }
}

/// A deny action as policy text.
fn action_text(a: DenyAction) -> String {
    match a {
        DenyAction::Kill => "kill".to_string(),
        DenyAction::Errno(e) => match syscalls::errno_name(e) {
            Some(n) => format!("errno {n}"),
            None => format!("errno {e}"),
        },
    }
}

/// A name for a set of denied syscalls.
fn deny_set_name(policy: &str, a: DenyAction) -> String {
    match a {
        DenyAction::Kill => format!("{policy}_killed"),
        DenyAction::Errno(e) => format!(
            "{policy}_{}",
            syscalls::errno_name(e).map_or_else(|| format!("errno{e}"), str::to_ascii_lowercase)
        ),
    }
}

/// The header comment.
fn header(out: &mut String, p: &profile::Profile, opts: &Options, shadowed: &meaning::Shadowed) {
    let arches: Vec<&str> = opts.arches.iter().map(|a| a.name()).collect();
    let caps: Vec<&str> = opts.caps.iter().map(String::as_str).collect();
    comment(
        out,
        "",
        &format!(
            "Imported by `policyc import seccomp` from {}. Exact on {} for the capabilities {} \
             and a kernel of {}.{} or newer (for `minKernel`).",
            opts.source,
            arches.join(" and "),
            if caps.is_empty() {
                "(none)".to_string()
            } else {
                caps.join(", ")
            },
            opts.kernel.0,
            opts.kernel.1
        ),
    );
    let foreign: Vec<&str> = p
        .arches
        .iter()
        .map(String::as_str)
        .filter(|a| !["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"].contains(a))
        .collect();
    if !foreign.is_empty() {
        comment(
            out,
            "",
            &format!(
                "The profile also lists {}; policyc kills every call from an ABI other than \
                 x86_64 and aarch64 (i386, x32, arm and the rest).",
                foreign.join(", ")
            ),
        );
    }
    let split: Vec<&str> = p
        .entries
        .iter()
        .filter(|e| e.split)
        .map(|e| e.path.as_str())
        .collect();
    if !split.is_empty() {
        comment(
            out,
            "",
            &format!(
                "{} hold two conditions on one argument; runc adds each condition as its own \
                 rule, so they are imported as alternatives.",
                split.join(", ")
            ),
        );
    }
    let mut dropped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in &p.entries {
        if !opts.arches.iter().any(|a| meaning::selected(e, *a, opts)) {
            continue;
        }
        for n in &e.names {
            if let Some(why) = dropped_reason(n, &opts.arches) {
                dropped.entry(why).or_default().insert(n);
            }
        }
    }
    for (name, paths) in shadowed {
        let list: Vec<&str> = paths.iter().map(String::as_str).collect();
        comment(
            out,
            "",
            &format!(
                "{} name `{name}` to no effect: an earlier entry decides it without \
                 conditions, and libseccomp keeps only that rule.",
                list.join(", ")
            ),
        );
    }
    if let Some(names) = dropped.get("32-bit") {
        let list: Vec<&str> = names.iter().copied().collect();
        comment(
            out,
            "",
            &format!(
                "Left out, they exist only on 32-bit ABIs (i386, x32 or arm), which policyc \
                 refuses entirely: {}.",
                list.join(", ")
            ),
        );
    }
    if let Some(names) = dropped.get("unknown") {
        let list: Vec<&str> = names.iter().copied().collect();
        comment(
            out,
            "",
            &format!(
                "Left out, they are not syscalls of x86_64 or aarch64 in libseccomp 2.5.4's \
                 tables (other architectures' calls, or newer ones, which the policy denies): {}.",
                list.join(", ")
            ),
        );
    }
}

/// The policy text (before formatting).
fn render(opts: &Options, default: DenyAction, decisions: &BTreeMap<String, Decision>) -> String {
    let mut out = String::new();
    let mut allowed: Vec<&str> = Vec::new();
    let mut denied: BTreeMap<DenyAction, Vec<&str>> = BTreeMap::new();
    let mut lines: Vec<String> = Vec::new();
    for (name, d) in decisions {
        match d {
            Decision::Always(RegionAction::Allow) => allowed.push(name),
            Decision::Always(RegionAction::Deny(a)) => denied.entry(*a).or_default().push(name),
            Decision::Cond(rules) => {
                for (act, conds) in rules {
                    let when: Vec<String> = conds.iter().map(cond_text).collect();
                    let when = when.join(" and ");
                    lines.push(match act {
                        RegionAction::Allow => format!("allow {name} if {when}"),
                        RegionAction::Deny(a) => {
                            format!("deny {name} if {when} {}", action_text(*a))
                        }
                    });
                }
            }
        }
    }
    let policy = &opts.name;
    let mut body: Vec<String> = Vec::new();
    if !allowed.is_empty() {
        let set = format!("{policy}_allowed");
        out.push_str(&format!(
            "syscalls {set} {{\n{}\n}}\n\n",
            allowed.join(",\n")
        ));
        body.push(format!("allow {set}"));
    }
    body.extend(lines);
    for (a, names) in &denied {
        if names.len() > 4 {
            let set = deny_set_name(policy, *a);
            out.push_str(&format!("syscalls {set} {{\n{}\n}}\n\n", names.join(",\n")));
            body.push(format!("deny {set} {}", action_text(*a)));
        } else {
            body.push(format!("deny {} {}", names.join(", "), action_text(*a)));
        }
    }
    body.push(format!("default {}", action_text(default)));
    out.push_str(&format!(
        "policy {policy} {{\nisolation container\nsyscalls {{\n{}\n}}\n}}\n",
        body.join("\n")
    ));
    out
}

#[cfg(test)]
mod tests;
