//! The IMAP relay. Before login the supervisor answers the program itself (`CAPABILITY`,
//! `NOOP`, `LOGOUT`, `LOGIN`, `AUTHENTICATE PLAIN`); the login's password is the
//! capability. It is verified before any upstream dial; a refusal answers `NO
//! [AUTHENTICATIONFAILED]` and closes. Then the relay dials the upstream over TLS, logs in
//! with the program's user name and the real secret, and relays.
//!
//! A program that comes in the clear (143) must use `STARTTLS` before anything else but
//! `CAPABILITY`, `NOOP` and `LOGOUT` (a login in the clear is refused and never read as a
//! capability); the relay then reaches the upstream the same way, in the clear and then
//! `STARTTLS`, and takes nothing the upstream sends behind its answer to it.
//!
//! Under `mail:read` every command is read: only commands that cannot change the mailbox
//! are forwarded (`SELECT` becomes `EXAMINE`, so the server itself keeps the mailbox
//! read-only and sets no `\Seen` flag); `APPEND`, `STORE`, `EXPUNGE`, `COPY`, `MOVE`,
//! `DELETE`, `CREATE`, `RENAME`, their `UID` forms and anything the relay does not
//! recognise are answered `NO [NOPERM]` and audited. A forwarded command's literal is sent
//! only after the server asked for it (`+`): a `{n+}` literal goes upstream as `{n}`, and
//! the relay takes the server's `+` itself; a literal the server refuses is never
//! forwarded, so its bytes cannot reach the server as commands (a server without LITERAL+
//! reads the bytes after a `{n+}` line as the next command). `IDLE` waits for the server's
//! `+` the same way. Under `mail:write` the session is spliced as it is.

use super::lines::{literal, Io, Lines};
use super::{Session, MAIL_READ, MAIL_WRITE};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

/// What the relay says it can do before login.
const CAPABILITIES: &str = "IMAP4rev1 AUTH=PLAIN SASL-IR";
/// What it says before TLS (on 143).
const CLEAR_CAPABILITIES: &str = "IMAP4rev1 STARTTLS LOGINDISABLED";
/// How long the program may take for each command before login.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How many commands the program may send before it logs in.
const MAX_PRE_AUTH: usize = 32;

/// Commands forwarded under `mail:read` (`SELECT` is sent as `EXAMINE`).
const READ_ONLY: &[&str] = &[
    "CAPABILITY",
    "CHECK",
    "CLOSE",
    "EXAMINE",
    "FETCH",
    "ID",
    "IDLE",
    "LIST",
    "LOGOUT",
    "LSUB",
    "NAMESPACE",
    "NOOP",
    "SEARCH",
    "SELECT",
    "SORT",
    "STATUS",
    "THREAD",
    "UNSELECT",
];
/// `UID` forms forwarded under `mail:read`.
const READ_ONLY_UID: &[&str] = &["FETCH", "SEARCH", "SORT", "THREAD"];

/// The program's login: its tag, user name and password (the capability).
struct Login {
    tag: String,
    user: String,
    capability: String,
}

