//! Live enforcement: the emitted BPF, loaded with `seccomp(2)` into a forked child, gives
//! the exact errnos the policy says, kills x32 and i386 calls, and (with TSYNC) covers
//! threads that already existed.
//!
//! Without seccomp these tests print why and return, unless `POLICYC_REQUIRE_LIVE=1` (CI),
//! where they fail. The child only makes raw syscalls between `fork` and `_exit` (no
//! allocation: the parent is multithreaded), and reports `(return value, errno)` pairs
//! through a pipe.

#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod seccomp_common;

use policyc_compiler::ir::Policy;
use policyc_compiler::syscalls::{errno, Arch};
use policyc_targets::seccomp::bpf;
use policyc_targets::seccomp::bpf_artifact;
use seccomp_common::*;
use std::io::Read as _;
use std::os::fd::FromRawFd as _;

const EPERM: i64 = libc::EPERM as i64;
const ENOSYS: i64 = libc::ENOSYS as i64;
const ENOTTY: i64 = libc::ENOTTY as i64;
/// `ioctl` requests (asm-generic, the same on x86_64 and aarch64).
const TIOCSTI: u64 = 0x5412;
const TCGETS: u64 = 0x5401;

/// The native arch of this machine, if policyc emits a program for it.
fn host_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::X86_64),
        "aarch64" => Some(Arch::Aarch64),
        _ => None,
    }
}

/// Fail under `POLICYC_REQUIRE_LIVE=1`, otherwise say why the test did nothing.
fn unavailable(why: &str) {
    if std::env::var("POLICYC_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
        panic!("live seccomp test required (POLICYC_REQUIRE_LIVE=1) but {why}");
    }
    eprintln!("skipping live seccomp test: {why}");
}

/// A program in the form `seccomp(2)` takes.
fn filter_of(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bpf::decode(bytes)
        .unwrap()
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited(i32),
    Signaled(i32),
}

/// Report `(ret, errno)` through the pipe. Async-signal-safe.
unsafe fn report(fd: i32, ret: i64) {
    let pair = [ret, i64::from(*libc::__errno_location())];
    libc::write(fd, pair.as_ptr().cast(), std::mem::size_of_val(&pair));
}

/// Set no_new_privs and install `filter` on every thread. Async-signal-safe; returns the
/// syscall's result.
unsafe fn install(filter: &[libc::sock_filter]) -> i64 {
    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
        return -1;
    }
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    libc::syscall(
        libc::SYS_seccomp,
        libc::SECCOMP_SET_MODE_FILTER,
        libc::SECCOMP_FILTER_FLAG_TSYNC,
        &prog as *const libc::sock_fprog,
    )
}

/// Fork; the child installs `filter` (if any), runs `body` with the pipe's write end, and
/// exits 0. Returns how it ended and the pairs it reported.
fn in_child(filter: Option<&[libc::sock_filter]>, body: unsafe fn(i32)) -> (End, Vec<(i64, i64)>) {
    let mut fds = [0i32; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            libc::close(fds[0]);
            if let Some(f) = filter {
                let r = install(f);
                if r != 0 {
                    report(fds[1], r);
                    libc::_exit(100);
                }
            }
            body(fds[1]);
            libc::_exit(0);
        }
    }
    unsafe { libc::close(fds[1]) };
    let mut bytes = Vec::new();
    let mut pipe = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    pipe.read_to_end(&mut bytes).unwrap();
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let end = if libc::WIFSIGNALED(status) {
        End::Signaled(libc::WTERMSIG(status))
    } else {
        End::Exited(libc::WEXITSTATUS(status))
    };
    let pairs = bytes
        .chunks_exact(16)
        .map(|c| {
            let v = |r: std::ops::Range<usize>| i64::from_ne_bytes(c[r].try_into().unwrap());
            (v(0..8), v(8..16))
        })
        .collect();
    (end, pairs)
}

/// A filter that allows everything, to probe for seccomp support.
fn allow_all() -> Vec<libc::sock_filter> {
    vec![libc::sock_filter {
        code: bpf::RET_K,
        jt: 0,
        jf: 0,
        k: bpf::ret::ALLOW,
    }]
}

unsafe fn nothing(_fd: i32) {}

/// The stdlib policy with `runtime_guards` and its program for this machine, or `None`
/// (after saying why) when live tests cannot run here.
fn setup() -> Option<(Policy, Vec<libc::sock_filter>)> {
    let Some(arch) = host_arch() else {
        unavailable("this machine's architecture has no policyc seccomp program");
        return None;
    };
    let (end, pairs) = in_child(Some(&allow_all()), nothing);
    if end != End::Exited(0) {
        unavailable(&format!(
            "seccomp(2) is unavailable here: {end:?} {pairs:?}"
        ));
        return None;
    }
    let p = stdlib_policies()
        .into_iter()
        .find(|p| p.name == "document_organizer")
        .unwrap();
    let filter = filter_of(&emit(&p)[&bpf_artifact(arch)]);
    Some((p, filter))
}

