//! The world the egress layer's live run dials into: a network namespace of its own (only
//! `lo`), with an HTTP server on `127.0.0.1` for every port a request names and a DNS
//! server on `127.0.0.1:53`. They count what reaches them, so a request the supervisor
//! refuses can be seen to have reached nothing. Servers answer one request per
//! connection, with short timeouts, and stop when the world is dropped.

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What every upstream HTTP answer's body starts with: a probe that reads it back has
/// reached this world's server through the supervisor.
pub const MARKER: &str = "policyc-live-upstream";

/// The address the DNS server listens on, inside the world's namespace.
pub const DNS: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

/// The address every answer of the DNS server names (TEST-NET-1).
pub const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// How long a server waits for a client's bytes.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The servers, running on one thread of the world's namespace.
#[derive(Debug)]
pub struct World {
    /// Connections the HTTP servers accepted.
    pub connections: Arc<AtomicUsize>,
    /// DNS queries the server received.
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl World {
    /// Open the servers (the calling thread must already be in the world's namespace, with
    /// `lo` up): HTTP on `127.0.0.1:p` for every `p` of `ports`, DNS on [`DNS`].
    pub fn start(ports: &[u16]) -> io::Result<World> {
        let mut listeners = Vec::new();
        for &port in ports {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
            l.set_nonblocking(true)?;
            listeners.push(l);
        }
        let dns = UdpSocket::bind(DNS)?;
        dns.set_read_timeout(Some(Duration::from_millis(10)))?;
        let connections = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, q, s) = (
            Arc::clone(&connections),
            Arc::clone(&queries),
            Arc::clone(&stop),
        );
        let thread = std::thread::Builder::new()
            .name("policyc-live-world".into())
            .spawn(move || serve(&listeners, &dns, &c, &q, &s))?;
        Ok(World {
            connections,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// DNS queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Poll every socket until told to stop (the DNS socket's read timeout paces the loop).
fn serve(
    listeners: &[TcpListener],
    dns: &UdpSocket,
    connections: &AtomicUsize,
    queries: &AtomicUsize,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        for l in listeners {
            while let Ok((s, _)) = l.accept() {
                connections.fetch_add(1, Ordering::SeqCst);
                answer_http(s, l.local_addr().map(|a| a.port()).unwrap_or(0));
            }
        }
        while let Ok((len, peer)) = dns.recv_from(&mut buf) {
            queries.fetch_add(1, Ordering::SeqCst);
            if let Some(reply) = buf.get(..len).and_then(answer_dns) {
                let _ = dns.send_to(&reply, peer);
            }
        }
    }
}

/// Read one request head and answer `200` with [`MARKER`] and the port.
fn answer_http(mut s: TcpStream, port: u16) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    let body = format!("{MARKER} {port}\n");
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

/// Answer an A query with [`ANSWER`]; any other question gets an empty answer.
fn answer_dns(packet: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(packet).ok()?;
    let mut a = Message::response(q.metadata.id, OpCode::Query);
    a.queries.clone_from(&q.queries);
    if let Some(first) = q.queries.first() {
        if first.query_type() == RecordType::A {
            a.answers.push(Record::from_rdata(
                first.name().clone(),
                60,
                RData::A(A(ANSWER)),
            ));
        }
    }
    a.to_vec().ok()
}
