//! The stdlib email assistant end to end: `policyc exec` runs python3 under
//! `email_assistant.policy` (in a runc container, behind the egress supervisor) with the
//! real IMAP and SMTP secrets given by `--secret`. This test starts a loopback IMAP server
//! (993) and SMTP server (465), both TLS with a certificate from a CA made here
//! (`--upstream-ca`), pinned with `--resolve`. Python's `imaplib` logs in with its
//! read-only capability and reads INBOX; its `STORE` and `APPEND` are refused by the
//! relay and never reach the server. `smtplib` sends a draft the approver command says yes
//! to; a draft it says no to, a draft nobody answers for in time, and every refused
//! capability (another token's, a used single-use one) leave the SMTP server without a
//! message. The servers see the real secrets only from the supervisor; the program's
//! environment never holds them. The audit log verifies and shows each step. Needs root,
//! runc and python3; fails instead of skipping under `POLICYC_REQUIRE_LIVE=1`.

use super::{policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls;

const IMAP_SECRET: &str = "imap-app-password-only-the-supervisor-holds";
const SMTP_SECRET: &str = "smtp-app-password-only-the-supervisor-holds";
const MESSAGE: &str = "From: carol@example.org\r\nSubject: Hello Alice\r\n\r\nLunch on Friday?\r\n";

fn live() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/sbin/runc", "/bin/runc"]
        .iter()
        .any(|p| Path::new(p).is_file());
    let ok = root && runc && Path::new("/usr/bin/python3").is_file();
    if !ok {
        cannot_run("the email assistant test needs root, runc and /usr/bin/python3");
    }
    ok
}

/// What a test server saw: connections, passwords, commands, messages.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    passwords: Mutex<Vec<String>>,
    commands: Mutex<Vec<String>>,
    messages: Mutex<Vec<String>>,
}

impl Seen {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    fn list(m: &Mutex<Vec<String>>) -> Vec<String> {
        m.lock().unwrap().clone()
    }
}

/// The test CA and a TLS configuration for `name`, signed by it.
fn tls_for(name: &str, dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let file = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&file, ca_cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (Arc::new(config), file)
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

/// Serve `port` on `addr` over TLS, one thread per connection running `session`.
fn serve(
    addr: &str,
    port: u16,
    config: Arc<rustls::ServerConfig>,
    seen: Arc<Seen>,
    session: fn(&mut BufReader<Tls>, &Seen),
) {
    let l = TcpListener::bind((addr, port)).expect("the test's mail server port");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            seen.connections.fetch_add(1, Ordering::SeqCst);
            let (config, seen) = (Arc::clone(&config), Arc::clone(&seen));
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut r = BufReader::new(rustls::StreamOwned::new(conn, s));
                session(&mut r, &seen);
            });
        }
    });
}

fn say(r: &mut BufReader<Tls>, text: &str) {
    let _ = r.get_mut().write_all(text.as_bytes());
    let _ = r.get_mut().flush();
}

/// A small IMAP server: one mailbox with one message; it records every command.
fn imap_session(r: &mut BufReader<Tls>, seen: &Seen) {
    say(r, "* OK test IMAP server ready\r\n");
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let tag = words.first().cloned().unwrap_or_default();
        let cmd = words
            .get(1)
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        if cmd == "LOGIN" {
            let pass = words.get(3).cloned().unwrap_or_default();
            seen.passwords
                .lock()
                .unwrap()
                .push(pass.trim_matches('"').to_string());
            seen.commands.lock().unwrap().push("LOGIN".into());
        } else {
            seen.commands
                .lock()
                .unwrap()
                .push(line.trim_end().to_string());
        }
        let reply = match cmd.as_str() {
            "LOGIN" if line.contains(IMAP_SECRET) => format!("{tag} OK logged in\r\n"),
            "LOGIN" => format!("{tag} NO [AUTHENTICATIONFAILED] wrong password\r\n"),
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n"),
            "EXAMINE" => format!(
                "* FLAGS (\\Seen \\Deleted)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-ONLY] EXAMINE done\r\n"
            ),
            "SELECT" => format!("* 1 EXISTS\r\n{tag} OK [READ-WRITE] SELECT done\r\n"),
            "FETCH" => format!(
                "* 1 FETCH (RFC822 {{{}}}\r\n{MESSAGE})\r\n{tag} OK FETCH done\r\n",
                MESSAGE.len()
            ),
            "LOGOUT" => {
                say(r, &format!("* BYE bye\r\n{tag} OK LOGOUT done\r\n"));
                return;
            }
            _ => format!("{tag} OK {cmd} done\r\n"),
        };
        say(r, &reply);
        line.clear();
    }
}

