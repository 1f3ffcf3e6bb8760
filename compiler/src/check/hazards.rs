//! Syscall rules that do not do what they read as: an ordering comparison on a signed
//! argument, which seccomp makes unsigned (ADVERSARIAL.md class 37), and `memfd_create`
//! allowed beside `execve`/`execveat`, which runs written code without an exec grant
//! (class 36).

use crate::ast::{ArgCmp, CmpOp, Stmt, SysRule};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir::{ArgCond, Isolation, Policy, SyscallRule};
use crate::span::Span;
use crate::syscalls::{signed_arg, Width};

pub(super) fn run(p: &Policy, stmts: &[&Stmt], diags: &mut Diagnostics) {
    signed_orderings(stmts, diags);
    exec_from_memory(p, diags);
}

// ---------------------------------------------------------------- signed arguments

/// Whether a rule lets calls through (`allow`) or stops them (`deny`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Allow,
    Deny,
}

/// Every syscall rule with a condition, checked for ordering comparisons whose meaning
/// changes when a negative value is read as unsigned.
fn signed_orderings(stmts: &[&Stmt], diags: &mut Diagnostics) {
    for s in stmts {
        let Stmt::Syscalls(rules, _) = s else {
            continue;
        };
        for r in rules {
            match r {
                SysRule::Allow(targets, _) => {
                    for t in targets {
                        let d = signed_ordering(&t.name.node, &t.condition, Verb::Allow, t.span);
                        diags.0.extend(d);
                    }
                }
                SysRule::Deny {
                    names,
                    condition,
                    span,
                    ..
                } => {
                    for n in names {
                        let d = signed_ordering(&n.node, condition, Verb::Deny, *span);
                        diags.0.extend(d);
                    }
                }
                SysRule::Default(_) => {}
            }
        }
    }
}

/// One diagnostic per signed argument of `name` whose conditions (taken together, as the
/// rule takes them) decide a negative value differently than a signed comparison would.
fn signed_ordering(name: &str, cond: &[ArgCmp], verb: Verb, span: Span) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for arg in 0..=5u8 {
        let Some(width) = signed_arg(name, arg) else {
            continue;
        };
        // Masked comparisons test bits, which mean the same signed or unsigned.
        let on_arg: Vec<&ArgCmp> = cond
            .iter()
            .filter(|c| c.arg == arg && c.mask.is_none())
            .collect();
        let Some(ordering) = on_arg.iter().find(|c| is_ordering(c.op)) else {
            continue;
        };
        let Some((value, unsigned_holds)) = disagreement(width, &on_arg) else {
            continue;
        };
        let d = signed_diagnostic(name, ordering, verb, span, value, unsigned_holds);
        out.push(d.with_hint(signed_hint(width, arg)));
    }
    out
}

fn is_ordering(op: CmpOp) -> bool {
    matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge)
}

/// Negative values the argument is tried with; an `int` is tried both sign-extended and
/// zero-extended to 64 bits, as callers pass it either way.
const NEGATIVES: [i64; 5] = [-1, -2, -20, -100, i64::MIN];

/// The first value (as the program means it) on which the conditions hold as seccomp
/// compares (unsigned) but not as written (signed), or the other way round, with whether
/// they hold for seccomp.
fn disagreement(width: Width, conds: &[&ArgCmp]) -> Option<(i64, bool)> {
    let mut probes: Vec<u64> = Vec::new();
    for n in NEGATIVES {
        match width {
            Width::Int => {
                let n = i32::try_from(n).unwrap_or(i32::MIN);
                probes.push(i64::from(n) as u64);
                probes.push(u64::from(n as u32));
            }
            Width::Long => probes.push(n as u64),
        }
    }
    probes.extend([0, 1, i32::MAX as u64, i64::MAX as u64]);
    for c in conds {
        probes.extend([c.value, c.value.wrapping_add(1), c.value.wrapping_sub(1)]);
    }
    probes.into_iter().find_map(|x| {
        let unsigned = conds.iter().all(|c| holds(c.op, x, c.value));
        let signed = conds.iter().all(|c| match c.op {
            // Equalities are exact matches either way; only orderings change meaning.
            CmpOp::Eq | CmpOp::Ne => holds(c.op, x, c.value),
            op => holds(op, as_signed(width, x), as_signed(width, c.value)),
        });
        (unsigned != signed).then(|| (as_signed(width, x), unsigned))
    })
}

