//! Installing a classic-BPF seccomp filter: policyc's one `seccomp(2)` call. The exec
//! sandbox, the live seccomp probe, the live tests and the cost benchmark all install
//! through [`install`].

#![expect(unsafe_code, reason = "seccomp(2) has no safe wrapper")]

use policyc_targets::seccomp::bpf;
use std::io;
use std::os::fd::OwnedFd;

/// A classic-BPF program ready for `seccomp(2)`, decoded before any fork so that
/// installing it allocates nothing.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<libc::sock_filter>,
    len: u16,
}

impl Program {
    /// Decode raw `struct sock_filter` bytes. Fails as `seccomp(2)` would on bytes that are
    /// not a program: `EINVAL` when they are empty or not whole instructions, `E2BIG` when
    /// the count does not fit the length field. A longer program than the kernel takes
    /// ([`bpf::BPF_MAXINSNS`]) is left for the kernel to refuse.
    pub fn parse(bytes: &[u8]) -> io::Result<Program> {
        let insns: Vec<libc::sock_filter> = bpf::decode(bytes)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?
            .into_iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        if insns.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let len =
            u16::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        Ok(Program { insns, len })
    }

    /// Decode raw `struct sock_filter` bytes; `None` when they are not a loadable program
    /// (empty, not whole instructions, or longer than the kernel takes).
    pub fn from_bytes(bytes: &[u8]) -> Option<Program> {
        Program::parse(bytes)
            .ok()
            .filter(|p| p.insns.len() <= bpf::BPF_MAXINSNS)
    }

    /// The same program, but every `ret ERRNO|e` becomes `ret USER_NOTIF`: the calls the
    /// program refuses with an errno are handed to the listener instead, which must answer
    /// each with the errno the original program gives it (`policyc exec --trace-denials`).
    /// Kill and allow returns are unchanged.
    #[must_use]
    pub fn errno_as_notification(&self) -> Program {
        let insns = self
            .insns
            .iter()
            .map(|i| {
                let errno = i.code == bpf::RET_K && i.k & bpf::ret::ACTION_FULL == bpf::ret::ERRNO;
                libc::sock_filter {
                    k: if errno { bpf::ret::USER_NOTIF } else { i.k },
                    ..*i
                }
            })
            .collect();
        Program {
            insns,
            len: self.len,
        }
    }

    /// The program's raw `struct sock_filter` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let insns: Vec<bpf::Insn> = self
            .insns
            .iter()
            .map(|i| bpf::Insn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        bpf::encode(&insns)
    }

    /// Assemble instructions; `None` when they are not a loadable program.
    pub fn from_insns(insns: &[bpf::Insn]) -> Option<Program> {
        Program::from_bytes(&bpf::encode(insns))
    }
}

/// Install `program` with `seccomp(SECCOMP_SET_MODE_FILTER, flags)`. The caller has set
/// no_new_privs (or has `CAP_SYS_ADMIN`).
///
/// With `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags`, returns the user-notification
/// listener the kernel made; otherwise `None`. With `SECCOMP_FILTER_FLAG_TSYNC`, a thread
/// that could not take the filter (the kernel returns its id) fails with `ESRCH`, as
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH` would have it. Allocates nothing, so a forked child
/// may call it.
pub fn install(program: &Program, flags: libc::c_ulong) -> io::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: program.len,
        filter: program.insns.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program.insns` (`program.len` instructions), which outlive
    // the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const prog,
        )
    };
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        return super::adopt(r).map(Some);
    }
    if super::check(r)? > 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(None)
}
