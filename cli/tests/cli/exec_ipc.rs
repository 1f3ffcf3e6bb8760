//! Host IPC, metadata and written code under the stdlib `report_writer` (ADVERSARIAL.md
//! classes 34 to 36): an ssh-agent-like socket named by `SSH_AUTH_SOCK`, a D-Bus-style socket
//! under `/run` and an abstract socket stay unreachable, files outside the write grants keep
//! their mode and times, and code the program wrote (to memory or to its write grant) does
//! not run. Each check first succeeds outside the sandbox, so a refusal inside
//! it is the sandbox's doing.

use super::{scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::io::{Read as _, Write as _};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn live() -> bool {
    let ok = policyc_host::landlock::kernel_abi() >= 6 && Path::new("/usr/bin/python3").exists();
    if !ok {
        cannot_run("IPC exec tests need Landlock ABI 6 (scoped sockets) and python3");
    }
    ok
}

/// Answer every connection with `reply`, until the test ends.
fn serve(listener: UnixListener) {
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 16];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"reply");
        }
    });
}

/// Python that connects to each socket and prints `ok` or the errno name, one per line.
const PROBE: &str = r#"
import errno, os, socket, sys
print(os.environ.get("SSH_AUTH_SOCK", "unset"))
for target in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect("\0" + target[1:] if target.startswith("@") else target)
        s.sendall(b"hi")
        print("ok" if s.recv(16) == b"reply" else "no reply")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
"#;

struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(name: &str) -> Home {
        let dir = scratch(name);
        for d in ["Notes", "Reports", ".ssh"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in ["Notes/n.md", "Reports/r.md", ".ssh/id_rsa", ".bashrc"] {
            std::fs::write(dir.join(f), "x").unwrap();
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Home { dir }
    }

    /// `policyc exec` of the stdlib report_writer with this home, the caller's
    /// environment holding `SSH_AUTH_SOCK`.
    fn exec(&self, args: &[&str], agent: &Path) -> Output {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../stdlib-policies/policies/report_writer.policy");
        let home = self.dir.display().to_string();
        let mut all = vec!["exec", "--home", &home, policy.to_str().unwrap(), "--"];
        all.extend_from_slice(args);
        Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(all)
            .current_dir(&self.dir)
            .env("SSH_AUTH_SOCK", agent)
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .output()
            .unwrap()
    }
}

#[test]
fn agent_dbus_and_abstract_sockets_are_unreachable_under_report_writer() {
    if !live() {
        return;
    }
    let home = Home::new("exec-ipc");
    let agent_dir = home.dir.join("ssh-XXXX");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let agent = agent_dir.join("agent.1");
    serve(UnixListener::bind(&agent).unwrap());
    let run_dir = PathBuf::from(format!("/run/policyc-test-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).unwrap();
    let bus = run_dir.join("bus");
    let _ = std::fs::remove_file(&bus);
    serve(UnixListener::bind(&bus).unwrap());
    let name = format!("policyc-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    serve(UnixListener::bind_addr(&addr).unwrap());
    let abstract_name = format!("@{name}");
    let targets = [
        agent.to_str().unwrap(),
        bus.to_str().unwrap(),
        &abstract_name,
    ];

    let outside = Command::new("/usr/bin/python3")
        .args(["-I", "-c", PROBE])
        .args(targets)
        .env("SSH_AUTH_SOCK", &agent)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&outside),
        format!("{}\nok\nok\nok\n", agent.display()),
        "the servers answer outside the sandbox: {}",
        stderr(&outside)
    );

    let mut args = vec!["/usr/bin/python3", "-I", "-c", PROBE];
    args.extend(targets);
    let o = home.exec(&args, &agent);
    let _ = std::fs::remove_dir_all(&run_dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // SSH_AUTH_SOCK is not passed; the agent's and the bus's paths do not exist in the
    // sandbox's file system.
    assert_eq!(lines[..3], ["unset", "ENOENT", "ENOENT"], "{out}");
    // Abstract names live in the network namespace (a new one under `egress none`), and
    // Landlock scopes them besides (EPERM).
    assert!(matches!(lines[3], "ECONNREFUSED" | "EPERM"), "{out}");
}

/// Python defining `attempt(calls)`: makes each call and prints one line, `ok` or the
/// errno name of each.
const ATTEMPT: &str = r#"
import errno, os, sys
def attempt(calls):
    out = []
    for f in calls:
        try:
            f(); out.append("ok")
        except OSError as e:
            out.append(errno.errorcode.get(e.errno, str(e.errno)))
    print(" ".join(out))
"#;

/// `ATTEMPT` followed by `body`.
fn with_attempt(body: &str) -> String {
    format!("{ATTEMPT}{body}")
}

/// Python that tries chmod, utime and an xattr on each path; prints one errno name (or `ok`)
/// per path and call.
const META: &str = r#"
for p in sys.argv[1:]:
    attempt((lambda: os.chmod(p, 0o777), lambda: os.utime(p, (0, 0)),
             lambda: os.setxattr(p, "user.policyc", b"1")))
"#;

#[test]
fn metadata_outside_the_write_grants_is_refused_under_report_writer() {
    if !live() {
        return;
    }
    let home = Home::new("exec-meta");
    let files = [".ssh/id_rsa", ".bashrc", "Notes/n.md", "Reports/r.md"];
    let paths: Vec<String> = files
        .iter()
        .map(|f| home.dir.join(f).display().to_string())
        .collect();
    let before: Vec<_> = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap())
        .collect();
    let meta = with_attempt(META);
    let mut args = vec!["/usr/bin/python3", "-I", "-c", meta.as_str()];
    args.extend(paths.iter().map(String::as_str));
    let o = home.exec(&args, Path::new("/nonexistent"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    // Outside every grant: not in the sandbox's file system at all (setxattr is not in
    // the policy's syscall set: seccomp's EPERM comes first).
    assert_eq!(lines[0], "ENOENT ENOENT EPERM", "{out}");
    assert_eq!(lines[1], "ENOENT ENOENT EPERM", "{out}");
    // A read grant: a read-only mount.
    assert_eq!(lines[2], "EROFS EROFS EPERM", "{out}");
    // The write grant: the program may change what it may write.
    assert_eq!(lines[3], "ok ok EPERM", "{out}");
    for (p, b) in paths.iter().zip(&before).take(3) {
        let a = std::fs::metadata(p).unwrap();
        assert_eq!(a.permissions().mode() & 0o7777, 0o600, "{p}");
        assert_eq!(a.modified().unwrap(), b.modified().unwrap(), "{p}");
    }
}

/// Python that writes `/usr/bin/true` where argv[1] says (`memfd`: an anonymous memory file,
/// run through `/proc/self/fd`; else a file in that folder) and runs it; prints the errno
/// name of the step that failed.
const RUN_WRITTEN: &str = r#"
import errno, os, sys
data = open("/usr/bin/true", "rb").read()
try:
    if sys.argv[1] == "memfd":
        fd = os.memfd_create("code", 0)
        os.write(fd, data)
        path = f"/proc/self/fd/{fd}"
    else:
        path = os.path.join(sys.argv[1], "written")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o755)
except OSError as e:
    print("write", errno.errorcode.get(e.errno, str(e.errno))); sys.exit(3)
try:
    os.execv(path, ["written"])
except OSError as e:
    print("exec", errno.errorcode.get(e.errno, str(e.errno))); sys.exit(4)
"#;

#[test]
fn adv36_code_the_agent_wrote_does_not_run_from_memory_or_its_write_grant() {
    if !live() {
        return;
    }
    let home = Home::new("exec-adv36");
    let reports = home.dir.join("Reports").display().to_string();
    // Outside the sandbox both ways run the copied program.
    for how in ["memfd", reports.as_str()] {
        let o = Command::new("/usr/bin/python3")
            .args(["-I", "-c", RUN_WRITTEN, how])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{how}: {}", stdout(&o));
    }
    // Inside: report_writer's filter refuses memfd_create, and Landlock refuses to execute
    // what the program wrote to ~/Reports (its write grant does not give execute).
    let o = home.exec(
        &["/usr/bin/python3", "-I", "-c", RUN_WRITTEN, "memfd"],
        Path::new("/nonexistent"),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "write EPERM\n");
    let o = home.exec(
        &["/usr/bin/python3", "-I", "-c", RUN_WRITTEN, &reports],
        Path::new("/nonexistent"),
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "exec EACCES\n");
}

/// Python that prints its ids, then tries, on each path: open for appending (creating it);
/// chmod; prints one line per path.
const OWNER: &str = r#"
print(os.getuid(), os.getgid(), os.getgroups())
for p in sys.argv[1:]:
    attempt((lambda: open(p, "a").close(), lambda: os.chmod(p, 0o640)))
"#;

#[test]
fn started_as_root_the_program_runs_as_the_home_owner_and_root_files_stay_roots() {
    use std::os::unix::fs::MetadataExt as _;
    if !live() {
        return;
    }
    if policyc_host::sys::euid() != 0 {
        cannot_run("running as the home's owner is what policyc does when started as root");
        return;
    }
    let home = Home::new("exec-owner");
    let state = home.dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    for entry in [
        "",
        "Notes",
        "Reports",
        ".ssh",
        "Notes/n.md",
        "Reports/r.md",
        ".ssh/id_rsa",
    ] {
        std::os::unix::fs::chown(home.dir.join(entry), Some(1000), Some(1000)).unwrap();
    }
    // A root-owned file inside the write grant, writable by its owner only.
    let roots = home.dir.join("Reports/root.md");
    std::fs::write(&roots, "root's").unwrap();
    std::fs::set_permissions(&roots, std::fs::Permissions::from_mode(0o644)).unwrap();
    let own = home.dir.join("Reports/r.md");
    let new = home.dir.join("Reports/new.md");
    let scratch_file = "/tmp/report-writer/x";
    let owner = with_attempt(OWNER);
    let args = [
        "/usr/bin/python3",
        "-I",
        "-c",
        owner.as_str(),
        own.to_str().unwrap(),
        roots.to_str().unwrap(),
        new.to_str().unwrap(),
        scratch_file,
    ];
    let o = home.exec(&args, Path::new("/nonexistent"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // The home's owner, with no supplementary groups (root's are not kept).
    assert_eq!(lines[0], "1000 1000 []", "{out}");
    // Its own report: as before. Root's file in the same grant: neither its contents nor
    // its mode, although the grant is writable and the program was started by root.
    assert_eq!(lines[1], "ok ok", "{out}");
    assert_eq!(lines[2], "EACCES EPERM", "{out}");
    // What it creates in its grant and in its scratch area is its own.
    assert_eq!(lines[3..], ["ok ok", "ok ok"], "{out}");
    let m = std::fs::metadata(&roots).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o644, 0));
    assert_eq!(std::fs::read_to_string(&roots).unwrap(), "root's");
    let m = std::fs::metadata(&new).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o640));
}
