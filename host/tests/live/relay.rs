//! The mail relays and HTTPS approvals, live: a program under the egress supervisor speaks
//! IMAP (implicit TLS, 993) and SMTP (STARTTLS, 587) to the supervisor with its
//! capabilities as passwords, and makes HTTPS requests through a token that needs approval.
//! The upstreams are servers this test starts on loopback addresses of its own (127.0.13.x,
//! one per test, so the fixed ports meet no other test's), with certificates from a CA made
//! here: an IMAP server that follows literals as RFC 3501 says (`{n}` only; it has no
//! LITERAL+, so a `{n+}` line is a syntax error and what follows it is read as commands),
//! an SMTP server that takes STARTTLS and `AUTH PLAIN`, and an HTTPS API. Each records
//! what reaches it: a command the capability's scope forbids must never be among them.
//! Nothing leaves this machine.

use super::relay_servers::{
    api_session, imap_session, imap_starttls_session, serve, smtp_session, tls_for, Seen,
    API_SECRET, IMAP_SECRET, SMTP_SECRET,
};
use super::tempdir;
use policyc_compiler::hosts::Host;
use policyc_host::egress::tokens::{Secret, Settings};
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{Config, Supervisor};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::{EmitContext, Target as _};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::compile_text;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn live() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    let tools = ["/usr/bin/python3", "/usr/bin/curl", "/usr/bin/setsid"]
        .iter()
        .all(|p| Path::new(p).exists());
    if root && tools {
        return true;
    }
    cannot_run("the live relay tests need root, python3, curl and setsid");
    false
}

/// The upstreams (IMAP on 993 for `imap.test` and `imapw.test`, SMTP on 587 for
/// `smtp.test`, HTTPS on 443 for `api.test`), all on `addr`, and the policy naming them.
struct Fixture {
    _d: tempfile::TempDir,
    dir: PathBuf,
    addr: &'static str,
    imap: Arc<Seen>,
    smtp: Arc<Seen>,
    api: Arc<Seen>,
    roots: Vec<PathBuf>,
}

impl Fixture {
    fn new(addr: &'static str) -> Fixture {
        let (d, dir) = tempdir();
        let (imap_tls, imap_ca) = tls_for(&["imap.test", "imapw.test"], &dir);
        let (smtp_tls, smtp_ca) = tls_for(&["smtp.test"], &dir);
        let (api_tls, api_ca) = tls_for(&["api.test"], &dir);
        let (imap, smtp, api) = Default::default();
        let clear_tls = Arc::clone(&imap_tls);
        serve(addr, 993, &imap, move |s, seen| {
            imap_session(&imap_tls, s, seen)
        });
        serve(addr, 143, &imap, move |s, seen| {
            imap_starttls_session(&clear_tls, s, seen)
        });
        serve(addr, 587, &smtp, move |s, seen| {
            smtp_session(&smtp_tls, s, seen)
        });
        serve(addr, 443, &api, move |s, seen| {
            api_session(&api_tls, s, seen)
        });
        for (name, secret) in [
            ("imap", IMAP_SECRET),
            ("smtp", SMTP_SECRET),
            ("api", API_SECRET),
        ] {
            std::fs::write(dir.join(format!("{name}.secret")), secret).unwrap();
        }
        Fixture {
            _d: d,
            dir,
            addr,
            imap,
            smtp,
            api,
            roots: vec![imap_ca, smtp_ca, api_ca],
        }
    }