/// Serve one IMAP connection; `tls` says whether TLS is already terminated (993) or the
/// program came in the clear (143) and must use STARTTLS first.
pub async fn serve(mut s: Session<'_>, mut client: Lines<Box<dyn Io>>, tls: bool) {
    let offered = if tls {
        CAPABILITIES
    } else {
        CLEAR_CAPABILITIES
    };
    let greeting = format!(
        "* OK [CAPABILITY {offered}] {} IMAP relay (policyc) ready\r\n",
        s.name
    );
    if let Err(why) = client.send(greeting.as_bytes()).await {
        s.rec.reason = why;
        return s.finish();
    }
    if !tls {
        client = match starttls(&s, client).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                s.rec.reason = "the program logged out before STARTTLS".into();
                return s.finish();
            }
            Err(why) => {
                s.rec.reason = why;
                return s.finish();
            }
        };
    }
    let login = match pre_auth(&mut client).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            s.rec.reason = "the program logged out before logging in".into();
            return s.finish();
        }
        Err(why) => {
            s.rec.reason = why;
            return s.finish();
        }
    };
    match login_upstream(&mut s, &mut client, &login).await {
        Ok((upstream, scope)) => {
            let (out, back) = if scope == MAIL_WRITE {
                splice(client, upstream).await
            } else {
                read_only(&s, client, upstream).await
            };
            s.rec.bytes_out = out;
            s.rec.bytes_in = back;
        }
        Err(why) => {
            let answer = format!(
                "{} NO [AUTHENTICATIONFAILED] policyc: {why}\r\n* BYE policyc relay closing\r\n",
                login.tag
            );
            let _ = client.send(answer.as_bytes()).await;
            s.rec.reason = why;
        }
    }
    s.finish();
}

/// In the clear: answer commands until the program starts TLS (`Some`, the TLS
/// connection) or logs out (`None`).
async fn starttls(
    s: &Session<'_>,
    mut client: Lines<Box<dyn Io>>,
) -> Result<Option<Lines<Box<dyn Io>>>, String> {
    for _ in 0..MAX_PRE_AUTH {
        let line = client.line_within(COMMAND_TIMEOUT).await?;
        let (tag, command, _) = words(&line);
        if let Some((reply, logout)) = either_state(&tag, &command, CLEAR_CAPABILITIES) {
            client.send(reply.as_bytes()).await?;
            if logout {
                return Ok(None);
            }
            continue;
        }
        let reply = match command.as_str() {
            "STARTTLS" => {
                if client.has_buffered() {
                    return Err("the program sent commands behind STARTTLS".into());
                }
                client
                    .send(format!("{tag} OK begin TLS now\r\n").as_bytes())
                    .await?;
                let io = s.accept_tls(client.into_inner()).await?;
                return Ok(Some(Lines::new(io)));
            }
            _ => format!("{tag} BAD [PRIVACYREQUIRED] STARTTLS first\r\n"),
        };
        client.send(reply.as_bytes()).await?;
    }
    Err("too many commands before STARTTLS".into())
}

/// The replies given alike before and after STARTTLS: `CAPABILITY` (listing `capabilities`),
/// `NOOP` and `LOGOUT` (true: the session ends); `None` for any other command.
fn either_state(tag: &str, command: &str, capabilities: &str) -> Option<(String, bool)> {
    match command {
        "CAPABILITY" => Some((
            format!("* CAPABILITY {capabilities}\r\n{tag} OK CAPABILITY completed\r\n"),
            false,
        )),
        "NOOP" => Some((format!("{tag} OK NOOP completed\r\n"), false)),
        "LOGOUT" => Some((
            format!("* BYE policyc relay logging out\r\n{tag} OK LOGOUT completed\r\n"),
            true,
        )),
        _ => None,
    }
}

/// Answer commands until the program logs in (`Some`) or out (`None`).
async fn pre_auth(client: &mut Lines<Box<dyn Io>>) -> Result<Option<Login>, String> {
    for _ in 0..MAX_PRE_AUTH {
        let line = client.line_within(COMMAND_TIMEOUT).await?;
        let (tag, command, rest) = words(&line);
        if let Some((reply, logout)) = either_state(&tag, &command, CAPABILITIES) {
            client.send(reply.as_bytes()).await?;
            if logout {
                return Ok(None);
            }
            continue;
        }
        let reply = match command.as_str() {
            "LOGIN" => {
                let args = astrings(client, rest, 2).await?;
                let [user, password] = <[String; 2]>::try_from(args)
                    .map_err(|_| "LOGIN needs a user name and a password".to_string())?;
                return Ok(Some(Login {
                    tag,
                    user,
                    capability: password,
                }));
            }
            "AUTHENTICATE" => match plain(client, &rest).await {
                Ok((user, capability)) => {
                    return Ok(Some(Login {
                        tag,
                        user,
                        capability,
                    }))
                }
                Err(why) => format!("{tag} BAD {why}\r\n"),
            },
            "STARTTLS" => format!("{tag} BAD the connection is already TLS\r\n"),
            _ => format!("{tag} BAD log in first (LOGIN or AUTHENTICATE PLAIN)\r\n"),
        };
        client.send(reply.as_bytes()).await?;
    }
    Err("too many commands before login".into())
}

