//! The seccomp layer: the emitted `seccomp.x86_64.bpf` evaluated by the kernel, without
//! ever running a syscall the filter allows.
//!
//! For each syscall request a probe process is forked. It sets no_new_privs and installs
//! two filters on itself: first an oracle that returns `SECCOMP_RET_USER_NOTIF` for the
//! probed syscall number and `ALLOW` for everything else (with a listener,
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER`), then the policy's program. Then it makes the call.
//! The kernel runs every filter and takes the action of highest precedence (KILL > TRAP >
//! ERRNO > USER_NOTIF > TRACE > LOG > ALLOW), so:
//!
//! - the policy allows the call: the oracle's notification wins, and the supervisor (this
//!   process, which holds a copy of the listener taken with `pidfd_getfd` and is under no
//!   filter) fails the call with `EHWPOISON` without running it: `Allow`;
//! - the policy returns `ERRNO(e)`: the call fails with `e` and was never run: `Deny`;
//! - the policy kills: the probe dies of `SIGSYS`: `Deny`.
//!
//! The probe and the supervisor share a page of atomics: the probe's phase, the listener's
//! descriptor number, and the call's result. The probe's own setup calls that happen to be
//! the probed syscall (installing the policy's filter when `seccomp` is probed) are let
//! through with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`; only the call made in the probe phase
//! is answered with the error.

use super::{LayerStatus, LiveLayer, LiveRun, Seen};
use crate::sys::notify::{self, Answer};
use crate::sys::seccomp::{self as filter, Program};
use crate::sys::{self, kernel, Ended, Fork, Shared, SharedPage};
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::Request;
use policyc_targets::seccomp::{bpf, bpf_artifact};
use std::os::fd::{AsFd as _, IntoRawFd, OwnedFd};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// The probe's phases, in the shared page.
const START: u32 = 0;
const LISTENING: u32 = 1;
const PROBING: u32 = 2;
const DONE: u32 = 3;
const NO_NEW_PRIVS_FAILED: u32 = 10;
const ORACLE_FAILED: u32 = 11;
const POLICY_FAILED: u32 = 12;

/// The errno the supervisor answers an allowed call with: one no filter of policyc returns
/// and the probed calls never produce on their own (they never run).
const ANSWER: i32 = libc::EHWPOISON;

/// How long one probe may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one probe came to.
enum Probed {
    Seen(Seen),
    /// The machine cannot run the probe at all.
    Unavailable(String),
    /// The artifact was refused.
    Failed(String),
}

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let n = layer.requests.len();
    if !cfg!(target_arch = "x86_64") {
        let why = "the live seccomp probe runs on x86_64 only".to_string();
        return LiveRun::not_run(layer.name, LayerStatus::Unavailable(why), n);
    }
    let file = bpf_artifact(Arch::X86_64);
    let Some(program) = layer
        .artifacts
        .get(&file)
        .and_then(|b| Program::from_bytes(b))
    else {
        let why = format!("`{file}` is missing or not a loadable program");
        return LiveRun::not_run(layer.name, LayerStatus::Failed(why), n);
    };
    let mut seen = Vec::with_capacity(n);
    for r in layer.requests {
        let Request::Syscall { name, args } = r else {
            seen.push(Seen::not_mediated("seccomp sees only syscalls"));
            continue;
        };
        match probe_named(&program, name, *args) {
            Probed::Seen(s) => seen.push(s),
            Probed::Unavailable(why) => {
                return LiveRun::not_run(layer.name, LayerStatus::Unavailable(why), n)
            }
            Probed::Failed(why) => {
                return LiveRun::not_run(layer.name, LayerStatus::Failed(why), n)
            }
        }
    }
    LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, Vec::new())
}

