//! Live enforcement: the emitted BPF, installed with `seccomp(2)` into a forked child,
//! gives the exact errnos the policy says, kills x32 and i386 calls, and (with TSYNC)
//! covers threads that already existed.
//!
//! Without seccomp these tests print why and return, unless `POLICYC_REQUIRE_LIVE=1` (CI),
//! where they fail. The child only makes raw syscalls between `fork` and `_exit` (no
//! allocation: the parent is multithreaded), and reports `(return value, errno)` pairs
//! through a pipe.

#![allow(
    unsafe_code,
    reason = "the probed syscalls are made raw, as a program would"
)]

use super::alone;
use policyc_compiler::ir::Policy;
use policyc_compiler::syscalls::{errno, Arch};
use policyc_host::sys::seccomp::{self as filter, Program};
use policyc_host::sys::{self, kernel, Ended, Fork};
use policyc_targets::seccomp::bpf::{self, Insn};
use policyc_targets::seccomp::{bpf_artifact, Seccomp};
use policyc_targets::{EmitContext, Target};
use policyc_testkit::live::cannot_run;
use std::io::Read as _;
use std::os::fd::AsRawFd as _;

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

/// Send `(ret, errno)` through the pipe. Async-signal-safe.
fn send(fd: i32, ret: i64, errno: i64) {
    let pair = [ret, errno];
    // SAFETY: writing the bytes of a local array to a descriptor.
    unsafe { libc::write(fd, pair.as_ptr().cast(), std::mem::size_of_val(&pair)) };
}

/// Report `(ret, errno)` through the pipe, with the errno the last call left. Async-signal-safe.
fn report(fd: i32, ret: i64) {
    // SAFETY: the calling thread's errno location is always valid.
    send(fd, ret, i64::from(unsafe { *libc::__errno_location() }));
}

/// Set no_new_privs and install `program` on every thread. Allocates nothing.
fn install(program: &Program) -> std::io::Result<()> {
    kernel::no_new_privs()?;
    filter::install(program, libc::SECCOMP_FILTER_FLAG_TSYNC).map(drop)
}

/// Fork; the child installs `program` (if any), runs `body` with the pipe's write end, and
/// exits 0. Returns how it ended and the pairs it reported.
fn in_child(program: Option<&Program>, body: unsafe fn(i32)) -> (Ended, Vec<(i64, i64)>) {
    let (r, w) = sys::pipe().unwrap();
    match sys::fork().unwrap() {
        Fork::Child => {
            drop(r);
            let fd = w.as_raw_fd();
            if let Some(p) = program {
                if let Err(e) = install(p) {
                    send(fd, -1, i64::from(e.raw_os_error().unwrap_or(0)));
                    sys::exit_now(100);
                }
            }
            // SAFETY: each body makes raw syscalls only, and reports through `fd`.
            unsafe { body(fd) };
            sys::exit_now(0)
        }
        Fork::Parent(pid) => {
            drop(w);
            let mut bytes = Vec::new();
            std::fs::File::from(r).read_to_end(&mut bytes).unwrap();
            let end = sys::wait(pid).expect("the child is ours to wait for");
            let pairs = bytes
                .chunks_exact(16)
                .map(|c| {
                    let v =
                        |r: std::ops::Range<usize>| i64::from_ne_bytes(c[r].try_into().unwrap());
                    (v(0..8), v(8..16))
                })
                .collect();
            (end, pairs)
        }
    }
}

/// A filter that allows everything, to probe for seccomp support.
fn allow_all() -> Program {
    Program::from_insns(&[Insn::stmt(bpf::RET_K, bpf::ret::ALLOW)]).unwrap()
}

unsafe fn nothing(_fd: i32) {}

/// The stdlib policy with `runtime_guards` and its program for this machine, or `None`
/// (after saying why) when live tests cannot run here.
fn setup() -> Option<(Policy, Program)> {
    let Some(arch) = host_arch() else {
        cannot_run("this machine's architecture has no policyc seccomp program");
        return None;
    };
    let (end, pairs) = in_child(Some(&allow_all()), nothing);
    if end != Ended::Exited(0) {
        cannot_run(&format!(
            "seccomp(2) is unavailable here: {end:?} {pairs:?}"
        ));
        return None;
    }
    let p = policyc_testkit::stdlib::policies()
        .into_iter()
        .map(|(_, p)| p)
        .find(|p| p.name == "document_organizer")
        .unwrap();
    let emitted = Seccomp
        .emit(&p, &EmitContext::default())
        .unwrap_or_else(|d| panic!("{}: seccomp emit failed: {d:?}", p.name));
    let program = Program::parse(&emitted.artifacts[&bpf_artifact(arch)]).unwrap();
    Some((p, program))
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
    let Some((p, program)) = setup() else { return };
    assert_eq!(errno("EPERM"), Some(EPERM as u32));
    let (end, r) = in_child(Some(&program), errno_checks);
    assert_eq!(end, Ended::Exited(0), "{r:?}");
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
    assert_eq!(end, Ended::Exited(0));
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
    let Some((_, program)) = setup() else { return };
    let (end, r) = in_child(Some(&program), x32_getpid);
    assert_eq!(
        end,
        Ended::Signaled(libc::SIGSYS),
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
    let Some((_, program)) = setup() else { return };
    let (end, r) = in_child(None, int80_getpid);
    if end != Ended::Exited(0) || r.first().is_none_or(|(v, _)| *v <= 0) {
        // No IA32 emulation in this kernel: `int 0x80` cannot reach any syscall at all.
        eprintln!("int 0x80 does not work here even unfiltered ({end:?}); nothing to test");
        return;
    }
    let (end, r) = in_child(Some(&program), int80_getpid);
    assert_eq!(
        end,
        Ended::Signaled(libc::SIGSYS),
        "i386 getpid returned {r:?}"
    );
}

/// In a fresh process (where spawning threads is safe, and where the filter covers no
/// other test): start a thread, install the filter from the main thread with TSYNC, then
/// let the older thread try a denied call.
#[test]
fn live_tsync_helper() {
    if !alone::is_rerun_of(&alone::name(module_path!(), "live_tsync_helper")) {
        return;
    }
    let Some((_, program)) = setup() else { return };
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        // SAFETY: personality with an integer argument (0xffffffff only queries).
        let r = unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) };
        // SAFETY: the calling thread's errno location is always valid.
        (r, i64::from(unsafe { *libc::__errno_location() }))
    });
    let installed = if install(&program).is_ok() { 0 } else { -1 };
    go_tx.send(()).unwrap();
    let (r, e) = worker.join().unwrap();
    println!("TSYNC_RESULT installed={installed} ret={r} errno={e}");
}

#[test]
fn adv10_live_tsync_filters_threads_that_already_exist() {
    if setup().is_none() {
        return;
    }
    let out = alone::rerun(&alone::name(module_path!(), "live_tsync_helper"));
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
