//! libseccomp as runc drives it: build the filter runc would build from a `seccomp.json`
//! document and export its BPF. Shared by the differential test and the benchmark.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use std::sync::atomic::{AtomicUsize, Ordering};

/// runc's `getAction`.
pub fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(1) as i32),
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        other => panic!("policyc never writes {other:?}"),
    }
}

/// runc's `getOperator` + `MakeCondition`.
pub fn condition(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    two: Option<u64>,
) -> ScmpArgCompare {
    let op_two = two.unwrap_or(0);
    let (op, datum) = match op {
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), op_two),
    };
    ScmpArgCompare::new(u32::try_from(index).unwrap(), op, datum)
}

pub fn scmp_arch(a: OciArch) -> ScmpArch {
    match a {
        OciArch::ScmpArchX86_64 => ScmpArch::X8664,
        OciArch::ScmpArchAarch64 => ScmpArch::Aarch64,
        other => panic!("policyc never lists {other:?}"),
    }
}

/// The filter runc would build from this document.
pub fn runc_filter(doc: &LinuxSeccomp, optimize: u32) -> ScmpFilterContext {
    let default = action(doc.default_action(), doc.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).unwrap();
    for a in doc.architectures().as_ref().unwrap() {
        ctx.add_arch(scmp_arch(*a)).unwrap();
    }
    let calls = doc.syscalls().as_ref().unwrap();
    if calls.iter().map(|c| c.names().len()).sum::<usize>() > 32 {
        ctx.set_ctl_optimize(optimize).unwrap();
    }
    ctx.set_ctl_nnp(false).unwrap();
    for call in calls {
        let act = action(call.action(), call.errno_ret());
        if act == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = call
            .args()
            .iter()
            .flatten()
            .map(|a| condition(a.index(), a.op(), a.value(), a.value_two()))
            .collect();
        let mut per_index = [0usize; 6];
        for a in call.args().iter().flatten() {
            per_index[a.index()] += 1;
        }
        for name in call.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if per_index.iter().any(|n| *n > 1) {
                for c in &conds {
                    ctx.add_rule_conditional(act, sys, std::slice::from_ref(c))
                        .unwrap();
                }
            } else {
                ctx.add_rule_conditional(act, sys, &conds).unwrap();
            }
        }
    }
    ctx
}

/// Export a filter's BPF through a temporary file.
pub fn export(ctx: &ScmpFilterContext) -> Vec<u8> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "policyc-seccomp-{}-{}.bpf",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    {
        let f = std::fs::File::create(&path).unwrap();
        ctx.export_bpf(&f).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}
