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
    pub args: [u64; 6],
}

/// `SECCOMP_IOCTL_NOTIF_RECV` on a listener.
pub fn receive(listener: &OwnedFd) -> io::Result<Notification> {
    // SAFETY: an all-zero seccomp_notif is valid (and the kernel requires it zeroed).
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a seccomp_notif the kernel fills in.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &raw mut n,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
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
    // SAFETY: `resp` is a valid seccomp_notif_resp for the duration of the call.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &raw mut resp,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