/// `AUTHENTICATE PLAIN [initial-response]`: the user name and password.
async fn plain(client: &mut Lines<Box<dyn Io>>, rest: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(rest);
    let mut it = text.split_whitespace();
    if !it.next().is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) {
        return Err("only AUTHENTICATE PLAIN is offered".into());
    }
    let response = match it.next() {
        Some(ir) => ir.to_string(),
        None => {
            client.send(b"+ \r\n").await?;
            let l = client.line_within(COMMAND_TIMEOUT).await?;
            String::from_utf8_lossy(&l).trim().to_string()
        }
    };
    super::smtp::decode_plain(&response)
}

/// Verify the capability, ask for approval when the token needs it, dial and log in
/// upstream; the upstream connection and the scope granted.
async fn login_upstream(
    s: &mut Session<'_>,
    client: &mut Lines<Box<dyn Io>>,
    login: &Login,
) -> Result<(Lines<Box<dyn Io>>, &'static str), String> {
    let scopes: Vec<&'static str> = [MAIL_WRITE, MAIL_READ]
        .into_iter()
        .filter(|w| s.grant.scopes.iter().any(|g| g == w))
        .collect();
    let mut refused = None;
    let mut granted = None;
    for scope in scopes {
        match s.verify(&login.capability, scope) {
            Ok(claims) => {
                granted = Some((scope, claims));
                break;
            }
            Err(r) => {
                refused.get_or_insert(r);
            }
        }
    }
    let (scope, claims) = match (granted, refused) {
        (Some(g), _) => g,
        (None, Some(r)) => return Err(format!("capability refused ({}): {r}", r.kind())),
        (None, None) => return Err("the token grants no IMAP scope".into()),
    };
    s.rec.token_id = Some(claims.id);
    s.approve(
        scope,
        serde_json::json!({ "imap": { "login": login.user } }),
    )
    .await?;
    let secret = super::secret(s).ok_or("the token's secret is not held")?;
    let mut up = upstream(s).await?;
    let command = format!(
        "R1 LOGIN {} {}\r\n",
        quoted(&login.user)?,
        quoted(secret.expose())?
    );
    up.send(command.as_bytes()).await?;
    loop {
        let l = up.line_within(COMMAND_TIMEOUT).await?;
        if l.starts_with(b"R1 OK") {
            break;
        }
        if l.starts_with(b"R1 ") {
            return Err(format!(
                "the upstream refused the login: {}",
                String::from_utf8_lossy(&l).trim()
            ));
        }
    }
    s.rec.allowed = true;
    s.rec.reason = format!(
        "capability for `{}` verified (scope {scope}); the relay logged in upstream with the secret",
        s.grant.name
    );
    let ok = format!("{} OK LOGIN completed\r\n", login.tag);
    client.send(ok.as_bytes()).await?;
    Ok((up, scope))
}

