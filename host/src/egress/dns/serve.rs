//! Serving the resolver on the sockets the broker opened inside the sandbox's namespace:
//! DNS over UDP, and over TCP with the two-byte length prefix (RFC 1035 section 4.2.2).

use super::{Resolver, Transport};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle as TaskHandle;

/// Queries answered at once (more are dropped; clients retry).
const MAX_INFLIGHT: usize = 256;
/// TCP connections open at once (more are closed).
const MAX_TCP: usize = 64;
/// How long a TCP connection may sit idle, or take to send one message.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Why the resolver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot start the DNS resolver's runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot serve DNS on the given sockets: {0}")]
    Socket(io::Error),
    #[error("the DNS resolver's thread ended before it started serving")]
    Ended,
}

impl Resolver {
    /// Serve DNS on `udp` and `tcp` until this future is dropped, or a socket fails.
    ///
    /// Forwarded queries (`dns any`) open their sockets in the network namespace of the
    /// thread that runs this future: run it outside the sandbox's namespace.
    pub async fn serve(self: Arc<Self>, udp: UdpSocket, tcp: TcpListener) -> io::Result<()> {
        let tcp_loop = Abort(tokio::spawn(Arc::clone(&self).serve_tcp(tcp)));
        let result = self.serve_udp(udp).await;
        drop(tcp_loop);
        result
    }

    /// Serve DNS on `udp` and `tcp` (blocking sockets are fine) from a thread of its own,
    /// until the returned handle is stopped or dropped.
    pub fn spawn(
        self,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Result<Running, Error> {
        udp.set_nonblocking(true).map_err(Error::Socket)?;
        tcp.set_nonblocking(true).map_err(Error::Socket)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<Result<(), Error>>();
        let resolver = Arc::new(self);
        let thread = std::thread::Builder::new()
            .name("policyc-dns".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let sockets = UdpSocket::from_std(udp)
                        .and_then(|u| TcpListener::from_std(tcp).map(|t| (u, t)));
                    match sockets {
                        Ok((u, t)) => {
                            let _ = ready.send(Ok(()));
                            let _serving = Abort(tokio::spawn(resolver.serve(u, t)));
                            let _ = stopped.await;
                        }
                        Err(e) => {
                            let _ = ready.send(Err(Error::Socket(e)));
                        }
                    }
                });
            })
            .map_err(Error::Runtime)?;
        started.recv().map_err(|_| Error::Ended)??;
        Ok(Running {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    async fn serve_udp(self: Arc<Self>, udp: UdpSocket) -> io::Result<()> {
        let udp = Arc::new(udp);
        let slots = Arc::new(Semaphore::new(MAX_INFLIGHT));
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, peer) = match udp.recv_from(&mut buf).await {
                Ok(got) => got,
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            };
            let (Ok(slot), Some(packet)) = (Arc::clone(&slots).try_acquire_owned(), buf.get(..n))
            else {
                continue;
            };
            let packet = packet.to_vec();
            let (resolver, udp) = (Arc::clone(&self), Arc::clone(&udp));
            tokio::spawn(async move {
                if let Some(reply) = resolver.answer(&packet, Transport::Udp).await {
                    let _ = udp.send_to(&reply, peer).await;
                }
                drop(slot);
            });
        }
    }

    async fn serve_tcp(self: Arc<Self>, tcp: TcpListener) -> io::Result<()> {
        let slots = Arc::new(Semaphore::new(MAX_TCP));
        loop {
            let stream = match tcp.accept().await {
                Ok((stream, _)) => stream,
                Err(e) if transient(&e) => continue,
                Err(_) => {
                    // Out of descriptors and the like: wait, then accept again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                continue;
            };
            let resolver = Arc::clone(&self);
            tokio::spawn(async move {
                let _ = resolver.serve_connection(stream).await;
                drop(slot);
            });
        }
    }

    /// Answer length-prefixed messages on one connection until it closes, idles, or sends
    /// something that gets no answer.
    async fn serve_connection(&self, mut stream: TcpStream) -> io::Result<()> {
        loop {
            let Ok(len) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else {
                return Ok(());
            };
            let mut packet = vec![0u8; usize::from(len?)];
            tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            let Some(reply) = self.answer(&packet, Transport::Tcp).await else {
                return Ok(());
            };
            let len = u16::try_from(reply.len()).map_err(io::Error::other)?;
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            stream.write_all(&framed).await?;
        }
    }
}

/// Errors a DNS server sees in normal operation (an ICMP error for an earlier reply, a
/// client that went away) and keeps serving through.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Aborts its task when dropped.
struct Abort<T>(TaskHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A resolver serving from its own thread; stopping it (or dropping it) closes its sockets.
#[derive(Debug)]
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stop serving and wait for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}
