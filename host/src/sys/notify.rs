//! The seccomp calls of the live seccomp layer besides installing a filter (that is
//! [`super::seccomp`]): the user-notification listener's supervisor side, `pidfd_getfd`,
//! and the probed syscall itself.

#![expect(
    unsafe_code,
    reason = "pidfd and ioctl calls and a raw syscall have no safe wrapper"
)]

use super::errno;
use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};

/// Make syscall `nr` with `args`: the return value and the errno (0 unless it returned -1).
pub fn probe_syscall(nr: libc::c_long, args: [u64; 6]) -> (i64, i32) {
    let [a0, a1, a2, a3, a4, a5] = args;
    // SAFETY: the kernel never runs this call: the oracle filter installed first turns it
    // into a user notification (answered with an error, never with "continue"), and any
    // filter action of higher precedence refuses or kills instead. Arguments are plain
    // integers either way.
    let r = unsafe { libc::syscall(nr, a0, a1, a2, a3, a4, a5) };
    (r, if r == -1 { errno() } else { 0 })
}

/// `pidfd_open(pid)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    super::adopt(r)
}

/// `pidfd_getfd(pidfd, fd)`: a copy of another process's descriptor.
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    super::adopt(r)
}

/// A pending notification: its id, the calling thread and the syscall it made.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `SECCOMP_IOCTL_NOTIF_RECV` on a listener.
pub fn receive(listener: &OwnedFd) -> io::Result<Notification> {
    // SAFETY: an all-zero seccomp_notif is valid (and the kernel requires it zeroed).
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is the seccomp_notif that NOTIF_RECV fills in.
    unsafe { notif_ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) }?;
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        instruction_pointer: n.data.instruction_pointer,
        args: n.data.args,
    })
}

/// How to answer a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Fail the call with this errno; it is not run.
    Fail(i32),
    /// Let the kernel run the call (only for the probe's own setup calls).
    Continue,
}

/// `SECCOMP_IOCTL_NOTIF_SEND`.
pub fn answer(listener: &OwnedFd, id: u64, a: Answer) -> io::Result<()> {
    let (error, flags) = match a {
        Answer::Fail(e) => (-e, 0),
        Answer::Continue => (0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error,
        flags,
    };
    // SAFETY: `resp` is the seccomp_notif_resp that NOTIF_SEND reads.
    unsafe { notif_ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) }
}

/// `ioctl(listener, request, arg)`: the errno when it fails.
///
/// # Safety
///
/// `T` must be the structure `request` reads or fills in.
unsafe fn notif_ioctl<T>(listener: &OwnedFd, request: libc::Ioctl, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller passes the structure `request` expects, valid for the call.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), request, std::ptr::from_mut(arg)) };
    super::check(r.into()).map(drop)
}

/// What waiting on a listener saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A notification is pending.
    Notification,
    /// No process uses the filter any more: no notification will come.
    Hangup,
    /// Nothing within the timeout.
    Timeout,
}

/// Wait up to `timeout` for a notification on `listener`.
pub fn wait(listener: &OwnedFd, timeout: std::time::Duration) -> io::Result<Ready> {
    let mut p = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&raw mut p, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(Ready::Timeout)
        } else {
            Err(e)
        };
    }
    Ok(if n == 0 {
        Ready::Timeout
    } else if p.revents & libc::POLLIN != 0 {
        Ready::Notification
    } else {
        Ready::Hangup
    })
}

/// Whether this kernel has seccomp user notification (`SECCOMP_RET_USER_NOTIF`, Linux
/// 5.0): the `SECCOMP_GET_ACTION_AVAIL` query for it.
pub fn user_notification_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: the query only reads the u32 it is given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &raw const action,
        )
    };
    r == 0
}
