//! The SMTP relay: the supervisor is the program's mail server. It takes `AUTH PLAIN` or
//! `AUTH LOGIN` (over TLS only) with the capability as the password and verifies it for
//! `mail:send` before anything else (a refusal is answered `535` and audited, and the
//! third closes the connection; none dials the upstream); then `MAIL`, `RCPT`, `DATA`, `RSET`, `NOOP` and
//! `QUIT`, nothing more (`VRFY`, `EXPN`, `ETRN`, `BDAT`... are answered 502 and audited).
//!
//! Each message is held until its end; then, for a token with `approval required`, the
//! approver is asked with the envelope (sender, recipients, size, subject). Only an
//! approved message is sent: the relay dials the upstream (implicit TLS when the program
//! came with TLS, STARTTLS when it came in the clear), authenticates with `AUTH PLAIN`
//! and the real secret, and passes on the upstream's final answer. A refused message
//! never reaches the upstream, which is not even dialled for it.

use super::lines::{Io, Lines};
use super::{Session, MAIL_SEND};
use base64::Engine as _;
use std::time::Duration;

/// The largest message the relay holds.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// The most recipients of one message.
const MAX_RECIPIENTS: usize = 100;
/// How many refused logins end the connection (a client tries each mechanism offered).
const MAX_AUTH_FAILURES: usize = 3;
/// How long the program may take for each command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the upstream may take to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// One message being assembled.
#[derive(Debug, Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// Serve one SMTP connection; `tls` says whether TLS is already terminated (465) or the
/// program came in the clear (587) and must use STARTTLS first.
pub async fn serve(mut s: Session<'_>, mut client: Lines<Box<dyn Io>>, mut tls: bool) {
    let greeting = format!("220 {} ESMTP relay (policyc)\r\n", s.name);
    if let Err(why) = client.send(greeting.as_bytes()).await {
        s.rec.reason = why;
        return s.finish();
    }
    let mut authed: Option<String> = None;
    let mut env = Envelope::default();
    let mut sent = 0usize;
    let mut failures = 0usize;
    let end = loop {
        let line = match client.line_within(COMMAND_TIMEOUT).await {
            Ok(l) => l,
            Err(why) => break why,
        };
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let (verb, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => ehlo(&s, tls),
            "HELO" => format!("250 {}\r\n", s.name),
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "RSET" => {
                env = Envelope::default();
                "250 2.0.0 OK\r\n".into()
            }
            "QUIT" => {
                let _ = client.send(b"221 2.0.0 bye\r\n").await;
                break format!("the program quit after {sent} message(s)");
            }
            "STARTTLS" if tls => "503 5.5.1 TLS is already on\r\n".into(),
            "STARTTLS" => {
                if client.has_buffered() {
                    break "the program sent commands behind STARTTLS".into();
                }
                if let Err(why) = client.send(b"220 2.0.0 go ahead\r\n").await {
                    break why;
                }
                match s.accept_tls(client.into_inner()).await {
                    Ok(io) => {
                        client = Lines::new(io);
                        tls = true;
                        env = Envelope::default();
                        continue;
                    }
                    Err(why) => {
                        s.rec.reason = why;
                        return s.finish();
                    }
                }
            }
            "AUTH" if !tls => "530 5.7.0 issue STARTTLS first\r\n".into(),
            "AUTH" if authed.is_some() => "503 5.5.1 already authenticated\r\n".into(),
            "AUTH" => match auth(&mut s, &mut client, arg).await {
                Ok(user) => {
                    authed = Some(user);
                    "235 2.7.0 authenticated\r\n".into()
                }
                Err(why) => {
                    s.audit(false, why.clone());
                    failures += 1;
                    if failures >= MAX_AUTH_FAILURES {
                        let answer = format!("421 4.7.0 policyc: {why}; closing\r\n");
                        let _ = client.send(answer.as_bytes()).await;
                        break why;
                    }
                    format!("535 5.7.8 policyc: {why}\r\n")
                }
            },
            "MAIL" | "RCPT" | "DATA" if authed.is_none() => {
                "530 5.7.0 authentication required\r\n".into()
            }
            "MAIL" => match address(arg, "FROM:") {
                Some(a) if env.from.is_none() => {
                    env.from = Some(a);
                    "250 2.1.0 OK\r\n".into()
                }
                Some(_) => "503 5.5.1 nested MAIL\r\n".into(),
                None => "501 5.5.4 MAIL FROM:<address>\r\n".into(),
            },
            "RCPT" if env.from.is_none() => "503 5.5.1 MAIL first\r\n".into(),
            "RCPT" if env.to.len() >= MAX_RECIPIENTS => "452 4.5.3 too many recipients\r\n".into(),
            "RCPT" => match address(arg, "TO:").filter(|a| !a.is_empty()) {
                Some(a) => {
                    env.to.push(a);
                    "250 2.1.5 OK\r\n".into()
                }
                None => "501 5.5.4 RCPT TO:<address>\r\n".into(),
            },
            "DATA" if env.to.is_empty() => "503 5.5.1 RCPT first\r\n".into(),
            "DATA" => {
                let user = authed.clone().unwrap_or_default();
                let reply = match message(&mut s, &mut client, &env, &user).await {
                    Ok(r) => {
                        sent += usize::from(r.starts_with('2'));
                        r
                    }
                    Err(why) => break why,
                };
                env = Envelope::default();
                reply
            }
            _ => {
                let why = format!(
                    "SMTP `{verb}` refused: the capability's scope is {MAIL_SEND} (send only)"
                );
                s.audit(false, why.clone());
                format!("502 5.5.1 policyc: {why}\r\n")
            }
        };
        if let Err(why) = client.send(reply.as_bytes()).await {
            break why;
        }
    };
    s.rec.reason = if s.rec.allowed {
        format!("{}; {end}", s.rec.reason)
    } else {
        end
    };
    s.finish();
}

