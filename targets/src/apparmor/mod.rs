//! The AppArmor target: `apparmor.profile`, one self-contained profile that
//! `apparmor_parser` compiles as it is (no `#include`, no `abi` line, no tunables).
//!
//! **Shape.**
//!
//! ```text
//! # (comments)
//! @{HOME}="/home/user"                      (process isolation, when the home is known)
//! profile policyc.NAME flags=(mediate_deleted) {
//!   deny capability, deny mount, deny umount, deny pivot_root, deny ptrace,
//!   signal (send, receive) peer=policyc.NAME, signal (receive) peer=unconfined,
//!   network unix, then inet/inet6 rules from the egress policy,
//!   deny "/proc/*/attr/**" rwlkmx, ... (kernel interfaces, always)
//!   deny "..." ..., (the policy's denies)
//!   "..." ..., (the mounts)
//! }
//! ```
//!
//! **Name.** `policyc.` and the policy's name, which must be an identifier (ASCII letters,
//! digits, `_`): no space, `/`, `:` or `//`, so the label in `/proc/*/attr/current` cannot
//! be made to look like another profile, a hat or a namespace (`P0901`). The profile has no
//! attachment: a launcher selects it (`aa-exec -p`, OCI `process.apparmorProfile`).
//!
//! **Flags.** `mediate_deleted` (a deleted file is mediated by the name it had).
//! `attach_disconnected` is deliberately left out: an object whose path lies outside the
//! confined process's mount namespace (a descriptor passed in from the host) is denied
//! rather than named as if it hung off `/`, where a guest-path grant could match it.
//!
//! **Paths.** Under `container` isolation the guest paths, as the confined process sees them;
//! under `process` isolation the host paths, `~` written `@{HOME}` and defined from
//! [`EmitContext::home`] (`P0902` when a `~` path needs it and none was given). `wasm`
//! policies get no profile. Every path is quoted and escaped (the `pattern` module); a mount or
//! deny at `/data` is the three rules `"/data"`, `"/data/"` and `"/data/**"`, never
//! `"/data*"` (which would match `/data2`).
//!
//! **Permissions.** `read` is `r`; `write` is `w` and `k` (locks); `exec` is `m` and `ix`
//! (the program stays in this profile; `ux`, `Ux`, `px` and `cx` are never written, and the
//! reader refuses them). Scratch areas and tmpfs are `rwk`. `l` (hard links) is never
//! granted. A deny of `read` is `r`, of `write` `wlk`, of `exec` `mx`.
//!
//! **Kernel interfaces.** Every profile denies `/proc/*/attr/**`, `/proc/*/mem`,
//! `/proc/*/environ` (and their `task/*` forms), `/proc/kcore`, `/proc/kallsyms`,
//! `/proc/keys`, `/proc/sysrq-trigger`, `/proc/timer_list`, `/proc/sched_debug`,
//! `/sys/kernel/{security,debug,tracing}/**`, `/sys/firmware/**`, `/sys/fs/bpf/**`,
//! `/dev/{mem,kmem,port}`, and writes to `/proc/sys/**` and `/sys/**`, whatever the mounts
//! grant (a grant that reaches them is reported, `P0904`).
//!
//! **Denies.** AppArmor's `deny` wins over every allow whatever the specificity, as the
//! reference semantics' denies do. The `emit` module explains how denies on host objects
//! and nested mounts become deny rules, and where the profile ends up denying more than the
//! policy (reported, `P0904`).
//!
//! **Network.** `network unix` always (local IPC, e.g. `socketpair`). `egress none` (or no
//! egress allow rule) denies `inet` and `inet6` outright; egress allow rules allow `inet` and
//! `inet6` `stream`, and DNS (`dns any`, or `allow-listed-only` with some allow rule) their
//! `dgram`. This parser version cannot filter hosts or ports: that is reported (`P0905`)
//! and the simulator says such requests are not mediated.
//!
//! **Round trip.** The text is read back with [`parse`], and the build fails (`P0906`) unless
//! it holds exactly the rules that were built.

mod emit;
mod parse;
mod pattern;
mod profile;
mod report;
mod sim;
mod text;

#[cfg(test)]
mod tests;

pub use parse::{parse, ParseError};
pub use pattern::{Pattern, Tok, Unwritable, HOME_VAR};
pub use profile::{
    Class, Family, FileRule, NetRule, Perms, Profile, Rule, SockType, FLAGS, NAME_PREFIX,
};
pub use sim::{decide as decide_parsed, socket_allowed, FILE};

use crate::{Artifacts, EmitContext, Emitted, Target};
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Diagnostic};
use profile::Line;