fn probe_named(program: &Program, name: &str, args: [u64; 6]) -> Probed {
    let Some(nr) = syscalls::number(Arch::X86_64, name) else {
        return Probed::Seen(Seen::unverifiable(format!(
            "`{name}` has no number on x86_64"
        )));
    };
    let Some(oracle) = oracle(nr) else {
        return Probed::Failed("the oracle filter does not assemble".to_string());
    };
    match probe(program, &oracle, nr, args) {
        Ok(o) => o,
        Err(e) => Probed::Unavailable(format!("cannot start a probe process: {e}")),
    }
}

/// `USER_NOTIF` for syscall `nr` of the native ABI, `ALLOW` for everything else.
fn oracle(nr: u32) -> Option<Program> {
    use bpf::{data, ret, Insn};
    let jeq = |k: u32, jf: u8| Insn {
        code: bpf::JEQ_K,
        jt: 0,
        jf,
        k,
    };
    Program::from_insns(&[
        Insn::stmt(bpf::LD_W_ABS, data::ARCH),
        jeq(bpf::audit::X86_64, 3),
        Insn::stmt(bpf::LD_W_ABS, data::NR),
        jeq(nr, 1),
        Insn::stmt(bpf::RET_K, ret::USER_NOTIF),
        Insn::stmt(bpf::RET_K, ret::ALLOW),
    ])
}

fn probe(program: &Program, oracle: &Program, nr: u32, args: [u64; 6]) -> std::io::Result<Probed> {
    let page = SharedPage::new()?;
    let shared = page.get();
    match sys::fork()? {
        Fork::Child => in_probe(shared, oracle, program, libc::c_long::from(nr), args),
        Fork::Parent(pid) => Ok(supervise(shared, pid, nr, args)),
    }
}

/// The probe process. Makes only raw calls and atomic stores; never returns.
fn in_probe(
    shared: &Shared,
    oracle: &Program,
    program: &Program,
    nr: libc::c_long,
    args: [u64; 6],
) -> ! {
    sys::die_with_parent();
    if let Err(e) = kernel::no_new_privs() {
        give_up(shared, NO_NEW_PRIVS_FAILED, e)
    }
    // The listener stays open in the probe until it ends: the supervisor takes a copy.
    match filter::install(oracle, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER) {
        Ok(fd) => shared
            .listener
            .store(fd.map_or(-1, IntoRawFd::into_raw_fd), SeqCst),
        Err(e) => give_up(shared, ORACLE_FAILED, e),
    }
    shared.phase.store(LISTENING, SeqCst);
    if let Err(e) = filter::install(program, 0) {
        give_up(shared, POLICY_FAILED, e)
    }
    shared.phase.store(PROBING, SeqCst);
    let (ret, errno) = notify::probe_syscall(nr, args);
    shared.ret.store(ret, SeqCst);
    shared.errno.store(errno, SeqCst);
    shared.phase.store(DONE, SeqCst);
    sys::exit_now(0)
}

fn give_up(shared: &Shared, phase: u32, e: std::io::Error) -> ! {
    shared
        .setup_errno
        .store(e.raw_os_error().unwrap_or(0), SeqCst);
    shared.phase.store(phase, SeqCst);
    sys::exit_now(1)
}

/// What the supervisor saw of the probed call.
#[derive(Debug, Default)]
struct Watch {
    listener: Option<OwnedFd>,
    /// The arguments of the probed call, when its notification arrived.
    notified: Option<[u64; 6]>,
}

