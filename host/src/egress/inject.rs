//! Credential injection for endpoints `with token T`: the supervisor terminates the
//! program's TLS with a certificate from the per-session CA, reads the request head,
//! verifies the `Authorization: Bearer <capability>` for this endpoint, replaces it with
//! the real secret, and only then dials the upstream over TLS. Every refusal answers 403
//! and closes the connection before any upstream dial. One request per connection: the
//! forwarded request says `Connection: close`.

use super::audit::Record;
use super::broker::{finish, host_matches, Shared};
use super::tokens::Tokens;
use policyc_compiler::hosts::Host;
use policyc_token::{Refusal, Request};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};

/// The largest request head the supervisor reads before it decides.
const MAX_HEAD: usize = 64 * 1024;
/// How long the program may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-session CA: its certificate is given to the program, its key stays here.
pub struct Ca {
    issuer: rcgen::Issuer<'static, KeyPair>,
    pem: String,
    der: pki_types::CertificateDer<'static>,
    leaves: Mutex<BTreeMap<String, Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A fresh CA whose certificates are valid only for names under `hosts` (an X.509
    /// name constraint, when every host is a name).
    pub fn new(hosts: &[policyc_compiler::hosts::HostPattern]) -> Result<Ca, String> {
        use policyc_compiler::hosts::HostPattern;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "policyc session CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let names: Option<Vec<GeneralSubtree>> = hosts
            .iter()
            .map(|h| match h {
                HostPattern::Exact(Host::Domain(d)) | HostPattern::Subdomains(d) => {
                    Some(GeneralSubtree::DnsName(d.clone()))
                }
                HostPattern::Exact(Host::Ip(_)) => None,
            })
            .collect();
        if let Some(permitted) = names.filter(|n| !n.is_empty()) {
            params.name_constraints = Some(NameConstraints {
                permitted_subtrees: permitted,
                excluded_subtrees: Vec::new(),
            });
        }
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        Ok(Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
            leaves: Mutex::new(BTreeMap::new()),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.pem.clone()
    }

    /// A server configuration presenting a certificate for `name`, made once per name.
    pub(crate) fn server(&self, name: &str) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut leaves = self.leaves.lock().map_err(|_| "the CA lock is poisoned")?;
        if let Some(c) = leaves.get(name) {
            return Ok(Arc::clone(c));
        }
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let params = CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let provider = Arc::new(super::tokens::ring_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), self.der.clone()],
                pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .map_err(|e| e.to_string())?;
        let config = Arc::new(config);
        leaves.insert(name.to_string(), Arc::clone(&config));
        Ok(config)
    }
}

/// A connection to an endpoint bound to `token`, whose ClientHello (in `head`) named
/// `name`: terminate TLS, verify the capability, inject the secret, forward to `addr`.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    shared: &Shared,
    tokens: &Tokens,
    client: TcpStream,
    head: Vec<u8>,
    name: &Host,
    port: u16,
    token: &str,
    mut rec: Record,
    start: Instant,
) {
    rec.token = Some(token.to_string());
    let server = match tokens.ca().server(&name.to_string()) {
        Ok(s) => s,
        Err(why) => {
            rec.reason = format!("cannot make a certificate for `{name}`: {why}");
            return finish(shared, rec, start);
        }
    };
    let (r, w) = client.into_split();
    let stream = tokio::io::join(Cursor::new(head).chain(r), w);
    let mut tls = match tokio_rustls::TlsAcceptor::from(server).accept(stream).await {
        Ok(t) => t,
        Err(e) => {
            rec.reason = format!("the program's TLS handshake with the supervisor failed: {e}");
            return finish(shared, rec, start);
        }
    };
    let checked = read_and_check(&mut tls, tokens, name, port, token, &mut rec).await;
    let forwarded = match checked {
        Ok(bytes) => bytes,
        Err(why) => {
            rec.reason = why;
            refuse(&mut tls, &rec.reason).await;
            return finish(shared, rec, start);
        }
    };
    if let Some((grant, _)) = tokens.get(token) {
        let gate = super::approval::Gate {
            log: &shared.log,
            tokens,
            grant,
            rec: &rec,
            start,
        };
        let about = serde_json::json!({ "https": { "host": rec.http_host } });
        let scopes = grant.scopes.join(" ");
        if let Err(why) = gate.ask(&format!("{name}:{port}"), &scopes, about).await {
            rec.allowed = false;
            rec.reason = why;
            refuse(&mut tls, &rec.reason).await;
            return finish(shared, rec, start);
        }
    }
    let addr = match super::broker::upstream_address(shared, name, port, &mut rec).await {
        Ok(a) => a,
        Err(why) => {
            rec.reason = why;
            refuse(&mut tls, &rec.reason).await;
            return finish(shared, rec, start);
        }
    };
    forward(shared, tokens, tls, forwarded, name, addr, rec, start).await;
}

