//! The broker: every connection the program makes to a listener the supervisor owns ends
//! here. It decides on what it sees (the name behind the dialled address, the rule, the
//! TLS server name or HTTP `Host`), dials the upstream address it checked, and splices.

use super::audit::{Log, Record, Via};
use super::inspect::{self, First, Peek, MAX_PEEK};
use super::names::Names;
use super::rules::Rules;
use super::upstream::Upstream;
use crate::sys::splice::{self, Splicer};
use policyc_compiler::hosts::Host;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::{TcpListener, TcpStream};

/// How long the broker waits for a client's first bytes before it takes the protocol to
/// be one where the server speaks first (IMAP, SMTP).
const SILENCE: Duration = Duration::from_millis(300);
/// How long a client may take to send what the broker decides on.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dialling an upstream may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection handler shares.
#[derive(Debug)]
pub struct Shared {
    pub rules: Rules,
    pub names: Arc<Names>,
    pub upstream: Upstream,
    pub log: Arc<Log>,
    /// Capabilities and secrets, when the session binds any token.
    pub tokens: Option<Arc<super::tokens::Tokens>>,
}

/// Accept connections on a listener for `port` until the supervisor stops.
pub async fn listen(shared: Arc<Shared>, listener: TcpListener, port: u16) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(endpoint(Arc::clone(&shared), client, port));
    }
}

/// A connection to `port` at some address inside the namespace.
async fn endpoint(shared: Arc<Shared>, mut client: TcpStream, port: u16) {
    let start = Instant::now();
    let _in_flight = shared.log.in_flight();
    let mut rec = Record::new(Via::Listener, port);
    let name = match client.local_addr().map(|a| a.ip()) {
        Ok(IpAddr::V4(ip)) => shared.names.name_for(ip),
        _ => None,
    };
    let Some(name) = name else {
        let addr = client.local_addr().map(|a| a.ip().to_string());
        rec.reason = format!(
            "dialled {}, not an address the resolver gave for an allowed name",
            addr.unwrap_or_default()
        );
        return finish(&shared, rec, start);
    };
    rec.host = Some(name.to_string());
    let mut head = Vec::new();
    let mut token = None;
    let decided = match shared.rules.connect(&name, port) {
        None => Err(format!("no allow rule for {name}:{port}")),
        Some(rule) => {
            rec.rule = Some(rule.at.to_string());
            rec.rule_text = Some(rule.text.to_string());
            token = rule.token.map(str::to_string);
            admit(&mut client, &mut head, &name, port, &mut rec).await
        }
    };
    if let Some(t) = super::tokens::bound_token(shared.tokens.as_deref(), token.as_deref()) {
        return match decided {
            Ok(()) => with_token(&shared, t, client, head, &name, port, token, rec, start).await,
            Err(reason) => {
                rec.reason = reason;
                finish(&shared, rec, start);
            }
        };
    }
    let addr = match decided {
        Ok(()) => upstream_address(&shared, &name, port, &mut rec).await,
        Err(reason) => Err(reason),
    };
    match addr {
        Ok(addr) => relay(&shared, client, &head, addr, rec, start).await,
        Err(reason) => {
            rec.reason = reason;
            finish(&shared, rec, start);
        }
    }
}

/// An admitted connection to an endpoint bound to a token this session issued: a mail
/// token's endpoint is served by its protocol relay ([`super::relay`]); any other takes
/// TLS only (the credential is injected inside it). The upstream is dialled only after the
/// capability verifies ([`super::inject`]).
#[allow(clippy::too_many_arguments)]
pub async fn with_token(
    shared: &Shared,
    tokens: &super::tokens::Tokens,
    client: TcpStream,
    head: Vec<u8>,
    name: &Host,
    port: u16,
    token: Option<String>,
    mut rec: Record,
    start: Instant,
) {
    let token = token.unwrap_or_default();
    let tls = matches!(inspect::classify(&head), Peek::Done(First::Tls { .. }, _));
    let mail = tokens
        .get(&token)
        .and_then(|(g, _)| super::relay::protocol(&g.scopes, port));
    if let Some(protocol) = mail.filter(|_| tls || head.is_empty()) {
        let (name, token) = (name, token.as_str());
        return super::relay::serve(
            shared, tokens, protocol, client, head, name, port, token, rec, start,
        )
        .await;
    }
    if !tls {
        rec.token = Some(token.clone());
        rec.reason = format!("an endpoint bound to token `{token}` takes TLS only");
        return finish(shared, rec, start);
    }
    super::inject::serve(shared, tokens, client, head, name, port, &token, rec, start).await;
}

/// Read the client's first bytes and check them against `name:port`: a ClientHello must
/// name `name`, an HTTP request must carry `Host: name`, silence is a server-first
/// protocol; anything else is refused.
pub async fn admit(
    client: &mut TcpStream,
    head: &mut Vec<u8>,
    name: &Host,
    port: u16,
    rec: &mut Record,
) -> Result<(), String> {
    match peek(client, head, true).await? {
        None => {
            rec.reason =
                "no bytes from the client: a protocol where the server speaks first".into();
            Ok(())
        }
        Some((First::Tls { sni }, _)) => {
            rec.sni.clone_from(&sni);
            let sni = sni.ok_or("a TLS ClientHello without a server name (SNI)")?;
            if Host::parse(&sni).ok().as_ref() == Some(name) {
                rec.reason = "the TLS server name is the allowed host".into();
                Ok(())
            } else {
                Err(format!("the TLS server name `{sni}` is not `{name}`"))
            }
        }
        Some((First::Http { host, .. }, _)) => {
            rec.http_host.clone_from(&host);
            host_matches(host.as_deref(), name, port)?;
            rec.reason = "the HTTP Host is the allowed host".into();
            Ok(())
        }
        Some((First::Other(what), _)) => Err(format!("the client sent {what}")),
    }
}

