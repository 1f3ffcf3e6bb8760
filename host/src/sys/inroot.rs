//! Opening a file of a root file system folder as the container will see it: every path,
//! and every symbolic link met on the way (`/usr/bin/tool -> /etc/shadow`, `bin -> /`),
//! resolved inside the folder by the kernel (`openat2` with `RESOLVE_IN_ROOT`), never
//! reaching the host's files; `/proc`'s magic links are refused (`RESOLVE_NO_MAGICLINKS`).

#![expect(unsafe_code, reason = "openat2 has no safe wrapper")]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// `openat2(dir, path, flags, resolve)`: `path` resolved as the `resolve` flags say.
pub fn openat2(dir: BorrowedFd<'_>, path: &Path, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: u64::try_from(flags).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        mode: 0,
        resolve,
    };
    // SAFETY: `c` is a NUL-terminated string and `how` a valid `open_how` of the size
    // passed; both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &raw const how,
            std::mem::size_of::<OpenHow>(),
        )
    };
    super::adopt(ret)
}

/// The kernel's `struct open_how` (libc's is not constructible outside it).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A root file system folder, held open: paths are looked up inside it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// How every lookup resolves: `/` and `..` stop at the root, absolute symbolic links are
/// taken from it, and `/proc/self/…` style links are refused.
const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

impl Root {
    /// Open the folder `dir` (following symbolic links in `dir` itself: it is the user's
    /// own path on the host).
    pub fn open(dir: &Path) -> io::Result<Root> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)?;
        Ok(Root {
            fd: OwnedFd::from(file),
        })
    }

    /// The regular file at `path` inside the root, opened read-only; symbolic links are
    /// followed inside the root. Anything else (a folder, a device node, a FIFO) is refused
    /// with `EACCES` before it is opened for reading, so nothing blocks or has a side
    /// effect.
    pub fn open_file(&self, path: &Path) -> io::Result<File> {
        let located = openat2(
            self.fd.as_fd(),
            path,
            libc::O_PATH | libc::O_CLOEXEC,
            RESOLVE,
        )?;
        let seen = File::from(located).metadata()?;
        if !seen.is_file() {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let fd = openat2(
            self.fd.as_fd(),
            path,
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
            RESOLVE,
        )?;
        let file = File::from(fd);
        let now = file.metadata()?;
        if now.dev() != seen.dev() || now.ino() != seen.ino() {
            // Replaced between the two lookups.
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Read as _;
    use std::os::unix::fs::symlink;

    fn read(root: &Root, path: &str) -> io::Result<String> {
        let mut s = String::new();
        root.open_file(Path::new(path))?.read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn links_resolve_inside_the_root_never_on_the_host() {
        let outside = tempfile::tempdir().unwrap();
        let host_file = outside.path().join("secret");
        std::fs::write(&host_file, "host").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // The same absolute path exists inside the root with other content.
        let inside = root.join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("secret"), "in the root").unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/busybox"), "busybox").unwrap();
        symlink(&host_file, root.join("usr/bin/tool")).unwrap();
        symlink("/bin/busybox", root.join("bin/sh")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../../../..", root.join("dots")).unwrap();

        let r = Root::open(root).unwrap();
        assert_eq!(read(&r, "/usr/bin/tool").unwrap(), "in the root");
        assert_eq!(read(&r, "usr/bin/tool").unwrap(), "in the root");
        assert_eq!(read(&r, "/bin/sh").unwrap(), "busybox");
        assert_eq!(read(&r, "/up/bin/sh").unwrap(), "busybox");
        assert_eq!(read(&r, "/dots/bin/busybox").unwrap(), "busybox");
        assert_eq!(read(&r, "/../../bin/busybox").unwrap(), "busybox");
        let host = format!("/dots{}", host_file.display());
        assert_eq!(read(&r, &host).unwrap(), "in the root");

        // Without the copy inside, the host's file is not found.
        std::fs::remove_file(inside.join("secret")).unwrap();
        let e = read(&r, "/usr/bin/tool").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "host");

        // Folders are not files.
        let e = r.open_file(Path::new("/bin")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    }

    #[test]
    fn magic_links_are_refused() {
        let proc = Root::open(Path::new("/proc/self")).unwrap();
        let e = read(&proc, "root/etc/passwd").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert!(read(&proc, "status").unwrap().contains("Pid:"));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = CString::new(tmp.path().join("p").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let r = Root::open(tmp.path()).unwrap();
        let e = r.open_file(Path::new("/p")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
        assert!(Root::open(&tmp.path().join("p")).is_err(), "not a folder");
    }
}
