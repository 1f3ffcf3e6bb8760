//! Every stdlib policy, run by `policyc exec` with a real program (ADVERSARIAL.md classes 34
//! and 35): the caller's secrets in the environment never reach it, an ssh-agent-style
//! socket named by `SSH_AUTH_SOCK` is unreachable, and files outside the grants keep their
//! mode and times after chmod and utime attempts. One table row per policy; each failure
//! names its policy. Fails instead of skipping under `POLICYC_REQUIRE_LIVE=1`.

use super::{scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// The caller's secrets.
const SECRETS: [(&str, &str); 2] = [
    ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
    ("GITHUB_TOKEN", "ghp_x"),
];

/// Files outside every grant of every stdlib policy.
const GUARDED: [&str; 2] = [".ssh/id_rsa", ".bashrc"];

/// Python: the secret variables it sees, the agent's answer, then chmod and utime on each
/// path (an errno name or `ok` for each).
const PROBE: &str = r#"
import errno, os, socket, sys
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
seen = [k for k in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK") if k in os.environ]
seen += [v for v in os.environ.values() if v in ("s3cr3t", "ghp_x")]
print("env", " ".join(seen) or "clean")
def agent():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall(b"hi")
    if s.recv(16) != b"reply":
        raise OSError(errno.EPROTO, "no reply")
print("agent", attempt(agent))
for p in sys.argv[2:]:
    print("meta", attempt(lambda: os.chmod(p, 0o777)), attempt(lambda: os.utime(p, (0, 0))))
"#;

/// WASI preview 1 (no socket can be opened: it has no connect): prints its environment,
/// then tries `path_filestat_set_times` on `../../.ssh/id_rsa` and `../.bashrc` from the
/// first two preopens (`/data` is `~/Documents/Finance`), one `K` (ok) or `E` per call.
const WASM_PROBE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "../../.ssh/id_rsa")
  (data (i32.const 200) "../.bashrc")
  (data (i32.const 300) "\ntimes ")
  (func $try (param $fd i32) (param $path i32) (param $len i32) (param $at i32)
    (i32.store8 (local.get $at)
      (select (i32.const 75) (i32.const 69)
        (i32.eqz (call $times (local.get $fd) (i32.const 0) (local.get $path) (local.get $len)
          (i64.const 0) (i64.const 0) (i32.const 5))))))
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 64) (local.get $ptr))
    (i32.store (i32.const 68) (local.get $len))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 72))))
  (func (export "_start")
    (local $i i32) (local $size i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $env (i32.const 1024) (i32.const 8192)))
    (local.set $size (i32.load (i32.const 4)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
        (if (i32.eqz (i32.load8_u (i32.add (i32.const 8192) (local.get $i))))
          (then (i32.store8 (i32.add (i32.const 8192) (local.get $i)) (i32.const 10))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $print (i32.const 8192) (local.get $size))
    (call $print (i32.const 300) (i32.const 7))
    (call $try (i32.const 3) (i32.const 100) (i32.const 17) (i32.const 400))
    (call $try (i32.const 3) (i32.const 200) (i32.const 10) (i32.const 401))
    (call $try (i32.const 4) (i32.const 100) (i32.const 17) (i32.const 402))
    (call $try (i32.const 4) (i32.const 200) (i32.const 10) (i32.const 403))
    (i32.store8 (i32.const 404) (i32.const 10))
    (call $print (i32.const 400) (i32.const 5))))
"#;

fn live() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    let ok = root
        && policyc_host::landlock::kernel_abi() >= 6
        && Path::new("/usr/bin/python3").exists()
        && policyc_host::container::Runtime::find().is_ok();
    if !ok {
        cannot_run("stdlib exec tests need root, Landlock ABI 6, python3 and runc");
    }
    ok
}

/// A home with what the policies grant and what they guard, and an agent socket.
struct Home {
    dir: PathBuf,
    home: PathBuf,
    agent: PathBuf,
}

