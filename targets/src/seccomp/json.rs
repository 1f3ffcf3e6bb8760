//! `seccomp.json`: the filter as an OCI `LinuxSeccomp` document for runc, crun, podman.
//!
//! Decisions, each matching the BPF that policyc emits itself:
//!
//! - `architectures` lists only the native `SCMP_ARCH_X86_64` and `SCMP_ARCH_AARCH64`.
//!   Listing `SCMP_ARCH_X86`, `SCMP_ARCH_X32` or `SCMP_ARCH_ARM` would make libseccomp
//!   allow the same names on those ABIs (with their own numbers, and i386's `socketcall`
//!   and `ipc` multiplexers behind them); left out, libseccomp gives them its bad-arch
//!   action, and on x86_64 it also gives that to x32 numbers (except `nr == -1`). That
//!   action is `KILL_THREAD` under runc (OCI cannot change it); policyc's own BPF kills the
//!   process. Either way the call never runs.
//! - No entry holds two conditions on one argument: libseccomp refuses that, and runc then
//!   adds each condition as its own rule, which would turn AND into OR.
//! - libseccomp silently drops a conditional rule for a syscall that also has an
//!   unconditional rule, whatever their actions, so overlapping allow and deny entries
//!   cannot express "deny wins". Instead every syscall's arguments are split into disjoint
//!   regions (each deny where no earlier deny holds, then "some allow alternative holds
//!   and no deny holds"), each written exactly as a disjunction of libseccomp conditions
//!   (see `dnf`). Regions whose action is the default are not written at all (runc skips
//!   such rules anyway).
//! - Shapes of several rules for one syscall that libseccomp 2.5.4 miscompiles are
//!   written as masked equalities instead (see `for_libseccomp`).
//! - Entries with the same action, errno and conditions share one entry; entries are
//!   sorted by action (allow, errno by value, kill), then names, then conditions.

use super::dnf::{self, Atom, Dnf, TooMany};
use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{DenyAction, SyscallRule, Syscalls};
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeMap;

/// What happens in one region of a syscall's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RegionAction {
    Allow,
    Deny(DenyAction),
}

/// The disjoint regions of one syscall's arguments whose outcome is not the default.
pub fn regions(
    rule: &SyscallRule,
    default: DenyAction,
) -> Result<Vec<(RegionAction, Dnf)>, TooMany> {
    let mut rest = dnf::truth();
    let mut out = Vec::new();
    for d in &rule.deny {
        if rest.is_empty() {
            break;
        }
        if d.action != default {
            let region = dnf::and(&rest, &dnf::all_of(&d.when)?)?;
            if !region.is_empty() {
                out.push((RegionAction::Deny(d.action), region));
            }
        }
        rest = dnf::and(&rest, &dnf::not_all_of(&d.when)?)?;
    }
    let allow = rule
        .allow
        .iter()
        .try_fold(Vec::new(), |acc, alt| dnf::or(&acc, &dnf::all_of(alt)?))?;
    let allowed = dnf::and(&rest, &allow)?;
    if !allowed.is_empty() {
        out.push((RegionAction::Allow, allowed));
    }
    Ok(out)
}

/// The OCI action and errno of an outcome.
fn action(o: RegionAction) -> (LinuxSeccompAction, Option<u32>) {
    match o {
        RegionAction::Allow => (LinuxSeccompAction::ScmpActAllow, None),
        RegionAction::Deny(DenyAction::Errno(e)) => (LinuxSeccompAction::ScmpActErrno, Some(e)),
        RegionAction::Deny(DenyAction::Kill) => (LinuxSeccompAction::ScmpActKillProcess, None),
    }
}

/// A libseccomp operator, ordered (the OCI enum is not `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq,
}

