//! Syscall rules: set expansion, name and errno checks, argument conditions.

use super::Scope;
use crate::ast::{Action, ArgCmp, ErrnoSpec, SysRule, SysTarget};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir::{self, ArgCond, DenyAction};
use crate::span::{Span, Spanned};
use crate::syscalls::{self, Arch};
use std::collections::{BTreeMap, BTreeSet};

/// Largest errno a seccomp filter can return (`SECCOMP_RET_DATA` holds 16 bits, the kernel
/// caps errno at 4095).
const MAX_ERRNO: u64 = 4095;

/// Stands for "the policy's default action" until the default is known; errno 0 is never
/// accepted from a policy, so it cannot collide.
const DEFAULT_PLACEHOLDER: DenyAction = DenyAction::Errno(0);

/// The `syscalls` statements of one policy as the IR's filter.
pub(super) fn to_ir(
    rules: &[&SysRule],
    scope: &Scope<'_>,
    span: Span,
    diags: &mut Diagnostics,
) -> ir::Syscalls {
    let mut out = ir::Syscalls {
        default: DenyAction::Errno(1),
        rules: BTreeMap::new(),
        span,
    };
    let mut default_seen: Option<Span> = None;
    for rule in rules {
        match rule {
            SysRule::Default(a) => {
                if default_seen.replace(a.span).is_some() {
                    diags.push(
                        Diagnostic::new(
                            Code::RepeatedStatement,
                            a.span,
                            "the default action is set twice",
                        )
                        .with_hint("say `default` once"),
                    );
                }
                if let Some(act) = action(a, diags) {
                    out.default = act;
                }
                out.span = a.span;
            }
            SysRule::Allow(targets, _) => {
                for t in targets {
                    allow(t, scope, &mut out, diags);
                }
            }
            SysRule::Deny {
                names,
                condition,
                action: act,
                span,
            } => {
                // No action: the policy's default, filled in below once it is known.
                let act = match act {
                    Some(a) => action(a, diags),
                    None => Some(DEFAULT_PLACEHOLDER),
                };
                let when = conditions(condition, diags);
                if !condition.is_empty()
                    && names
                        .iter()
                        .any(|n| scope.syscall_sets.contains_key(n.node.as_str()))
                {
                    diags.push(Diagnostic::new(Code::ConditionOnSet, *span, "a conditional deny names a syscall set; conditions apply to single syscalls").with_hint("write the condition on each syscall that needs it"));
                    continue;
                }
                for n in names {
                    for name in expand(n, scope, diags) {
                        let r = out.rules.entry(name).or_default();
                        if let Some(action) = act {
                            r.deny.push(ir::DenyWhen {
                                when: when.clone(),
                                action,
                                span: *span,
                            });
                        }
                    }
                }
            }
        }
    }
    let default = out.default;
    for r in out.rules.values_mut() {
        for d in &mut r.deny {
            if d.action == DEFAULT_PLACEHOLDER {
                d.action = default;
            }
        }
        r.allow.sort();
        r.allow.dedup();
    }
    out
}

fn conditions(cmps: &[ArgCmp], diags: &mut Diagnostics) -> Vec<ArgCond> {
    cmps.iter()
        .filter_map(|c| {
            if c.arg > 5 {
                diags.push(
                    Diagnostic::new(
                        Code::BadArgIndex,
                        c.span,
                        format!("`arg{}` does not exist", c.arg),
                    )
                    .with_hint("syscalls have arguments arg0 to arg5"),
                );
                return None;
            }
            Some(ArgCond {
                arg: c.arg,
                mask: c.mask,
                op: c.op,
                value: c.value,
            })
        })
        .collect()
}

fn allow(t: &SysTarget, scope: &Scope<'_>, out: &mut ir::Syscalls, diags: &mut Diagnostics) {
    let conds = conditions(&t.condition, diags);
    if !t.condition.is_empty() && scope.syscall_sets.contains_key(t.name.node.as_str()) {
        diags.push(
            Diagnostic::new(
                Code::ConditionOnSet,
                t.span,
                format!(
                    "`{}` is a syscall set; conditions apply to single syscalls",
                    t.name.node
                ),
            )
            .with_hint("allow the set, and write the condition on the one syscall that needs it"),
        );
        return;
    }
    for name in expand(&t.name, scope, diags) {
        let r = out.rules.entry(name).or_default();
        r.allow.push(conds.clone());
        r.allow_span.get_or_insert(t.span);
    }
}

/// The syscalls a name stands for: a set's members (recursively) or the syscall itself.
pub(super) fn expand(
    name: &Spanned<String>,
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
) -> BTreeSet<String> {
    let mut walk = Walk {
        out: BTreeSet::new(),
        stack: Vec::new(),
        done: BTreeSet::new(),
    };
    expand_into(name, scope, diags, &mut walk);
    walk.out
}

