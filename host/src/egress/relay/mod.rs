//! Mail protocol relays for endpoints `with token T` whose token is a mail token: the
//! supervisor speaks IMAP ([`imap`]) or SMTP ([`smtp`]) to the program itself, over TLS it
//! terminates with the session CA, takes the *password* of the program's login as the
//! capability, verifies it (signature, audience, scope, expiry, single use), and only
//! then dials the upstream over TLS and logs in with the real secret. After that it
//! relays commands and enforces the capability's scope.
//!
//! The protocol follows from the token's scopes: `mail:read` (read-only IMAP) or
//! `mail:write` (IMAP without limits) make an IMAP relay, `mail:send` an SMTP relay; a
//! token with both kinds is told apart by the port (25, 465 and 587 are SMTP). Both are
//! taken with implicit TLS (993, 465) or STARTTLS (143, 587, where the program connects in
//! the clear and the relay offers STARTTLS), and the upstream is reached the same way the
//! program came.

pub mod imap;
pub mod lines;
pub mod smtp;

use super::audit::Record;
use super::broker::{finish, Shared};
use super::tokens::Tokens;
use lines::{Io, Lines};
use policyc_compiler::hosts::Host;
use policyc_token::{Claims, Grant, Refusal, Request};
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types;

/// The read-only IMAP scope.
pub const MAIL_READ: &str = "mail:read";
/// The IMAP scope that allows every command.
pub const MAIL_WRITE: &str = "mail:write";
/// The SMTP scope: sending only.
pub const MAIL_SEND: &str = "mail:send";

/// How long dialling and greeting an upstream may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);

/// Which relay serves a token's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
}

/// The relay for a token with `scopes` on `port`, or `None` when it is not a mail token
/// (then the HTTPS injection serves it).
pub fn protocol(scopes: &[String], port: u16) -> Option<Protocol> {
    let imap = scopes.iter().any(|s| s == MAIL_READ || s == MAIL_WRITE);
    let smtp = scopes.iter().any(|s| s == MAIL_SEND);
    match (imap, smtp) {
        (true, false) => Some(Protocol::Imap),
        (false, true) => Some(Protocol::Smtp),
        (true, true) if matches!(port, 25 | 465 | 587) => Some(Protocol::Smtp),
        (true, true) => Some(Protocol::Imap),
        (false, false) => None,
    }
}

/// One relayed connection: what every step needs.
#[derive(Debug)]
pub struct Session<'a> {
    pub shared: &'a Shared,
    pub tokens: &'a Tokens,
    pub grant: &'a Grant,
    pub name: &'a Host,
    pub port: u16,
    /// The connection's record; steps are written as records of their own.
    pub rec: Record,
    pub start: Instant,
}