/// A small SMTP server (implicit TLS): it records the AUTH PLAIN password and each message.
fn smtp_session(r: &mut BufReader<Tls>, seen: &Seen) {
    say(r, "220 test SMTP server ready\r\n");
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let upper = line.to_ascii_uppercase();
        seen.commands
            .lock()
            .unwrap()
            .push(line.split_whitespace().next().unwrap_or("").to_string());
        let reply = if upper.starts_with("EHLO") {
            "250-test\r\n250 AUTH PLAIN\r\n".to_string()
        } else if upper.starts_with("AUTH PLAIN ") {
            let b64 = line.split_whitespace().nth(2).unwrap_or("");
            let plain = base64_decode(b64);
            let pass = plain.rsplit('\0').next().unwrap_or("").to_string();
            let ok = pass == SMTP_SECRET;
            seen.passwords.lock().unwrap().push(pass);
            if ok {
                "235 ok\r\n".into()
            } else {
                "535 wrong password\r\n".into()
            }
        } else if upper.starts_with("DATA") {
            say(r, "354 go on\r\n");
            let mut msg = String::new();
            let mut l = String::new();
            while r.read_line(&mut l).is_ok_and(|n| n > 0) && l != ".\r\n" {
                msg.push_str(&l);
                l.clear();
            }
            seen.messages.lock().unwrap().push(msg);
            "250 queued\r\n".into()
        } else if upper.starts_with("QUIT") {
            say(r, "221 bye\r\n");
            return;
        } else {
            "250 ok\r\n".into()
        };
        say(r, &reply);
        line.clear();
    }
}

fn base64_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut o = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    o.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    o.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    o.wait().unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The program: reads INBOX, tries to change it, sends drafts, and shows its environment.
const ASSISTANT: &str = r#"
import imaplib, os, smtplib, ssl
out = []
ctx = ssl.create_default_context()
imap_cap = os.environ["POLICYC_TOKEN_IMAP_READ"]
smtp_cap = os.environ.get("POLICYC_TOKEN_SMTP_SEND")
def attempt(what, f):
    try:
        r = f()
        out.append(what + " " + (str(r[0]) if isinstance(r, tuple) else "ok"))
    except (imaplib.IMAP4.error, smtplib.SMTPException, OSError) as e:
        out.append(what + " refused " + type(e).__name__)
if smtp_cap:
    # Another token's capability is not a password for this endpoint.
    attempt("imap-with-smtp-cap", lambda: imaplib.IMAP4_SSL("imap.mail.example.com", 993, ssl_context=ctx).login("alice", smtp_cap))
m = imaplib.IMAP4_SSL("imap.mail.example.com", 993, ssl_context=ctx)
attempt("login", lambda: m.login("alice", imap_cap))
attempt("select", lambda: m.select("INBOX", readonly=True))
typ, data = m.fetch("1", "(RFC822)")
out.append("fetch " + typ + " " + data[0][1].decode().split("\r\n")[1])
attempt("store", lambda: m.store("1", "+FLAGS", "\\Deleted"))
attempt("append", lambda: m.append("INBOX", None, None, b"Subject: forged\r\n\r\nx\r\n"))
attempt("expunge", lambda: m.expunge())
attempt("uid-copy", lambda: m.uid("COPY", "1", "Trash"))
m.logout()
if smtp_cap:
    s = smtplib.SMTP_SSL("smtp.mail.example.com", 465, context=ctx)
    attempt("smtp-login", lambda: s.login("alice", smtp_cap))
    for n in (1, 2):
        attempt("send-draft-%d" % n, lambda: s.sendmail("alice@mail.example.com", ["bob@example.org"],
            "Subject: draft %d\r\n\r\nSee you on Friday.\r\n" % n) or ("sent",))
    attempt("vrfy", lambda: s.verify("bob"))
    s.quit()
    again = smtplib.SMTP_SSL("smtp.mail.example.com", 465, context=ctx)
    attempt("smtp-login-again", lambda: again.login("alice", smtp_cap))