impl Op {
    /// The OCI operator.
    fn oci(self) -> LinuxSeccompOperator {
        match self {
            Op::Eq => LinuxSeccompOperator::ScmpCmpEq,
            Op::Ne => LinuxSeccompOperator::ScmpCmpNe,
            Op::Lt => LinuxSeccompOperator::ScmpCmpLt,
            Op::Le => LinuxSeccompOperator::ScmpCmpLe,
            Op::Gt => LinuxSeccompOperator::ScmpCmpGt,
            Op::Ge => LinuxSeccompOperator::ScmpCmpGe,
            Op::MaskedEq => LinuxSeccompOperator::ScmpCmpMaskedEq,
        }
    }

    /// The operator of an unmasked comparison.
    fn of(op: CmpOp) -> Op {
        match op {
            CmpOp::Eq => Op::Eq,
            CmpOp::Ne => Op::Ne,
            CmpOp::Lt => Op::Lt,
            CmpOp::Le => Op::Le,
            CmpOp::Gt => Op::Gt,
            CmpOp::Ge => Op::Ge,
        }
    }
}

/// One condition: index, operator, value, and the second value (for MASKED_EQ, `value` is
/// the mask and `valueTwo` the value).
type ArgKey = (usize, Op, u64, Option<u64>);

/// The OCI conditions of one term, in argument order.
fn term_args(t: &dnf::Term) -> Vec<ArgKey> {
    t.0.iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.map(|a| match a {
                Atom::Masked { mask, value } if mask == u64::MAX => (i, Op::Eq, value, None),
                Atom::Masked { mask, value } => (i, Op::MaskedEq, mask, Some(value)),
                Atom::Cmp { op, value } => (i, Op::of(op), value, None),
            })
        })
        .collect()
}

/// The diagnostic for a rule whose conditions need too many libseccomp rules.
fn too_many(name: &str, rule: &SyscallRule, sc: &Syscalls) -> Diagnostic {
    let span = rule
        .deny
        .first()
        .map(|d| d.span)
        .or(rule.allow_span)
        .unwrap_or(sc.span);
    Diagnostic::new(
        Code::SeccompTooLarge,
        span,
        format!(
            "target `seccomp`: the conditions on `{name}` need more than {} libseccomp rules \
             to be written exactly in seccomp.json",
            dnf::MAX_TERMS
        ),
    )
    .with_hint(
        "simplify the argument conditions (fewer `!=` and masked orderings, or fewer denies \
         on the same syscall)",
    )
}

/// The regions of one syscall in shapes libseccomp 2.5.4 compiles correctly.
///
/// libseccomp merges all rules of one syscall into one decision tree, and for some shapes
/// its BPF does not match its rules (found by policyc's differential tests; the filter
/// runc and crun load from `seccomp.json` would then allow calls the policy denies):
///
/// - an ordering comparison (`<`, `<=`, `>`, `>=`) whose value has a non-zero high word,
///   next to another ordering on the same argument: after the low-word test of one rule
///   the next rule's high-word test runs on the low word still in the accumulator (with
///   `arg0 <= 3` and `arg0 >= 0x500000007`, `prctl(6)` was allowed);
/// - `!=` or an ordering in rules whose conditions span several arguments: the tree does
///   not carry a failed test of one argument over to another rule's test of a second one.
///
/// One rule alone is compiled correctly, and so are rules that use only `==` and masked
/// `==`. So a syscall with several rules has each such comparison written as masked
/// equalities instead, which is exact (aligned blocks of the values, or one rule per bit
/// for `!=`); on one argument, only orderings with a non-zero high word need this.
/// The random differential test in `targets/tests/seccomp_libseccomp.rs` checks these
/// shapes against libseccomp.
fn for_libseccomp(rs: Vec<(RegionAction, Dnf)>) -> Result<Vec<(RegionAction, Dnf)>, TooMany> {
    let terms: usize = rs.iter().map(|(_, d)| d.len()).sum();
    if terms <= 1 {
        return Ok(rs);
    }
    let args: std::collections::BTreeSet<usize> = rs
        .iter()
        .flat_map(|(_, d)| d.iter())
        .flat_map(|t| t.0.iter().enumerate().filter(|(_, a)| a.is_some()))
        .map(|(i, _)| i)
        .collect();
    let one_arg = args.len() <= 1;
    let miscompiled = |a: &Atom| match *a {
        Atom::Masked { .. } => false,
        Atom::Cmp { op: CmpOp::Ne, .. } => !one_arg,
        Atom::Cmp { value, .. } => !one_arg || value >> 32 != 0,
    };
    rs.into_iter()
        .map(|(o, d)| Ok((o, dnf::masked_only(&d, miscompiled)?)))
        .collect()
}

