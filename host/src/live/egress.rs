//! The egress layer: the real supervisor enforces the emitted `egress.json`, and every
//! `connect` and `resolve` request is tried through it from inside the sandbox's network
//! namespace.
//!
//! The run happens on a thread of its own network namespace (only `lo`: nothing it does
//! can leave this machine), where [`World`] serves HTTP on `127.0.0.1` for every port a
//! request names and DNS on `127.0.0.1:53`. The supervisor is started there, with every
//! named host (and every public address literal) pinned to that loopback server, as
//! `--resolve` pins them, and with that DNS server as its upstream. The thread then joins
//! the sandbox's namespace, as the program would, and:
//!
//! - `connect host:port` goes through the proxy (`CONNECT`, then an HTTP request whose
//!   `Host` is the target) and, when the resolver gives the name an address, straight to
//!   that address's listener (as a client that ignores proxy variables does). Allowed when
//!   either route reaches the upstream server (its answer carries [`MARKER`]); denied when
//!   the proxy answers 403 and the direct route is refused or closed.
//! - `resolve host` asks the stub (`127.0.0.53:53`) for an A record: allowed when it
//!   answers one, denied on NXDOMAIN, REFUSED or an empty answer. A denied name that still
//!   reached the upstream DNS server is a leak, and is reported as allowed.
//!
//! One supervisor serves every request of a run; at most [`MAX_PROBED`] requests are tried,
//! the rest are unverifiable. Files and syscalls are not this layer's: not mediated.

use super::egress_world::{World, DNS as WORLD_DNS, MARKER};
use super::{any_allowed, LayerStatus, LiveLayer, LiveRun, Seen};
use crate::egress::upstream::{non_public, Pin};
use crate::egress::{netns, Config, Supervisor};
use crate::sys::kernel;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use policyc_compiler::hosts::Host;
use policyc_compiler::Request;
use policyc_targets::egress::{Artifact, FILE};
use std::collections::BTreeSet;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// At most this many `connect` and `resolve` requests of one run go through the supervisor.
pub const MAX_PROBED: usize = 256;

/// How long a probe waits for a connection or an answer.
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let bytes = match layer.artifact(FILE) {
        Ok(b) => b,
        Err(failed) => return failed,
    };
    let artifact = match Artifact::parse(bytes) {
        Ok(a) => a,
        Err(e) => {
            let why = format!("`{FILE}` does not read back: {e}");
            return layer.not_run(LayerStatus::Failed(why));
        }
    };
    let probed: Vec<usize> = layer
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Request::Connect { .. } | Request::Resolve { .. }))
        .map(|(i, _)| i)
        .take(MAX_PROBED)
        .collect();
    let mut seen: Vec<Seen> = layer
        .requests
        .iter()
        .map(|r| match r {
            Request::Connect { .. } | Request::Resolve { .. } => Seen::unverifiable(format!(
                "not sampled: a live run tries at most {MAX_PROBED} network requests"
            )),
            Request::Fs { .. } | Request::Meta { .. } | Request::Syscall { .. } => {
                Seen::not_mediated("files and syscalls are not the egress layer's")
            }
        })
        .collect();
    if probed.is_empty() {
        return LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, Vec::new());
    }
    let requests = layer.requests.to_vec();
    let worker = std::thread::Builder::new()
        .name("policyc-live-egress".into())
        .spawn(move || in_world(artifact, &requests, &probed));
    let outcome = match worker {
        Ok(h) => h.join().unwrap_or_else(|_| {
            Err(LayerStatus::Failed(
                "the egress probe thread panicked".into(),
            ))
        }),
        Err(e) => Err(LayerStatus::Failed(format!(
            "cannot start the egress probe thread: {e}"
        ))),
    };
    match outcome {
        Ok((results, notes)) => {
            for (i, s) in results {
                if let Some(slot) = seen.get_mut(i) {
                    *slot = s;
                }
            }
            LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, notes)
        }
        Err(status) => layer.not_run(status),
    }
}

/// Results by request index, and the run's notes.
type Probed = (Vec<(usize, Seen)>, Vec<String>);

