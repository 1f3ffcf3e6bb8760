//! The HTTP proxy inside the namespace, for clients that honour `HTTP(S)_PROXY`: `CONNECT
//! host:port` tunnels (the tunnel's first bytes are checked like a listener's) and
//! absolute-form `http://` requests. Anything a rule does not allow gets a 403.

use super::audit::{Record, Via};
use super::broker::{self, finish, host_matches, relay, Shared};

use super::inspect::{self, First};
use policyc_compiler::hosts::Host;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

const OK: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// Accept proxy clients until the supervisor stops.
pub async fn listen(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(Arc::clone(&shared), client));
    }
}

async fn serve(shared: Arc<Shared>, mut client: TcpStream) {
    let start = Instant::now();
    let _in_flight = shared.log.in_flight();
    let mut buf = Vec::new();
    let (method, target, host, len) = match broker::peek(&mut client, &mut buf, false).await {
        Ok(Some((
            First::Http {
                method,
                target,
                host,
            },
            len,
        ))) => (method, target, host, len),
        Ok(_) => return refuse(&mut client, 400, "not an HTTP request").await,
        Err(why) => return refuse(&mut client, 400, &why).await,
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let rest = buf.split_off(len.min(buf.len()));
        connect(&shared, client, &target, rest, start).await;
    } else {
        forward(&shared, client, &target, host, buf, start).await;
    }
}

/// `CONNECT host:port`: check the target, answer 200, check the tunnel's first bytes
/// against the target, then relay.
async fn connect(
    shared: &Shared,
    mut client: TcpStream,
    target: &str,
    mut head: Vec<u8>,
    start: Instant,
) {
    let mut rec = Record::new(Via::Connect, 0);
    rec.host = Some(target.to_string());
    let (name, port) = match target_of(target) {
        Ok(t) => t,
        Err(why) => {
            rec.reason = why;
            refuse(&mut client, 400, &rec.reason).await;
            return finish(shared, rec, start);
        }
    };
    rec.port = port;
    rec.host = Some(name.to_string());
    let Some(rule) = shared.rules.connect(&name, port) else {
        rec.reason = format!("no allow rule for {name}:{port}");
        refuse(&mut client, 403, &rec.reason).await;
        return finish(shared, rec, start);
    };
    rec.rule = Some(rule.at.to_string());
    rec.rule_text = Some(rule.text.to_string());
    let bound = super::tokens::bound_token(shared.tokens.as_deref(), rule.token);
    let token = rule.token.map(str::to_string);
    if let Some(tokens) = bound {
        // The upstream is resolved and dialled only after the capability verifies.
        if client.write_all(OK).await.is_err() {
            rec.reason = "the client left".into();
            return finish(shared, rec, start);
        }
        if let Err(why) = broker::admit(&mut client, &mut head, &name, port, &mut rec).await {
            rec.reason = why;
            return finish(shared, rec, start);
        }
        return broker::with_token(shared, tokens, client, head, &name, port, token, rec, start)
            .await;
    }
    let addr = match broker::upstream_address(shared, &name, port, &mut rec).await {
        Ok(a) => a,
        Err(why) => {
            rec.reason = why;
            refuse(&mut client, 403, &rec.reason).await;
            return finish(shared, rec, start);
        }
    };
    if client.write_all(OK).await.is_err() {
        rec.reason = "the client left".into();
        return finish(shared, rec, start);
    }
    if let Err(why) = broker::admit(&mut client, &mut head, &name, port, &mut rec).await {
        rec.reason = why;
        return finish(shared, rec, start);
    }
    relay(shared, client, &head, addr, rec, start).await;
}

/// An absolute-form `GET http://host[:port]/...`: the URI's host and port must be allowed
/// and the `Host` header must name the same.
async fn forward(
    shared: &Shared,
    mut client: TcpStream,
    target: &str,
    http_host: Option<String>,
    head: Vec<u8>,
    start: Instant,
) {
    let mut rec = Record::new(Via::Forward, 80);
    rec.host = Some(target.to_string());
    rec.http_host.clone_from(&http_host);
    let checked = absolute(target).and_then(|(name, port)| {
        rec.port = port;
        rec.host = Some(name.to_string());
        let rule = shared
            .rules
            .connect(&name, port)
            .ok_or_else(|| format!("no allow rule for {name}:{port}"))?;
        rec.rule = Some(rule.at.to_string());
        rec.rule_text = Some(rule.text.to_string());
        if super::tokens::bound_token(shared.tokens.as_deref(), rule.token).is_some() {
            return Err(
                "an endpoint bound to a token takes TLS only, not plain `http://`".to_string(),
            );
        }
        host_matches(http_host.as_deref(), &name, port)?;
        Ok((name, port))
    });
    let addr = match checked {
        Ok((name, port)) => broker::upstream_address(shared, &name, port, &mut rec).await,
        Err(why) => Err(why),
    };
    match addr {
        Ok(addr) => {
            rec.reason = "the request URI and Host are the allowed host".into();
            relay(shared, client, &head, addr, rec, start).await;
        }
        Err(why) => {
            rec.reason = why;
            refuse(&mut client, 403, &rec.reason).await;
            finish(shared, rec, start);
        }
    }
}

/// The host and port of a CONNECT target (`host:port`, `[v6]:port`).
fn target_of(target: &str) -> Result<(Host, u16), String> {
    let bad = || format!("CONNECT target `{target}` is not host:port");
    match inspect::authority(target) {
        Some((h, Some(port))) => Ok((Host::parse(h).map_err(|_| bad())?, port)),
        _ => Err(bad()),
    }
}

/// The host and port of an absolute-form `http://` request target.
fn absolute(target: &str) -> Result<(Host, u16), String> {
    let bad = || format!("request target `{target}` is not an absolute http:// URI");
    let scheme_len = "http://".len();
    let rest = match target.get(..scheme_len) {
        Some(s) if s.eq_ignore_ascii_case("http://") => target.get(scheme_len..).unwrap_or(""),
        _ => return Err(bad()),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = rest.get(..end).unwrap_or("");
    if auth.contains('@') {
        return Err(format!(
            "request target `{target}` carries user information"
        ));
    }
    match inspect::authority(auth) {
        Some((h, port)) => Ok((Host::parse(h).map_err(|_| bad())?, port.unwrap_or(80))),
        None => Err(bad()),
    }
}

async fn refuse(client: &mut TcpStream, status: u16, why: &str) {
    let phrase = if status == 403 {
        "Forbidden"
    } else {
        "Bad Request"
    };
    let body = format!("policyc: {why}\n");
    let msg = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(msg.as_bytes()).await;
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets_and_absolute_uris_give_host_and_port() {
        let h = |s: &str| Host::parse(s).unwrap();
        assert_eq!(target_of("a.example:443").unwrap(), (h("a.example"), 443));
        assert_eq!(target_of("[::1]:443").unwrap(), (h("::1"), 443));
        assert!(target_of("a.example").is_err());
        assert_eq!(
            absolute("http://a.example/x").unwrap(),
            (h("a.example"), 80)
        );
        assert_eq!(
            absolute("HTTP://a.example:8080?q").unwrap(),
            (h("a.example"), 8080)
        );
        assert!(absolute("https://a.example/").is_err());
        assert!(absolute("http://user@evil.example/").is_err());
        assert!(absolute("/relative").is_err());
    }
}