/// The features ABI the profiles are written for and tested against
/// (`targets/apparmor-features/features`: Debian 12's apparmor 3.0.8 default), for
/// `apparmor_parser -M`.
pub const FEATURES: &str = include_str!("../../apparmor-features/features");

/// The longest policy name policyc turns into a profile name.
const MAX_NAME: usize = 200;

/// True for a policy name that can be written in a profile name as it is.
fn valid_policy_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_NAME
}

/// True for a profile name policyc writes: `policyc.` and a valid policy name.
pub fn valid_profile_name(name: &str) -> bool {
    name.strip_prefix(NAME_PREFIX)
        .is_some_and(valid_policy_name)
}

/// `P0901` unless the policy's name can name a profile.
fn profile_name(policy: &Policy) -> Result<String, Vec<Diagnostic>> {
    if valid_policy_name(&policy.name) {
        return Ok(parse::profile_name(&policy.name));
    }
    Err(vec![Diagnostic::new(
        Code::AppArmorBadName,
        policy.span,
        format!(
            "{}: the policy name `{}` cannot name an AppArmor profile",
            emit::TARGET,
            policy.name.escape_debug()
        ),
    )
    .with_hint(format!(
        "use an identifier of at most {MAX_NAME} ASCII letters, digits and `_`; a space, `/`, `:` or `//` in a profile name can make its label in /proc/*/attr/current look like another profile, a hat or a namespace"
    ))])
}

/// Write the profile text and check that it reads back as built.
fn write(
    policy: &Policy,
    name: &str,
    home: Option<&str>,
    lines: &[Line],
) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let text = profile::render(&text::preamble(policy), name, home, lines).map_err(|e| {
        vec![Diagnostic::new(
            Code::AppArmorUnwritablePath,
            policy.span,
            format!("{}: {e}", emit::TARGET),
        )]
    })?;
    let built = Profile {
        name: name.to_string(),
        home: home.map(str::to_string),
        rules: lines
            .iter()
            .filter_map(|l| match l {
                Line::Rule(r) => Some(r.clone()),
                _ => None,
            })
            .collect(),
    };
    match parse(&text) {
        Ok(back) if back == built => Ok(text.into_bytes()),
        Ok(_) => Err(round_trip_error(policy, "it reads back as different rules")),
        Err(e) => Err(round_trip_error(policy, &e.to_string())),
    }
}

fn round_trip_error(policy: &Policy, why: &str) -> Vec<Diagnostic> {
    vec![Diagnostic::new(
        Code::AppArmorRoundTrip,
        policy.span,
        format!(
            "{}: the emitted apparmor.profile does not read back: {why}",
            emit::TARGET
        ),
    )]
}

/// Figures for the build manifest.
fn stats(lines: &[Line]) -> std::collections::BTreeMap<String, u64> {
    let count = |f: &dyn Fn(&Rule) -> bool| {
        lines
            .iter()
            .filter(|l| matches!(l, Line::Rule(r) if f(r)))
            .count() as u64
    };
    crate::common::counts([
        ("rules", count(&|_| true)),
        (
            "file_allow_rules",
            count(&|r| matches!(r, Rule::File(f) if !f.deny)),
        ),
        (
            "file_deny_rules",
            count(&|r| matches!(r, Rule::File(f) if f.deny)),
        ),
        ("network_rules", count(&|r| matches!(r, Rule::Network(_)))),
    ])
}

/// The apparmor target.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppArmor;

impl Target for AppArmor {
    fn name(&self) -> &'static str {
        "apparmor"
    }

    fn comment_leader(&self, _artifact: &str) -> Option<&'static str> {
        Some("#")
    }

    fn in_stack(&self, isolation: Isolation) -> bool {
        matches!(isolation, Isolation::Process | Isolation::Container)
    }

    fn emit(&self, policy: &Policy, ctx: &EmitContext) -> Result<Emitted, Vec<Diagnostic>> {
        if policy.isolation == Isolation::Wasm {
            return Ok(Emitted::nothing(report::wasm(policy)));
        }
        let name = profile_name(policy)?;
        let home = emit::home(policy, ctx.home.as_deref())?;
        let (grants, locs) = emit::plan(policy, home.as_deref());
        let lines = text::lines(policy, &name, &grants, &locs);
        let bytes = write(policy, &name, home.as_deref(), &lines)?;
        Ok(Emitted::one(
            FILE,
            bytes,
            stats(&lines),
            report::report(policy, &grants),
        ))
    }

    fn simulator(&self, artifacts: &Artifacts) -> Box<dyn crate::Simulator> {
        sim::READ_BACK.simulator(artifacts)
    }
}