/// On the calling thread: make the world, start the supervisor in it, join the sandbox's
/// namespace and try each request of `probed`.
fn in_world(
    artifact: Artifact,
    requests: &[Request],
    probed: &[usize],
) -> Result<Probed, LayerStatus> {
    kernel::unshare(libc::CLONE_NEWNET).map_err(|e| {
        let why = format!("cannot create a network namespace: {e}");
        if e.kind() == io::ErrorKind::PermissionDenied {
            LayerStatus::Unavailable(format!("{why} (the supervisor needs root)"))
        } else {
            LayerStatus::Failed(why)
        }
    })?;
    let failed =
        |what: &str, e: &dyn std::fmt::Display| LayerStatus::Failed(format!("{what}: {e}"));
    kernel::loopback_up().map_err(|e| failed("cannot bring loopback up", &e))?;
    let targets: Vec<(&Host, u16)> = probed
        .iter()
        .filter_map(|i| match requests.get(*i) {
            Some(Request::Connect { host, port }) => Some((host, *port)),
            _ => None,
        })
        .collect();
    let ports: BTreeSet<u16> = targets.iter().map(|(_, p)| *p).collect();
    let ports: Vec<u16> = ports.into_iter().collect();
    let world =
        World::start(&ports).map_err(|e| failed("cannot start the upstream servers", &e))?;
    let config = Config {
        artifact,
        locations: Vec::new(),
        pins: pins(&targets),
        audit_log: None,
        record_egress: false,
        policy_hash: String::new(),
        audit_anchor: None,
        tokens: crate::egress::tokens::Settings::default(),
        dns_upstream: Some(WORLD_DNS),
    };
    let supervisor =
        Supervisor::prepare(config).map_err(|e| failed("the supervisor cannot start", &e))?;
    let running = supervisor
        .serve()
        .map_err(|e| failed("the supervisor cannot serve", &e))?;
    supervisor
        .child()
        .enter_network()
        .map_err(|e| failed("cannot join the sandbox's network namespace", &e))?;
    let [proxy_port, _] = supervisor.own_ports();
    let proxy = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), proxy_port);
    let mut out = Vec::new();
    for &i in probed {
        let Some(r) = requests.get(i) else { continue };
        let seen = match r {
            Request::Connect { host, port } => connect(&supervisor, &world, proxy, host, *port),
            Request::Resolve { host } => resolve(&world, host),
            Request::Fs { .. } | Request::Meta { .. } | Request::Syscall { .. } => continue,
        };
        out.push((i, seen));
    }
    drop(running);
    let notes = vec![format!(
        "{} requests through the supervisor; its upstream servers accepted {} connections and {} DNS queries",
        out.len(),
        world.connections(),
        world.queries()
    )];
    Ok((out, notes))
}

/// Every named host, and every public address literal, pinned to the world's loopback
/// server on its port. Non-public literals are left unpinned: the supervisor refuses them.
fn pins(targets: &[(&Host, u16)]) -> Vec<Pin> {
    let mut pins: Vec<Pin> = targets
        .iter()
        .filter(|(h, _)| match h {
            Host::Domain(_) => true,
            Host::Ip(ip) => non_public(*ip).is_none(),
        })
        .map(|(h, port)| Pin {
            host: (*h).clone(),
            port: *port,
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        })
        .collect();
    pins.sort_by_key(|a| (a.host.to_string(), a.port));
    pins.dedup();
    pins
}