else:
    out.append("no smtp capability")
    s = smtplib.SMTP_SSL("smtp.mail.example.com", 465, context=ctx)
    attempt("smtp-login-with-imap-cap", lambda: s.login("alice", imap_cap))
print("\n".join(out))
print("ENVIRON", open("/proc/self/environ", "rb").read().replace(b"\0", b" ").decode())
"#;

struct Fixture {
    /// A loopback address of this test's own, so its servers on 993 and 465 meet no
    /// other test's.
    addr: &'static str,
    dir: PathBuf,
    home: PathBuf,
    imap: Arc<Seen>,
    smtp: Arc<Seen>,
    cas: Vec<PathBuf>,
}

impl Fixture {
    fn new(addr: &'static str) -> Fixture {
        let dir = scratch(&format!("mail-{addr}"));
        let home = dir.join("home");
        std::fs::create_dir_all(home.join("Mail/INBOX/cur")).unwrap();
        std::fs::write(dir.join("smtp-secret"), format!("{SMTP_SECRET}\n")).unwrap();
        let (imap_tls, imap_ca) = tls_for("imap.mail.example.com", &dir);
        let (smtp_tls, smtp_ca) = tls_for("smtp.mail.example.com", &dir);
        let imap = Arc::new(Seen::default());
        let smtp = Arc::new(Seen::default());
        serve(addr, 993, imap_tls, Arc::clone(&imap), imap_session);
        serve(addr, 465, smtp_tls, Arc::clone(&smtp), smtp_session);
        Fixture {
            addr,
            dir,
            home,
            imap,
            smtp,
            cas: vec![imap_ca, smtp_ca],
        }
    }

