//! The loopback upstreams of the relay tests ([`super::relay`]): an IMAP server that reads
//! literals as RFC 3501 does (`{n}` only; without LITERAL+, a `{n+}` line is a syntax error
//! and what follows it is read as commands), on 993 with TLS and on 143 with STARTTLS; an
//! SMTP submission server with STARTTLS; an HTTPS API. Each records what reaches it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls;

pub(super) const IMAP_SECRET: &str = "imap-secret-only-the-supervisor-holds";
pub(super) const SMTP_SECRET: &str = "smtp-secret-only-the-supervisor-holds";
pub(super) const API_SECRET: &str = "api-secret-only-the-supervisor-holds";

/// What an upstream saw: connections, logins, commands (with their literals), messages.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) connections: AtomicUsize,
    pub(super) secrets: Mutex<Vec<String>>,
    pub(super) commands: Mutex<Vec<String>>,
    pub(super) messages: Mutex<Vec<String>>,
}

impl Seen {
    pub(super) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub(super) fn list(m: &Mutex<Vec<String>>) -> Vec<String> {
        m.lock().unwrap().clone()
    }
    /// The verbs of the commands seen (`UID STORE` as `STORE`).
    pub(super) fn verbs(&self) -> Vec<String> {
        Seen::list(&self.commands)
            .iter()
            .map(|c| {
                let mut w = c.split_whitespace().skip(1);
                let v = w.next().unwrap_or("").to_ascii_uppercase();
                if v == "UID" {
                    w.next().unwrap_or("").to_ascii_uppercase()
                } else {
                    v
                }
            })
            .collect()
    }
}

/// A CA made now, and a server configuration for `names` signed by it; the CA's PEM file.
pub(super) fn tls_for(names: &[&str], dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "relay test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
    let file = dir.join(format!("{}-ca.pem", names[0]));
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

pub(super) type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Accept on `addr:port`, one thread per connection running `session`.
pub(super) fn serve(
    addr: &str,
    port: u16,
    seen: &Arc<Seen>,
    session: impl Fn(TcpStream, &Seen) + Send + Sync + Clone + 'static,
) {
    let l = TcpListener::bind((addr, port)).expect("the test's upstream port");
    let seen = Arc::clone(seen);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            seen.connections.fetch_add(1, Ordering::SeqCst);
            let (seen, session) = (Arc::clone(&seen), session.clone());
            std::thread::spawn(move || session(s, &seen));
        }
    });
}

pub(super) fn tls_accept(
    config: &Arc<rustls::ServerConfig>,
    s: TcpStream,
) -> Option<BufReader<Tls>> {
    let conn = rustls::ServerConnection::new(Arc::clone(config)).ok()?;
    Some(BufReader::new(rustls::StreamOwned::new(conn, s)))
}

pub(super) fn say<S: Read + Write>(r: &mut BufReader<S>, text: &str) {
    let _ = r.get_mut().write_all(text.as_bytes());
    let _ = r.get_mut().flush();
}

/// The literal a line announces at its end: its size and whether it is `{n+}`.
pub(super) fn literal_at_end(line: &str) -> Option<(usize, bool)> {
    let body = line.trim_end().strip_suffix('}')?;
    let (body, plus) = match body.strip_suffix('+') {
        Some(b) => (b, true),
        None => (body, false),
    };
    let open = body.rfind('{')?;
    Some((body[open + 1..].parse().ok()?, plus))
}

/// One IMAP command with its literals, as RFC 3501 reads it: `Err` with the tagged answer
/// for a line it refuses before taking a literal (then the next bytes are a new command).
pub(super) fn imap_command(r: &mut BufReader<Tls>) -> Option<Result<String, String>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let tag = line.split_whitespace().next().unwrap_or("*").to_string();
    let mut command = String::new();
    loop {
        command.push_str(&line);
        match literal_at_end(&line) {
            None => return Some(Ok(command)),
            Some((_, true)) => return Some(Err(format!("{tag} BAD no LITERAL+ here\r\n"))),
            Some((n, false)) if n > 4096 => {
                return Some(Err(format!("{tag} BAD the literal is too big\r\n")))
            }
            Some((n, false)) => {
                say(r, "+ go on\r\n");
                let mut bytes = vec![0; n];
                r.read_exact(&mut bytes).ok()?;
                command.push_str(&String::from_utf8_lossy(&bytes));
                line.clear();
                r.read_line(&mut line).ok()?;
            }
        }
    }
}

/// A small IMAP server (TLS, 993): one mailbox with one message; it records every command.
pub(super) fn imap_session(config: &Arc<rustls::ServerConfig>, s: TcpStream, seen: &Seen) {
    let Some(mut r) = tls_accept(config, s) else {
        return;
    };
    say(
        &mut r,
        "* OK [CAPABILITY IMAP4rev1] test IMAP server ready\r\n",
    );
    imap_commands(&mut r, seen);
}

/// The same server on 143: in the clear until STARTTLS.
pub(super) fn imap_starttls_session(config: &Arc<rustls::ServerConfig>, s: TcpStream, seen: &Seen) {
    let mut r = BufReader::new(s);
    say(
        &mut r,
        "* OK [CAPABILITY IMAP4rev1 STARTTLS] test IMAP server ready\r\n",
    );
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        seen.commands
            .lock()
            .unwrap()
            .push(format!("plain {}", line.trim_end()));
        let tag = line.split_whitespace().next().unwrap_or("*").to_string();
        if line.to_ascii_uppercase().contains(" STARTTLS") {
            say(&mut r, &format!("{tag} OK begin TLS\r\n"));
            if let Some(mut tls) = tls_accept(config, r.into_inner()) {
                imap_commands(&mut tls, seen);
            }
            return;
        }
        say(&mut r, &format!("{tag} BAD STARTTLS first\r\n"));
        line.clear();
    }
}

