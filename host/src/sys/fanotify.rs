//! fanotify, for the writes `audit { writes }` records: a group that reports directory
//! entry events (create, delete, rename) and modifications with the parent folder's file
//! handle and the entry's name (`FAN_REPORT_DFID_NAME`), filesystem-wide marks, reading
//! and decoding the events (safe byte parsing, see [`parse`]), and turning a folder's
//! handle back into a path (`open_by_handle_at`).
//!
//! Everything here needs `CAP_SYS_ADMIN` (and `open_by_handle_at` `CAP_DAC_READ_SEARCH`).

#![expect(
    unsafe_code,
    reason = "fanotify, open_by_handle_at, statfs and waitid have no safe wrapper"
)]

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::path::PathBuf;

/// The events a write watch asks for: entries created, deleted and renamed (folders too),
/// and files modified (each `write`, truncate).
pub const WRITE_EVENTS: u64 =
    libc::FAN_CREATE | libc::FAN_DELETE | libc::FAN_RENAME | libc::FAN_MODIFY | libc::FAN_ONDIR;

/// `fanotify_init` for a notification-only, non-blocking group reporting folder handles
/// and names. `EPERM` without `CAP_SYS_ADMIN`; `EINVAL` on a kernel without
/// `FAN_REPORT_DFID_NAME` (before 5.9).
pub fn init() -> io::Result<OwnedFd> {
    let flags =
        libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK | libc::FAN_REPORT_DFID_NAME;
    let event_flags =
        u32::try_from(libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC).unwrap_or_default();
    // SAFETY: fanotify_init with integer arguments.
    let r = unsafe { libc::fanotify_init(flags, event_flags) };
    super::adopt(libc::c_long::from(r))
}

/// Mark the whole file system holding `path` for `mask`.
pub fn mark_filesystem(group: &OwnedFd, path: &CStr, mask: u64) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let r = unsafe {
        libc::fanotify_mark(
            group.as_raw_fd(),
            libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
            mask,
            libc::AT_FDCWD,
            path.as_ptr(),
        )
    };
    super::check(libc::c_long::from(r)).map(drop)
}

/// Read what is queued into `buf`: the bytes read, 0 when nothing is.
pub fn read(group: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let r = unsafe { libc::read(group.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    match super::check(libc::c_long::try_from(r).unwrap_or(-1)) {
        Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(0),
        Err(e) => Err(e),
    }
}

/// A file handle as fanotify reports it: the file system's id and the handle's bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Handle {
    pub fsid: [i32; 2],
    pub handle_type: i32,
    pub bytes: Vec<u8>,
}

/// Which entry an info record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The entry the event is about.
    Entry,
    /// A rename's old entry.
    Old,
    /// A rename's new entry.
    New,
}

/// A folder (by handle) and a name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub role: Role,
    pub dir: Handle,
    pub name: OsString,
}

/// One event: its mask, the process that caused it, and the entries it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub mask: u64,
    pub pid: i32,
    pub names: Vec<Named>,
}

/// The length of `fanotify_event_metadata`.
const METADATA: usize = 24;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Decode the events in `buf` (what [`read`] returned); a malformed tail is dropped.
pub fn parse(buf: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut at = 0usize;
    while let Some(event) = buf.get(at..) {
        let Some(len) = u32_at(event, 0).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if len < METADATA || len > event.len() {
            break;
        }
        let (Some(meta_len), Some(mask), Some(pid)) =
            (u16_at(event, 6), u64_at(event, 8), i32_at(event, 20))
        else {
            break;
        };
        let infos = event.get(usize::from(meta_len)..len).unwrap_or_default();
        events.push(Event {
            mask,
            pid,
            names: parse_infos(infos),
        });
        at = at.saturating_add(len);
    }
    events
}

/// The folder-and-name info records of one event.
fn parse_infos(mut b: &[u8]) -> Vec<Named> {
    let mut names = Vec::new();
    while let (Some(&kind), Some(len)) = (b.first(), u16_at(b, 2).map(usize::from)) {
        if len < 4 || len > b.len() {
            break;
        }
        let role = match kind {
            libc::FAN_EVENT_INFO_TYPE_DFID_NAME => Some(Role::Entry),
            libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME => Some(Role::Old),
            libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => Some(Role::New),
            _ => None,
        };
        let record = b.get(..len).unwrap_or_default();
        if let Some(n) = role.and_then(|r| parse_named(r, record)) {
            names.push(n);
        }
        b = b.get(len..).unwrap_or_default();
    }
    names
}

/// header (4), fsid (8), handle_bytes (4), handle_type (4), the handle, the name (NUL).
fn parse_named(role: Role, r: &[u8]) -> Option<Named> {
    let fsid = [i32_at(r, 4)?, i32_at(r, 8)?];
    let size = usize::try_from(u32_at(r, 12)?).ok()?;
    let handle_type = i32_at(r, 16)?;
    let end = 20usize.checked_add(size)?;
    let bytes = r.get(20..end)?.to_vec();
    let rest = r.get(end..)?;
    let name = rest.split(|b| *b == 0).next().unwrap_or_default().to_vec();
    Some(Named {
        role,
        dir: Handle {
            fsid,
            handle_type,
            bytes,
        },
        name: OsString::from_vec(name),
    })
}