/// Entries grouped by (outcome, conditions), with their names.
type Groups = BTreeMap<(RegionAction, Vec<ArgKey>), Vec<String>>;

/// Group every region of every syscall.
fn groups(sc: &Syscalls) -> Result<Groups, Vec<Diagnostic>> {
    let mut out: Groups = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, rule) in &sc.rules {
        match regions(rule, sc.default).and_then(for_libseccomp) {
            Ok(rs) => {
                for (outcome, d) in rs {
                    for t in &d {
                        out.entry((outcome, term_args(t)))
                            .or_default()
                            .push(name.clone());
                    }
                }
            }
            Err(TooMany) => errors.push(too_many(name, rule, sc)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Build one OCI syscall entry.
fn entry(
    outcome: RegionAction,
    args: &[ArgKey],
    names: Vec<String>,
) -> Result<LinuxSyscall, String> {
    let (act, errno) = action(outcome);
    let args: Vec<LinuxSeccompArg> = args
        .iter()
        .map(|&(index, op, value, value_two)| {
            let b = LinuxSeccompArgBuilder::default()
                .index(index)
                .op(op.oci())
                .value(value);
            // `valueTwo` is the value for SCMP_CMP_MASKED_EQ and unused (omitted) otherwise.
            let b = match value_two {
                Some(v) => b.value_two(v),
                None => b,
            };
            b.build().map_err(|e| e.to_string())
        })
        .collect::<Result<_, String>>()?;
    let mut s = LinuxSyscallBuilder::default()
        .names(names)
        .action(act)
        .build()
        .map_err(|e| e.to_string())?;
    s.set_errno_ret(errno);
    s.set_args((!args.is_empty()).then_some(args));
    Ok(s)
}

/// The `seccomp.json` document, pretty-printed, with a trailing newline.
pub fn document(sc: &Syscalls) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let internal = |e: String| {
        vec![Diagnostic::new(
            Code::SeccompTooLarge,
            sc.span,
            format!("target `seccomp`: internal error building seccomp.json: {e}"),
        )]
    };
    let mut entries: Vec<(RegionAction, Vec<String>, Vec<_>)> = groups(sc)?
        .into_iter()
        .map(|((o, args), mut names)| {
            names.sort();
            names.dedup();
            (o, names, args)
        })
        .collect();
    entries.sort();
    let syscalls = entries
        .into_iter()
        .map(|(o, names, args)| entry(o, &args, names))
        .collect::<Result<Vec<_>, String>>()
        .map_err(internal)?;
    let (default_action, default_errno) = match sc.default {
        DenyAction::Errno(e) => (LinuxSeccompAction::ScmpActErrno, Some(e)),
        DenyAction::Kill => (LinuxSeccompAction::ScmpActKillProcess, None),
    };
    let mut doc: LinuxSeccomp = LinuxSeccompBuilder::default()
        .default_action(default_action)
        .architectures(vec![OciArch::ScmpArchX86_64, OciArch::ScmpArchAarch64])
        .syscalls(syscalls)
        .build()
        .map_err(|e| internal(e.to_string()))?;
    doc.set_default_errno_ret(default_errno);
    doc.set_flags(None);
    doc.set_listener_path(None);
    doc.set_listener_metadata(None);
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| internal(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}