/// `host:port` as an HTTP authority (`[v6]:port`).
fn authority(host: &Host, port: u16) -> String {
    match host {
        Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// A connection, through the proxy and straight to the name's listener.
fn connect(s: &Supervisor, world: &World, proxy: SocketAddr, host: &Host, port: u16) -> Seen {
    let before = world.connections();
    let mut seen = vec![through_proxy(proxy, host, port)];
    let direct = match host {
        Host::Domain(_) => s.address_for(host).map(IpAddr::V4),
        Host::Ip(ip) => Some(*ip),
    };
    match direct {
        Some(addr) => seen.push(straight(SocketAddr::new(addr, port), host, port)),
        None => seen.push(Seen::deny(format!(
            "the resolver gives `{host}` no address, so no listener reaches it"
        ))),
    }
    let verdict = any_allowed(&seen);
    let reached = world.connections() - before;
    if verdict.verdict == policyc_targets::Verdict::Deny && reached > 0 {
        return Seen::allow(format!(
            "refused to the program, but the upstream accepted {reached} connections: {}",
            verdict.evidence
        ));
    }
    verdict
}

/// `CONNECT host:port`, then an HTTP request for `host` through the tunnel.
fn through_proxy(proxy: SocketAddr, host: &Host, port: u16) -> Seen {
    let auth = authority(host, port);
    let mut s = match open(proxy) {
        Ok(s) => s,
        Err(e) => return Seen::unverifiable(format!("cannot reach the proxy at {proxy}: {e}")),
    };
    let connect = format!("CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n\r\n");
    if let Err(e) = s.write_all(connect.as_bytes()) {
        return Seen::unverifiable(format!("the proxy did not take CONNECT {auth}: {e}"));
    }
    let head = read_head(&mut s);
    let status = head.lines().next().unwrap_or("").to_string();
    if status.starts_with("HTTP/1.1 200") {
        return match http_get(&mut s, &auth) {
            Some(body) if body.contains(MARKER) => {
                Seen::allow(format!("CONNECT {auth}: tunnelled to the upstream"))
            }
            _ => Seen::deny(format!(
                "CONNECT {auth}: `{status}`, then the supervisor closed the tunnel"
            )),
        };
    }
    if status.starts_with("HTTP/1.1 403") || status.starts_with("HTTP/1.1 400") {
        let reason = head.lines().last().unwrap_or("").trim().to_string();
        return Seen::deny(format!("CONNECT {auth}: `{status}` ({reason})"));
    }
    Seen::unverifiable(format!("CONNECT {auth}: the proxy answered `{status}`"))
}

/// A plain connection to `addr` (the name's synthetic address or the literal), then an
/// HTTP request for `host`.
fn straight(addr: SocketAddr, host: &Host, port: u16) -> Seen {
    let mut s = match open(addr) {
        Ok(s) => s,
        Err(e) => return Seen::deny(format!("connect {addr} inside the sandbox: {e}")),
    };
    match http_get(&mut s, &authority(host, port)) {
        Some(body) if body.contains(MARKER) => Seen::allow(format!(
            "connect {addr}: the listener relayed to the upstream"
        )),
        _ => Seen::deny(format!(
            "connect {addr}: the listener closed the connection"
        )),
    }
}

fn open(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

/// The response head the peer sends (up to the blank line, the end, or 16 KiB), and the
/// body bytes that came with it.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut byte) {
            Ok(1) => head.extend_from_slice(&byte),
            _ => break,
        }
    }
    let mut rest = Vec::new();
    if head.starts_with(b"HTTP/1.1 4") {
        let _ = s.take(4096).read_to_end(&mut rest);
    }
    head.extend_from_slice(&rest);
    String::from_utf8_lossy(&head).into_owned()
}

/// Send `GET /` with `Host: auth` and read the answer to its end (at most 64 KiB).
fn http_get(s: &mut TcpStream, auth: &str) -> Option<String> {
    let req = format!("GET / HTTP/1.1\r\nHost: {auth}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut body = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut body);
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// An A query for `host` to the stub.
fn resolve(world: &World, host: &Host) -> Seen {
    let before = world.queries();
    let seen = ask_stub(host);
    let asked = world.queries() - before;
    if seen.verdict == policyc_targets::Verdict::Deny && asked > 0 {
        return Seen::allow(format!(
            "{}, but the upstream resolver received {asked} queries for it",
            seen.evidence
        ));
    }
    seen
}

fn ask_stub(host: &Host) -> Seen {
    let name = match host {
        Host::Ip(IpAddr::V6(_)) => {
            return Seen::unverifiable(format!("`{host}` cannot be asked for as a DNS name"))
        }
        _ => format!("{host}."),
    };
    let Ok(name) = Name::from_ascii(&name) else {
        return Seen::unverifiable(format!("`{host}` is not a DNS name"));
    };
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name, RecordType::A));
    let Ok(packet) = q.to_vec() else {
        return Seen::unverifiable(format!("cannot encode a query for `{host}`"));
    };
    let answer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|sock| {
        sock.set_read_timeout(Some(TIMEOUT))?;
        sock.send_to(&packet, netns::DNS)?;
        let mut buf = [0u8; 4096];
        let (len, _) = sock.recv_from(&mut buf)?;
        Ok(buf.get(..len).unwrap_or_default().to_vec())
    });
    let bytes = match answer {
        Ok(b) => b,
        Err(e) => return Seen::unverifiable(format!("the stub did not answer `{host}`: {e}")),
    };
    let Ok(m) = Message::from_vec(&bytes) else {
        return Seen::unverifiable(format!("the stub's answer for `{host}` does not parse"));
    };
    let rcode = m.metadata.response_code;
    match (rcode, m.answers.len()) {
        (ResponseCode::NoError, n) if n > 0 => {
            Seen::allow(format!("resolve `{host}`: {n} A records"))
        }
        (ResponseCode::NoError | ResponseCode::NXDomain | ResponseCode::Refused, _) => {
            Seen::deny(format!("resolve `{host}`: {rcode} with no answer"))
        }
        _ => Seen::unverifiable(format!("resolve `{host}`: the stub answered {rcode}")),
    }
}
