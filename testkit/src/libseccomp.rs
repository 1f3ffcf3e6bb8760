//! libseccomp as runc drives it: the filter runc's `InitSeccomp` builds from a
//! `seccomp.json` document (default action with `defaultErrnoRet`, every listed
//! architecture, the binary-tree optimisation above 32 syscalls, rules whose action is the
//! default skipped, names libseccomp does not know skipped, one rule per entry, split per
//! condition if an entry has two conditions on one argument), exported as BPF. Errors come
//! back as messages, for the fuzz targets to report; tests unwrap them.
//!
//! Also what libseccomp 2.5.4 (Debian 12) cannot take that policyc writes: `errno 4095`
//! ([`refused_errnos`]) and a shape of conditional entries it never finishes loading
//! ([`may_hang_libseccomp`]).

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use std::sync::atomic::{AtomicUsize, Ordering};

/// runc's `getAction`.
pub fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => {
            let e = i32::try_from(errno.unwrap_or(1)).map_err(|e| e.to_string())?;
            ScmpAction::Errno(e)
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        other => {
            return Err(format!(
                "seccomp.json has action {other:?}, which policyc never writes"
            ))
        }
    })
}

/// runc's `getOperator` and `MakeCondition`.
pub fn condition(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    two: Option<u64>,
) -> Result<ScmpArgCompare, String> {
    let (op, datum) = match op {
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(value), two.unwrap_or(0))
        }
    };
    let index = u32::try_from(index).map_err(|e| e.to_string())?;
    Ok(ScmpArgCompare::new(index, op, datum))
}

/// The libseccomp architecture of an OCI one.
pub fn arch(a: OciArch) -> Result<ScmpArch, String> {
    match a {
        OciArch::ScmpArchX86_64 => Ok(ScmpArch::X8664),
        OciArch::ScmpArchAarch64 => Ok(ScmpArch::Aarch64),
        other => Err(format!(
            "seccomp.json lists {other:?}, which policyc never writes"
        )),
    }
}

fn lib(what: &str) -> impl Fn(libseccomp::error::SeccompError) -> String + '_ {
    move |e| format!("libseccomp refuses {what}: {e}")
}

/// libseccomp 2.5.4 refuses `SCMP_ACT_ERRNO(4095)` (it accepts 1 to 4094), so runc refuses
/// a document with that errno anywhere; policyc accepts `errno 4095`.
pub const LIBSECCOMP_MAX_ERRNO: u32 = 4094;

/// The errno values of `doc` that libseccomp refuses.
pub fn refused_errnos(doc: &LinuxSeccomp) -> Vec<u32> {
    let default = doc.default_errno_ret();
    let entries = doc.syscalls().iter().flatten().map(|c| c.errno_ret());
    std::iter::once(default)
        .chain(entries)
        .flatten()
        .filter(|e| *e > LIBSECCOMP_MAX_ERRNO)
        .collect()
}

/// [`runc_bpf`] on a thread, given up after `limit`: `Ok(None)` when libseccomp has not
/// returned by then (the thread is left running; use this only where the process ends soon,
/// as in a test).
pub fn runc_bpf_within(
    doc: &LinuxSeccomp,
    optimize: u32,
    limit: std::time::Duration,
) -> Result<Option<Vec<u8>>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let doc = doc.clone();
    std::thread::spawn(move || {
        let _ = tx.send(runc_bpf(&doc, optimize));
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r.map(Some),
        Err(_) => Ok(None),
    }
}

/// The filter runc would build from `doc`, exported as BPF bytes.
pub fn runc_bpf(doc: &LinuxSeccomp, optimize: u32) -> Result<Vec<u8>, String> {
    export(&runc_filter(doc, optimize)?)
}

/// The filter runc would build from `doc`, at libseccomp optimisation level `optimize`
/// (runc asks for 2, the binary tree, above 32 syscalls).
pub fn runc_filter(doc: &LinuxSeccomp, optimize: u32) -> Result<ScmpFilterContext, String> {
    let arches = doc
        .architectures()
        .iter()
        .flatten()
        .map(|a| arch(*a))
        .collect::<Result<Vec<_>, _>>()?;
    build(doc, optimize, &arches, false)
}

/// [`runc_filter`] for exactly the architectures `arches`, whatever `doc` lists (the
/// native one is removed when it is not among them): the program one architecture runs,
/// for comparing it with policyc's program for that architecture.
pub fn runc_filter_on(
    doc: &LinuxSeccomp,
    optimize: u32,
    arches: &[ScmpArch],
) -> Result<ScmpFilterContext, String> {
    build(doc, optimize, arches, true)
}