/// Dial the upstream and open TLS to it the way the program came: at once when it came
/// with TLS (the broker saw its ClientHello), after the greeting and `STARTTLS` when it
/// came in the clear.
async fn upstream(s: &mut Session<'_>) -> Result<Lines<Box<dyn Io>>, String> {
    let greeted = |l: &[u8]| {
        if l.starts_with(b"* OK") {
            Ok(())
        } else {
            Err("the upstream did not greet with `* OK`".to_string())
        }
    };
    let tcp: Box<dyn Io> = Box::new(s.dial().await?);
    if s.rec.sni.is_some() {
        let mut up = Lines::new(s.upstream_tls(tcp).await?);
        greeted(&up.line_within(COMMAND_TIMEOUT).await?)?;
        return Ok(up);
    }
    let mut plain = Lines::new(tcp);
    greeted(&plain.line_within(COMMAND_TIMEOUT).await?)?;
    plain.send(b"S0 STARTTLS\r\n").await?;
    loop {
        let l = plain.line_within(COMMAND_TIMEOUT).await?;
        if l.starts_with(b"S0 OK") {
            break;
        }
        if l.starts_with(b"S0 ") {
            return Err(format!(
                "the upstream refused STARTTLS: {}",
                String::from_utf8_lossy(&l).trim()
            ));
        }
    }
    if plain.has_buffered() {
        return Err("the upstream sent data behind its STARTTLS answer".into());
    }
    Ok(Lines::new(s.upstream_tls(plain.into_inner()).await?))
}