    fn config(&self, approver: Option<String>) -> Config {
        let text = r#"policy relay_test {
    isolation process
    net {
        egress via proxy {
            allow "imap.test":993 with token imap_read
            allow "imap.test":143 with token imap_read
            allow "imapw.test":993 with token imap_write
            allow "smtp.test":587 with token smtp_send
            allow "api.test":443 with token api
        }
        dns allow-listed-only
    }
    token imap_read {
        audience "imap.test"
        scope "mail:read"
        ttl 15m
    }
    token imap_write {
        audience "imapw.test"
        scope "mail:write"
        ttl 15m
    }
    token smtp_send {
        audience "smtp.test"
        scope "mail:send"
        ttl 15m
    }
    token api {
        audience "api.test"
        scope "read"
        ttl 15m
        approval required
    }
    audit { egress; tokens }
}
"#;
        let (_, policies) = compile_text("relay.policy", text);
        let policy = policies.first().unwrap();
        let emitted = Egress.emit(policy, &EmitContext::default()).unwrap();
        let artifact = Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap();
        let pin = |host: &str, port: u16| Pin {
            host: Host::parse(host).unwrap(),
            port,
            addr: self.addr.parse().unwrap(),
        };
        let secret = |token: &str, file: &str| {
            let arg = format!("{token}=file:{}", self.dir.join(file).display());
            (
                token.to_string(),
                Secret::read(&arg.parse().unwrap()).unwrap(),
            )
        };
        Config {
            locations: vec![String::new(); artifact.rules.len()],
            artifact,
            pins: vec![
                pin("imap.test", 993),
                pin("imap.test", 143),
                pin("imapw.test", 993),
                pin("smtp.test", 587),
                pin("api.test", 443),
            ],
            audit_log: Some(self.dir.join("audit.jsonl")),
            record_egress: true,
            policy_hash: "sha256:test".into(),
            audit_anchor: None,
            dns_upstream: None,
            tokens: Settings {
                policy_hash: "sha256:test".into(),
                secrets: [
                    secret("imap_read", "imap.secret"),
                    secret("imap_write", "imap.secret"),
                    secret("smtp_send", "smtp.secret"),
                    secret("api", "api.secret"),
                ]
                .into_iter()
                .collect(),
                upstream_roots: self.roots.clone(),
                approver,
                approval_timeout: Some(std::time::Duration::from_secs(20)),
                ..Settings::default()
            },
        }
    }

    /// Run `script` under `sh -c` behind the supervisor (its approver `approver`); `setup`
    /// gets the supervisor first. The exit code and the output.
    fn run(
        &self,
        approver: Option<String>,
        setup: impl FnOnce(&Supervisor),
        script: &str,
    ) -> (i32, String) {
        let supervisor = Supervisor::prepare(self.config(approver)).unwrap();
        setup(&supervisor);
        let out = self.dir.join("out");
        super::run_behind(supervisor, None, &self.dir, &out, script)
    }

    /// Run the Python program `code` (written to `name`).
    fn python(&self, name: &str, code: &str) -> (i32, String) {
        std::fs::write(self.dir.join(name), code).unwrap();
        self.run(None, |_| {}, &format!("/usr/bin/python3 -I {name}"))
    }

    /// The audit log, one JSON value a line; it must verify.
    fn audit(&self) -> (String, Vec<serde_json::Value>) {
        let text = std::fs::read_to_string(self.dir.join("audit.jsonl")).unwrap();
        policyc_verify::audit::verify(text.as_bytes(), None).unwrap();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (text, lines)
    }

    fn reasons(&self) -> String {
        let (_, lines) = self.audit();
        lines
            .iter()
            .filter_map(|l| l["reason"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A raw IMAP client over TLS to `imap.test:993`, for byte-exact literals.
const IMAP_CLIENT: &str = r#"
import os, socket, ssl
cap = os.environ["POLICYC_TOKEN_IMAP_READ"]
s = ssl.create_default_context().wrap_socket(
    socket.create_connection(("imap.test", 993), timeout=8), server_hostname="imap.test")
f = s.makefile("rb")
def read():
    return f.readline().decode(errors="replace").rstrip("\r\n") or "closed"
def until(tag):
    got = []
    while True:
        l = read()
        got.append(l)
        if l == "closed" or l.startswith(tag + " "):
            return got
def statuses(tag):
    return " | ".join(" ".join(l.split()[:2]) for l in until(tag) if l[:1] not in "*+")
read()
s.sendall(("a1 LOGIN alice %s\r\n" % cap).encode()); print(statuses("a1"))
s.sendall(b"a2 SELECT INBOX\r\n"); print(statuses("a2"))
# IDLE: the server's continuation and news reach the program; DONE ends it.
s.sendall(b"a3 IDLE\r\n"); print(read()); print(read())
s.sendall(b"DONE\r\n"); print(statuses("a3"))
# A non-synchronising literal whose bytes spell an APPEND: data for SEARCH, never a command.
smuggled = b"a4x APPEND INBOX {5}\r\nforge"
s.sendall(b"a4 SEARCH TEXT {%d+}\r\n" % len(smuggled) + smuggled + b"\r\n"); print(statuses("a4"))
# A synchronising literal the server will not take, its bytes sent at once anyway.
s.sendall(b"a5 SEARCH TEXT {99999}\r\na5x APPEND INBOX {5}\r\nforge\r\na6 NOOP\r\n")
print(statuses("a6"))
# A refused command's non-synchronising literal that spells a STORE: dropped whole.
smuggled = b"a7x STORE 1 +FLAGS (\\Deleted)"
s.sendall(b"a7 APPEND INBOX {%d+}\r\n" % len(smuggled) + smuggled + b"\r\na8 NOOP\r\n")
print(statuses("a8"))
s.sendall(b"a9 LOGOUT\r\n"); print(statuses("a9"))
"#;

#[test]
fn relay_imap_idle_and_literals_under_mail_read_never_smuggle_a_command() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.13.1");
    let (code, out) = f.python("imap.py", IMAP_CLIENT);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "a1 OK\na2 OK\n+ idling\n* 2 EXISTS\na3 OK\na4 OK\n\
         a5 BAD | a5x NO | forge NO | a6 OK\na7 NO | a8 OK\na9 OK\n",
        "{out}"
    );
    assert_eq!(f.imap.connections(), 1);
    assert_eq!(Seen::list(&f.imap.secrets), [IMAP_SECRET]);
    let verbs = f.imap.verbs();
    for forbidden in ["APPEND", "STORE", "SELECT"] {
        assert!(
            !verbs.iter().any(|v| v == forbidden),
            "{forbidden} reached the server: {:#?}",
            Seen::list(&f.imap.commands)
        );
    }
    let commands = Seen::list(&f.imap.commands);
    assert!(
        commands.contains(&"a2 EXAMINE INBOX".to_string()),
        "{commands:#?}"
    );
    assert!(commands.contains(&"DONE".to_string()), "{commands:#?}");
    // The smuggled APPEND reached the server as SEARCH's literal: data.
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("a4 SEARCH TEXT {27}\r\na4x APPEND INBOX {5}\r\nforge")),
        "{commands:#?}"
    );
    let reasons = f.reasons();
    assert!(reasons.contains("IMAP `APPEND` refused"), "{reasons}");
}

