//! The `bpf_libseccomp` target: a syscalls section (mended to compile), compiled and
//! emitted by the seccomp target. policyc's own BPF programs (one per native arch) and
//! libseccomp's compilation of the emitted `seccomp.json` (built as runc builds it, at
//! both of libseccomp's optimisation levels) run in policyc's BPF interpreter on syscall
//! numbers and argument values near every condition.
//!
//! Proves, for the inputs tried: policyc's program returns exactly what `decide` says
//! (allow, or the deny's action); libseccomp's program allows exactly what policyc's
//! allows and returns the same action; foreign arches and x32 are killed by both (policyc
//! kills the process where libseccomp, as runc leaves it, kills the thread). It runs the
//! programs in an interpreter, not the kernel, and covers the inputs it samples, not every
//! 64-bit argument.
//!
//! Known gaps of libseccomp 2.5.4 (Debian 12) are excused unless [`Options::strict`] is
//! set; `regressions/bpf_libseccomp/` keeps an input for each:
//!
//! - It sometimes emits a program that cannot mean what it was built from: it compares the
//!   accumulator where it holds different fields on different paths (a reload left out), or
//!   compares the architecture with a syscall number (the number never loaded, seen beside
//!   a syscall the architecture lacks, such as `arch_prctl` on aarch64). A disagreement
//!   with such a program (see [`crate::accumulator`]) is not reported.
//! - It refuses `errno 4095`, which policyc accepts, so runc refuses such a document; it is
//!   not compared.
//! - It never returns from adding rules of one shape (see [`may_hang_libseccomp`]), which
//!   policyc's `seccomp.json` can have. Such documents are not given to libseccomp; in
//!   strict mode libseccomp runs on a thread, and a document it has not loaded within
//!   [`HANG_LIMIT`] is reported.

use crate::requests::{materialize, ReqArgModel, ReqSysModel, RequestModel};
use crate::sources::compile_text;
use crate::{Options, Summary};
use arbitrary::Arbitrary;
use oci_spec::runtime::LinuxSeccomp;
use policyc_compiler::ir::{Policy, SyscallRule};
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_compiler::Request;
use policyc_targets::seccomp::bpf::{audit, ret, Insn};
use policyc_targets::seccomp::interp::{run_insns, validate, SeccompData};
use policyc_targets::seccomp::{bpf_artifact, Seccomp, JSON_ARTIFACT};
use policyc_targets::{EmitContext, Target};
use policyc_testkit::libseccomp::{may_hang_libseccomp, refused_errnos, runc_bpf, runc_bpf_within};
use policyc_testkit::policies::{IsolationModel, PolicyModel, SyscallsModel};
use policyc_testkit::seccomp;
use std::collections::BTreeSet;

/// One input of `bpf_libseccomp`.
#[derive(Debug, Clone, Arbitrary)]
pub struct BpfCase {
    pub syscalls: SyscallsModel,
    /// `include runtime_guards`: the stdlib's conditional denies.
    pub include_guards: bool,
    /// Extra syscalls to try, with arguments near their conditions.
    pub probes: Vec<(ReqSysModel, [ReqArgModel; 6])>,
}

/// The native arches and the `seccomp_data.arch` value each program expects.
const NATIVE: [(Arch, u32, u32); 2] = [
    (Arch::X86_64, audit::X86_64, audit::I386),
    (Arch::Aarch64, audit::AARCH64, audit::ARM),
];

/// How long strict mode waits for libseccomp to load a document that may hang it.
pub const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most values tried for one argument on its own, and per condition on it.
const MAX_VALUES: usize = 64;
const PER_CONDITION: usize = 24;
/// Most values per argument in the pairs of the first two conditional arguments.
const MAX_PAIRED: usize = 10;

pub fn check_bpf_libseccomp(case: &BpfCase) -> Result<Summary, String> {
    check_bpf_libseccomp_with(case, Options::default())
}

/// The policy a case stands for: process isolation and its syscalls section, mended.
pub fn policy_model(case: &BpfCase) -> PolicyModel {
    let mut m = PolicyModel::new("fuzzed", IsolationModel::Process);
    m.syscalls = Some(case.syscalls.clone());
    m.include_guards = case.include_guards;
    m.sanitized()
}