/// The value the kernel reads from a register holding `x`.
fn as_signed(width: Width, x: u64) -> i64 {
    match width {
        Width::Int => i64::from(x as u32 as i32),
        Width::Long => x as i64,
    }
}

fn holds<T: Ord>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn signed_diagnostic(
    name: &str,
    c: &ArgCmp,
    verb: Verb,
    span: Span,
    value: i64,
    unsigned_holds: bool,
) -> Diagnostic {
    let arg = c.arg;
    let effect = match (verb, unsigned_holds) {
        (Verb::Allow, true) => "passes this allow",
        (Verb::Allow, false) => "fails this allow",
        (Verb::Deny, true) => "is caught by this deny",
        (Verb::Deny, false) => "escapes this deny",
    };
    Diagnostic::new(
        Code::SignedArgOrdering,
        span,
        format!(
            "`{name}` compares its signed argument arg{arg} with `{}`, but seccomp compares unsigned: a negative value such as {value} {effect}",
            c.op.symbol()
        ),
    )
}

fn signed_hint(width: Width, arg: u8) -> String {
    let minus_one = match width {
        Width::Int => "0xffffffff or 0xffffffffffffffff",
        Width::Long => "0xffffffffffffffff",
    };
    format!(
        "seccomp sees -1 as {minus_one}; bound arg{arg} on both sides (`arg{arg} >= 0 and arg{arg} <= N` keeps negative values out), or name the values with `==`"
    )
}

// ---------------------------------------------------------------- code from memory

/// `memfd_create`'s `MFD_NOEXEC_SEAL` flag (Linux 6.3): the memory file can never be
/// executed. Older kernels refuse the flag with `EINVAL`.
const MFD_NOEXEC_SEAL: u64 = 0x8;

/// In this language nothing the program writes is executable: `write` mounts grant no exec,
/// scratch areas and tmpfs are mounted `noexec`. A memory file from `memfd_create` runs
/// anyway through `execveat(fd, "", AT_EMPTY_PATH)` (`fexecve`) or `execve` of
/// `/proc/self/fd/N`, so allowing both undoes that, unless every allow of `memfd_create`
/// requires `MFD_NOEXEC_SEAL`. Under wasm isolation the program makes no syscalls itself.
fn exec_from_memory(p: &Policy, diags: &mut Diagnostics) {
    if p.isolation == Isolation::Wasm {
        return;
    }
    let Some(memfd) = p.syscalls.rules.get("memfd_create").filter(|r| allowed(r)) else {
        return;
    };
    if memfd.allow.iter().all(|alt| alt.iter().any(sealed)) {
        return;
    }
    let execs: Vec<&str> = ["execve", "execveat"]
        .into_iter()
        .filter(|e| p.syscalls.rules.get(*e).is_some_and(allowed))
        .collect();
    if execs.is_empty() {
        return;
    }
    diags.push(
        Diagnostic::new(
            Code::ExecFromMemory,
            memfd.allow_span.unwrap_or(p.syscalls.span),
            format!(
                "`memfd_create` and `{}` are both allowed: the program can write code into a memory file and run it, though no writable area of the policy may be executed",
                execs.join("` and `")
            ),
        )
        .with_hint(
            "deny `memfd_create`, or allow it only with MFD_NOEXEC_SEAL (`allow memfd_create if arg1 & 0x8 == 0x8`, Linux 6.3 and later)",
        ),
    );
}

/// True when some call to the syscall can be allowed.
fn allowed(r: &SyscallRule) -> bool {
    !r.allow.is_empty() && !r.always_denied()
}

/// True when the condition requires the `MFD_NOEXEC_SEAL` bit in `memfd_create`'s flags.
fn sealed(c: &ArgCond) -> bool {
    c.arg == 1
        && c.op == CmpOp::Eq
        && c.value & MFD_NOEXEC_SEAL != 0
        && c.mask.is_none_or(|m| m & MFD_NOEXEC_SEAL != 0)
}