/// Check an HTTP `Host` header value against `name:port`.
pub fn host_matches(host: Option<&str>, name: &Host, port: u16) -> Result<(), String> {
    let host = host.ok_or("an HTTP request without exactly one Host header")?;
    let (h, p) = inspect::authority(host).ok_or_else(|| format!("Host `{host}` is malformed"))?;
    let same_host = Host::parse(h).ok().as_ref() == Some(name);
    let same_port = p.is_none_or(|p| p == port);
    if same_host && same_port {
        Ok(())
    } else {
        Err(format!("the HTTP Host `{host}` is not `{name}:{port}`"))
    }
}

/// Read until the bytes decide. `Ok(None)`: the client stayed silent (only when
/// `allow_silence`).
pub async fn peek(
    client: &mut TcpStream,
    buf: &mut Vec<u8>,
    allow_silence: bool,
) -> Result<Option<(First, usize)>, String> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        match inspect::classify(buf) {
            Peek::Done(first, len) => return Ok(Some((first, len))),
            Peek::Need if buf.len() >= MAX_PEEK => {
                return Err("the client sent too much before the broker could decide".into())
            }
            Peek::Need => {}
        }
        let wait = if buf.is_empty() && allow_silence {
            SILENCE
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(wait, client.read(&mut chunk)).await {
            Err(_) if buf.is_empty() && allow_silence => return Ok(None),
            Err(_) => return Err("the client did not finish its first message in time".into()),
            Ok(Ok(0)) => return Err("the client closed the connection".into()),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Ok(Err(e)) => return Err(format!("reading from the client: {e}")),
        }
    }
}

/// Dial the checked upstream address, send what the client already sent, splice.
pub async fn relay(
    shared: &Shared,
    mut client: TcpStream,
    head: &[u8],
    addr: SocketAddr,
    mut rec: Record,
    start: Instant,
) {
    let mut upstream = match dial(addr).await {
        Ok(s) => s,
        Err(reason) => {
            rec.reason = reason;
            return finish(shared, rec, start);
        }
    };
    rec.allowed = true;
    if upstream.write_all(head).await.is_ok() {
        rec.bytes_out = u64::try_from(head.len()).unwrap_or(0);
        let (out, back) = splice(&mut client, &mut upstream).await;
        rec.bytes_out += out;
        rec.bytes_in = back;
    }
    finish(shared, rec, start);
}

/// Resolve (or take the pin of) `name:port` and check the address.
pub async fn upstream_address(
    shared: &Shared,
    name: &Host,
    port: u16,
    rec: &mut Record,
) -> Result<SocketAddr, String> {
    let addr = shared
        .upstream
        .address(name, port)
        .await
        .map_err(|e| e.to_string())?;
    rec.dialled = Some(addr);
    Ok(addr)
}

/// Copy both ways until both sides are done; the bytes each way (counted even when a
/// side ends with an error, as a client that resets after reading does). The bytes move
/// inside the kernel (`splice(2)` through a pipe per direction); when no pipe can be made,
/// through a buffer.
async fn splice(client: &mut TcpStream, upstream: &mut TcpStream) -> (u64, u64) {
    if let (Ok(mut out), Ok(mut back)) = (Splicer::new(), Splicer::new()) {
        let (client, upstream) = (&*client, &*upstream);
        return tokio::join!(
            pump_in_kernel(client, upstream, &mut out),
            pump_in_kernel(upstream, client, &mut back)
        );
    }
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    tokio::join!(pump(&mut cr, &mut uw), pump(&mut ur, &mut cw))
}

/// Move `from`'s bytes to `to` through `pipe` until `from` ends or either side fails, then
/// shut `to`'s sending side; the bytes moved.
async fn pump_in_kernel(from: &TcpStream, to: &TcpStream, pipe: &mut Splicer) -> u64 {
    let mut total = 0u64;
    loop {
        let n = match from
            .async_io(Interest::READABLE, || pipe.fill(from.as_fd()))
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut failed = false;
        while pipe.held() > 0 {
            if to
                .async_io(Interest::WRITABLE, || pipe.drain(to.as_fd()))
                .await
                .is_err()
            {
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
        total += u64::try_from(n).unwrap_or(0);
    }
    let _ = splice::shutdown_write(to.as_fd());
    total
}

async fn pump(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> u64 {
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Some(chunk) = buf.get(..n) else { break };
        if to.write_all(chunk).await.is_err() {
            break;
        }
        total += u64::try_from(n).unwrap_or(0);
    }
    let _ = to.shutdown().await;
    total
}

/// Dial a checked address.
async fn dial(addr: SocketAddr) -> Result<TcpStream, String> {
    match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(format!("dialling {addr}: {e}")),
        Err(_) => Err(format!("dialling {addr}: timed out")),
    }
}

/// Log the decision.
pub fn finish(shared: &Shared, mut rec: Record, start: Instant) {
    rec.duration = start.elapsed();
    shared.log.write(&rec);
}
