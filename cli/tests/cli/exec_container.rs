//! `policyc exec` on container policies, end to end under runc: python3 runs under the
//! stdlib `document_organizer` reading its mount and failing with the exact errno on what
//! the policy denies; the program's exit status passes through and policyc's own failures
//! have their own codes; the AppArmor layer is refused, or named as not enforced, on a
//! host without AppArmor; nothing is left behind. Needs root and runc; fails instead of
//! skipping under `POLICYC_REQUIRE_LIVE=1`. Every home is a temporary fixture (`--home`).

use super::{scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn live(what: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/sbin/runc", "/bin/runc"]
        .iter()
        .any(|p| Path::new(p).is_file());
    let ok = root && runc && Path::new(what).is_file();
    if !ok {
        cannot_run(&format!(
            "container exec tests need root, runc and {what} (root: {root}, runc: {runc})"
        ));
    }
    ok
}

/// Whether this host enforces AppArmor (then the stdlib policies run without
/// `--best-effort`).
fn host_apparmor() -> bool {
    policyc_host::container::apparmor::host_enforces().is_ok()
}

fn stdlib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../stdlib-policies/policies/{name}.policy"))
}

/// A home fixture: documents, mail, and the credentials the policies deny.
struct Fixture {
    dir: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = scratch(name);
        let home = dir.join("home");
        for d in ["Documents/taxes", "Mail/INBOX/cur", ".ssh"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(home.join("Documents/taxes/return.txt"), "2023 return\n").unwrap();
        std::fs::write(home.join("Mail/INBOX/cur/1.mailhost"), "Subject: hi\n").unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
        std::fs::set_permissions(
            home.join(".ssh/id_ed25519"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        Fixture { dir, home, tmp }
    }

    /// `policyc exec` of a policy file with this home, a secret in the caller's
    /// environment, and a private `TMPDIR` (to see that the bundle is removed).
    fn exec(&self, policy: &Path, flags: &[&str], command: &[&str]) -> Output {
        let home = self.home.display().to_string();
        let mut args = vec!["exec", "--home", &home];
        if !host_apparmor() {
            args.push("--best-effort");
        }
        args.extend_from_slice(flags);
        args.push(policy.to_str().unwrap());
        args.push("--");
        args.extend_from_slice(command);
        Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(args)
            .current_dir(&self.dir)
            .env("AWS_SECRET_ACCESS_KEY", "s3cr3t")
            .env("TMPDIR", &self.tmp)
            .output()
            .unwrap()
    }

    /// Nothing of the run is left in `TMPDIR` (the bundle, runc's state, the rootfs).
    #[track_caller]
    fn assert_clean(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

/// Python that tries each operation and prints `ok` or the errno's name, one per line.
const PROBE: &str = r#"
import errno, os, sys
def attempt(what, f):
    try:
        f()
        print(what, "ok")
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno))
home = os.environ["HOME"]
attempt("read-doc", lambda: print(open("/mnt/docs/taxes/return.txt").read().strip()))
attempt("write-doc", lambda: open("/mnt/docs/taxes/return.txt", "a"))
attempt("create-doc", lambda: open("/mnt/docs/new.txt", "w"))
attempt("read-ssh", lambda: open(home + "/.ssh/id_ed25519").read())
attempt("read-ssh-guest", lambda: open("/root/.ssh/id_ed25519").read())
attempt("write-scratch", lambda: open("/mnt/scratch/report.csv", "w").write("a,b\n"))
attempt("write-usr", lambda: open("/usr/policyc-probe", "w"))
attempt("chmod-usr", lambda: os.chmod("/usr/bin/python3", 0o777))
attempt("read-shadow", lambda: open("/etc/shadow").read())
print("secret", os.environ.get("AWS_SECRET_ACCESS_KEY", "unset"))
print("cwd", os.getcwd())
sys.exit(7)
"#;

#[test]
fn python_runs_under_the_document_organizer() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-python");
    let o = f.exec(
        &stdlib("document_organizer"),
        &[],
        &["python3", "-I", "-c", PROBE],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(7), "the program's own status\n{err}");
    assert_eq!(
        stdout(&o),
        "2023 return\nread-doc ok\nwrite-doc EROFS\ncreate-doc EROFS\nread-ssh ENOENT\n\
         read-ssh-guest ENOENT\nwrite-scratch ok\nwrite-usr EROFS\nchmod-usr EROFS\n\
         read-shadow ENOENT\nsecret unset\ncwd /\n",
        "{err}"
    );
    if !host_apparmor() {
        assert!(
            err.contains("AppArmor profile `policyc.document_organizer` NOT enforced"),
            "{err}"
        );
        assert!(
            err.contains("not enforced: apparmor: deny capability,"),
            "{err}"
        );
    }
    f.assert_clean();
    assert_eq!(
        std::fs::read_to_string(f.home.join("Documents/taxes/return.txt")).unwrap(),
        "2023 return\n"
    );
}

#[test]
fn the_working_directory_follows_the_mount() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-cwd");
    let o = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(["exec", "--best-effort", "--home"])
        .arg(&f.home)
        .arg(stdlib("document_organizer"))
        .args([
            "--",
            "python3",
            "-c",
            "import os; print(os.getcwd()); print(open('return.txt').read().strip())",
        ])
        .current_dir(f.home.join("Documents/taxes"))
        .env("TMPDIR", &f.tmp)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "/mnt/docs/taxes\n2023 return\n");
}