fn ehlo(s: &Session<'_>, tls: bool) -> String {
    let mut r = format!("250-{}\r\n", s.name);
    if tls {
        r.push_str("250-AUTH PLAIN LOGIN\r\n");
    } else {
        r.push_str("250-STARTTLS\r\n");
    }
    r.push_str(&format!("250 SIZE {MAX_MESSAGE}\r\n"));
    r
}

/// `AUTH PLAIN [ir]` or `AUTH LOGIN`: verify the password as a capability for
/// `mail:send`; the user name.
async fn auth(
    s: &mut Session<'_>,
    client: &mut Lines<Box<dyn Io>>,
    arg: &str,
) -> Result<String, String> {
    let mut it = arg.split_whitespace();
    let mechanism = it.next().unwrap_or("").to_ascii_uppercase();
    let initial = it.next().map(str::to_string);
    let (user, capability) = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(r) => r,
                None => ask(client, "").await?,
            };
            decode_plain(&response)?
        }
        "LOGIN" => {
            let user = match initial {
                Some(u) => u,
                None => ask(client, "VXNlcm5hbWU6").await?,
            };
            let pass = ask(client, "UGFzc3dvcmQ6").await?;
            (decode(&user)?, decode(&pass)?)
        }
        _ => return Err("only AUTH PLAIN and AUTH LOGIN are offered".into()),
    };
    let claims = s
        .verify(&capability, MAIL_SEND)
        .map_err(|r| format!("capability refused ({}): {r}", r.kind()))?;
    s.rec.token_id = Some(claims.id);
    s.rec.allowed = true;
    s.rec.reason = format!(
        "capability for `{}` verified (scope {MAIL_SEND})",
        s.grant.name
    );
    s.audit(true, s.rec.reason.clone());
    Ok(user)
}

/// Send a `334` challenge and read the answer.
async fn ask(client: &mut Lines<Box<dyn Io>>, challenge: &str) -> Result<String, String> {
    client
        .send(format!("334 {challenge}\r\n").as_bytes())
        .await?;
    let l = client.line_within(COMMAND_TIMEOUT).await?;
    let l = String::from_utf8_lossy(&l).trim().to_string();
    if l == "*" {
        return Err("the program cancelled the authentication".into());
    }
    Ok(l)
}

fn decode(b64: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| "the authentication response is not base64".to_string())?;
    String::from_utf8(bytes).map_err(|_| "the authentication response is not UTF-8".to_string())
}

/// A SASL PLAIN response (`authzid NUL authcid NUL password`, base64): user and password.
pub fn decode_plain(b64: &str) -> Result<(String, String), String> {
    let text = decode(b64)?;
    let mut parts = text.split('\0');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(user), Some(pass), None) => Ok((user.to_string(), pass.to_string())),
        _ => Err("the PLAIN response is malformed".into()),
    }
}

/// The address in `FROM:<a> [params]` (parameters are dropped).
fn address(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg.get(prefix.len()..)?.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    let a = inner.get(..end)?;
    if a.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    Some(a.to_string())
}