pub fn check_bpf_libseccomp_with(case: &BpfCase, opts: Options) -> Result<Summary, String> {
    let text = policy_model(case).source();
    let (_, out) = compile_text(&text);
    if out.diagnostics.has_errors() {
        return Ok(Summary::default());
    }
    let mut total = Summary {
        parsed: 1,
        ..Summary::default()
    };
    for policy in &out.policies {
        let probes: Vec<Request> = case
            .probes
            .iter()
            .take(16)
            .filter_map(|(name, args)| {
                materialize(
                    policy,
                    &RequestModel::Syscall {
                        name: *name,
                        args: *args,
                    },
                )
            })
            .collect();
        let s = check_policy_bpf_with(policy, &probes, opts)
            .map_err(|e| format!("{e}\n--- policy\n{text}"))?;
        total += s;
    }
    Ok(total)
}

/// Compare policyc's programs for `policy` with `decide` and with libseccomp's program for
/// its `seccomp.json`, on samples around every rule and on `probes`.
pub fn check_policy_bpf(policy: &Policy, probes: &[Request]) -> Result<Summary, String> {
    check_policy_bpf_with(policy, probes, Options::default())
}

pub fn check_policy_bpf_with(
    policy: &Policy,
    probes: &[Request],
    opts: Options,
) -> Result<Summary, String> {
    let Ok(emitted) = Seccomp.emit(policy, &EmitContext::default()) else {
        return Ok(Summary::default());
    };
    let artifacts = &emitted.artifacts;
    let json = artifacts
        .get(JSON_ARTIFACT)
        .ok_or_else(|| format!("no {JSON_ARTIFACT}"))?;
    let doc: LinuxSeccomp = serde_json::from_slice(json)
        .map_err(|e| format!("{JSON_ARTIFACT} is not an OCI seccomp document: {e}"))?;
    let mut s = Summary {
        policies: 1,
        emitted: 1,
        ..Summary::default()
    };
    let refused = refused_errnos(&doc);
    if !refused.is_empty() {
        if opts.strict {
            return Err(format!(
                "libseccomp (as runc uses it) refuses errno {refused:?} in this {JSON_ARTIFACT}"
            ));
        }
        return Ok(s);
    }
    let risky = may_hang_libseccomp(&doc);
    if risky && !opts.strict {
        return Ok(s);
    }
    for optimize in [1, 2] {
        let bytes = if risky {
            runc_bpf_within(&doc, optimize, HANG_LIMIT)?.ok_or_else(|| {
                format!(
                    "libseccomp (as runc uses it) has not loaded this {JSON_ARTIFACT} after {HANG_LIMIT:?}:\n{}",
                    String::from_utf8_lossy(json)
                )
            })?
        } else {
            runc_bpf(&doc, optimize)?
        };
        let theirs = validate(&bytes)
            .map_err(|e| format!("libseccomp's program (optimize {optimize}) is invalid: {e:?}"))?;
        let defect = crate::accumulator::defect(&theirs);
        let excused = !opts.strict && defect.is_some();
        let blame = defect.map_or(String::new(), |d| format!("\nlibseccomp's program: {d}"));
        for (arch, native, foreign) in NATIVE {
            let name = bpf_artifact(arch);
            let program = artifacts.get(&name).ok_or_else(|| format!("no {name}"))?;
            let mine = validate(program).map_err(|e| format!("{name} is invalid: {e:?}"))?;
            for (d, bad_arch) in inputs(policy, arch, native, foreign, probes) {
                match compare(policy, arch, &mine, &theirs, &d, bad_arch) {
                    Ok(()) => s.compared += 1,
                    Err(Mismatch::Libseccomp(_)) if excused => {}
                    Err(Mismatch::Libseccomp(e)) => {
                        return Err(format!("{} optimize {optimize}: {e}{blame}", arch.name()))
                    }
                    Err(Mismatch::Policyc(e)) => {
                        return Err(format!("{} optimize {optimize}: {e}", arch.name()))
                    }
                }
            }
        }
    }
    Ok(s)
}