/// Read the request head, check its Host and capability; the head to forward, with the
/// secret in place of the capability.
async fn read_and_check(
    tls: &mut (impl AsyncRead + Unpin),
    tokens: &Tokens,
    name: &Host,
    port: u16,
    token: &str,
    rec: &mut Record,
) -> Result<Vec<u8>, String> {
    let buf = read_head(tls).await?;
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err("the program sent something other than an HTTP/1 request".into()),
    };
    let hosts: Vec<&str> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .collect();
    rec.http_host = hosts.first().map(|h| (*h).to_string());
    let one_host = match hosts.as_slice() {
        [h] => Some(*h),
        _ => None,
    };
    host_matches(one_host, name, port)?;
    let (grant, secret) = tokens
        .get(token)
        .ok_or_else(|| format!("token `{token}` is not issued in this session"))?;
    let capability = bearer(req.headers)?;
    let claims = verify(tokens, grant, capability, name)
        .map_err(|r| format!("capability refused ({}): {r}", r.kind()))?;
    rec.token_id = Some(claims.id);
    rec.reason = format!("capability for `{token}` verified; the secret was injected");
    let method = req.method.unwrap_or("GET");
    let path = req.path.unwrap_or("/");
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in req.headers.iter() {
        let n = h.name.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "authorization" | "connection" | "proxy-connection" | "keep-alive"
        ) {
            continue;
        }
        out.push_str(h.name);
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(h.value));
        out.push_str("\r\n");
    }
    out.push_str("Authorization: Bearer ");
    out.push_str(secret.expose());
    out.push_str("\r\nConnection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(buf.get(len..).unwrap_or_default());
    Ok(bytes)
}

/// The capability of exactly one `Authorization: Bearer` header.
fn bearer<'a>(headers: &'a [httparse::Header<'a>]) -> Result<&'a str, String> {
    let auth: Vec<&[u8]> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("authorization"))
        .map(|h| h.value)
        .collect();
    let missing = || {
        format!(
            "capability refused ({}): {}",
            Refusal::Missing.kind(),
            Refusal::Missing
        )
    };
    match auth.as_slice() {
        [] => Err(missing()),
        [v] => {
            let v = std::str::from_utf8(v).map_err(|_| missing())?;
            let (scheme, cap) = v.trim().split_once(' ').ok_or_else(missing)?;
            if scheme.eq_ignore_ascii_case("bearer") && !cap.trim().is_empty() {
                Ok(cap.trim())
            } else {
                Err(missing())
            }
        }
        _ => Err("more than one Authorization header".into()),
    }
}

/// Verify for this endpoint: the audience is the host the program reached, the token is
/// the one the rule binds, and the capability still grants one of the token's scopes (an
/// HTTP request names no scope of its own).
fn verify(
    tokens: &Tokens,
    grant: &policyc_token::Grant,
    capability: &str,
    name: &Host,
) -> Result<policyc_token::Claims, Refusal> {
    let audience = name.to_string();
    let claims = tokens.issuer.read(capability)?;
    if claims.token != grant.name {
        return Err(Refusal::WrongAudience {
            token: claims.token,
            audience: claims.audience,
            requested: format!("{audience} (an endpoint of token `{}`)", grant.name),
        });
    }
    let mut first = None;
    for scope in &grant.scopes {
        let req = Request {
            audience: &audience,
            scope,
            now: SystemTime::now(),
        };
        match tokens.issuer.verify(capability, &req) {
            Ok(c) => return Ok(c),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or(Refusal::Missing))
}

async fn read_head(tls: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::new();
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(buf);
        }
        if buf.len() >= MAX_HEAD {
            return Err("the request head is too large".into());
        }
        let mut chunk = [0u8; 4096];
        let wait = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, tls.read(&mut chunk)).await {
            Err(_) => return Err("the program did not send its request in time".into()),
            Ok(Ok(0)) => return Err("the program closed the connection".into()),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Ok(Err(e)) => return Err(format!("reading the request: {e}")),
        }
    }
}

async fn refuse(tls: &mut (impl AsyncWrite + Unpin), why: &str) {
    let body = format!("policyc: {why}\n");
    let msg = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(msg.as_bytes()).await;
    let _ = tls.shutdown().await;
}

/// Dial, open TLS to the upstream as `name`, send the rewritten head, splice.
#[allow(clippy::too_many_arguments)]
async fn forward(
    shared: &Shared,
    tokens: &Tokens,
    mut tls: impl AsyncRead + AsyncWrite + Unpin,
    head: Vec<u8>,
    name: &Host,
    addr: SocketAddr,
    mut rec: Record,
    start: Instant,
) {
    let upstream = async {
        let tcp = tokio::time::timeout(HEAD_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("dialling {addr}: timed out"))?
            .map_err(|e| format!("dialling {addr}: {e}"))?;
        let server_name = pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| format!("`{name}` is not a TLS server name: {e}"))?;
        tokio_rustls::TlsConnector::from(Arc::clone(&tokens.upstream_tls))
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS to the upstream {addr}: {e}"))
    }
    .await;
    let mut up = match upstream {
        Ok(u) => u,
        Err(why) => {
            rec.reason = why;
            refuse(&mut tls, "the upstream could not be reached").await;
            return finish(shared, rec, start);
        }
    };
    rec.dialled = Some(addr);
    rec.allowed = true;
    if up.write_all(&head).await.is_ok() {
        rec.bytes_out = u64::try_from(head.len()).unwrap_or(0);
        if let Ok((out, back)) = tokio::io::copy_bidirectional(&mut tls, &mut up).await {
            rec.bytes_out += out;
            rec.bytes_in = back;
        }
    }
    finish(shared, rec, start);
}
