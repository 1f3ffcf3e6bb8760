//! Asking an upstream resolver for a name's A record: only under `dns any`, only for an A
//! query, and only from the supervisor's side of the namespace boundary.

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// What the upstream resolver said about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// The name has at least one A record.
    Exists,
    /// The name exists but has no A record.
    NoData,
    /// The name does not exist.
    NxDomain,
}

/// The first `nameserver` of a `resolv.conf` text, on port 53.
pub fn upstream_from_resolv_conf(text: &str) -> Option<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .find_map(|addr| addr.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
}

/// The host's resolver, from the `resolv.conf` at `path` (the host's `/etc/resolv.conf`).
pub fn system_upstream(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| upstream_from_resolv_conf(&t))
}

/// Ask `server` for the A record of `name`, over UDP and, if the answer is truncated, TCP;
/// the whole exchange within `limit`.
pub async fn query_a(server: SocketAddr, name: &Name, limit: Duration) -> io::Result<Upstream> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), RecordType::A));
    let bytes = query.to_vec().map_err(io::Error::other)?;
    let exchange = async {
        let answer = over_udp(server, &query, &bytes).await?;
        if answer.metadata.truncation {
            return over_tcp(server, &query, &bytes).await;
        }
        Ok(answer)
    };
    let answer = tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream resolver timed out"))??;
    classify(&answer)
}

fn classify(answer: &Message) -> io::Result<Upstream> {
    match answer.metadata.response_code {
        ResponseCode::NXDomain => Ok(Upstream::NxDomain),
        ResponseCode::NoError
            if answer
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::A) =>
        {
            Ok(Upstream::Exists)
        }
        ResponseCode::NoError => Ok(Upstream::NoData),
        other => Err(io::Error::other(format!(
            "upstream resolver answered {other}"
        ))),
    }
}

/// True when `answer` answers `query` (same id, a response, the same question).
fn answers(query: &Message, answer: &Message) -> bool {
    answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.queries == query.queries
}

async fn over_udp(server: SocketAddr, query: &Message, bytes: &[u8]) -> io::Result<Message> {
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await?;
    socket.connect(server).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0u8; 4096];
    // Stray or forged datagrams are skipped; the caller's time limit bounds the loop.
    loop {
        let n = socket.recv(&mut buf).await?;
        if let Some(answer) = buf.get(..n).and_then(|b| Message::from_vec(b).ok()) {
            if answers(query, &answer) {
                return Ok(answer);
            }
        }
    }
}

async fn over_tcp(server: SocketAddr, query: &Message, bytes: &[u8]) -> io::Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(bytes.len()).map_err(io::Error::other)?;
    stream.write_u16(len).await?;
    stream.write_all(bytes).await?;
    let n = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(n)];
    stream.read_exact(&mut buf).await?;
    let answer = Message::from_vec(&buf).map_err(io::Error::other)?;
    if answers(query, &answer) {
        Ok(answer)
    } else {
        Err(io::Error::other(
            "upstream resolver answered another question",
        ))
    }
}