impl Session<'_> {
    /// Write one step (a refused command, an approval) to the audit log.
    pub fn audit(&self, allowed: bool, reason: String) {
        let mut r = self.rec.clone();
        r.allowed = allowed;
        r.reason = reason;
        r.bytes_in = 0;
        r.bytes_out = 0;
        r.duration = self.start.elapsed();
        self.shared.log.write(&r);
    }

    /// Verify `capability` for this endpoint and `scope`: it must be this token's, for
    /// this host, grant the scope, not be expired, and (single-use tokens) not be used.
    pub fn verify(&self, capability: &str, scope: &str) -> Result<Claims, Refusal> {
        let audience = self.name.to_string();
        let claims = self.tokens.issuer.read(capability)?;
        if claims.token != self.grant.name {
            return Err(Refusal::WrongAudience {
                token: claims.token,
                audience: claims.audience,
                requested: format!("{audience} (an endpoint of token `{}`)", self.grant.name),
            });
        }
        let req = Request {
            audience: &audience,
            scope,
            now: SystemTime::now(),
        };
        self.tokens.issuer.verify(capability, &req)
    }

    /// Ask for approval when the token requires it (`about` says what the use is);
    /// `Ok` with nothing to ask. Every decision is audited.
    pub async fn approve(&self, scope: &str, about: serde_json::Value) -> Result<(), String> {
        let endpoint = format!("{}:{}", self.name, self.port);
        let gate = super::approval::Gate {
            log: &self.shared.log,
            tokens: self.tokens,
            grant: self.grant,
            rec: &self.rec,
            start: self.start,
        };
        gate.ask(&endpoint, scope, about).await
    }

    /// Resolve (or take the pin of) the upstream and open TCP to it.
    pub async fn dial(&mut self) -> Result<TcpStream, String> {
        let addr =
            super::broker::upstream_address(self.shared, self.name, self.port, &mut self.rec)
                .await?;
        tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("dialling {addr}: timed out"))?
            .map_err(|e| format!("dialling {addr}: {e}"))
    }

    /// Open TLS to the upstream as this endpoint's name over `io`.
    pub async fn upstream_tls(&self, io: Box<dyn Io>) -> Result<Box<dyn Io>, String> {
        let server_name = pki_types::ServerName::try_from(self.name.to_string())
            .map_err(|e| format!("`{}` is not a TLS server name: {e}", self.name))?;
        let tls = tokio::time::timeout(
            UPSTREAM_TIMEOUT,
            tokio_rustls::TlsConnector::from(Arc::clone(&self.tokens.upstream_tls))
                .connect(server_name, io),
        )
        .await
        .map_err(|_| "TLS to the upstream: timed out".to_string())?
        .map_err(|e| format!("TLS to the upstream: {e}"))?;
        Ok(Box::new(tls))
    }

    /// Terminate the program's TLS on `io` with a certificate for this endpoint.
    pub async fn accept_tls(&self, io: Box<dyn Io>) -> Result<Box<dyn Io>, String> {
        let server = self
            .tokens
            .ca()
            .server(&self.name.to_string())
            .map_err(|why| format!("cannot make a certificate for `{}`: {why}", self.name))?;
        let tls = tokio::time::timeout(
            UPSTREAM_TIMEOUT,
            tokio_rustls::TlsAcceptor::from(server).accept(io),
        )
        .await
        .map_err(|_| "the program's TLS handshake timed out".to_string())?
        .map_err(|e| format!("the program's TLS handshake with the supervisor failed: {e}"))?;
        Ok(Box::new(tls))
    }

    /// Write the connection's record.
    pub fn finish(self) {
        finish(self.shared, self.rec, self.start);
    }
}

/// A connection to an endpoint whose token is a mail token: relay it. `head` holds what
/// the program sent first (a ClientHello, or nothing for a program that waits for the
/// server's greeting).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    shared: &Shared,
    tokens: &Tokens,
    protocol: Protocol,
    client: TcpStream,
    head: Vec<u8>,
    name: &Host,
    port: u16,
    token: &str,
    mut rec: Record,
    start: Instant,
) {
    rec.token = Some(token.to_string());
    let Some((grant, _)) = tokens.get(token) else {
        rec.reason = format!("token `{token}` is not issued in this session");
        return finish(shared, rec, start);
    };
    let tls = !head.is_empty();
    let mut s = Session {
        shared,
        tokens,
        grant,
        name,
        port,
        rec,
        start,
    };
    let (r, w) = client.into_split();
    let io: Box<dyn Io> = Box::new(tokio::io::join(Cursor::new(head).chain(r), w));
    let io = if tls {
        match s.accept_tls(io).await {
            Ok(io) => io,
            Err(why) => {
                s.rec.reason = why;
                return s.finish();
            }
        }
    } else {
        io
    };
    let client = Lines::new(io);
    match protocol {
        Protocol::Imap => imap::serve(s, client, tls).await,
        Protocol::Smtp => smtp::serve(s, client, tls).await,
    }
}

/// The secret of the session's token (for the one place each relay logs in upstream).
pub(crate) fn secret<'a>(s: &Session<'a>) -> Option<&'a super::tokens::Secret> {
    s.tokens.get(&s.grant.name).map(|(_, secret)| secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn the_scopes_choose_the_relay() {
        assert_eq!(protocol(&scopes(&["mail:read"]), 993), Some(Protocol::Imap));
        assert_eq!(protocol(&scopes(&["mail:send"]), 465), Some(Protocol::Smtp));
        assert_eq!(
            protocol(&scopes(&["mail:send"]), 2525),
            Some(Protocol::Smtp)
        );
        assert_eq!(
            protocol(&scopes(&["mail:read", "mail:send"]), 587),
            Some(Protocol::Smtp)
        );
        assert_eq!(
            protocol(&scopes(&["mail:read", "mail:send"]), 993),
            Some(Protocol::Imap)
        );
        assert_eq!(protocol(&scopes(&["read"]), 443), None);
    }
}
