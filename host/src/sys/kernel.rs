//! Thin wrappers over the kernel calls a child makes between fork and exec (the exec
//! sandbox's launcher, the live Landlock probe): namespaces, mounts, loopback, descriptors,
//! no_new_privs. Each returns the `errno` as an `io::Error` (`raw_os_error` gives it back);
//! none allocates, so a child forked from a multithreaded process may call them.

#![expect(
    unsafe_code,
    reason = "raw syscalls with no safe wrapper: prctl, capset, unshare, mount, close_range, ioctl"
)]

use std::ffi::CStr;
use std::io;

fn check(ret: libc::c_long) -> io::Result<()> {
    super::check(ret).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: exec can never gain privileges again.
pub fn no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }.into())
}

/// Give up every capability for good: the bounding and ambient sets emptied, the
/// securebits that would give them back on exec (root's, setuid fix-ups, keep-caps, ambient
/// raise) set and locked, then, with `ids`, the uid and gid switched to them (every set,
/// no supplementary groups), then the effective, permitted and inheritable sets emptied. A
/// program started as root then has no more power over the host than its uid's file
/// ownership: it cannot join another namespace, mount, or bypass file permissions.
pub fn drop_capabilities(ids: Option<(u32, u32)>) -> io::Result<()> {
    // SECBIT_NOROOT, _LOCKED, NO_SETUID_FIXUP, _LOCKED, KEEP_CAPS_LOCKED,
    // NO_CAP_AMBIENT_RAISE, _LOCKED.
    const SECURE: libc::c_ulong = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break; // past the kernel's last capability
            }
            return Err(e);
        }
    }
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECURE, 0, 0, 0) }.into())?;
    // SAFETY: as above.
    check(
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        }
        .into(),
    )?;
    if let Some((uid, gid)) = ids {
        // With SECBIT_NO_SETUID_FIXUP set above, the switch keeps the capabilities the
        // next calls need, and the capset below empties them.
        // SAFETY: setgroups with an empty list (a null pointer is allowed for size 0).
        check(unsafe { libc::setgroups(0, std::ptr::null()) }.into())?;
        // SAFETY: integer arguments only.
        check(unsafe { libc::setresgid(gid, gid, gid) }.into())?;
        // SAFETY: integer arguments only.
        check(unsafe { libc::setresuid(uid, uid, uid) }.into())?;
    }
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: a version 3 header and the two data words it asks for, both outliving the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) })
}

/// Mark every descriptor from 3 up close-on-exec, so none leaks into the command.
pub fn cloexec_from_3() -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) })
}

/// `unshare(2)` with the given `CLONE_NEW*` flags.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare with integer flags only.
    check(unsafe { libc::unshare(flags) }.into())
}

/// Make every mount private to this namespace, so later mounts never propagate out.
pub fn make_mounts_private() -> io::Result<()> {
    // SAFETY: constant NUL-terminated strings; null pointers where the call allows them.
    check(
        unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        }
        .into(),
    )
}

/// Mount a tmpfs at `path` with the mount flags `flags` (`MS_NOSUID`, `MS_NODEV`,
/// `MS_NOEXEC` ...) and `options` (`size=...,mode=...`).
pub fn mount_tmpfs(path: &CStr, flags: libc::c_ulong, options: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated strings that outlive the call.
    check(
        unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                path.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                options.as_ptr().cast(),
            )
        }
        .into(),
    )
}

/// Bring the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket for the ioctl below; closed before returning.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed ifreq is a valid value; the name is NUL-terminated within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for SIOCGIFFLAGS/SIOCSIFFLAGS on `fd`.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &raw mut req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    result
}

/// Write `data` to a file by path with raw calls (used for `/proc/self/uid_map`).
pub fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `data` is valid for `data.len()` bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    if usize::try_from(n).ok() == Some(data.len()) {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The effective user and group ids.
pub fn ids() -> (u32, u32) {
    // SAFETY: getegid cannot fail.
    (super::euid(), unsafe { libc::getegid() })
}