/// Which program is out of line.
enum Mismatch {
    /// policyc's own program fails or disagrees with `decide`.
    Policyc(String),
    /// libseccomp's program fails or disagrees with policyc's.
    Libseccomp(String),
}

fn compare(
    policy: &Policy,
    arch: Arch,
    mine: &[Insn],
    theirs: &[Insn],
    d: &SeccompData,
    bad_arch: bool,
) -> Result<(), Mismatch> {
    let m = run_insns(mine, d)
        .map_err(|e| Mismatch::Policyc(format!("policyc's program fails: {e:?}")))?;
    let t = run_insns(theirs, d)
        .map_err(|e| Mismatch::Libseccomp(format!("libseccomp's program fails: {e:?}")))?;
    let input = format!(
        "nr {:#x} ({:?}) arch {:#x} args {:x?}",
        d.nr,
        syscalls::name(arch, d.nr & !X32_SYSCALL_BIT),
        d.arch,
        d.args
    );
    if bad_arch {
        let killed = |r: u32| r == ret::KILL_PROCESS || r == ret::KILL_THREAD;
        if !killed(m) {
            return Err(Mismatch::Policyc(format!(
                "a foreign-arch or x32 call is not killed by policyc ({m:#x}) for {input}"
            )));
        }
        if !killed(t) {
            return Err(Mismatch::Libseccomp(format!(
                "a foreign-arch or x32 call is not killed by libseccomp ({t:#x}) for {input}"
            )));
        }
        return Ok(());
    }
    let want = seccomp::expected_nr(policy, arch, d.nr, d.args);
    if m != want {
        return Err(Mismatch::Policyc(format!(
            "policyc's program returns {m:#x} where decide says {want:#x} for {input}"
        )));
    }
    if (m == ret::ALLOW) != (t == ret::ALLOW) {
        return Err(Mismatch::Libseccomp(format!(
            "allow/deny differ: policyc {m:#x}, libseccomp {t:#x} for {input}"
        )));
    }
    if m != t {
        return Err(Mismatch::Libseccomp(format!(
            "actions differ: policyc {m:#x}, libseccomp {t:#x} for {input}"
        )));
    }
    Ok(())
}

/// Inputs for one native program: every syscall the policy has a rule for (and each probe)
/// with argument samples, neighbouring and unnamed numbers, and bad-arch inputs (flagged).
fn inputs(
    p: &Policy,
    arch: Arch,
    native: u32,
    foreign: u32,
    probes: &[Request],
) -> Vec<(SeccompData, bool)> {
    let mut out = Vec::new();
    let mut numbers = BTreeSet::from([0u32, 1023, 0x3fff_ffff, u32::MAX]);
    for (name, rule) in &p.syscalls.rules {
        let Some(nr) = syscalls::number(arch, name) else {
            continue;
        };
        numbers.extend([nr, nr.wrapping_add(1)]);
        for args in seccomp::rule_samples(Some(rule), arg_values, MAX_PAIRED) {
            out.push((seccomp::data(native, nr, args), false));
        }
        out.push((seccomp::data(foreign, nr, [0; 6]), true));
        out.push((seccomp::data(0xdead_beef, nr, [0; 6]), true));
        if arch == Arch::X86_64 {
            out.push((seccomp::data(native, nr | X32_SYSCALL_BIT, [0; 6]), true));
        }
    }
    for n in numbers {
        out.push((seccomp::data(native, n, [0; 6]), false));
    }
    for r in probes {
        if let Request::Syscall { name, args } = r {
            if let Some(nr) = syscalls::number(arch, name) {
                out.push((seccomp::data(native, nr, *args), false));
            }
        }
    }
    out
}

/// Interesting values for one argument of `rule`: the first [`PER_CONDITION`] around each
/// condition on it, then the extremes, at most [`MAX_VALUES`] in all.
fn arg_values(rule: &SyscallRule, arg: u8) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for c in seccomp::conditions_on(rule, arg) {
        v.extend(seccomp::condition_values(c).into_iter().take(PER_CONDITION));
    }
    v.extend(seccomp::EXTREMES);
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(*x));
    v.truncate(MAX_VALUES);
    v
}
