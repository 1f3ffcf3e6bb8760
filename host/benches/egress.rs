//! What the egress supervisor costs: the latency of a connection and the throughput of a
//! 100 MiB transfer through it, against a direct loopback connection and against squid and
//! tinyproxy configured for the same allow-list (one host, one port).
//!
//! Run with `cargo bench -p policyc-host --bench egress --no-default-features` (as root: the
//! supervisor makes a network namespace). It prints a Markdown table (p50 and p99 of
//! `LATENCY_ROUNDS` connections, the median of `TRANSFERS` transfers) and then criterion's
//! own statistics for the same operations. A connection is: open it (for a proxy, `CONNECT`
//! and its `200`), send an HTTP request, read the first byte of the upstream's answer.
//! Every server is on this machine's loopback; the program's side of the supervisor runs
//! on threads that joined the sandbox's namespace, as `policyc exec` puts a program there.
//! squid (`squid-openssl`) and tinyproxy are left out, with a note, when not installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use criterion::{Criterion, Throughput};
use policyc_compiler::hosts::Host;
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{ChildNet, Config, Supervisor};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::{EmitContext, Target as _};
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOST: &str = "localhost";
const BIG: u64 = 100 << 20;
const LATENCY_ROUNDS: usize = 1000;
const TRANSFERS: usize = 9;

/// An upstream on 127.0.0.1: answers `GET /big` with `BIG` bytes and anything else with
/// two bytes; one request per connection.
fn upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    port
}

fn serve(s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut first = String::new();
    let _ = r.read_line(&mut first);
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut w = s;
    if first.starts_with("GET /big ") {
        let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..(BIG >> 20) {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
    } else {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}

/// How a client reaches `HOST:port`.
#[derive(Clone, Copy)]
enum Via {
    Direct(SocketAddr),
    /// An HTTP proxy's address: `CONNECT HOST:port` first.
    Proxy(SocketAddr),
}

/// Open a connection to the upstream, ready for the HTTP request.
fn open(via: Via, port: u16) -> TcpStream {
    let addr = match via {
        Via::Direct(a) | Via::Proxy(a) => a,
    };
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    if let Via::Proxy(_) = via {
        write!(
            s,
            "CONNECT {HOST}:{port} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "the proxy closed: {head:?}");
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"));
    }
    s
}

/// One connection: open, request, first byte of the answer.
fn round(via: Via, port: u16) -> Duration {
    let start = Instant::now();
    let mut s = open(via, port);
    write!(s, "GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n").unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).unwrap(), 1);
    start.elapsed()
}

/// One 100 MiB transfer, from the request to the last byte.
fn transfer(via: Via, port: u16) -> Duration {
    let start = Instant::now();
    let mut s = open(via, port);
    write!(s, "GET /big HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
        if total >= BIG {
            let head = total - BIG;
            if head > 0 && head < 128 {
                break;
            }
        }
    }
    assert!(total > BIG, "the transfer stopped at {total} bytes");
    start.elapsed()
}

enum Job {
    Rounds(u64, mpsc::Sender<Duration>),
    Transfers(u64, mpsc::Sender<Duration>),
}

/// A route: a client thread (in the sandbox's namespace when `net` is given) that runs
/// the jobs it is sent.
struct Route {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
}

impl Route {
    fn new(name: &'static str, via: Via, port: u16, net: Option<ChildNet>) -> Route {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            if let Some(n) = net {
                n.enter_network().unwrap();
            }
            for job in rx {
                match job {
                    Job::Rounds(n, back) => {
                        let _ = back.send((0..n).map(|_| round(via, port)).sum());
                    }
                    Job::Transfers(n, back) => {
                        let _ = back.send((0..n).map(|_| transfer(via, port)).sum());
                    }
                }
            }
        });
        Route { name, jobs: tx }
    }

    fn rounds(&self, n: u64) -> Duration {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Rounds(n, tx)).unwrap();
        rx.recv().unwrap()
    }

    fn transfers(&self, n: u64) -> Duration {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Transfers(n, tx)).unwrap();
        rx.recv().unwrap()
    }

    /// Latencies of `n` single connections, sorted.
    fn latencies(&self, n: usize) -> Vec<Duration> {
        let mut v: Vec<Duration> = (0..n).map(|_| self.rounds(1)).collect();
        v.sort();
        v
    }
}

/// The supervisor for `allow "localhost":port`, with `localhost:port` pinned to 127.0.0.1.
fn supervisor(port: u16) -> Supervisor {
    let text = format!(
        "policy egress_bench {{\n    isolation process\n    net {{\n        egress via proxy {{\n            allow \"{HOST}\":{port}\n        }}\n        dns allow-listed-only\n    }}\n}}\n"
    );
    let (_, policies) = policyc_testkit::stdlib::compile_text("bench.policy", &text);
    let emitted = Egress.emit(&policies[0], &EmitContext::default()).unwrap();
    let artifact = Artifact::parse(&emitted.artifacts[FILE]).unwrap();
    Supervisor::prepare(Config {
        artifact,
        locations: Vec::new(),
        pins: vec![Pin {
            host: Host::parse(HOST).unwrap(),
            port,
            addr: Ipv4Addr::LOCALHOST.into(),
        }],
        audit_log: None,
        record_egress: false,
        policy_hash: String::new(),
        audit_anchor: None,
        tokens: policyc_host::egress::tokens::Settings::default(),
        dns_upstream: None,
    })
    .expect("the supervisor starts (run as root)")
}