/// Take one message after `DATA`, have it approved, send it upstream; the reply for the
/// program (`Err` when the connection cannot go on).
async fn message(
    s: &mut Session<'_>,
    client: &mut Lines<Box<dyn Io>>,
    env: &Envelope,
    user: &str,
) -> Result<String, String> {
    client
        .send(b"354 end data with <CR><LF>.<CR><LF>\r\n")
        .await?;
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let line = client.line_within(COMMAND_TIMEOUT).await?;
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        if data.len().saturating_add(line.len()) > MAX_MESSAGE {
            too_big = true;
        } else {
            data.extend_from_slice(&line);
        }
    }
    if too_big {
        return Ok(format!(
            "552 5.3.4 the message is larger than {MAX_MESSAGE} bytes\r\n"
        ));
    }
    let about = serde_json::json!({ "smtp": {
        "from": env.from,
        "to": env.to,
        "size": data.len(),
        "subject": subject(&data),
    }});
    if let Err(why) = s.approve(MAIL_SEND, about).await {
        return Ok(format!("550 5.7.1 policyc: {why}\r\n"));
    }
    match deliver(s, env, user, &data).await {
        Ok(reply) => {
            s.audit(
                true,
                format!(
                    "message from <{}> to {} recipient(s) sent upstream: {}",
                    env.from.as_deref().unwrap_or(""),
                    env.to.len(),
                    reply.trim_end()
                ),
            );
            s.rec.bytes_out += u64::try_from(data.len()).unwrap_or(0);
            Ok(reply)
        }
        Err(why) => {
            s.audit(false, format!("the message was not sent: {why}"));
            Ok(format!("451 4.4.0 policyc: {why}\r\n"))
        }
    }
}

/// The `Subject:` of a message's header, if any.
fn subject(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("subject")
            .then(|| v.trim().to_string())
    })
}

/// Dial, authenticate with the secret, and send one message; the upstream's final reply.
async fn deliver(
    s: &mut Session<'_>,
    env: &Envelope,
    user: &str,
    data: &[u8],
) -> Result<String, String> {
    let secret = super::secret(s).ok_or("the token's secret is not held")?;
    let tcp: Box<dyn Io> = Box::new(s.dial().await?);
    // The program came with implicit TLS when the broker saw its ClientHello's name.
    let implicit = s.rec.sni.is_some();
    let mut up = if implicit {
        Lines::new(s.upstream_tls(tcp).await?)
    } else {
        let mut plain = Lines::new(tcp);
        expect(&mut plain, None, "2").await?;
        expect(&mut plain, Some("EHLO policyc-relay\r\n"), "2").await?;
        expect(&mut plain, Some("STARTTLS\r\n"), "2").await?;
        if plain.has_buffered() {
            return Err("the upstream sent data behind its STARTTLS answer".into());
        }
        Lines::new(s.upstream_tls(plain.into_inner()).await?)
    };
    if implicit {
        expect(&mut up, None, "2").await?;
    }
    expect(&mut up, Some("EHLO policyc-relay\r\n"), "2").await?;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{}", secret.expose()));
    expect(&mut up, Some(&format!("AUTH PLAIN {plain}\r\n")), "235")
        .await
        .map_err(|e| format!("the upstream refused the secret: {e}"))?;
    let from = env.from.as_deref().unwrap_or("");
    expect(&mut up, Some(&format!("MAIL FROM:<{from}>\r\n")), "2").await?;
    for to in &env.to {
        expect(&mut up, Some(&format!("RCPT TO:<{to}>\r\n")), "2").await?;
    }
    expect(&mut up, Some("DATA\r\n"), "3").await?;
    up.send(data).await?;
    let reply = expect(&mut up, Some(".\r\n"), "2").await?;
    let _ = up.send(b"QUIT\r\n").await;
    Ok(reply)
}

/// Send `command` (if any), read the (multi-line) reply, and require its code to start
/// with `want`; the reply's last line.
async fn expect(
    up: &mut Lines<Box<dyn Io>>,
    command: Option<&str>,
    want: &str,
) -> Result<String, String> {
    if let Some(c) = command {
        up.send(c.as_bytes()).await?;
    }
    loop {
        let l = up.line_within(UPSTREAM_TIMEOUT).await?;
        let l = String::from_utf8_lossy(&l).into_owned();
        if l.get(3..4) == Some("-") {
            continue;
        }
        if l.starts_with(want) {
            return Ok(format!("{}\r\n", l.trim_end()));
        }
        let what = command
            .map(|c| c.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| "greeting".into());
        return Err(format!("upstream answered {what} with `{}`", l.trim_end()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envelopes_and_headers() {
        assert_eq!(
            address("FROM:<a@b.example> SIZE=10", "FROM:").unwrap(),
            "a@b.example"
        );
        assert_eq!(address("to: <c@d>", "TO:").unwrap(), "c@d");
        assert_eq!(address("FROM:<>", "FROM:").unwrap(), "");
        assert!(address("FROM:a@b", "FROM:").is_none());
        assert!(address("FROM:<a\r>", "FROM:").is_none());
        assert_eq!(
            subject(b"From: a\r\nSubject: Re: hello\r\n\r\nSubject: body\r\n").unwrap(),
            "Re: hello"
        );
    }

    #[test]
    fn plain_responses() {
        let b = base64::engine::general_purpose::STANDARD.encode("\0me\0cap");
        assert_eq!(decode_plain(&b).unwrap(), ("me".into(), "cap".into()));
        let b = base64::engine::general_purpose::STANDARD.encode("me-cap");
        assert!(decode_plain(&b).is_err());
        assert!(decode_plain("!!").is_err());
    }
}