#[test]
fn relay_imap_mail_write_lets_append_and_store_reach_the_server() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.13.2");
    let (code, out) = f.python(
        "imapw.py",
        "import imaplib, os, ssl\n\
         m = imaplib.IMAP4_SSL('imapw.test', 993, ssl_context=ssl.create_default_context())\n\
         print('login', m.login('alice', os.environ['POLICYC_TOKEN_IMAP_WRITE'])[0])\n\
         print('select', m.select('INBOX')[0])\n\
         print('append', m.append('INBOX', None, None, b'Subject: kept\\r\\n\\r\\nwritten\\r\\n')[0])\n\
         print('store', m.store('1', '+FLAGS', '\\\\Flagged')[0])\n\
         m.logout()\n\
         r = imaplib.IMAP4_SSL('imap.test', 993, ssl_context=ssl.create_default_context())\n\
         try:\n    r.login('alice', os.environ['POLICYC_TOKEN_IMAP_WRITE'])\n    print('write cap on the read endpoint: accepted')\n\
         except imaplib.IMAP4.error:\n    print('write cap on the read endpoint: refused')\n",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out, "login OK\nselect OK\nappend OK\nstore OK\nwrite cap on the read endpoint: refused\n",
        "{out}"
    );
    let commands = Seen::list(&f.imap.commands);
    assert!(
        commands
            .iter()
            .any(|c| c.contains("APPEND INBOX") && c.contains("written")),
        "{commands:#?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("STORE 1 +FLAGS")),
        "{commands:#?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("SELECT INBOX")),
        "{commands:#?}"
    );
    assert_eq!(f.imap.connections(), 1, "the refused login dialled nothing");
    assert_eq!(Seen::list(&f.imap.secrets), [IMAP_SECRET]);
}