/// Take the probe's listener, answer its notifications, and wait for its end.
fn supervise(shared: &Shared, pid: libc::pid_t, nr: u32, args: [u64; 6]) -> Probed {
    let pidfd = match notify::pidfd_open(pid) {
        Ok(p) => p,
        Err(e) => {
            sys::kill_and_reap(pid);
            return Probed::Unavailable(format!("pidfd_open: {e}"));
        }
    };
    let deadline = Instant::now() + TIMEOUT;
    let mut w = Watch::default();
    loop {
        if let Ok(Some(end)) = sys::try_wait(pid) {
            return conclude(shared, Some(end), &w, args);
        }
        let phase = shared.phase.load(SeqCst);
        if phase == DONE {
            let end = sys::kill_and_reap(pid);
            return conclude(shared, end, &w, args);
        }
        if w.listener.is_none() && (LISTENING..=DONE).contains(&phase) {
            match notify::pidfd_getfd(&pidfd, shared.listener.load(SeqCst)) {
                Ok(l) => w.listener = Some(l),
                // The probe ended meanwhile; its end tells the rest.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    sys::kill_and_reap(pid);
                    return Probed::Unavailable(format!(
                        "cannot take the probe's listener with pidfd_getfd: {e}"
                    ));
                }
            }
        }
        match &w.listener {
            Some(l) => {
                if sys::poll_readable(l.as_fd(), Duration::from_millis(10)).unwrap_or(false) {
                    w.notified = w.notified.or(handle(l, shared, pid, nr));
                }
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
        if Instant::now() > deadline {
            sys::kill_and_reap(pid);
            return Probed::Seen(Seen::unverifiable(
                "the probe did not finish in time (no notification, errno or signal)",
            ));
        }
    }
}

/// Answer one notification; returns the arguments when it was the probed call.
fn handle(l: &OwnedFd, shared: &Shared, pid: libc::pid_t, nr: u32) -> Option<[u64; 6]> {
    let n = notify::receive(l).ok()?;
    let probed = shared.phase.load(SeqCst) == PROBING
        && i64::from(n.nr) == i64::from(nr)
        && i64::from(n.pid) == i64::from(pid);
    let a = if probed {
        Answer::Fail(ANSWER)
    } else {
        Answer::Continue
    };
    let sent = notify::answer(l, n.id, a).is_ok();
    (probed && sent).then_some(n.args)
}

/// The verdict from the probe's phase, result and end.
fn conclude(shared: &Shared, end: Option<Ended>, w: &Watch, args: [u64; 6]) -> Probed {
    let errno = shared.errno.load(SeqCst);
    let ret = shared.ret.load(SeqCst);
    let setup = shared.setup_errno.load(SeqCst);
    let seen = match shared.phase.load(SeqCst) {
        DONE => done(w.notified, ret, errno, args),
        PROBING => match end {
            Some(Ended::Signaled(libc::SIGSYS)) => Seen::deny("killed by SIGSYS"),
            other => Seen::unverifiable(format!("the probe ended during the call: {other:?}")),
        },
        NO_NEW_PRIVS_FAILED => {
            return Probed::Unavailable(format!("no_new_privs: {}", super::errno::name(setup)))
        }
        ORACLE_FAILED => {
            return Probed::Unavailable(format!(
                "this kernel refuses a user-notification filter: {}",
                super::errno::name(setup)
            ))
        }
        POLICY_FAILED => {
            return Probed::Failed(format!(
                "the kernel refuses the program: {}",
                super::errno::name(setup)
            ))
        }
        START | LISTENING => {
            Seen::unverifiable(format!("the probe ended before the call: {end:?}"))
        }
        p => Seen::unverifiable(format!("the probe reached an unknown phase {p}")),
    };
    Probed::Seen(seen)
}

/// The call returned: notified and failed by the supervisor (allowed), or refused by the
/// policy's filter.
fn done(notified: Option<[u64; 6]>, ret: i64, errno: i32, args: [u64; 6]) -> Seen {
    use super::errno::name;
    match notified {
        Some(seen) if seen != args => Seen::unverifiable(format!(
            "the notification carried other arguments ({seen:?}) than the call ({args:?})"
        )),
        Some(_) if ret == -1 && errno == ANSWER => Seen::allow(
            "the filter allowed it: the supervisor was notified and failed the call unrun",
        ),
        Some(_) => Seen::unverifiable(format!(
            "notified, but the call returned {ret} ({})",
            name(errno)
        )),
        None if ret == -1 => Seen::deny(format!("errno {}", name(errno))),
        None => Seen::deny(format!(
            "the filter answered {ret} without running the call"
        )),
    }
}
