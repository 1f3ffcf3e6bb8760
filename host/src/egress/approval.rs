//! `approval required`: before each use of such a token (each message an SMTP relay is
//! asked to send, each IMAP login, each HTTPS request), the supervisor asks a person.
//!
//! The question goes to the approver command the user configured (`--approver CMD`, run
//! with `sh -c` and the request as one JSON object on its standard input; exit status 0
//! means yes, anything else no), or else to the controlling terminal (`/dev/tty`), where
//! only `y` or `yes` means yes. No answer within the timeout is a refusal, and the
//! command's process group is killed. An approval answers one question: it covers the one
//! use it was asked for and nothing after it. With neither an approver nor a terminal,
//! tokens that need approval are not issued at all.

use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a person has to answer when `--approval-timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Who answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// `sh -c CMD` with the request on stdin; exit 0 is yes.
    Command(String),
    /// A prompt on the controlling terminal.
    Terminal,
}

/// What the person (or command) answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Yes, for this one use.
    Approved(String),
    /// No, or no answer in time; the reason says which.
    Refused(String),
}

/// The session's approver and its timeout; one question at a time.
#[derive(Debug)]
pub struct Approvals {
    approver: Approver,
    timeout: Duration,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Approvals {
    /// The configured command, or the terminal when there is one; `None` when nobody can be
    /// asked (then tokens that need approval are not issued).
    pub fn new(command: Option<String>, timeout: Option<Duration>) -> Option<Approvals> {
        let approver = match command {
            Some(c) => Approver::Command(c),
            None if terminal().is_ok() => Approver::Terminal,
            None => return None,
        };
        Some(Approvals {
            approver,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }

    /// Who is asked.
    pub fn approver(&self) -> &Approver {
        &self.approver
    }

    /// Ask about `request` (a JSON object: token, audience, scope, endpoint, and what the
    /// use is about). Never fails open: every error is a refusal.
    pub async fn ask(&self, request: &Value) -> Decision {
        let _turn = self.one_at_a_time.lock().await;
        let approver = self.approver.clone();
        let timeout = self.timeout;
        let request = request.clone();
        let asked =
            tokio::task::spawn_blocking(move || ask_blocking(&approver, &request, timeout)).await;
        asked.unwrap_or_else(|e| Decision::Refused(format!("the approval could not be asked: {e}")))
    }
}

/// The check before one use of a token: asks when the token requires approval, and
/// writes each decision to the audit log as a record of the connection `rec`.
#[derive(Debug)]
pub struct Gate<'a> {
    pub log: &'a super::audit::Log,
    pub tokens: &'a super::tokens::Tokens,
    pub grant: &'a policyc_token::Grant,
    pub rec: &'a super::audit::Record,
    pub start: Instant,
}

impl Gate<'_> {
    /// `Ok` when the token needs no approval or the person said yes to this use.
    pub async fn ask(&self, endpoint: &str, scope: &str, about: Value) -> Result<(), String> {
        if !self.grant.approval {
            return Ok(());
        }
        let name = &self.grant.name;
        let decision = match self.tokens.approvals() {
            None => Decision::Refused("nobody can be asked (no --approver, no terminal)".into()),
            Some(a) => {
                let request = serde_json::json!({
                    "token": name,
                    "token_id": self.rec.token_id,
                    "audience": self.grant.audience,
                    "scope": scope,
                    "endpoint": endpoint,
                    "use": about,
                });
                a.ask(&request).await
            }
        };
        let (allowed, result) = match decision {
            Decision::Approved(how) => (true, Ok(format!("approval for `{name}` granted: {how}"))),
            Decision::Refused(why) => (false, Err(format!("approval for `{name}` refused: {why}"))),
        };
        let mut r = self.rec.clone();
        r.allowed = allowed;
        r.reason = match &result {
            Ok(m) | Err(m) => m.clone(),
        };
        r.bytes_in = 0;
        r.bytes_out = 0;
        r.duration = self.start.elapsed();
        self.log.write(&r);
        result.map(|_| ())
    }
}

fn ask_blocking(approver: &Approver, request: &Value, timeout: Duration) -> Decision {
    let deadline = Instant::now() + timeout;
    match approver {
        Approver::Command(c) => run_command(c, request, deadline, timeout),
        Approver::Terminal => prompt(request, deadline, timeout),
    }
}

fn run_command(command: &str, request: &Value, deadline: Instant, timeout: Duration) -> Decision {
    let refused = |why: String| Decision::Refused(format!("the approver command {why}"));
    let mut child = match Command::new("/bin/sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return refused(format!("could not start: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its request may close stdin early: not an error.
        let _ = writeln!(stdin, "{request}");
    }
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                return Decision::Approved("the approver command said yes (exit 0)".into())
            }
            Ok(Some(status)) => return refused(format!("said no ({status})")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                    // The command's own process group (it leads it): it and what it started.
                    crate::sys::kill(-pid);
                }
                let _ = child.wait();
                return refused(format!("did not answer within {} s", timeout.as_secs()));
            }
            Err(e) => return refused(format!("could not be waited for: {e}")),
        }
    }
}

fn terminal() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open("/dev/tty")
}

fn prompt(request: &Value, deadline: Instant, timeout: Duration) -> Decision {
    let mut tty = match terminal() {
        Ok(t) => t,
        Err(e) => return Decision::Refused(format!("no terminal to ask on: {e}")),
    };
    let question = format!(
        "\npolicyc: approve this use of token `{}` for {}?\n{}\n[y/N] ",
        request.get("token").and_then(Value::as_str).unwrap_or("?"),
        request
            .get("endpoint")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        serde_json::to_string_pretty(request).unwrap_or_default(),
    );
    if tty.write_all(question.as_bytes()).is_err() {
        return Decision::Refused("the question could not be written to the terminal".into());
    }
    let mut answer = Vec::new();
    loop {
        let mut b = [0u8; 64];
        match tty.read(&mut b) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(b.get(..n).unwrap_or_default());
                if answer.contains(&b'\n') || answer.len() > 256 {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = tty.write_all(b"\npolicyc: no answer in time: refused\n");
                return Decision::Refused(format!(
                    "nobody answered on the terminal within {} s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Decision::Refused(format!("reading the terminal: {e}")),
        }
    }
    let answer = String::from_utf8_lossy(&answer).trim().to_ascii_lowercase();
    if answer == "y" || answer == "yes" {
        Decision::Approved("approved on the terminal".into())
    } else {
        Decision::Refused(format!("refused on the terminal (answer `{answer}`)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn command(c: &str, secs: u64) -> Approvals {
        Approvals::new(Some(c.into()), Some(Duration::from_secs(secs))).unwrap()
    }

    fn ask(a: &Approvals) -> Decision {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(a.ask(&json!({"token": "smtp_send", "endpoint": "smtp.test:465"})))
    }

    #[test]
    fn exit_zero_is_yes_and_anything_else_no() {
        assert!(matches!(ask(&command("true", 5)), Decision::Approved(_)));
        assert!(
            matches!(ask(&command("exit 3", 5)), Decision::Refused(w) if w.contains("said no"))
        );
        assert!(matches!(
            ask(&command("/nonexistent/approver", 5)),
            Decision::Refused(_)
        ));
    }

    #[test]
    fn the_command_reads_the_request() {
        let a = command(r#"grep -q '"token":"smtp_send"'"#, 5);
        assert!(matches!(ask(&a), Decision::Approved(_)));
        let a = command(r#"grep -q '"token":"other"'"#, 5);
        assert!(matches!(ask(&a), Decision::Refused(_)));
    }

    #[test]
    fn no_answer_in_time_is_a_refusal_and_the_command_is_killed() {
        let start = Instant::now();
        let d = ask(&command("sleep 30; exit 0", 1));
        assert!(
            matches!(&d, Decision::Refused(w) if w.contains("within 1 s")),
            "{d:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