#[test]
fn relay_smtp_on_587_takes_starttls_and_auth_login_and_sends_upstream_over_starttls() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.13.3");
    let (code, out) = f.python(
        "smtp.py",
        "import os, smtplib, ssl\n\
         cap = os.environ['POLICYC_TOKEN_SMTP_SEND']\n\
         ctx = ssl.create_default_context()\n\
         s = smtplib.SMTP('smtp.test', 587, timeout=10)\n\
         s.ehlo()\n\
         print('offers', 'starttls' in s.esmtp_features, 'auth' in s.esmtp_features)\n\
         print('auth in the clear', s.docmd('AUTH', 'LOGIN')[0])\n\
         s.starttls(context=ctx); s.ehlo()\n\
         print('auth', s.esmtp_features.get('auth', '').strip())\n\
         s.user, s.password = 'alice', cap\n\
         print('login', s.auth('LOGIN', s.auth_login, initial_response_ok=False)[0])\n\
         s.sendmail('alice@example.org', ['bob@example.org'], 'Subject: via 587\\r\\n\\r\\nhello\\r\\n')\n\
         print('sent')\n\
         s.quit()\n\
         s = smtplib.SMTP('smtp.test', 587, timeout=10); s.starttls(context=ctx)\n\
         s.user, s.password = 'alice', cap\n\
         print('login with initial response', s.auth('LOGIN', s.auth_login)[0])\n\
         t = smtplib.SMTP('smtp.test', 587, timeout=10); t.starttls(context=ctx)\n\
         t.user, t.password = 'alice', 'not-a-capability'\n\
         try:\n    t.auth('LOGIN', t.auth_login)\nexcept smtplib.SMTPAuthenticationError as e:\n    print('bad login', e.smtp_code)\n",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "offers True False\nauth in the clear 530\nauth PLAIN LOGIN\nlogin 235\nsent\n\
         login with initial response 235\nbad login 535\n",
        "{out}"
    );
    // One message, sent by the relay over STARTTLS with the real secret.
    let messages = Seen::list(&f.smtp.messages);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("Subject: via 587"), "{messages:?}");
    assert_eq!(Seen::list(&f.smtp.secrets), [SMTP_SECRET]);
    assert_eq!(
        f.smtp.connections(),
        1,
        "only the message dialled the upstream"
    );
    let commands = Seen::list(&f.smtp.commands);
    assert_eq!(
        commands[..2],
        [
            "plain EHLO policyc-relay".to_string(),
            "plain STARTTLS".to_string()
        ],
        "{commands:#?}"
    );
    assert!(
        !commands.iter().any(|c| c.contains("not-a-capability")),
        "{commands:#?}"
    );
    let reasons = f.reasons();
    assert!(
        reasons.contains("capability for `smtp_send` verified"),
        "{reasons}"
    );
    assert!(
        reasons.contains("capability refused (tampered)"),
        "{reasons}"
    );
}

fn api_grant() -> policyc_token::Grant {
    policyc_token::Grant {
        name: "api".into(),
        audience: "api.test".into(),
        scopes: vec!["read".into()],
        ttl: std::time::Duration::from_secs(60),
        approval: true,
    }
}

