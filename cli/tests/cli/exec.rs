//! `policyc exec` on the real kernel: Landlock, seccomp, namespaces, scratch areas.
//!
//! These tests need root (or unprivileged user namespaces), Landlock and seccomp. Where the
//! kernel lacks them they fail when `POLICYC_REQUIRE_LIVE=1` (as in CI) and otherwise say
//! why and return.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn live_available() -> bool {
    let landlock = policyc_host::landlock::kernel_abi() >= 1;
    let seccomp =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    if landlock && seccomp {
        return true;
    }
    cannot_run(&format!(
        "live exec tests: landlock available: {landlock}, seccomp available: {seccomp}"
    ));
    false
}

fn need(program: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    cannot_run(&format!("{program} is not installed"));
    false
}

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    /// The sandbox, when the live tests and the `programs` they run can run here.
    fn live(name: &str, programs: &[&str]) -> Option<Sandbox> {
        if !live_available() || !programs.iter().all(|p| need(p)) {
            return None;
        }
        Some(Sandbox::new(name))
    }

    fn new(name: &str) -> Sandbox {
        let dir = scratch(&format!("exec-{name}"));
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("docs/a.txt"), "hello\n").unwrap();
        std::fs::write(dir.join("docs/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
        std::fs::write(dir.join("secret.txt"), "top secret\n").unwrap();
        let d = dir.display();
        let policy = format!(
            r#"use std::runtime::base
use std::runtime::static
use std::runtime::python
use std::runtime::node

policy probe {{
    isolation process
    fs {{
        exec "/usr"
        read "/etc"
        read "{d}/docs"
        scratch "{d}/scratch" size 1MiB
    }}
    net {{ egress none }}
    syscalls {{
        allow static_binary, python, node
        deny fchmodat, chmod errno EROFS
    }}
    include runtime_guards
}}
"#
        );
        std::fs::write(dir.join("probe.policy"), policy).unwrap();
        Sandbox { dir }
    }

    fn exec(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", "probe.policy", "--"];
        args.extend_from_slice(cmd);
        policyc(&args, &self.dir)
    }

    /// Run a Python script in the sandbox, check that it succeeded; its stdout.
    fn python(&self, script: &str) -> String {
        let o = self.exec(&["/usr/bin/python3", "-I", "-c", script]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

#[test]
fn reads_inside_grants_work_and_outside_are_not_there() {
    let Some(s) = Sandbox::live("read", &[]) else {
        return;
    };
    let o = s.exec(&["/bin/cat", &s.path("docs/a.txt")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\n");
    // Outside every grant: not in the sandbox's file system at all.
    let o = s.exec(&["/bin/cat", &s.path("secret.txt")]);
    assert_ne!(o.status.code(), Some(0));
    assert_stderr_has(&o, "No such file or directory");
}

#[test]
fn writes_to_read_only_grants_fail_and_scratch_is_writable_then_wiped() {
    let Some(s) = Sandbox::live("write", &[]) else {
        return;
    };
    let script = format!("echo x > {}", s.path("docs/a.txt"));
    let o = s.exec(&["/bin/sh", "-c", &script]);
    assert_ne!(o.status.code(), Some(0));
    // A read grant is a read-only mount (Landlock would refuse the write too).
    assert_stderr_has(&o, "Read-only file system");
    assert_eq!(
        std::fs::read_to_string(s.dir.join("docs/a.txt")).unwrap(),
        "hello\n"
    );

    let script = format!(
        "echo report > {0}/r.txt && /bin/cat {0}/r.txt",
        s.path("scratch")
    );
    let o = s.exec(&["/bin/sh", "-c", &script]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "report\n");
    assert!(
        !s.dir.join("scratch").exists(),
        "scratch must be wiped after the task"
    );
}

#[test]
fn denied_syscalls_return_the_policys_errno() {
    let Some(s) = Sandbox::live("errno", &[]) else {
        return;
    };
    let script = format!("echo > {0}/f && /bin/chmod 600 {0}/f", s.path("scratch"));
    let o = s.exec(&["/bin/sh", "-c", &script]);
    assert_ne!(o.status.code(), Some(0));
    assert_stderr_has(&o, "Read-only file system");
}

#[test]
fn egress_none_leaves_only_loopback_and_denies_connect() {
    let Some(s) = Sandbox::live("net", &["/usr/bin/python3"]) else {
        return;
    };
    let probe = "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))\nfor addr in [('127.0.0.1', 9), ('192.0.2.1', 443)]:\n    s = socket.socket()\n    try:\n        s.connect(addr)\n        print('connected')\n    except OSError as e:\n        print(e.errno)\n";
    assert_eq!(s.python(probe), "['lo']\n13\n13\n");
}

#[test]
fn real_runtimes_run_under_their_stdlib_sets() {
    let Some(s) = Sandbox::live("runtimes", &["/usr/bin/python3", "/usr/bin/node"]) else {
        return;
    };
    let py = format!("import json,threading\nt=threading.Thread(target=lambda: None); t.start(); t.join()\nprint(json.dumps(open('{}').read()))", s.path("docs/a.txt"));
    assert_eq!(s.python(&py), "\"hello\\n\"\n");
    let js = format!(
        "console.log(require('fs').readFileSync('{}', 'utf8').trim())",
        s.path("docs/a.txt")
    );
    let o = s.exec(&["/usr/bin/node", "-e", &js]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\n");
    let o = s.exec(&["/bin/sh", "-c", "echo $((6*7))"]);
    assert_eq!(stdout(&o), "42\n");
}

#[test]
fn exit_statuses_pass_through_and_policyc_failures_are_distinct() {
    let Some(s) = Sandbox::live("status", &["/usr/bin/python3"]) else {
        return;
    };
    assert_eq!(s.exec(&["/bin/sh", "-c", "exit 7"]).status.code(), Some(7));
    // Killed by a signal: abort() raises SIGABRT through tgkill, which the sets allow.
    assert_eq!(
        s.exec(&["/usr/bin/python3", "-I", "-c", "import os; os.abort()"])
            .status
            .code(),
        Some(128 + 6)
    );
    assert_eq!(s.exec(&["/nonexistent/program"]).status.code(), Some(127));
    // In the granted tree but without exec rights.
    let script = s.path("docs/run.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(s.exec(&[&script]).status.code(), Some(126));
    // A scratch folder that already holds files is never wiped: policyc refuses to run.
    std::fs::create_dir_all(s.dir.join("scratch")).unwrap();
    std::fs::write(s.dir.join("scratch/keep.txt"), "mine").unwrap();
    let o = s.exec(&["/bin/true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(s.dir.join("scratch/keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn inherited_descriptors_are_closed_before_exec() {
    let Some(s) = Sandbox::live("fds", &[]) else {
        return;
    };
    // The outer shell opens fd 5 on a file the policy does not grant, then runs policyc;
    // the sandboxed shell must not be able to read through it.
    let outer = format!(
        "exec 5< {} && {} exec probe.policy -- /bin/sh -c 'cat <&5'",
        s.path("secret.txt"),
        env!("CARGO_BIN_EXE_policyc")
    );
    let o = Command::new("/bin/sh")
        .args(["-c", &outer])
        .current_dir(&s.dir)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(!stdout(&o).contains("top secret"));
    assert_stderr_has(&o, "Bad file descriptor");
}

#[test]
fn creating_namespaces_is_refused() {
    let Some(s) = Sandbox::live("clone", &["/usr/bin/python3"]) else {
        return;
    };
    let probe = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.unshare(0x10000000), ctypes.get_errno())\n";
    assert_eq!(
        s.python(probe),
        "-1 1\n",
        "unshare is not in any runtime set, so the default EPERM"
    );
}

/// A WASI module that writes `hi` to stdout and exits with status 3.
const HELLO_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 3))))"#;

#[test]
fn wasm_policies_run_modules_under_wasmtime_with_exit_status_passed_through() {
    let dir = scratch("exec-wasm");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let policy = format!(
        "policy m {{\n    isolation wasm\n    fs {{\n        read \"{}\" at \"/data\"\n    }}\n}}\n",
        dir.join("data").display()
    );
    std::fs::write(dir.join("m.policy"), policy).unwrap();
    std::fs::write(dir.join("hello.wasm"), wat::parse_str(HELLO_WAT).unwrap()).unwrap();
    let run = |module: &str| policyc(&["exec", "m.policy", "--", module], &dir);
    let o = run("hello.wasm");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
    assert_eq!(run("missing.wasm").status.code(), Some(127));
    std::fs::write(dir.join("junk.wasm"), b"not a module").unwrap();
    assert_eq!(run("junk.wasm").status.code(), Some(126));
}

#[test]
fn quiet_hides_the_checkers_warnings_but_never_its_errors() {
    let Some(s) = Sandbox::live("quiet", &[]) else {
        return;
    };
    let base = std::fs::read_to_string(s.dir.join("probe.policy")).unwrap();
    // The same deny twice: P0501, a warning.
    let warned = base.replacen(
        "read \"/etc\"",
        "read \"/etc\"\n        deny \"/srv/secret\"\n        deny \"/srv/secret\"",
        1,
    );
    std::fs::write(s.dir.join("warned.policy"), &warned).unwrap();
    let loud = policyc(&["exec", "warned.policy", "--", "/bin/true"], &s.dir);
    assert_eq!(loud.status.code(), Some(0), "{}", stderr(&loud));
    assert_stderr_has(&loud, "warning[P0501]");
    let quiet = policyc(
        &["exec", "--quiet", "warned.policy", "--", "/bin/true"],
        &s.dir,
    );
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(
        !stderr(&quiet).contains("warning["),
        "--quiet printed a warning:\n{}",
        stderr(&quiet)
    );
    // An error is printed, quiet or not, and nothing runs.
    // A relative path: P0201, an error.
    let broken = warned.replacen("read \"/etc\"", "read \"etc\"", 1);
    std::fs::write(s.dir.join("broken.policy"), broken).unwrap();
    let o = policyc(&["exec", "-q", "broken.policy", "--", "/bin/true"], &s.dir);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert_stderr_has(&o, "error[");
}

/// Python that prints its capability sets, then tries to join the network namespace bound at
/// argv[1]; prints `joined` or the errno name of the step that failed.
const JOIN_NET: &str = r#"
import ctypes, errno, os, sys
for line in open("/proc/self/status"):
    if line.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
        print(line.split()[1])
libc = ctypes.CDLL(None, use_errno=True)
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except OSError as e:
    print("open", errno.errorcode[e.errno]); raise SystemExit
if libc.setns(fd, 0x40000000) != 0:
    print("setns", errno.errorcode[ctypes.get_errno()])
else:
    print("joined")
"#;

#[test]
fn the_program_has_no_capabilities_so_even_an_allowed_setns_cannot_leave_its_network() {
    let Some(s) = Sandbox::live("caps", &["/usr/bin/python3", "/usr/bin/unshare"]) else {
        return;
    };
    if policyc_host::sys::kernel::ids().0 != 0 {
        // Without root the attack below cannot be shown to work outside the sandbox.
        cannot_run("the capability test needs root");
        return;
    }
    // A network namespace bound at a file the policy lets the program read.
    let ns_dir = s.dir.join("ns");
    std::fs::create_dir_all(&ns_dir).unwrap();
    let ns = ns_dir.join("net");
    std::fs::write(&ns, "").unwrap();
    let made = Command::new("/usr/bin/unshare")
        .arg(format!("--net={}", ns.display()))
        .arg("/bin/true")
        .status()
        .unwrap();
    assert!(made.success());
    let ns_arg = ns.display().to_string();
    let outside = Command::new("/usr/bin/python3")
        .args(["-I", "-c", JOIN_NET, &ns_arg])
        .output()
        .unwrap();
    let policy = format!(
        r#"use std::runtime::base
use std::runtime::python

policy caps {{
    isolation process
    fs {{
        exec "/usr"
        read "/etc"
        read "/proc"
        read "{}"
    }}
    net {{ egress none }}
    syscalls {{
        allow python, setns
    }}
}}
"#,
        ns_dir.display()
    );
    std::fs::write(s.dir.join("caps.policy"), policy).unwrap();
    let args = [
        "exec",
        "-q",
        "caps.policy",
        "--",
        "/usr/bin/python3",
        "-I",
        "-c",
        JOIN_NET,
        &ns_arg,
    ];
    let o = policyc(&args, &s.dir);
    let _ = Command::new("/usr/bin/umount").arg(&ns).status();
    assert!(
        stdout(&outside).ends_with("joined\n"),
        "{}",
        stdout(&outside)
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..5], ["0000000000000000"; 5], "{out}");
    assert_eq!(lines[5], "setns EPERM", "{out}");
}
