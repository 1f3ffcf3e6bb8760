//! What the first bytes a client sends say about where it means to go: the server name of
//! a TLS ClientHello (read with tls-parser) or the `Host` of an HTTP request (read with
//! httparse). Nothing here parses a protocol by hand.

use tls_parser::{
    parse_tls_extensions, parse_tls_plaintext, parse_tls_record_header, SNIType, TlsExtension,
    TlsMessage, TlsMessageHandshake,
};

/// The most the broker reads before it decides (a ClientHello fits in one 16 KiB record).
pub const MAX_PEEK: usize = 64 * 1024;

/// What the client's first bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum First {
    /// A TLS ClientHello and the host name its SNI extension names, if any.
    Tls { sni: Option<String> },
    /// An HTTP request: its method, request target and `Host` header (if exactly one).
    Http {
        method: String,
        target: String,
        host: Option<String>,
    },
    /// Neither: bytes the broker cannot attribute to a host.
    Other(&'static str),
}

/// Whether the bytes so far decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// Read more.
    Need,
    /// Decided, with the length of the HTTP head when it is a request (the rest is body).
    Done(First, usize),
}

/// Classify the first bytes of a connection.
pub fn classify(buf: &[u8]) -> Peek {
    match buf.first() {
        None => Peek::Need,
        Some(0x16) => tls(buf),
        Some(_) => http(buf),
    }
}

fn tls(buf: &[u8]) -> Peek {
    let Ok((_, hdr)) = parse_tls_record_header(buf) else {
        return if buf.len() < 5 {
            Peek::Need
        } else {
            Peek::Done(First::Other("a malformed TLS record"), 0)
        };
    };
    if buf.len() < 5 + usize::from(hdr.len) {
        return if 5 + usize::from(hdr.len) > MAX_PEEK {
            Peek::Done(First::Other("an oversized TLS record"), 0)
        } else {
            Peek::Need
        };
    }
    let Ok((_, record)) = parse_tls_plaintext(buf) else {
        return Peek::Done(
            First::Other("a TLS record that is not a whole ClientHello"),
            0,
        );
    };
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            let sni = ch.ext.and_then(server_name);
            return Peek::Done(First::Tls { sni }, 0);
        }
    }
    Peek::Done(First::Other("a TLS record that is not a ClientHello"), 0)
}

fn server_name(ext: &[u8]) -> Option<String> {
    let (_, exts) = parse_tls_extensions(ext).ok()?;
    exts.iter().find_map(|e| match e {
        TlsExtension::SNI(names) => names
            .iter()
            .find(|(t, _)| *t == SNIType::HostName)
            .and_then(|(_, n)| std::str::from_utf8(n).ok())
            .map(str::to_string),
        _ => None,
    })
}

fn http(buf: &[u8]) -> Peek {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Peek::Need,
        Ok(httparse::Status::Complete(len)) => {
            let mut hosts = req
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("host"));
            let host = match (hosts.next(), hosts.next()) {
                (Some(h), None) => std::str::from_utf8(h.value).ok().map(str::to_string),
                _ => None,
            };
            Peek::Done(
                First::Http {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    host,
                },
                len,
            )
        }
        Err(_) => Peek::Done(First::Other("bytes that are neither TLS nor HTTP"), 0),
    }
}

/// Split an authority (`host`, `host:port`, `[v6]:port`) into host and port.
pub fn authority(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        return Some((s.get(..v6.len() + 2)?, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, Some(p.parse().ok()?))),
        Some(_) => None,
        None => Some((s, None)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn http_requests_give_their_host_and_partial_ones_ask_for_more() {
        assert_eq!(classify(b"GET / HT"), Peek::Need);
        let Peek::Done(First::Http { host, target, .. }, len) =
            classify(b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\nbody")
        else {
            panic!("not http");
        };
        assert_eq!(
            (host.as_deref(), target.as_str(), len),
            (Some("a.example"), "http://a.example/x", 52)
        );
        let two = classify(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
        assert!(matches!(two, Peek::Done(First::Http { host: None, .. }, _)));
        assert!(matches!(
            classify(b"\x00\x01\x02"),
            Peek::Done(First::Other(_), 0)
        ));
        assert_eq!(classify(b"\x16\x03\x01"), Peek::Need);
    }

    #[test]
    fn authorities_split_with_and_without_ports() {
        assert_eq!(authority("a.example:443"), Some(("a.example", Some(443))));
        assert_eq!(authority("a.example"), Some(("a.example", None)));
        assert_eq!(authority("[::1]:443"), Some(("[::1]", Some(443))));
        assert_eq!(authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(authority("a:b"), None);
        assert_eq!(authority("::1"), None);
    }
}
