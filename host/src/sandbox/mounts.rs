//! The mount system calls the sandbox's file system view needs (new mount API:
//! `open_tree`, `move_mount`, `mount_setattr`; and `pivot_root`).

#![expect(
    unsafe_code,
    reason = "thin wrappers over mount system calls that libc does not wrap"
)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd as _, OwnedFd};

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A detached copy of the mount tree at `path` (recursive), or of the one file.
pub fn clone_tree(path: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
    // SAFETY: path is a valid C string; the call returns a new descriptor or -1.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make a detached tree (and every mount below it) read-only.
pub fn set_read_only(tree: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty path with AT_EMPTY_PATH names the descriptor itself; attr is a valid
    // struct whose size is passed along.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// Attach a detached tree at `target`.
pub fn attach(tree: &OwnedFd, target: &CStr) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: both strings are valid C strings; the descriptor is open.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Make the current directory the root, and detach the old root.
pub fn pivot_to_cwd() -> io::Result<()> {
    // SAFETY: "." is a valid path; pivot_root(".", ".") stacks the old root on the new one.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })?;
    // SAFETY: as above; MNT_DETACH unmounts the old root lazily.
    check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) }.into())?;
    // SAFETY: "/" is a valid path.
    check(unsafe { libc::chdir(c"/".as_ptr()) }.into()).map(drop)
}

/// Mount a fresh tmpfs at `path`.
pub fn tmpfs(path: &CStr, flags: libc::c_ulong, options: &CStr) -> io::Result<()> {
    crate::sys::kernel::mount_tmpfs(path, flags, options)
}

/// `mkdir(path, mode)`; an existing entry is fine.
pub fn mkdir(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: path is a valid C string.
    match check(unsafe { libc::mkdir(path.as_ptr(), mode) }.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// Create an empty file at `path` (a mount point for a file); an existing one is fine.
pub fn touch(path: &CStr) -> io::Result<()> {
    // An existing object (possibly on a read-only mount) is used as it is.
    // SAFETY: path is a valid C string.
    if unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::F_OK,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } == 0
    {
        return Ok(());
    }
    // SAFETY: path is a valid C string; the descriptor is closed right away.
    let fd = check(
        unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            )
        }
        .into(),
    )?;
    // SAFETY: fd was just opened.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

/// `symlink(target, path)`; an existing entry is fine.
pub fn symlink(target: &CStr, path: &CStr) -> io::Result<()> {
    // SAFETY: both are valid C strings.
    match check(unsafe { libc::symlink(target.as_ptr(), path.as_ptr()) }.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// `chdir(path)`.
pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) }.into()).map(drop)
}