/// Kills its child when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no listener on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// squid allowing `CONNECT localhost:port` only (no TLS peeking: a plain tunnel).
fn squid(dir: &Path, port: u16) -> Option<(Daemon, u16)> {
    let bin = "/usr/sbin/squid";
    if !Path::new(bin).exists() {
        eprintln!("note: {bin} is missing (Debian package squid-openssl); squid is left out");
        return None;
    }
    let p = free_port();
    let d = dir.display();
    std::fs::write(dir.join("hosts"), format!("127.0.0.1 {HOST}\n")).unwrap();
    let conf = format!(
        "http_port 127.0.0.1:{p}\nacl target dstdomain {HOST}\nacl target_port port {port}\nacl CONNECT method CONNECT\nhttp_access allow CONNECT target target_port\nhttp_access deny all\nhosts_file {d}/hosts\ndns_nameservers 127.0.0.1\npid_filename {d}/squid.pid\ncache_log {d}/cache.log\naccess_log none\ncache deny all\nshutdown_lifetime 0 seconds\n"
    );
    std::fs::write(dir.join("squid.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-N")
        .arg("-f")
        .arg(dir.join("squid.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Daemon(child);
    wait_for(p);
    Some((d, p))
}

/// tinyproxy allowing `CONNECT` to `localhost` (filter) on `port` only.
fn tinyproxy(dir: &Path, port: u16) -> Option<(Daemon, u16)> {
    let bin = "/usr/bin/tinyproxy";
    if !Path::new(bin).exists() {
        eprintln!("note: {bin} is missing (Debian package tinyproxy); tinyproxy is left out");
        return None;
    }
    let p = free_port();
    std::fs::write(dir.join("filter"), format!("^{HOST}$\n")).unwrap();
    let conf = format!(
        "User nobody\nGroup nogroup\nPort {p}\nListen 127.0.0.1\nTimeout 60\nMaxClients 64\nConnectPort {port}\nFilter \"{}\"\nFilterDefaultDeny Yes\nLogLevel Critical\n",
        dir.join("filter").display()
    );
    std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-d")
        .arg("-c")
        .arg(dir.join("tinyproxy.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Daemon(child);
    wait_for(p);
    Some((d, p))
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn main() {
    let port = upstream();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let sup = supervisor(port);
    let _running = sup.serve().unwrap();
    let proxy_port = sup.own_ports()[0];
    let synthetic = sup.address_for(&Host::parse(HOST).unwrap()).unwrap();
    let inside = |a: Ipv4Addr, p: u16| SocketAddr::new(a.into(), p);
    let mut routes = vec![
        Route::new(
            "direct",
            Via::Direct(inside(Ipv4Addr::LOCALHOST, port)),
            port,
            None,
        ),
        Route::new(
            "supervisor, listener",
            Via::Direct(inside(synthetic, port)),
            port,
            Some(sup.child()),
        ),
        Route::new(
            "supervisor, CONNECT",
            Via::Proxy(inside(Ipv4Addr::LOCALHOST, proxy_port)),
            port,
            Some(sup.child()),
        ),
    ];
    let squid = squid(dir.path(), port);
    if let Some((_, p)) = &squid {
        let via = Via::Proxy(inside(Ipv4Addr::LOCALHOST, *p));
        routes.push(Route::new("squid, CONNECT", via, port, None));
    }
    let tiny = tinyproxy(dir.path(), port);
    if let Some((_, p)) = &tiny {
        let via = Via::Proxy(inside(Ipv4Addr::LOCALHOST, *p));
        routes.push(Route::new("tinyproxy, CONNECT", via, port, None));
    }
    table(&routes);
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("egress/connection");
    for r in &routes {
        g.bench_function(r.name, |b| b.iter_custom(|n| r.rounds(n)));
    }
    g.finish();
    let mut g = c.benchmark_group("egress/transfer-100MiB");
    g.throughput(Throughput::Bytes(BIG));
    g.measurement_time(Duration::from_secs(5));
    for r in &routes {
        g.bench_function(r.name, |b| b.iter_custom(|n| r.transfers(n)));
    }
    g.finish();
    c.final_summary();
    routes.clear();
}

/// The Markdown table: latency percentiles and throughput, each against the direct route.
/// Transfers are taken in rounds, one per route in turn, so that each route's share of
/// direct throughput is the median of ratios measured moments apart: a machine whose load
/// changes during the run moves both sides of a ratio alike.
fn table(routes: &[Route]) {
    println!(
        "| route | connection p50 (µs) | p99 (µs) | added p50 (µs) | 100 MiB, median of {TRANSFERS} (MiB/s) | of direct, median of paired rounds |"
    );
    println!("|---|---|---|---|---|---|");
    let latencies: Vec<Vec<Duration>> =
        routes.iter().map(|r| r.latencies(LATENCY_ROUNDS)).collect();
    let rounds: Vec<Vec<f64>> = (0..TRANSFERS)
        .map(|_| {
            routes
                .iter()
                .map(|r| r.transfers(1).as_secs_f64())
                .collect()
        })
        .collect();
    let mib_s = |secs: f64| (BIG as f64 / (1 << 20) as f64) / secs;
    let d50 = latencies[0][latencies[0].len() / 2];
    for (i, r) in routes.iter().enumerate() {
        let lat = &latencies[i];
        let p50 = lat[lat.len() / 2];
        let p99 = lat[(lat.len() * 99) / 100];
        let throughput = median(rounds.iter().map(|t| mib_s(t[i])).collect());
        let share = median(rounds.iter().map(|t| t[0] / t[i]).collect());
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0}% |",
            r.name,
            micros(p50),
            micros(p99),
            micros(p50.saturating_sub(d50)),
            throughput,
            100.0 * share
        );
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