/// The checks made under the filter, in order; see `live_errnos_are_exactly_the_policys`.
unsafe fn errno_checks(fd: i32) {
    let pid = libc::getpid();
    report(fd, i64::from(pid));
    report(
        fd,
        i64::from(libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)),
    );
    report(fd, i64::from(libc::kill(pid, 0)));
    report(fd, libc::syscall(libc::SYS_personality, 0xffff_ffffu64));
    report(fd, libc::syscall(libc::SYS_clone3, 0usize, 0usize));
    let r = libc::syscall(
        libc::SYS_clone,
        (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64,
        0,
        0,
        0,
        0,
    );
    if r == 0 {
        libc::_exit(0); // the filter failed and this is a new child: leave quietly
    }
    report(fd, r);
    report(fd, i64::from(libc::unshare(libc::CLONE_NEWUSER)));
    let mut c = 0u8;
    report(
        fd,
        libc::syscall(libc::SYS_ioctl, fd, TIOCSTI, &mut c as *mut u8),
    );
    let upper = TIOCSTI | (1 << 32);
    report(
        fd,
        libc::syscall(libc::SYS_ioctl, fd, upper, &mut c as *mut u8),
    );
    let mut termios = [0u8; 128];
    report(
        fd,
        libc::syscall(libc::SYS_ioctl, fd, TCGETS, termios.as_mut_ptr()),
    );
    let mut params = [0u8; 128];
    report(
        fd,
        libc::syscall(libc::SYS_io_uring_setup, 1u64, params.as_mut_ptr()),
    );
}

#[test]
fn live_errnos_are_exactly_the_policys() {
    let Some((p, filter)) = setup() else { return };
    assert_eq!(errno("EPERM"), Some(EPERM as u32));
    let (end, r) = in_child(Some(&filter), errno_checks);
    assert_eq!(end, End::Exited(0), "{r:?}");
    assert_eq!(r.len(), 11, "{r:?}");
    assert!(r[0].0 > 0, "getpid is allowed: {:?}", r[0]);
    assert_eq!(r[1].0, 1, "no_new_privs is set");
    assert_eq!(r[2], (-1, EPERM), "kill is not allowed: the default, EPERM");
    assert_eq!(r[3], (-1, EPERM), "personality is denied");
    assert_eq!(r[4], (-1, ENOSYS), "clone3 gets ENOSYS");
    assert_eq!(r[5], (-1, EPERM), "clone(CLONE_NEWUSER) gets EPERM");
    assert_eq!(r[6], (-1, EPERM), "unshare is denied");
    assert_eq!(r[7], (-1, EPERM), "TIOCSTI is denied");
    assert_eq!(r[8], (-1, EPERM), "TIOCSTI with upper bits set is denied");
    assert_eq!(
        r[9],
        (-1, ENOTTY),
        "TCGETS is allowed (and fails on a pipe)"
    );
    assert_eq!(r[10], (-1, EPERM), "io_uring_setup is denied");
    assert!(p.syscalls.rules.contains_key("clone3"));
    // The same checks without the filter show the filter made the difference.
    let (end, free) = in_child(None, errno_checks);
    assert_eq!(end, End::Exited(0));
    assert_eq!(free[2].0, 0, "kill(pid, 0) works unfiltered");
    assert_ne!(
        free[4],
        (-1, ENOSYS),
        "clone3(NULL, 0) is EINVAL unfiltered"
    );
    assert_eq!(
        free[7],
        (-1, ENOTTY),
        "TIOCSTI on a pipe is ENOTTY unfiltered"
    );
}

#[cfg(target_arch = "x86_64")]
unsafe fn x32_getpid(fd: i32) {
    let r = libc::syscall(0x4000_0000 | libc::SYS_getpid);
    report(fd, r);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn adv02_live_x32_syscall_is_killed() {
    let Some((_, filter)) = setup() else { return };
    let (end, r) = in_child(Some(&filter), x32_getpid);
    assert_eq!(
        end,
        End::Signaled(libc::SIGSYS),
        "x32 getpid returned {r:?}"
    );
}

/// `getpid` through the i386 entry point (`int 0x80`, i386 number 20).
#[cfg(target_arch = "x86_64")]
unsafe fn int80_getpid(fd: i32) {
    let mut rax: i64 = 20;
    std::arch::asm!(
        "int 0x80",
        inout("rax") rax,
        out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        options(nostack)
    );
    report(fd, rax);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn adv01_live_i386_int80_is_killed() {
    let Some((_, filter)) = setup() else { return };
    let (end, r) = in_child(None, int80_getpid);
    if end != End::Exited(0) || r.first().is_none_or(|(v, _)| *v <= 0) {
        // No IA32 emulation in this kernel: `int 0x80` cannot reach any syscall at all.
        eprintln!("int 0x80 does not work here even unfiltered ({end:?}); nothing to test");
        return;
    }
    let (end, r) = in_child(Some(&filter), int80_getpid);
    assert_eq!(
        end,
        End::Signaled(libc::SIGSYS),
        "i386 getpid returned {r:?}"
    );
}

/// The child re-runs this test binary with this variable set to be the TSYNC helper.
const TSYNC_CHILD: &str = "POLICYC_SECCOMP_TSYNC_CHILD";

/// In a fresh process (where spawning threads is safe): start a thread, install the filter
/// from the main thread with TSYNC, then let the older thread try a denied call.
#[test]
fn live_tsync_helper() {
    if std::env::var(TSYNC_CHILD).is_err() {
        return;
    }
    let Some((_, filter)) = setup() else { return };
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        let r = unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) };
        (r, i64::from(unsafe { *libc::__errno_location() }))
    });
    let installed = unsafe { install(&filter) };
    go_tx.send(()).unwrap();
    let (r, e) = worker.join().unwrap();
    println!("TSYNC_RESULT installed={installed} ret={r} errno={e}");
}

#[test]
fn adv10_live_tsync_filters_threads_that_already_exist() {
    if setup().is_none() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "live_tsync_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(TSYNC_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("TSYNC_RESULT").map(|i| &l[i..]))
        .unwrap_or_else(|| {
            panic!(
                "helper printed no result: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(
        line,
        format!("TSYNC_RESULT installed=0 ret=-1 errno={EPERM}")
    );
}
