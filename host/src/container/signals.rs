//! Running runc in the foreground while policyc stays alive to clean up.
//!
//! While runc runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT do not end policyc: a handler
//! records them. A signal another process sent to policyc alone (`kill`) is passed on to
//! runc, which passes it to the container; one the terminal sent (Ctrl-C) already reached
//! runc, which is in the same process group, and is not sent twice. A program still
//! running [`GRACE`] after a passed-on signal is killed (SIGKILL through runc): as the
//! container's PID 1 it never sees a signal it has no handler for. When runc ends, the
//! previous handlers come back, and the caller deletes the container and the bundle.

#![expect(
    unsafe_code,
    reason = "sigaction, waitpid and kill have no safe wrapper in std"
)]

use std::io;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signals policyc survives while runc runs.
const HANDLED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The last signal to pass on (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO; reading si_code is
    // async-signal-safe. Only signals sent by a process (si_code <= 0) are passed on.
    let sent_by_process = !info.is_null() && unsafe { (*info).si_code } <= 0;
    if sent_by_process {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

/// The previous dispositions, restored on drop.
struct Handlers {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl Handlers {
    fn install() -> io::Result<Handlers> {
        let mut old = Vec::new();
        for sig in HANDLED {
            // SAFETY: a zeroed sigaction is a valid value; the handler only touches an
            // atomic, and SA_RESTART is left out so waitpid returns EINTR.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                record;
            act.sa_sigaction = handler as usize;
            act.sa_flags = libc::SA_SIGINFO;
            // SAFETY: `act.sa_mask` is a valid sigset to clear.
            unsafe { libc::sigemptyset(&mut act.sa_mask) };
            // SAFETY: as above.
            let mut prev: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are valid for the call.
            if unsafe { libc::sigaction(sig, &act, &mut prev) } != 0 {
                return Err(io::Error::last_os_error());
            }
            old.push((sig, prev));
        }
        Ok(Handlers { old })
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for (sig, prev) in &self.old {
            // SAFETY: restoring a disposition sigaction returned earlier.
            unsafe { libc::sigaction(*sig, prev, std::ptr::null_mut()) };
        }
    }
}

/// How long a program may take to end after a passed-on signal before it is killed: in
/// the container it is PID 1, and the kernel drops signals PID 1 has no handler for.
pub const GRACE: Duration = Duration::from_secs(3);

/// Start `cmd` and wait for it, passing on signals sent to policyc; when the program has
/// not ended [`GRACE`] after one, `kill` is called (once). Its exit status.
pub fn run_forwarding(cmd: &mut Command, kill: impl Fn()) -> io::Result<ExitStatus> {
    use std::os::unix::process::ExitStatusExt as _;
    PENDING.store(0, Ordering::SeqCst);
    let handlers = Handlers::install()?;
    let child = cmd.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    let mut deadline: Option<Instant> = None;
    loop {
        let flags = if deadline.is_some() { libc::WNOHANG } else { 0 };
        // SAFETY: waiting for our own child; `status` is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            break;
        }
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        let sig = PENDING.swap(0, Ordering::SeqCst);
        if sig != 0 {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, sig) };
            deadline.get_or_insert_with(|| Instant::now() + GRACE);
        }
        match deadline {
            Some(d) if Instant::now() >= d => {
                kill();
                deadline = None;
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
            None => {}
        }
    }
    drop(handlers);
    Ok(ExitStatus::from_raw(status))
}
