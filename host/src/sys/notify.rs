//! The seccomp calls of the live seccomp layer: installing a filter on the calling thread,
//! the user-notification listener and its supervisor's side, `pidfd_getfd`, and the probed
//! syscall itself.

#![expect(
    unsafe_code,
    reason = "seccomp, pidfd and ioctl calls and a raw syscall have no safe wrapper"
)]

use super::errno;
use policyc_targets::seccomp::bpf;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

/// A classic-BPF program ready for `seccomp(2)`.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<libc::sock_filter>,
    len: u16,
}

impl Program {
    /// Decode raw `struct sock_filter` bytes; `None` when they are not a loadable program
    /// (empty, not whole instructions, or longer than the kernel takes).
    pub fn from_bytes(bytes: &[u8]) -> Option<Program> {
        let insns: Vec<libc::sock_filter> = bpf::decode(bytes)?
            .into_iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let len = u16::try_from(insns.len()).ok()?;
        (len > 0 && insns.len() <= bpf::BPF_MAXINSNS).then_some(Program { insns, len })
    }

    pub fn from_insns(insns: &[bpf::Insn]) -> Option<Program> {
        Program::from_bytes(&bpf::encode(insns))
    }
}

/// Install a filter on the calling thread only; returns what `seccomp(2)` returned (the
/// listener's descriptor with `SECCOMP_FILTER_FLAG_NEW_LISTENER`) or the errno. Allocates
/// nothing.
pub fn install(p: &Program, flags: libc::c_ulong) -> Result<i32, i32> {
    let prog = libc::sock_fprog {
        len: p.len,
        filter: p.insns.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `p.insns` (`p.len` instructions), which outlive the call; the
    // kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const prog,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(i32::try_from(r).unwrap_or(-1))
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`, which an unprivileged filter needs.
pub fn no_new_privs() -> Result<(), i32> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

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
    owned(r)
}

/// `pidfd_getfd(pidfd, fd)`: a copy of another process's descriptor.
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    owned(r)
}

fn owned(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