/// Each request's status: `NAME CODE` lines from curl through the proxy to `api.test`.
fn api_requests(requests: &[(&str, &str)]) -> String {
    requests
        .iter()
        .map(|(name, auth)| {
            format!(
                "curl -sS --max-time 30 -o /dev/null -w '{name} %{{http_code}}\\n' -H \"Authorization: Bearer {auth}\" https://api.test/{name}"
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn relay_https_approval_is_asked_for_each_use_and_a_no_or_a_replay_dials_nothing() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.13.4");
    let asked = f.dir.join("asked.jsonl");
    let yes = f.dir.join("said-yes");
    // Yes the first time it is asked, no after that; every question is kept.
    let approver = format!(
        "cat >> {a}; echo >> {a}; test ! -e {y} && touch {y}",
        a = asked.display(),
        y = yes.display()
    );
    let dir = f.dir.clone();
    let script = api_requests(&[
        ("first", "$POLICYC_TOKEN_API"),
        ("replayed", "$POLICYC_TOKEN_API"),
        ("second", "$(cat second.cap)"),
    ]);
    let (code, out) = f.run(
        Some(approver),
        |s| {
            let t = s.tokens().unwrap();
            let (second, _) = t
                .issuer
                .mint(&api_grant(), std::time::SystemTime::now())
                .unwrap();
            std::fs::write(dir.join("second.cap"), second).unwrap();
        },
        &script,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "first 200\nreplayed 403\nsecond 403\n", "{out}");
    // Only the approved request reached the API, with the real secret.
    assert_eq!(f.api.connections(), 1);
    assert_eq!(Seen::list(&f.api.secrets), [format!("Bearer {API_SECRET}")]);
    // The approver was asked twice (not for the replay), with the endpoint, never a secret.
    let questions = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(
        questions.lines().filter(|l| !l.is_empty()).count(),
        2,
        "{questions}"
    );
    assert!(
        questions.contains(r#""endpoint":"api.test:443""#),
        "{questions}"
    );
    assert!(!questions.contains(API_SECRET), "{questions}");
    let reasons = f.reasons();
    for step in [
        "approval for `api` granted",
        "approval for `api` refused",
        "capability refused (replayed)",
    ] {
        assert!(
            reasons.contains(step),
            "`{step}` is not in the log:\n{reasons}"
        );
    }
    let (text, _) = f.audit();
    assert!(!text.contains(API_SECRET));
}

#[test]
fn egress_case_14_approval_required_with_no_approver_is_refused_and_audited() {
    if !live() {
        return;
    }
    // With a controlling terminal the supervisor would ask on it: run where there is none.
    if std::fs::File::open("/dev/tty").is_ok() {
        let name = super::alone::name(
            module_path!(),
            "egress_case_14_approval_required_with_no_approver_is_refused_and_audited",
        );
        let o = std::process::Command::new("/usr/bin/setsid")
            .arg("--wait")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--nocapture", "--test-threads=1"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    let f = Fixture::new("127.0.13.5");
    let dir = f.dir.clone();
    let script = format!(
        "env | grep -c '^POLICYC_TOKEN_API=' ; {}",
        api_requests(&[("none", ""), ("minted", "$(cat minted.cap)")])
    );
    let mut limits = Vec::new();
    let (code, out) = f.run(
        None,
        |s| {
            limits = s.limits();
            // A capability the session's own key signed (the program cannot get one):
            // the approval still has nobody to ask.
            let t = s.tokens().unwrap();
            assert!(t.bound["api"].capability.is_none());
            let (minted, _) = t
                .issuer
                .mint(&api_grant(), std::time::SystemTime::now())
                .unwrap();
            std::fs::write(dir.join("minted.cap"), minted).unwrap();
        },
        &script,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "0\nnone 403\nminted 403\n", "{out}");
    assert_eq!(f.api.connections(), 0, "a refused use dialled the API");
    assert!(
        limits
            .iter()
            .any(|l| l.contains("token `api` requires approval and nobody can be asked")),
        "{limits:?}"
    );
    let (text, lines) = f.audit();
    let refused: Vec<&str> = lines
        .iter()
        .filter(|l| l["token"]["name"] == "api" && l["decision"] == "deny")
        .filter_map(|l| l["reason"].as_str())
        .collect();
    assert!(
        refused
            .iter()
            .any(|r| r.starts_with("capability refused (missing)")),
        "{text}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r.contains("approval for `api` refused: nobody can be asked")),
        "{text}"
    );
}

#[test]
fn relay_imap_on_143_takes_starttls_and_reaches_the_server_over_starttls() {
    if !live() {
        return;
    }
    let f = Fixture::new("127.0.13.6");
    let (code, out) = f.python(
        "imap143.py",
        "import imaplib, os, ssl\n\
         cap = os.environ['POLICYC_TOKEN_IMAP_READ']\n\
         m = imaplib.IMAP4('imap.test', 143, timeout=10)\n\
         print('offers', ' '.join(sorted(m.capabilities)))\n\
         try:\n    m.login('alice', cap)\n    print('login in the clear: accepted')\n\
         except imaplib.IMAP4.error:\n    print('login in the clear: refused')\n\
         print('starttls', m.starttls(ssl_context=ssl.create_default_context())[0])\n\
         print('login', m.login('alice', cap)[0])\n\
         print('select', m.select('INBOX', readonly=True)[0])\n\
         print('search', m.search(None, 'ALL')[0])\n\
         print('store', m.store('1', '+FLAGS', '\\\\Deleted')[0])\n\
         m.logout()\n",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "offers IMAP4REV1 LOGINDISABLED STARTTLS\nlogin in the clear: refused\nstarttls OK\n\
         login OK\nselect OK\nsearch OK\nstore NO\n",
        "{out}"
    );
    let commands = Seen::list(&f.imap.commands);
    assert_eq!(commands[0], "plain S0 STARTTLS", "{commands:#?}");
    assert!(
        commands.iter().any(|c| c.ends_with("EXAMINE INBOX")),
        "{commands:#?}"
    );
    assert!(
        !f.imap.verbs().contains(&"STORE".to_string()),
        "{commands:#?}"
    );
    assert_eq!(Seen::list(&f.imap.secrets), [IMAP_SECRET]);
    assert_eq!(f.imap.connections(), 1);
}
