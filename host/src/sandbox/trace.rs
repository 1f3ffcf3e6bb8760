//! `policyc exec --trace-denials`: every syscall the seccomp filter refuses, reported as it
//! happens.
//!
//! The program runs under its policy's filter with each `ret ERRNO|e` turned into `ret
//! USER_NOTIF` ([`Program::errno_as_notification`]); kill and allow returns are unchanged.
//! The child installs it with `SECCOMP_FILTER_FLAG_NEW_LISTENER`, puts its pid and the
//! listener's descriptor in a shared page, and spins (no syscall) until the launcher has
//! taken a copy with `pidfd_getfd`. The launcher's tracer thread then answers every
//! notification with exactly the errno the policy's own program gives the call (it runs the
//! emitted bytes through the BPF interpreter), never with "continue", and reports it. When
//! the launcher goes away the kernel fails every notified call with `ENOSYS`: the program
//! is never let through.

use crate::sys::notify::{self, Answer, Ready};
use crate::sys::seccomp::Program;
use crate::sys::SharedPage;
use policyc_targets::seccomp::bpf::ret;
use policyc_targets::seccomp::interp::{self, SeccompData};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One call the filter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallDenial {
    /// The thread that made it.
    pub pid: u32,
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    pub args: [u64; 6],
    /// The errno the call failed with (0: it "succeeded" without running).
    pub errno: i32,
}

/// Where denials go.
pub type Report = Arc<dyn Fn(&SyscallDenial) + Send + Sync>;

/// Ask the launcher to trace the filter's denials.
#[derive(Clone)]
pub struct Trace {
    pub report: Report,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

/// Acknowledgement states in [`crate::sys::Shared::phase`].
const TAKEN: u32 = 1;
const FAILED: u32 = 2;
/// How long the launcher waits for the child's listener.
const HANDOVER: Duration = Duration::from_secs(10);
/// How many spins the child waits for the launcher (a backstop; the launcher answers
/// within [`HANDOVER`]).
const SPINS: u64 = 1 << 36;

/// The child's half: install `notifying` with a listener and hand it over. Makes no
/// syscall after the filter is installed.
pub(super) fn install_in_child(page: &SharedPage, notifying: &Program) -> io::Result<()> {
    use std::os::fd::IntoRawFd as _;
    let shared = page.get();
    shared.pid.store(
        i32::try_from(std::process::id()).unwrap_or(0),
        Ordering::SeqCst,
    );
    let listener = crate::sys::seccomp::install(notifying, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // Close-on-exec: the program never holds its own listener.
    shared
        .listener
        .store(listener.into_raw_fd(), Ordering::SeqCst);
    for _ in 0..SPINS {
        match shared.phase.load(Ordering::SeqCst) {
            TAKEN => return Ok(()),
            FAILED => break,
            _ => std::hint::spin_loop(),
        }
    }
    Err(io::Error::other(
        "the launcher could not take the seccomp listener",
    ))
}

/// The launcher's half: a thread that takes the listener and answers notifications until
/// [`Tracer::stop`].
#[derive(Debug)]
pub struct Tracer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tracer {
    /// Start the thread before the fork. `original` is the policy's own program (the
    /// bytes whose verdicts the answers repeat).
    pub fn start(page: Arc<SharedPage>, original: Vec<u8>, report: Report) -> io::Result<Tracer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("policyc-trace".into())
            .spawn(move || {
                if let Some(listener) = take_listener(&page, &flag) {
                    serve(&listener, &original, &report, &flag);
                }
            })?;
        Ok(Tracer {
            stop,
            thread: Some(thread),
        })
    }

    /// Answer what is pending, then end the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Wait for the child's listener and copy it; tell the child either way.
fn take_listener(page: &SharedPage, stop: &AtomicBool) -> Option<OwnedFd> {
    let shared = page.get();
    let deadline = Instant::now() + HANDOVER;
    while shared.listener.load(Ordering::SeqCst) == 0 {
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            shared.phase.store(FAILED, Ordering::SeqCst);
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let pid = shared.pid.load(Ordering::SeqCst);
    let fd = shared.listener.load(Ordering::SeqCst);
    let copy = notify::pidfd_open(pid).and_then(|p| notify::pidfd_getfd(&p, fd));
    shared
        .phase
        .store(if copy.is_ok() { TAKEN } else { FAILED }, Ordering::SeqCst);
    copy.ok()
}

fn serve(listener: &OwnedFd, original: &[u8], report: &Report, stop: &AtomicBool) {
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let timeout = if stopping {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        match notify::wait(listener, timeout) {
            Ok(Ready::Notification) => handle(listener, original, report),
            Ok(Ready::Timeout) if !stopping => {}
            Ok(_) | Err(_) => return,
        }
    }
}

fn handle(listener: &OwnedFd, original: &[u8], report: &Report) {
    // The caller may be gone already (ENOENT): nothing to answer.
    let Ok(n) = notify::receive(listener) else {
        return;
    };
    let nr = u32::from_ne_bytes(n.nr.to_ne_bytes());
    let errno = verdict_errno(
        original,
        &SeccompData {
            nr,
            arch: n.arch,
            instruction_pointer: n.instruction_pointer,
            args: n.args,
        },
    );
    if notify::answer(listener, n.id, Answer::Fail(errno)).is_ok() {
        report(&SyscallDenial {
            pid: n.pid,
            nr,
            arch: n.arch,
            args: n.args,
            errno,
        });
    }
}

/// The errno the policy's program gives a call; `EPERM` for anything but an errno
/// return (which a notified call cannot have).
fn verdict_errno(original: &[u8], d: &SeccompData) -> i32 {
    match interp::run(original, d) {
        Ok(r) if r & ret::ACTION_FULL == ret::ERRNO => {
            i32::try_from(r & ret::DATA).unwrap_or(libc::EPERM)
        }
        _ => libc::EPERM,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use policyc_targets::seccomp::bpf::{self, Insn};

    #[test]
    fn errno_returns_become_notifications_and_answers_repeat_the_errno() {
        // nr == 1 -> ERRNO(13); else ALLOW.
        let insns = [
            Insn::stmt(bpf::LD_W_ABS, bpf::data::NR),
            Insn {
                code: bpf::JEQ_K,
                jt: 0,
                jf: 1,
                k: 1,
            },
            Insn::stmt(bpf::RET_K, ret::ERRNO | 13),
            Insn::stmt(bpf::RET_K, ret::ALLOW),
        ];
        let bytes = bpf::encode(&insns);
        let p = Program::parse(&bytes).unwrap();
        let n = p.errno_as_notification();
        let d = |nr| SeccompData {
            nr,
            arch: bpf::audit::X86_64,
            instruction_pointer: 0,
            args: [0; 6],
        };
        assert_eq!(verdict_errno(&bytes, &d(1)), 13);
        assert_eq!(
            verdict_errno(&bytes, &d(2)),
            libc::EPERM,
            "allowed: not notified"
        );
        let rets: Vec<u32> = bpf::decode(&n.to_bytes())
            .unwrap()
            .iter()
            .filter(|i| i.code == bpf::RET_K)
            .map(|i| i.k)
            .collect();
        assert_eq!(rets, [ret::USER_NOTIF, ret::ALLOW]);
        assert_eq!(bpf::decode(&n.to_bytes()).unwrap()[..2], insns[..2]);
    }
}