/// An IMAP quoted string; a value with a line break or NUL cannot be one.
fn quoted(v: &str) -> Result<String, String> {
    if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err("a user name or secret with a line break cannot be sent".into());
    }
    Ok(format!(
        "\"{}\"",
        v.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The tag, the command (upper-cased) and the rest of a command line.
fn words(line: &[u8]) -> (String, String, Vec<u8>) {
    let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    let mut parts = trimmed.splitn(3, |b| *b == b' ');
    let tag = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let command = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_ascii_uppercase();
    let mut rest = parts.next().unwrap_or_default().to_vec();
    if line.ends_with(b"\n") {
        rest.extend_from_slice(b"\r\n");
    }
    (tag, command, rest)
}

/// Read `count` astrings (atoms, quoted strings or literals) starting in `rest`.
async fn astrings(
    client: &mut Lines<Box<dyn Io>>,
    rest: Vec<u8>,
    count: usize,
) -> Result<Vec<String>, String> {
    let mut cur = rest;
    let mut out = Vec::new();
    while out.len() < count {
        let start = cur.iter().position(|b| *b != b' ').unwrap_or(cur.len());
        cur = cur.split_off(start);
        match cur.first() {
            Some(b'"') => {
                let (value, used) = unquote(&cur).ok_or("an unterminated quoted string")?;
                out.push(value);
                cur = cur.split_off(used);
            }
            Some(b'{') => {
                let (n, plus) = literal(&cur).ok_or("a malformed literal")?;
                if n > 8192 {
                    return Err("a login literal is too long".into());
                }
                if !plus {
                    client.send(b"+ Ready\r\n").await?;
                }
                let bytes = client.exact(n).await?;
                out.push(String::from_utf8_lossy(&bytes).into_owned());
                cur = client.line_within(COMMAND_TIMEOUT).await?;
            }
            Some(b'\r' | b'\n') | None => {
                return Err("LOGIN needs a user name and a password".into())
            }
            Some(_) => {
                let end = cur
                    .iter()
                    .position(|b| matches!(b, b' ' | b'\r' | b'\n'))
                    .unwrap_or(cur.len());
                let rest = cur.split_off(end);
                out.push(String::from_utf8_lossy(&cur).into_owned());
                cur = rest;
            }
        }
    }
    Ok(out)
}

/// A quoted string at the start of `s`: its value and how many bytes it took.
fn unquote(s: &[u8]) -> Option<(String, usize)> {
    let mut value = Vec::new();
    let mut escaped = false;
    for (i, b) in s.iter().enumerate().skip(1) {
        match (escaped, b) {
            (false, b'\\') => escaped = true,
            (false, b'"') => return Some((String::from_utf8_lossy(&value).into_owned(), i + 1)),
            (_, b'\r' | b'\n') => return None,
            _ => {
                value.push(*b);
                escaped = false;
            }
        }
    }
    None
}

/// Why `command` (with `rest`) is not forwarded under `mail:read`, or the line to forward.
fn read_only_line(tag: &str, command: &str, rest: &[u8], line: &[u8]) -> Result<Vec<u8>, String> {
    let name = if command == "UID" {
        let sub = String::from_utf8_lossy(rest);
        let sub = sub
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if READ_ONLY_UID.contains(&sub.as_str()) {
            return Ok(line.to_vec());
        }
        format!("UID {sub}")
    } else if command == "SELECT" {
        let mut l = format!("{tag} EXAMINE ").into_bytes();
        l.extend_from_slice(rest);
        return Ok(l);
    } else if READ_ONLY.contains(&command) {
        return Ok(line.to_vec());
    } else {
        command.to_string()
    };
    Err(format!(
        "IMAP `{}` refused: the capability's scope is {MAIL_READ} (read-only)",
        name.trim()
    ))
}

type Writer = Arc<tokio::sync::Mutex<tokio::io::WriteHalf<Box<dyn Io>>>>;

/// What the server answered a forwarded command that waits for its go-ahead (a literal,
/// `IDLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoAhead {
    /// A continuation request (`+`): send the literal, or idle.
    Continue,
    /// The command's tagged answer instead: it is over, its literal is not taken.
    Over,
}

/// A forwarded command waiting for the server's go-ahead.
#[derive(Debug)]
struct Waiting {
    tag: String,
    /// The program sent `{n+}` and expects no `+`: the relay takes it.
    swallow: bool,
    tell: tokio::sync::oneshot::Sender<GoAhead>,
}

type Pending = Arc<tokio::sync::Mutex<Option<Waiting>>>;

/// Relay under `mail:read`; the bytes each way.
async fn read_only(
    s: &Session<'_>,
    client: Lines<Box<dyn Io>>,
    upstream: Lines<Box<dyn Io>>,
) -> (u64, u64) {
    let (c_r, c_w) = client.split();
    let (u_r, u_w) = upstream.split();
    let c_w: Writer = Arc::new(tokio::sync::Mutex::new(c_w));
    let mut out = 0u64;
    let mut back = 0u64;
    let pending: Pending = Arc::default();
    tokio::select! {
        _ = commands(s, c_r, u_w, Arc::clone(&c_w), Arc::clone(&pending), &mut out) => {}
        _ = responses(u_r, Arc::clone(&c_w), pending, &mut back) => {}
    }
    let _ = c_w.lock().await.shutdown().await;
    (out, back)
}

/// The program's commands: forward those a read-only capability allows, refuse the rest.
async fn commands(
    s: &Session<'_>,
    mut c: Lines<tokio::io::ReadHalf<Box<dyn Io>>>,
    mut up: tokio::io::WriteHalf<Box<dyn Io>>,
    to_client: Writer,
    pending: Pending,
    out: &mut u64,
) -> Result<(), String> {
    let mut idling = false;
    loop {
        let line = c.line().await?;
        if idling {
            let done = String::from_utf8_lossy(&line)
                .trim()
                .eq_ignore_ascii_case("DONE");
            if !done {
                return Err("the program sent something other than DONE during IDLE".into());
            }
            write(&mut up, &line, out).await?;
            idling = false;
            continue;
        }
        let (tag, command, rest) = words(&line);
        match read_only_line(&tag, &command, &rest, &line) {
            Ok(forward) => {
                let mut cur = forward;
                while let Some((n, plus)) = literal(&cur) {
                    let line = synchronising(&cur);
                    match go_ahead(&pending, &tag, plus, &mut up, &line, out).await? {
                        GoAhead::Continue => {
                            c.copy(n, &mut up).await?;
                            *out += u64::try_from(n).unwrap_or(0);
                            cur = c.line().await?;
                        }
                        GoAhead::Over => {
                            // The bytes of `{n+}` literals come anyway: read and drop them.
                            let mut rest = (n, plus);
                            while let (n, true) = rest {
                                c.exact(n).await?;
                                match literal(&c.line().await?) {
                                    Some(next) => rest = next,
                                    None => break,
                                }
                            }
                            cur = Vec::new();
                            break;
                        }
                    }
                }
                if command == "IDLE" && literal(&line).is_none() {
                    idling = go_ahead(&pending, &tag, false, &mut up, &cur, out).await?
                        == GoAhead::Continue;
                } else if !cur.is_empty() {
                    write(&mut up, &cur, out).await?;
                    up.flush().await.map_err(|e| format!("writing: {e}"))?;
                }
            }
            Err(why) => {
                s.audit(false, why.clone());
                let mut cur = line;
                // A literal the program sends without waiting (`{n+}`) is read and dropped;
                // for one it waits on, the refusal is the answer it gets instead of `+`.
                while let Some((n, true)) = literal(&cur) {
                    c.exact(n).await?;
                    cur = c.line().await?;
                }
                let no = format!("{tag} NO [NOPERM] policyc: {why}\r\n");
                let mut w = to_client.lock().await;
                w.write_all(no.as_bytes())
                    .await
                    .map_err(|e| format!("writing: {e}"))?;
                w.flush().await.map_err(|e| format!("writing: {e}"))?;
            }
        }
    }
}

/// The upstream's responses, each whole (with its literals) under the client lock.
async fn responses(
    mut u: Lines<tokio::io::ReadHalf<Box<dyn Io>>>,
    to_client: Writer,
    pending: Pending,
    back: &mut u64,
) -> Result<(), String> {
    loop {
        let mut line = u.line().await?;
        let answer = answered(&pending, &line).await;
        if let Some((GoAhead::Continue, true, tell)) = answer {
            // The `+` for a literal the program sent without waiting: not for it.
            let _ = tell.send(GoAhead::Continue);
            continue;
        }
        let mut w = to_client.lock().await;
        write(&mut *w, &line, back).await?;
        while let Some((n, _)) = literal(&line) {
            u.copy(n, &mut *w).await?;
            *back += u64::try_from(n).unwrap_or(0);
            line = u.line().await?;
            write(&mut *w, &line, back).await?;
        }
        w.flush().await.map_err(|e| format!("writing: {e}"))?;
        drop(w);
        // Told after the answer reached the program, so what the relay says next follows it.
        if let Some((what, _, tell)) = answer {
            let _ = tell.send(what);
        }
    }
}

/// Whether the server's `line` answers the command waiting for its go-ahead: what it
/// says, whether the program expects the `+`, and whom to tell.
async fn answered(
    pending: &Pending,
    line: &[u8],
) -> Option<(GoAhead, bool, tokio::sync::oneshot::Sender<GoAhead>)> {
    let mut p = pending.lock().await;
    let what = {
        let w = p.as_ref()?;
        if line.starts_with(b"+") {
            GoAhead::Continue
        } else if line.starts_with(format!("{} ", w.tag).as_bytes()) {
            GoAhead::Over
        } else {
            return None;
        }
    };
    let w = p.take()?;
    Some((what, w.swallow && what == GoAhead::Continue, w.tell))
}

/// Send `line` upstream and wait for the server's go-ahead for command `tag`.
async fn go_ahead(
    pending: &Pending,
    tag: &str,
    swallow: bool,
    up: &mut (impl AsyncWrite + Unpin),
    line: &[u8],
    out: &mut u64,
) -> Result<GoAhead, String> {
    let (tell, told) = tokio::sync::oneshot::channel();
    *pending.lock().await = Some(Waiting {
        tag: tag.to_string(),
        swallow,
        tell,
    });
    write(up, line, out).await?;
    up.flush().await.map_err(|e| format!("writing: {e}"))?;
    tokio::time::timeout(COMMAND_TIMEOUT, told)
        .await
        .map_err(|_| "the server did not answer a literal or IDLE in time".to_string())?
        .map_err(|_| "the server closed the connection".to_string())
}

/// `line` with a `{n+}` at its end made `{n}`.
fn synchronising(line: &[u8]) -> Vec<u8> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    match body.strip_suffix(b"+}") {
        Some(head) => {
            let mut l = head.to_vec();
            l.extend_from_slice(b"}\r\n");
            l
        }
        None => line.to_vec(),
    }
}