/// The filter for `doc` with `arches` added (and, when `only`, nothing else).
fn build(
    doc: &LinuxSeccomp,
    optimize: u32,
    arches: &[ScmpArch],
    only: bool,
) -> Result<ScmpFilterContext, String> {
    let default = action(doc.default_action(), doc.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("the default action"))?;
    for a in arches {
        ctx.add_arch(*a).map_err(lib("an architecture"))?;
    }
    let native = ScmpArch::native();
    if only && !arches.contains(&native) {
        ctx.remove_arch(native)
            .map_err(lib("removing the native architecture"))?;
    }
    let calls = doc.syscalls().clone().unwrap_or_default();
    if calls.iter().map(|c| c.names().len()).sum::<usize>() > 32 {
        ctx.set_ctl_optimize(optimize)
            .map_err(lib("the optimisation level"))?;
    }
    ctx.set_ctl_nnp(false).map_err(lib("no_new_privs off"))?;
    for call in &calls {
        let act = action(call.action(), call.errno_ret())?;
        if act == default {
            continue;
        }
        let args = call.args().clone().unwrap_or_default();
        let conds = args
            .iter()
            .map(|a| condition(a.index(), a.op(), a.value(), a.value_two()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut per_index = [0usize; 6];
        for a in &args {
            if let Some(n) = per_index.get_mut(a.index()) {
                *n += 1;
            }
        }
        for name in call.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let what = format!("the rule {call:?}");
            if per_index.iter().any(|n| *n > 1) {
                for c in &conds {
                    ctx.add_rule_conditional(act, sys, std::slice::from_ref(c))
                        .map_err(lib(&what))?;
                }
            } else {
                ctx.add_rule_conditional(act, sys, &conds)
                    .map_err(lib(&what))?;
            }
        }
    }
    Ok(ctx)
}

/// True when `doc` may have the shape that makes libseccomp 2.5.4's rule insertion loop
/// forever (found by the `bpf_libseccomp` target): two entries for one syscall whose
/// conditions, sorted by argument, share a prefix that ends in a comparison other than `==`
/// (`>=`, `<`, `!=`, ...) and then go on with different conditions. For example
/// `[arg0 >= 1, arg5 & 1 == 0]` followed by `[arg0 >= 1, arg5 & 0x100000000 == 0x100000000]`
/// never returns. Not every document with this shape hangs; none without it was seen to.
pub fn may_hang_libseccomp(doc: &LinuxSeccomp) -> bool {
    type Cond = (usize, LinuxSeccompOperator, u64, Option<u64>);
    let default = (doc.default_action(), doc.default_errno_ret());
    let mut by_name: Vec<(&str, Vec<Cond>)> = Vec::new();
    for call in doc.syscalls().iter().flatten() {
        if (call.action(), call.errno_ret()) == default {
            continue;
        }
        let mut conds: Vec<Cond> = call
            .args()
            .iter()
            .flatten()
            .map(|a| (a.index(), a.op(), a.value(), a.value_two()))
            .collect();
        conds.sort_by_key(|c| c.0);
        for name in call.names() {
            by_name.push((name.as_str(), conds.clone()));
        }
    }
    let equality = |op: LinuxSeccompOperator| {
        matches!(
            op,
            LinuxSeccompOperator::ScmpCmpEq | LinuxSeccompOperator::ScmpCmpMaskedEq
        )
    };
    by_name.iter().enumerate().any(|(i, (name, a))| {
        by_name.iter().skip(i + 1).any(|(other, b)| {
            if name != other {
                return false;
            }
            let shared = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            let last = shared.checked_sub(1).and_then(|k| a.get(k));
            last.is_some_and(|c| !equality(c.1)) && a.len() > shared && b.len() > shared
        })
    })
}

/// Export a filter's BPF through a temporary file.
pub fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "policyc-libseccomp-{}-{}.bpf",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let result = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
        .and_then(|f| ctx.export_bpf(&f).map_err(lib("to export BPF")))
        .and_then(|()| {
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        });
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document with one `read` entry per condition list: `(index, op, value, valueTwo)`.
    fn doc(entries: &[&[(usize, &str, u64, u64)]]) -> LinuxSeccomp {
        let calls: Vec<serde_json::Value> = entries
            .iter()
            .map(|conds| {
                let args: Vec<serde_json::Value> = conds
                    .iter()
                    .map(|(i, op, v, two)| {
                        serde_json::json!({"index": i, "op": op, "value": v, "valueTwo": two})
                    })
                    .collect();
                serde_json::json!({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": args})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": calls,
        }))
        .unwrap()
    }

    #[test]
    fn entries_sharing_a_leading_range_and_differing_after_it_may_hang() {
        let ge = (0, "SCMP_CMP_GE", 1, 0);
        let low = (5, "SCMP_CMP_MASKED_EQ", 1, 0);
        let high = (5, "SCMP_CMP_MASKED_EQ", 1 << 32, 1 << 32);
        assert!(may_hang_libseccomp(&doc(&[&[ge, low], &[ge, high]])));
        let eq = (0, "SCMP_CMP_EQ", 1, 0);
        assert!(!may_hang_libseccomp(&doc(&[&[eq, low], &[eq, high]])));
        assert!(!may_hang_libseccomp(&doc(&[&[ge, low], &[ge]])));
        assert!(!may_hang_libseccomp(&doc(&[&[low], &[high]])));
    }

    #[test]
    fn runc_bpf_exports_a_whole_program() {
        let eq = (0, "SCMP_CMP_EQ", 1, 0);
        let low = (5, "SCMP_CMP_MASKED_EQ", 1, 0);
        let bytes = runc_bpf(&doc(&[&[eq, low]]), 1).unwrap();
        assert_eq!(bytes.len() % 8, 0);
        assert!(!bytes.is_empty());
    }

    #[test]
    fn errno_4095_is_refused() {
        let mut d = doc(&[]);
        assert!(refused_errnos(&d).is_empty());
        d.set_default_errno_ret(Some(4095));
        assert_eq!(refused_errnos(&d), [4095]);
    }
}
