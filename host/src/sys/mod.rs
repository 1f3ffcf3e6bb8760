//! Every system call policyc makes, behind thin wrappers: here the process calls (fork,
//! wait, pipes, a shared page, an exec probe); in [`kernel`] the calls a child makes
//! between fork and exec (namespaces, mounts, no_new_privs); in [`seccomp`] installing a
//! filter; in [`notify`] the seccomp user-notification supervisor's calls; in [`splice`] moving a
//! relayed connection's bytes inside the kernel; in [`inroot`] opening a file inside a root
//! file system folder, symbolic links resolved inside it. Errors are
//! `io::Error`s carrying the errno (`raw_os_error`); the calls a forked child makes
//! allocate nothing.

#![expect(
    unsafe_code,
    reason = "fork, waitpid, mmap and execve have no safe wrapper"
)]

pub mod fanotify;
pub mod inroot;
pub mod kernel;
pub mod notify;
pub mod seccomp;
pub mod splice;

use std::ffi::CStr;
use std::io::{self, Read as _};
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32};
use std::time::{Duration, Instant};

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `ret`, or the errno when it is negative.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Adopt the descriptor a call returned, or its errno when it returned a negative value.
fn adopt(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(check(ret)?).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Which side of a fork this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`. The child must only make raw calls and allocate (glibc's allocator is safe
/// after fork), and must leave with [`exit_now`].
pub fn fork() -> io::Result<Fork> {
    // SAFETY: the child runs only code written for it: no locks other threads may hold
    // (stdio, the environment) are taken there.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => Ok(Fork::Child),
        p if p > 0 => Ok(Fork::Parent(p)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: a child killed when its parent dies, so none is left
/// behind waiting for an answer.
pub fn die_with_parent() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
}

/// `_exit(2)`: leave without running destructors or exit handlers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// `waitpid(pid, WNOHANG)`: `None` while the child runs.
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<Ended>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        return Ok(None);
    }
    if libc::WIFSIGNALED(status) {
        Ok(Some(Ended::Signaled(libc::WTERMSIG(status))))
    } else {
        Ok(Some(Ended::Exited(libc::WEXITSTATUS(status))))
    }
}

/// `kill(pid, SIGKILL)`.
pub fn kill(pid: libc::pid_t) {
    // SAFETY: kill with integer arguments; `pid` is our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Wait for a child until `deadline`, then kill it. Returns how it ended and whether it was
/// killed for the deadline.
pub fn wait_until(pid: libc::pid_t, deadline: Instant) -> (Option<Ended>, bool) {
    loop {
        match try_wait(pid) {
            Ok(Some(e)) => return (Some(e), false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                kill(pid);
                return (wait(pid), true);
            }
            Err(_) => return (None, false),
        }
    }
}

/// Kill a child and reap it.
pub fn kill_and_reap(pid: libc::pid_t) -> Option<Ended> {
    kill(pid);
    wait(pid)
}

/// `waitpid(pid, 0)`: wait for a child to end; `None` when it cannot be waited for.
pub fn wait(pid: libc::pid_t) -> Option<Ended> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; blocking wait for our own child.
    let r = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    if r <= 0 {
        None
    } else if libc::WIFSIGNALED(status) {
        Some(Ended::Signaled(libc::WTERMSIG(status)))
    } else {
        Some(Ended::Exited(libc::WEXITSTATUS(status)))
    }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    let [r, w] = fds;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) })
}

/// True when `fd` is readable (or closed) within `timeout`.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&raw mut p, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(n > 0)
}

/// Which of `a` and `b` is readable (or closed) within `timeout`.
pub fn poll_either(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    timeout: Duration,
) -> io::Result<(bool, bool)> {
    let mut p = [a, b].map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: two valid pollfds.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 2, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok((false, false))
        } else {
            Err(e)
        };
    }
    let [pa, pb] = p;
    Ok((pa.revents != 0, pb.revents != 0))
}

/// Read a pipe to its end, or until `deadline` (then `None`).
pub fn read_to_end_until(fd: OwnedFd, deadline: Instant) -> Option<Vec<u8>> {
    let mut file = std::fs::File::from(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_readable(file.as_fd(), left).ok()? {
            return None;
        }
        match file.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(out),
        }
    }
}

/// What the seccomp probe child and its supervisor share: plain atomics in a page mapped
/// into both processes.
#[derive(Debug)]
#[repr(C)]
pub struct Shared {
    pub phase: AtomicU32,
    pub listener: AtomicI32,
    pub ret: AtomicI64,
    pub errno: AtomicI32,
    pub setup_errno: AtomicI32,
    /// The process that made the listener (`policyc exec --trace-denials`).
    pub pid: AtomicI32,
}

/// A shared anonymous page holding a [`Shared`], unmapped on drop.
#[derive(Debug)]
pub struct SharedPage {
    ptr: NonNull<Shared>,
}

const PAGE: usize = 4096;
const _: () = assert!(std::mem::size_of::<Shared>() <= PAGE);

// SAFETY: the page holds only atomics, which may be used from any thread (and process);
// the pointer is valid until drop.
unsafe impl Send for SharedPage {}
// SAFETY: as above: shared access goes through the atomics only.
unsafe impl Sync for SharedPage {}

impl SharedPage {
    pub fn new() -> io::Result<SharedPage> {
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<Shared>()).ok_or_else(io::Error::last_os_error)?;
        Ok(SharedPage { ptr })
    }

    pub fn get(&self) -> &Shared {
        // SAFETY: the page is zero-filled, page-aligned and lives until drop; all-zero
        // bytes are valid atomics, and atomics may be shared across processes.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this size and is unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), PAGE) };
    }
}

/// What an exec probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// `execve` failed with this errno.
    Failed(i32),
    /// `execve` succeeded (the new program was killed at once).
    Ran,
}

/// `execve(path)` in a forked grandchild, with no arguments but the path and an empty
/// environment; the errno comes back through a close-on-exec pipe, so a successful exec is
/// seen as an empty pipe.
pub fn exec_probe(path: &CStr) -> io::Result<Exec> {
    let (r, w) = pipe()?;
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    match fork()? {
        Fork::Child => {
            drop(r);
            // SAFETY: argv and envp are NULL-terminated arrays of valid strings.
            unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            let e = errno().to_ne_bytes();
            // SAFETY: `w` is open; writing 4 bytes from a local array.
            unsafe { libc::write(w.as_raw_fd(), e.as_ptr().cast(), e.len()) };
            exit_now(127)
        }
        Fork::Parent(pid) => {
            drop(w);
            let mut file = std::fs::File::from(r);
            let mut buf = [0u8; 4];
            let got = file.read(&mut buf).unwrap_or(0);
            let _ = if got == 4 {
                wait(pid)
            } else {
                kill_and_reap(pid)
            };
            Ok(if got == 4 {
                Exec::Failed(i32::from_ne_bytes(buf))
            } else {
                Exec::Ran
            })
        }
    }
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Die quietly when standard output is a closed pipe (`policyc test ... | head`), as other
/// command-line tools do, rather than fail a write and report an internal error. Rust
/// ignores SIGPIPE by default.
pub fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no memory effects; no
    // handler runs in this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