async fn write(
    to: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
    n: &mut u64,
) -> Result<(), String> {
    to.write_all(bytes)
        .await
        .map_err(|e| format!("writing: {e}"))?;
    *n += u64::try_from(bytes.len()).unwrap_or(0);
    Ok(())
}

/// Relay both ways as they are (`mail:write`).
async fn splice(client: Lines<Box<dyn Io>>, upstream: Lines<Box<dyn Io>>) -> (u64, u64) {
    let mut c = client.into_inner();
    let mut u = upstream.into_inner();
    tokio::io::copy_bidirectional(&mut c, &mut u)
        .await
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(line: &str) -> Result<String, String> {
        let (tag, command, rest) = words(line.as_bytes());
        read_only_line(&tag, &command, &rest, line.as_bytes())
            .map(|l| String::from_utf8(l).unwrap())
    }

    #[test]
    fn reading_is_forwarded_and_select_becomes_examine() {
        assert_eq!(
            check("a1 FETCH 1:* (FLAGS)\r\n").unwrap(),
            "a1 FETCH 1:* (FLAGS)\r\n"
        );
        assert_eq!(
            check("a2 uid fetch 1 BODY[]\r\n").unwrap(),
            "a2 uid fetch 1 BODY[]\r\n"
        );
        assert_eq!(
            check("a3 SELECT INBOX\r\n").unwrap(),
            "a3 EXAMINE INBOX\r\n"
        );
        assert_eq!(
            check("a4 select \"INBOX\"\r\n").unwrap(),
            "a4 EXAMINE \"INBOX\"\r\n"
        );
        assert!(check("a5 LIST \"\" *\r\n").is_ok());
        assert!(check("a6 IDLE\r\n").is_ok());
    }

    #[test]
    fn every_change_and_everything_unknown_is_refused() {
        for l in [
            "a APPEND INBOX {10}\r\n",
            "a STORE 1 +FLAGS (\\Deleted)\r\n",
            "a EXPUNGE\r\n",
            "a COPY 1 Trash\r\n",
            "a MOVE 1 Trash\r\n",
            "a DELETE INBOX\r\n",
            "a CREATE x\r\n",
            "a RENAME a b\r\n",
            "a UID STORE 1 +FLAGS (\\Seen)\r\n",
            "a UID EXPUNGE 1\r\n",
            "a UID COPY 1 x\r\n",
            "a UID MOVE 1 x\r\n",
            "a SUBSCRIBE x\r\n",
            "a COMPRESS DEFLATE\r\n",
            "a LOGIN u p\r\n",
            "a XYZZY\r\n",
            "a UID\r\n",
            "\r\n",
        ] {
            let e = check(l).unwrap_err();
            assert!(e.contains("mail:read"), "{l}: {e}");
        }
    }

    #[test]
    fn non_synchronising_literals_are_sent_as_synchronising() {
        assert_eq!(
            synchronising(b"a SEARCH TEXT {5+}\r\n"),
            b"a SEARCH TEXT {5}\r\n"
        );
        assert_eq!(
            synchronising(b"a SEARCH TEXT {5}\r\n"),
            b"a SEARCH TEXT {5}\r\n"
        );
        assert_eq!(synchronising(b"a NOOP\n"), b"a NOOP\n");
    }

    #[test]
    fn quoted_strings_and_logins() {
        assert_eq!(unquote(b"\"a\\\"b\" x").unwrap(), ("a\"b".to_string(), 6));
        assert!(unquote(b"\"open").is_none());
        assert_eq!(quoted("p\"w\\").unwrap(), "\"p\\\"w\\\\\"");
        assert!(quoted("a\r\nb").is_err());
    }
}