/// The id fanotify reports for the file system holding `fd` (`statfs`'s `f_fsid`).
pub fn fsid(fd: &OwnedFd) -> io::Result<[i32; 2]> {
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid statfs for fstatfs to fill.
    let r = unsafe { libc::fstatfs(fd.as_raw_fd(), &raw mut s) };
    super::check(libc::c_long::from(r))?;
    // SAFETY: `fsid_t` is two `c_int`s (`__val`), whose fields libc keeps private.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(s.f_fsid) })
}

/// Open `path` (a folder or file) as a reference into its file system, for [`path_of`]
/// (read-only: `open_by_handle_at` refuses an `O_PATH` descriptor with `EBADF`).
pub fn open_path(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated; the descriptor is only used as a reference.
    let r = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    super::adopt(libc::c_long::from(r))
}

/// The path (in this process's mount namespace) of the object `handle` names on the file
/// system of `mount`; a deleted folder's path ends with ` (deleted)`.
pub fn path_of(mount: &OwnedFd, handle: &Handle) -> io::Result<PathBuf> {
    let size = u32::try_from(handle.bytes.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // `struct file_handle`: handle_bytes, handle_type, then the bytes; u32 words keep it
    // aligned.
    let words = handle.bytes.len().div_ceil(4).saturating_add(2);
    let mut buf = vec![0u32; words];
    let bytes: &mut [u8] = bytemuck_bytes(&mut buf);
    let head = size.to_ne_bytes();
    let ty = handle.handle_type.to_ne_bytes();
    for (dst, src) in bytes
        .iter_mut()
        .zip(head.iter().chain(ty.iter()).chain(handle.bytes.iter()))
    {
        *dst = *src;
    }
    // SAFETY: `buf` holds a complete file_handle (header and `handle_bytes` bytes); the
    // call only reads it.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    let fd = super::adopt(libc::c_long::from(fd))?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `buf` as bytes.
fn bytemuck_bytes(buf: &mut [u32]) -> &mut [u8] {
    let len = std::mem::size_of_val(buf);
    // SAFETY: u32 has no padding and every byte pattern is a valid u8; the slice covers
    // exactly `buf`'s memory and borrows it mutably.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), len) }
}

/// Wait until `pid` (a child) has exited, leaving it a zombie: its pid is not reused
/// until it is reaped.
pub fn wait_exited_keep(pid: libc::pid_t) -> io::Result<()> {
    let id = libc::id_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    loop {
        // SAFETY: an all-zero siginfo_t is valid for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                id,
                &raw mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        match super::check(libc::c_long::from(r)) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Close a group without waiting for it. The last close of a fanotify group waits for the
/// kernel to free its marks (an SRCU grace period: 15 ms here), which would delay the end
/// of every audited run. A short-lived grandchild takes the last reference instead: the
/// caller forks a child, which closes every other descriptor it inherited (so an audit
/// log's lock, say, stays the caller's alone), forks the grandchild and exits at once
/// (nothing is left to reap); the grandchild waits until the caller has dropped its copy of
/// the group, and exits, its exit closing the group. Without a fork, the group is closed
/// here.
pub fn close_in_background(group: OwnedFd) {
    let Ok((gate, gate_w)) = super::pipe() else {
        return drop(group);
    };
    let keep = [group.as_raw_fd(), gate.as_raw_fd()];
    // SAFETY: the child makes only async-signal-safe calls (close_range, fork, read,
    // _exit) and never returns into Rust code.
    match unsafe { libc::fork() } {
        0 => unsafe { child(keep) },
        -1 => drop(group),
        child => {
            let mut status = 0;
            // SAFETY: waits for the child just forked, which exits at once.
            unsafe { libc::waitpid(child, &raw mut status, 0) };
            // Not the group's last close: the grandchild holds it.
            drop(group);
            // The grandchild's cue.
            drop(gate_w);
        }
    }
}

/// The child's half of [`close_in_background`]: never returns.
///
/// # Safety
/// Only in a freshly forked child.
unsafe fn child(keep: [libc::c_int; 2]) -> ! {
    let (lo, hi) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
    let close = |from: libc::c_int, to: libc::c_int| {
        if from <= to {
            // SAFETY: close_range with integer arguments.
            unsafe { libc::syscall(libc::SYS_close_range, from, to, 0) };
        }
    };
    close(0, lo - 1);
    close(lo + 1, hi - 1);
    close(hi + 1, libc::c_int::MAX);
    // SAFETY: async-signal-safe calls only, in a forked child.
    unsafe {
        if libc::fork() != 0 {
            libc::_exit(0);
        }
        let mut b = 0u8;
        // EOF once the caller dropped the pipe's write end (this process has no copy).
        while libc::read(keep[1], (&raw mut b).cast(), 1) < 0
            && *libc::__errno_location() == libc::EINTR
        {}
        libc::_exit(0)
    }
}

#[cfg(test)]
#[path = "fanotify_tests.rs"]
mod tests;