/// The state of one expansion: the union so far, the path of sets being expanded (for
/// cycles) and the sets already merged (so shared subsets are expanded once, keeping the
/// work linear however the sets nest).
struct Walk<'a> {
    out: BTreeSet<String>,
    stack: Vec<&'a str>,
    done: BTreeSet<&'a str>,
}

fn expand_into<'a>(
    name: &Spanned<String>,
    scope: &Scope<'a>,
    diags: &mut Diagnostics,
    walk: &mut Walk<'a>,
) {
    let Some((key, set)) = scope.syscall_sets.get_key_value(name.node.as_str()) else {
        if syscalls::is_known(&name.node) {
            walk.out.insert(name.node.clone());
        } else {
            diags.push(unknown_syscall(name));
        }
        return;
    };
    if syscalls::is_known(key) {
        diags.push(
            Diagnostic::new(
                Code::AmbiguousSyscallSet,
                set.name.span,
                format!("syscall set `{key}` has the name of a syscall"),
            )
            .with_hint("rename the set"),
        );
        return;
    }
    if walk.done.contains(key) {
        return;
    }
    let stack = &walk.stack;
    if let Some(pos) = stack.iter().position(|k| k == key) {
        // Report each cycle once: from the expansion rooted at its smallest member (every
        // set is expanded as a root by `check_all_sets`).
        let cycle = stack.get(pos..).unwrap_or_default();
        if pos != 0 || cycle.iter().min() != Some(key) {
            return;
        }
        diags.push(
            Diagnostic::new(
                Code::SyscallSetCycle,
                name.span,
                format!(
                    "syscall set `{key}` includes itself through `{}`",
                    stack.join("` -> `")
                ),
            )
            .with_hint("remove one of the members in the cycle"),
        );
        return;
    }
    if walk.stack.len() >= super::MAX_NESTING {
        diags.push(super::too_deep(name.span, "syscall sets"));
        return;
    }
    walk.stack.push(key);
    for m in &set.members {
        expand_into(m, scope, diags, walk);
    }
    walk.stack.pop();
    walk.done.insert(key);
}

pub(super) fn unknown_syscall(name: &Spanned<String>) -> Diagnostic {
    let thirty_two = [Arch::X86, Arch::Arm, Arch::X32]
        .iter()
        .any(|a| syscalls::number(*a, &name.node).is_some());
    let hint = match did_you_mean(&name.node, Arch::NATIVE.iter().flat_map(|a| syscalls::names(*a))) {
        _ if thirty_two => format!(
            "`{}` exists only on 32-bit ABIs (i386, x32 or arm); policyc filters x86_64 and \
             aarch64 and kills every call from another ABI, so leave it out (its 64-bit \
             counterpart, if any, has its own name)",
            crate::diag::clip(&name.node)
        ),
        Some(s) => format!("did you mean `{s}`?"),
        None => "names are checked against the x86_64 and aarch64 tables of libseccomp 2.5.4; a set must be imported with `use`".to_string(),
    };
    Diagnostic::new(
        Code::UnknownSyscall,
        name.span,
        format!(
            "unknown syscall or syscall set `{}`",
            crate::diag::clip(&name.node)
        ),
    )
    .with_hint(hint)
}

fn action(a: &Spanned<Action>, diags: &mut Diagnostics) -> Option<DenyAction> {
    match &a.node {
        Action::Kill => Some(DenyAction::Kill),
        Action::Errno(ErrnoSpec::Number(n)) if (1..=MAX_ERRNO).contains(n) => {
            u32::try_from(*n).ok().map(DenyAction::Errno)
        }
        Action::Errno(ErrnoSpec::Number(n)) => {
            diags.push(
                Diagnostic::new(
                    Code::UnknownErrno,
                    a.span,
                    format!("errno {n} is out of range"),
                )
                .with_hint("errno values are 1 to 4095; prefer a name such as `EPERM`"),
            );
            None
        }
        Action::Errno(ErrnoSpec::Name(n)) => match syscalls::errno(n) {
            Some(v) => Some(DenyAction::Errno(v)),
            None => {
                let hint = did_you_mean(n, syscalls::errno_names()).map_or_else(
                    || "use a Linux errno name such as `EPERM` or `EACCES`".to_string(),
                    |s| format!("did you mean `{s}`?"),
                );
                diags.push(
                    Diagnostic::new(Code::UnknownErrno, a.span, format!("unknown errno `{n}`"))
                        .with_hint(hint),
                );
                None
            }
        },
    }
}

/// Expand every set in scope once as a root, so errors in sets no policy uses (and cycles
/// in imported ones) are reported.
pub(super) fn check_all_sets(scope: &Scope<'_>, diags: &mut Diagnostics) {
    for set in scope.syscall_sets.values() {
        let _ = expand(&set.name, scope, diags);
    }
}