/// Commands until LOGOUT or the end of the connection.
pub(super) fn imap_commands(r: &mut BufReader<Tls>, seen: &Seen) {
    while let Some(command) = imap_command(r) {
        let command = match command {
            Ok(c) => c,
            Err(bad) => {
                say(r, &bad);
                continue;
            }
        };
        let words: Vec<&str> = command.split_whitespace().collect();
        let tag = words.first().copied().unwrap_or("*").to_string();
        let verb = words
            .get(1)
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        if verb == "LOGIN" {
            seen.secrets
                .lock()
                .unwrap()
                .push(words.get(3).unwrap_or(&"").trim_matches('"').to_string());
        }
        seen.commands
            .lock()
            .unwrap()
            .push(command.trim_end().to_string());
        let reply = match verb.as_str() {
            "LOGIN" if command.contains(IMAP_SECRET) => format!("{tag} OK logged in\r\n"),
            "LOGIN" => format!("{tag} NO [AUTHENTICATIONFAILED] wrong password\r\n"),
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n"),
            "EXAMINE" => format!("* 1 EXISTS\r\n{tag} OK [READ-ONLY] EXAMINE done\r\n"),
            "SELECT" => format!("* 1 EXISTS\r\n{tag} OK [READ-WRITE] SELECT done\r\n"),
            "SEARCH" => format!("* SEARCH 1\r\n{tag} OK SEARCH done\r\n"),
            "APPEND" => format!("{tag} OK [APPENDUID 7 2] APPEND done\r\n"),
            "STORE" => format!("* 1 FETCH (FLAGS (\\Flagged))\r\n{tag} OK STORE done\r\n"),
            "IDLE" => {
                say(r, "+ idling\r\n* 2 EXISTS\r\n");
                let mut done = String::new();
                let _ = r.read_line(&mut done);
                seen.commands
                    .lock()
                    .unwrap()
                    .push(done.trim_end().to_string());
                format!("{tag} OK IDLE terminated\r\n")
            }
            "LOGOUT" => {
                say(r, &format!("* BYE bye\r\n{tag} OK LOGOUT done\r\n"));
                return;
            }
            _ => format!("{tag} OK {verb} done\r\n"),
        };
        say(r, &reply);
    }
}

/// SMTP commands after the greeting (and STARTTLS): the password of `AUTH PLAIN` and each
/// message are recorded.
pub(super) fn smtp_commands<S: Read + Write>(r: &mut BufReader<S>, seen: &Seen) {
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let upper = line.to_ascii_uppercase();
        seen.commands
            .lock()
            .unwrap()
            .push(format!("- {}", line.trim_end()));
        let reply = if upper.starts_with("EHLO") {
            "250-test\r\n250 AUTH PLAIN\r\n".to_string()
        } else if upper.starts_with("AUTH PLAIN ") {
            let b64 = line.split_whitespace().nth(2).unwrap_or("");
            use base64::Engine as _;
            let plain = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            let plain = String::from_utf8_lossy(&plain).to_string();
            let pass = plain.rsplit('\0').next().unwrap_or("").to_string();
            let ok = pass == SMTP_SECRET;
            seen.secrets.lock().unwrap().push(pass);
            if ok {
                "235 ok\r\n"
            } else {
                "535 wrong password\r\n"
            }
            .to_string()
        } else if upper.starts_with("DATA") {
            say(r, "354 go on\r\n");
            let mut msg = String::new();
            let mut l = String::new();
            while r.read_line(&mut l).is_ok_and(|n| n > 0) && l != ".\r\n" {
                msg.push_str(&l);
                l.clear();
            }
            seen.messages.lock().unwrap().push(msg);
            "250 queued as 42\r\n".into()
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

/// A small SMTP submission server (587): in the clear until STARTTLS, then TLS.
pub(super) fn smtp_session(config: &Arc<rustls::ServerConfig>, s: TcpStream, seen: &Seen) {
    let mut r = BufReader::new(s);
    say(&mut r, "220 test SMTP server ready\r\n");
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let upper = line.to_ascii_uppercase();
        seen.commands
            .lock()
            .unwrap()
            .push(format!("plain {}", line.trim_end()));
        if upper.starts_with("EHLO") {
            say(&mut r, "250-test\r\n250 STARTTLS\r\n");
        } else if upper.starts_with("STARTTLS") {
            say(&mut r, "220 go ahead\r\n");
            let Some(mut tls) = tls_accept(config, r.into_inner()) else {
                return;
            };
            return smtp_commands(&mut tls, seen);
        } else {
            say(&mut r, "530 STARTTLS first\r\n");
        }
        line.clear();
    }
}

/// An HTTPS API: counts requests and records each one's Authorization header.
pub(super) fn api_session(config: &Arc<rustls::ServerConfig>, s: TcpStream, seen: &Seen) {
    let Some(mut r) = tls_accept(config, s) else {
        return;
    };
    let mut auth = String::from("(none)");
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        if let Some(v) = line.strip_prefix("Authorization: ") {
            auth = v.trim().to_string();
        }
        line.clear();
    }
    seen.secrets.lock().unwrap().push(auth);
    say(
        &mut r,
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nupstream\n",
    );
}