#[test]
fn statuses_are_the_programs_or_policycs_own() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-status");
    let policy = stdlib("document_organizer");
    let o = f.exec(
        &policy,
        &[],
        &["python3", "-c", "import ctypes; ctypes.string_at(0)"],
    );
    assert_eq!(o.status.code(), Some(139), "SIGSEGV: {}", stderr(&o));
    let o = f.exec(
        &policy,
        &[],
        &["python3", "-c", "import sys; sys.exit(125)"],
    );
    assert_eq!(
        o.status.code(),
        Some(125),
        "the program's own 125: {}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("policyc exec: the container"),
        "{}",
        stderr(&o)
    );

    let o = f.exec(&policy, &[], &["no-such-program"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("policyc exec: `no-such-program`: command not found"));

    let o = f.exec(&policy, &[], &["/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stderr(&o).contains("policyc exec: `/etc/passwd`: cannot execute"));

    // A root file system runc cannot mount the policy's folders in: runc fails, and that
    // is policyc's 125, never the program's status.
    let rootfs = f.dir.join("bad-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(rootfs.join("mnt"), "a file where a folder must be").unwrap();
    let o = f.exec(
        &policy,
        &["--rootfs", rootfs.to_str().unwrap()],
        &["/bin/true"],
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("policyc exec: the container did not run: runc failed:"),
        "{}",
        stderr(&o)
    );
    f.assert_clean();
}

#[test]
fn a_too_narrow_policy_is_refused_naming_the_syscalls() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-narrow");
    let policy = f.dir.join("narrow.policy");
    std::fs::write(
        &policy,
        "policy narrow {\n    isolation container\n    fs {\n        read \"~/Documents\" at \"/mnt/docs\"\n    }\n    net {\n        egress none\n    }\n    syscalls {\n        allow read, write\n    }\n}\n",
    )
    .unwrap();
    let o = f.exec(&policy, &[], &["/bin/true"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(126), "{err}");
    assert!(
        err.contains("policyc exec: `/bin/true` cannot start under policy `narrow`"),
        "{err}"
    );
    for call in ["`execve`", "`exit_group`", "`brk`", "`fstatfs`"] {
        assert!(err.contains(call), "{call} not named: {err}");
    }
    f.assert_clean();
}

#[test]
fn apparmor_is_never_reported_as_enforced() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-apparmor");
    let home = f.home.display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(["exec", "--home", &home])
        .arg(stdlib("document_organizer"))
        .args(["--", "/bin/true"])
        .env("TMPDIR", &f.tmp)
        .output()
        .unwrap();
    if host_apparmor() {
        // The profile is loaded; the policy's `audit { writes; denials }` is what refuses.
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert!(err.contains("records for process policies only"), "{err}");
    } else {
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert!(
            err.contains(
                "policy `document_organizer` has an AppArmor profile (`policyc.document_organizer`"
            ),
            "{err}"
        );
        assert!(err.contains("refusing to run (use --best-effort"), "{err}");
        assert!(stdout(&o).is_empty());
    }
    f.assert_clean();
}

/// `policyc exec` of a python program that prints `up` and sleeps; SIGTERM to policyc
/// once the program is up. How it ended, and how long that took.
fn terminate(f: &Fixture, program: &str) -> (Output, std::time::Duration) {
    let home = f.home.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(["exec", "--best-effort", "--home", &home])
        .arg(stdlib("document_organizer"))
        .args(["--", "python3", "-c", program])
        .env("TMPDIR", &f.tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    let pid = child.id().to_string();
    let start = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    (o, start.elapsed())
}

#[test]
fn a_signal_to_policyc_reaches_the_program_and_the_run_is_cleaned_up() {
    if !live("/usr/bin/python3") {
        return;
    }
    let f = Fixture::new("ctr-signal");
    // A handler: the program sees the signal policyc passes on.
    let handled = "import signal, sys, time\n\
                   signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n\
                   print('up', flush=True)\ntime.sleep(60)";
    let (o, took) = terminate(&f, handled);
    assert_eq!(o.status.code(), Some(42), "{}", stderr(&o));
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    f.assert_clean();
    // No handler: as the container's PID 1 the program never sees SIGTERM, so it is killed
    // after the grace period, and still nothing is left behind.
    let (o, took) = terminate(&f, "import time\nprint('up', flush=True)\ntime.sleep(60)");
    assert_eq!(o.status.code(), Some(137), "SIGKILL: {}", stderr(&o));
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    f.assert_clean();
}

/// Node under the email assistant: it reads its mailbox, cannot change it or reach the
/// credentials, has no DNS for unlisted names and no route out but the egress proxy, which
/// refuses other hosts and lets the IMAP host through (to a loopback server this test
/// starts on port 993, pinned with `--resolve`).
const NODE_PROBE: &str = r#"
const fs = require("fs"), net = require("net"), tls = require("tls"), dns = require("dns");
const out = [];
const attempt = (what, f) => { try { f(); out.push(what + " ok"); } catch (e) { out.push(what + " " + e.code); } };
attempt("read-mail", () => fs.readFileSync("/mail/INBOX/cur/1.mailhost"));
attempt("write-mail", () => fs.writeFileSync("/mail/INBOX/new-forged", "x"));
attempt("read-ssh", () => fs.readFileSync(process.env.HOME + "/.ssh/id_ed25519"));
attempt("write-drafts", () => fs.writeFileSync("/drafts/reply.eml", "hi"));
out.push("secret " + (process.env.AWS_SECRET_ACCESS_KEY || "unset"));
const proxy = Number(new URL(process.env.HTTPS_PROXY).port);
const connect = (host, port) => new Promise((done) => {
  const p = net.connect(proxy, "127.0.0.1", () =>
    p.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`));
  p.once("data", (d) => done([p, d.toString().split("\r\n")[0]]));
  p.on("error", (e) => done([p, e.code]));
});
(async () => {
  out.push("dns " + await new Promise((r) => dns.lookup("example.com", (e) => r(e ? e.code : "ok"))));
  out.push("direct " + await new Promise((r) => {
    const s = net.connect(993, "93.184.216.34", () => r("ok"));
    s.on("error", (e) => r(e.code));
  }));
  const [other, otherStatus] = await connect("example.com", 443);
  other.destroy();
  out.push("proxy-other " + otherStatus);
  const [imap, imapStatus] = await connect("imap.mail.example.com", 993);
  out.push("proxy-imap " + imapStatus);
  const t = tls.connect({ socket: imap, servername: "imap.mail.example.com" });
  t.on("error", () => { console.log(out.join("\n")); process.exit(3); });
})();
"#;

#[test]
fn node_runs_under_the_email_assistant_behind_the_egress_proxy() {
    if !live("/usr/bin/node") {
        return;
    }
    let f = Fixture::new("ctr-node");
    let upstream = std::net::TcpListener::bind("127.0.0.1:993").expect("the test's IMAP stand-in");
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&hits);
    std::thread::spawn(move || {
        for s in upstream.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    let log = f.dir.join("audit.jsonl");
    let log_arg = log.display().to_string();
    let o = f.exec(
        &stdlib("email_assistant"),
        &[
            "--resolve",
            "imap.mail.example.com:993:127.0.0.1",
            "--audit-log",
            &log_arg,
        ],
        &["node", "-e", NODE_PROBE],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(
        stdout(&o),
        "read-mail ok\nwrite-mail EROFS\nread-ssh ENOENT\nwrite-drafts ok\nsecret unset\n\
         dns ENOTFOUND\ndirect ENETUNREACH\nproxy-other HTTP/1.1 403 Forbidden\n\
         proxy-imap HTTP/1.1 200 Connection established\n",
        "{err}"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let audit = std::fs::read_to_string(&log).unwrap();
    assert!(
        audit.contains(r#""hostname":"imap.mail.example.com""#)
            && audit.contains(r#""sni":"imap.mail.example.com""#)
            && audit.contains(r#""decision":"allow""#),
        "{audit}"
    );
    assert!(audit.contains(r#""hostname":"example.com""#), "{audit}");
    f.assert_clean();
}

/// The profile `exec` loads on a host with AppArmor (the emitted one plus the image's
/// rules) is one `apparmor_parser` accepts: compiled offline against the pinned features.
#[test]
fn the_loaded_profile_compiles() {
    let Some(parser) = policyc_host::apparmor::parser() else {
        cannot_run("apparmor_parser is not installed (apt-get install apparmor)");
        return;
    };
    let dir = scratch("ctr-apparmor-compile");
    let home = dir.display().to_string();
    std::fs::create_dir_all(dir.join("Documents")).unwrap();
    let out = dir.join("out");
    let o = super::policyc(
        &[
            "build",
            "--home",
            &home,
            "--target",
            "apparmor",
            "--out",
            out.to_str().unwrap(),
            stdlib("document_organizer").to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let emitted = std::fs::read_to_string(out.join("document_organizer/apparmor.profile")).unwrap();
    let loaded = policyc_host::container::apparmor::with_image_rules(&emitted);
    assert!(loaded.contains("/usr/** mrix,"));
    policyc_host::apparmor::compile(&parser, loaded.as_bytes()).unwrap();
    // And a broken rule is refused, so the compile above means something.
    let broken = loaded.replace("/usr/** mrix,", "/usr/** mrixq,");
    assert!(policyc_host::apparmor::compile(&parser, broken.as_bytes()).is_err());
}

/// A loopback HTTPS server for `api.test` (its certificate signed by a CA made now with
/// `openssl`), run by python3: it records each request's `Authorization` header in
/// `auth.log` and answers `upstream`. Killed when dropped.
struct HttpsUpstream {
    child: std::process::Child,
    port: u16,
    ca: PathBuf,
    log: PathBuf,
}

const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[3], "a") as f:
            f.write(self.headers.get("Authorization", "(none)") + "\n")
        body = b"upstream\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

impl HttpsUpstream {
    fn start(dir: &Path) -> HttpsUpstream {
        let openssl = |args: &[&str]| {
            let o = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=policyc test CA"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(&ca);
        let mut csr = vec!["req", "-subj", "/CN=api.test", "-keyout", "leaf.key"];
        csr.extend(ec);
        csr.extend(["-out", "leaf.csr"]);
        openssl(&csr);
        std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:api.test\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
        let log = dir.join("auth.log");
        let mut child = Command::new("python3")
            .args(["-c", HTTPS_SERVER, "leaf.pem", "leaf.key"])
            .arg(&log)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let out = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        let port = line.trim().parse().unwrap();
        HttpsUpstream {
            child,
            port,
            ca: dir.join("ca.pem"),
            log,
        }
    }

    fn auth(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpsUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Python in the container calls a token-bound HTTPS endpoint with its capability: the
/// supervisor terminates its TLS with the session CA, which the container trusts because
/// the session CA bundle is bound over its system bundle, and the upstream gets the real
/// secret.
const TOKEN_PROBE: &str = r#"
import os, sys, urllib.request
port = sys.argv[1]
req = urllib.request.Request(f"https://api.test:{port}/data",
    headers={"Authorization": "Bearer " + os.environ["POLICYC_TOKEN_API"]})
try:
    print("api", urllib.request.urlopen(req, timeout=10).read().decode().strip())
except Exception as e:
    print("api failed:", e)
"#;

#[test]
fn a_container_trusts_the_session_ca_for_its_token_bound_endpoints() {
    if !live("/usr/bin/python3") || !live("/usr/bin/openssl") {
        return;
    }
    let f = Fixture::new("ctr-token");
    let up = HttpsUpstream::start(&f.dir);
    let port = up.port;
    let secret = "sk-container-secret-only-policyc-holds";
    let secret_file = f.dir.join("secret.txt");
    std::fs::write(&secret_file, secret).unwrap();
    let policy = f.dir.join("token_fetcher.policy");
    std::fs::write(
        &policy,
        format!(
            r#"use std::runtime::python
use std::runtime::base
policy token_fetcher {{
    isolation container
    fs {{ tmpfs "/tmp" size 16MiB }}
    net {{
        egress via proxy {{ allow "api.test":{port} with token api }}
        dns allow-listed-only
    }}
    token api {{ audience "api.test"; scope "read"; ttl 5m }}
    include runtime_guards
    syscalls {{ allow python; default errno EPERM }}
}}"#
        ),
    )
    .unwrap();
    let (pin, ca) = (
        format!("api.test:{port}:127.0.0.1"),
        up.ca.display().to_string(),
    );
    let secret_arg = format!("api=file:{}", secret_file.display());
    let o = f.exec(
        &policy,
        &[
            "--resolve",
            &pin,
            "--upstream-ca",
            &ca,
            "--secret",
            &secret_arg,
        ],
        &["python3", "-c", TOKEN_PROBE, &port.to_string()],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(stdout(&o), "api upstream\n", "{err}");
    assert_eq!(up.auth(), format!("Bearer {secret}\n"), "{err}");
    f.assert_clean();
}

const CARRIER_PROBE: &str = r#"
import os, sys, urllib.request
print("carrier", os.environ.get("AWS_SECRET_ACCESS_KEY", "absent"))
port = sys.argv[1]
req = urllib.request.Request(f"https://api.test:{port}/data",
    headers={"Authorization": "Bearer " + os.environ["POLICYC_TOKEN_API"]})
print("api", urllib.request.urlopen(req, timeout=10).read().decode().strip())
"#;

/// A variable that holds an injected secret stays out of the container even when the
/// policy passes it: the supervisor holds the secret, the program only its capability.
#[test]
fn a_passed_variable_holding_an_injected_secret_stays_out_of_the_container() {
    if !live("/usr/bin/python3") || !live("/usr/bin/openssl") {
        return;
    }
    let f = Fixture::new("ctr-carrier");
    let up = HttpsUpstream::start(&f.dir);
    let port = up.port;
    let policy = f.dir.join("carrier.policy");
    std::fs::write(
        &policy,
        format!(
            r#"use std::runtime::python
use std::runtime::base
policy carrier {{
    isolation container
    env {{ pass AWS_SECRET_ACCESS_KEY }}
    fs {{ tmpfs "/tmp" size 16MiB }}
    net {{
        egress via proxy {{ allow "api.test":{port} with token api }}
        dns allow-listed-only
    }}
    token api {{ audience "api.test"; scope "read"; ttl 5m }}
    include runtime_guards
    syscalls {{ allow python; default errno EPERM }}
}}"#
        ),
    )
    .unwrap();
    let (pin, ca) = (
        format!("api.test:{port}:127.0.0.1"),
        up.ca.display().to_string(),
    );
    let o = f.exec(
        &policy,
        &[
            "--resolve",
            &pin,
            "--upstream-ca",
            &ca,
            "--secret",
            "api=env:AWS_SECRET_ACCESS_KEY",
        ],
        &["python3", "-c", CARRIER_PROBE, &port.to_string()],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(stdout(&o), "carrier absent\napi upstream\n", "{err}");
    assert_eq!(up.auth(), "Bearer s3cr3t\n", "{err}");
    f.assert_clean();
}

/// The bundles of this policyc process in `dir`.
fn bundles_of(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("policyc-exec-bundle-{pid}-");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .collect()
}

/// Without `TMPDIR` the bundle is made in `/dev/shm` (a tmpfs: removing it from a disk
/// took longer than runc's run), private to policyc, and removed when the program ends.
#[test]
fn without_tmpdir_the_bundle_is_private_in_memory_and_removed() {
    use std::io::{Read as _, Write as _};
    let shm = Path::new(policyc_host::container::MEMORY_DIR);
    if !live("/usr/bin/python3") || !shm.is_dir() {
        return;
    }
    let f = Fixture::new("ctr-shm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(["exec", "--best-effort", "--quiet", "--home"])
        .arg(&f.home)
        .arg(stdlib("document_organizer"))
        .args(["--", "python3", "-c"])
        .arg("import sys; print('up', flush=True); print(sys.stdin.read().strip())")
        .env_remove("TMPDIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = [0u8; 3];
    child.stdout.as_mut().unwrap().read_exact(&mut up).unwrap();
    assert_eq!(&up, b"up\n");
    let running = bundles_of(child.id(), shm);
    assert_eq!(running.len(), 1, "{running:?}");
    let meta = std::fs::metadata(&running[0]).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert!(running[0].join("config.json").is_file());
    assert!(running[0].join("rootfs/mnt/docs").is_dir());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"bye\n").unwrap();
    drop(stdin);
    let pid = child.id();
    let mut rest = String::new();
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(rest, "bye\n");
    assert!(bundles_of(pid, shm).is_empty(), "left behind in /dev/shm");
    assert!(!running[0].exists());
}