impl Home {
    fn new(name: &str) -> Home {
        let dir = scratch(name);
        let home = dir.join("home");
        for d in [
            "Notes",
            "Reports",
            "Documents/Finance",
            "Mail/INBOX/cur",
            ".ssh",
        ] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        for f in GUARDED
            .iter()
            .chain(&["Notes/n.md", "Documents/Finance/q.csv"])
        {
            std::fs::write(home.join(f), "x").unwrap();
            std::fs::set_permissions(home.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let agent_dir = dir.join("ssh-agent");
        std::fs::create_dir_all(&agent_dir).unwrap();
        let agent = agent_dir.join("agent.1");
        let listener = UnixListener::bind(&agent).unwrap();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 16];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"reply");
            }
        });
        Home { dir, home, agent }
    }

    fn guarded(&self) -> Vec<String> {
        GUARDED
            .iter()
            .map(|f| self.home.join(f).display().to_string())
            .collect()
    }

    fn stamps(&self) -> Vec<(u32, SystemTime)> {
        GUARDED
            .iter()
            .map(|f| {
                let m = std::fs::metadata(self.home.join(f)).unwrap();
                (m.permissions().mode() & 0o7777, m.modified().unwrap())
            })
            .collect()
    }

    /// `policyc exec` of a stdlib policy, the caller's environment holding the secrets
    /// and `SSH_AUTH_SOCK`.
    fn exec(&self, policy: &str, command: &[&str]) -> Output {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../stdlib-policies/policies/{policy}.policy"));
        let home = self.home.display().to_string();
        // No host here enforces AppArmor: container policies say so and run.
        let mut args = vec!["exec", "--quiet", "--best-effort", "--home", &home];
        args.push(file.to_str().unwrap());
        args.push("--");
        args.extend_from_slice(command);
        Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(args)
            .current_dir(&self.dir)
            .envs(SECRETS)
            .env("SSH_AUTH_SOCK", &self.agent)
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .output()
            .unwrap()
    }
}

#[test]
fn under_every_stdlib_policy_secrets_agents_and_guarded_files_stay_out_of_reach() {
    if !live() {
        return;
    }
    for policy in ["report_writer", "document_organizer", "email_assistant"] {
        let h = Home::new(&format!("stdlib-{policy}"));
        let before = h.stamps();
        let agent = h.agent.display().to_string();
        let mut command = vec!["/usr/bin/python3", "-I", "-c", PROBE, &agent];
        let guarded = h.guarded();
        command.extend(guarded.iter().map(String::as_str));
        let o = h.exec(policy, &command);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(0), "{policy}: {err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{policy}: {out}{err}");
        assert_eq!(
            lines[0], "env clean",
            "{policy}: secrets reached the program"
        );
        assert!(
            lines[1].starts_with("agent ") && lines[1] != "agent ok",
            "{policy}: {out}"
        );
        for l in &lines[2..] {
            assert!(
                !l.contains("ok"),
                "{policy}: a metadata change succeeded: {out}"
            );
        }
        assert_eq!(h.stamps(), before, "{policy}: a guarded file changed");
    }
}

#[test]
fn under_the_wasm_stdlib_policy_secrets_and_guarded_files_stay_out_of_reach() {
    if !live() {
        return;
    }
    let h = Home::new("stdlib-spreadsheet");
    std::fs::write(
        h.dir.join("probe.wasm"),
        wat::parse_str(WASM_PROBE).unwrap(),
    )
    .unwrap();
    let before = h.stamps();
    let o = h.exec("spreadsheet_generator", &["probe.wasm"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "spreadsheet_generator: {err}");
    for (k, v) in SECRETS.iter().chain(&[("SSH_AUTH_SOCK", "")]) {
        assert!(
            !out.contains(k),
            "spreadsheet_generator: {k} reached the module: {out}"
        );
        assert!(
            v.is_empty() || !out.contains(v),
            "spreadsheet_generator: {out}"
        );
    }
    assert!(
        out.ends_with("\ntimes EEEE\n"),
        "spreadsheet_generator: {out}{err}"
    );
    assert_eq!(
        h.stamps(),
        before,
        "spreadsheet_generator: a guarded file changed"
    );
}