    /// `policyc exec` of the stdlib email assistant running [`ASSISTANT`] (without a
    /// controlling terminal, so only `--approver` can approve).
    fn exec(&self, log: &Path, flags: &[&str]) -> Output {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../stdlib-policies/policies/email_assistant.policy");
        let smtp_secret = format!("smtp_send=file:{}", self.dir.join("smtp-secret").display());
        let imap_pin = format!("imap.mail.example.com:993:{}", self.addr);
        let smtp_pin = format!("smtp.mail.example.com:465:{}", self.addr);
        let mut args: Vec<String> = [
            "exec",
            "--home",
            self.home.to_str().unwrap(),
            "--resolve",
            imap_pin.as_str(),
            "--resolve",
            smtp_pin.as_str(),
            "--secret",
            "imap_read=env:MAIL_TEST_IMAP_SECRET",
            "--secret",
            smtp_secret.as_str(),
            "--audit-log",
            log.to_str().unwrap(),
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        for ca in &self.cas {
            args.extend(["--upstream-ca".to_string(), ca.display().to_string()]);
        }
        if policyc_host::container::apparmor::host_enforces().is_err() {
            args.push("--best-effort".into());
        }
        args.extend(flags.iter().map(|s| (*s).to_string()));
        args.push(policy.display().to_string());
        args.extend(["--", "python3", "-I", "-c", ASSISTANT].map(str::to_string));
        Command::new("setsid")
            .arg("--wait")
            .arg(env!("CARGO_BIN_EXE_policyc"))
            .args(&args)
            .current_dir(&self.dir)
            .env("MAIL_TEST_IMAP_SECRET", IMAP_SECRET)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

#[test]
fn the_email_assistant_reads_read_only_and_sends_only_what_is_approved() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.12.1");
    let log = f.dir.join("audit.jsonl");
    let asked = f.dir.join("approvals.jsonl");
    // Yes to the first draft, no to anything else; every request is kept.
    let approver = format!(
        "tee -a {} | grep -q '\"subject\":\"draft 1\"'",
        asked.display()
    );
    let o = f.exec(
        &log,
        &["--approver", &approver, "--approval-timeout", "20s"],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let report = out.split("ENVIRON").next().unwrap();
    assert_eq!(
        report,
        "imap-with-smtp-cap refused error\nlogin OK\nselect OK\nfetch OK Subject: Hello Alice\n\
         store NO\nappend NO\nexpunge NO\nuid-copy NO\n\
         smtp-login 235\nsend-draft-1 sent\nsend-draft-2 refused SMTPDataError\n\
         vrfy 502\nsmtp-login-again refused SMTPAuthenticationError\n",
        "{out}\n{err}"
    );
    // The program's environment holds capabilities, never the secrets.
    assert!(out.contains("POLICYC_TOKEN_IMAP_READ="), "{out}");
    assert!(
        !out.contains(IMAP_SECRET) && !out.contains(SMTP_SECRET),
        "{out}"
    );
    assert!(!out.contains("MAIL_TEST_IMAP_SECRET"), "{out}");

    // IMAP: one connection (the refused capability dialled nothing), the real secret,
    // EXAMINE for SELECT, and no command that changes the mailbox.
    assert_eq!(f.imap.connections(), 1);
    assert_eq!(Seen::list(&f.imap.passwords), [IMAP_SECRET]);
    let commands = Seen::list(&f.imap.commands).join("\n");
    assert!(commands.contains("EXAMINE INBOX"), "{commands}");
    for changing in ["STORE", "APPEND", "EXPUNGE", "COPY", "SELECT"] {
        assert!(
            !commands.contains(changing),
            "{changing} reached the server: {commands}"
        );
    }
    // SMTP: the approved draft only, sent with the real secret; the refused login dialled
    // nothing, and VRFY was answered by the relay.
    let messages = Seen::list(&f.smtp.messages);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("Subject: draft 1"), "{messages:?}");
    assert_eq!(Seen::list(&f.smtp.passwords), [SMTP_SECRET]);
    assert_eq!(f.smtp.connections(), 1);
    assert!(!Seen::list(&f.smtp.commands)
        .iter()
        .any(|c| c.eq_ignore_ascii_case("VRFY")));
    // The approver was asked twice, with the envelope, never with a secret.
    let requests = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(requests.lines().count(), 2, "{requests}");
    assert!(
        requests.contains(r#""to":["bob@example.org"]"#),
        "{requests}"
    );
    assert!(
        requests.contains(r#""from":"alice@mail.example.com""#),
        "{requests}"
    );
    assert!(!requests.contains(SMTP_SECRET), "{requests}");

    // The audit log verifies and shows each step.
    let verify = policyc(&["audit", "verify", log.to_str().unwrap()], &f.dir);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let show = stdout(&policyc(&["audit", "show", log.to_str().unwrap()], &f.dir));
    for step in [
        "capability refused (wrong-audience)",
        "capability for `imap_read` verified (scope mail:read)",
        "IMAP `STORE` refused",
        "IMAP `APPEND` refused",
        "IMAP `UID COPY` refused",
        "capability for `smtp_send` verified (scope mail:send)",
        "approval for `smtp_send` granted",
        "approval for `smtp_send` refused",
        "sent upstream: 250 queued",
        "SMTP `VRFY` refused",
        "capability refused (replayed)",
    ] {
        assert!(show.contains(step), "`{step}` is not in the log:\n{show}");
    }
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains(IMAP_SECRET) && !raw.contains(SMTP_SECRET));
}

#[test]
fn no_answer_in_time_and_no_approver_send_nothing() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.12.2");
    let log = f.dir.join("audit.jsonl");
    let o = f.exec(&log, &["--approver", "sleep 30", "--approval-timeout", "2"]);
    let out = stdout(&o);
    assert!(out.contains("smtp-login 235\nsend-draft-1 refused SMTPDataError\nsend-draft-2 refused SMTPDataError\n"), "{out}\n{}", stderr(&o));
    assert!(Seen::list(&f.smtp.messages).is_empty());
    assert_eq!(f.smtp.connections(), 0);
    let show = stdout(&policyc(&["audit", "show", log.to_str().unwrap()], &f.dir));
    assert!(show.contains("did not answer within 2 s"), "{show}");

    // Without an approver and without a terminal, the send token is not issued at all,
    // and the IMAP capability is no SMTP password.
    let o = f.exec(&log, &[]);
    let out = stdout(&o);
    assert!(
        out.contains(
            "no smtp capability\nsmtp-login-with-imap-cap refused SMTPAuthenticationError\n"
        ),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(!out.contains("POLICYC_TOKEN_SMTP_SEND"), "{out}");
    assert_eq!(f.smtp.connections(), 0);
    let verify = policyc(&["audit", "verify", log.to_str().unwrap()], &f.dir);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
}
