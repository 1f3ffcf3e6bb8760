//! Live tests: a WASI preview 2 component (`wasi_components/connect.wat`, assembled with the
//! `wat` crate) resolves a name and connects over TCP under wasmtime-wasi, with the egress
//! supervisor's network. The allowed name and port reach a loopback upstream pinned with
//! `--resolve`-style pins, through the broker, from inside the supervisor's namespace; a
//! denied port, a denied name, an IP literal and `egress none` are refused with the error
//! code the component sees, and the upstream is never reached.
//!
//! The component prints one line per step (see the WAT) and exits 0 only when it read the
//! server's banner and the echo of its own line.

use policyc_compiler::hosts::Host;
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{self, Config, Supervisor};
use policyc_host::wasm::{parse, run, ExitStatus, Network, Options, Output};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::wasi::Wasi;
use policyc_targets::{EmitContext, Target as _};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::compile_text;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CONNECT: &str = include_str!("wasi_components/connect.wat");

/// wasi:sockets error codes the component prints.
const ACCESS_DENIED: u8 = 1;
const NAME_UNRESOLVABLE: u8 = 18;
const PERMANENT_RESOLVER_FAILURE: u8 = 20;

/// True when the namespace can be made (root) and the runtime is built in.
fn live() -> bool {
    if !policyc_host::wasm::RUNTIME {
        cannot_run("policyc-host was built without its `wasm` feature");
        return false;
    }
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if !root {
        cannot_run("the WASI socket tests need root for the egress namespace");
    }
    root
}

/// A counting TCP listener on `addr` that speaks first (`* OK ready`) and echoes one line.
struct Banner {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Banner {
    fn start(addr: &str) -> Banner {
        let l = TcpListener::bind(addr).unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = s.write_all(b"* OK ready\r\n");
                    let mut line = String::new();
                    let _ = BufReader::new(s.try_clone().unwrap()).read_line(&mut line);
                    let _ = s.write_all(line.as_bytes());
                });
            }
        });
        Banner { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A DNS server on loopback that only counts the datagrams it gets.
struct CountingDns {
    addr: std::net::SocketAddr,
    queries: Arc<AtomicUsize>,
}

impl CountingDns {
    fn start() -> CountingDns {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&queries);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while s.recv_from(&mut buf).is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        CountingDns { addr, queries }
    }
}

/// The policy: `banner.test` and `other.test` on their own ports, under `dns`.
fn policy_text(banner: u16, other: u16, dns: &str) -> String {
    format!(
        r#"policy wasm_net {{
    isolation wasm
    net {{
        egress via proxy {{
            allow "banner.test":{banner}
            allow "other.test":{other}
        }}
        dns {dns}
    }}
}}
"#
    )
}

/// The component with its template filled in.
fn component(host: &str, port: u16) -> Vec<u8> {
    let text = CONNECT
        .replace("@HOSTLEN@", &host.len().to_string())
        .replace("@HOST@", host)
        .replace("@PORT@", &port.to_string())
        .replace("@LINELEN@", "6")
        .replace("@LINE@", "hello");
    wat::parse_str(text).unwrap()
}

/// The supervisor's configuration for `text`, with `banner.test` pinned to `banner`.
fn config(text: &str, banner: u16, dns_upstream: Option<std::net::SocketAddr>) -> Config {
    let (_, policies) = compile_text("wasm_net.policy", text);
    let policy = policies.first().unwrap();
    let emitted = Egress.emit(policy, &EmitContext::default()).unwrap();
    let artifact = Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap();
    let locations = artifact.rules.iter().map(|r| r.rule.clone()).collect();
    Config {
        artifact,
        locations,
        pins: vec![Pin {
            host: Host::parse("banner.test").unwrap(),
            port: banner,
            addr: "127.0.0.1".parse().unwrap(),
        }],
        audit_log: None,
        record_egress: false,
        policy_hash: policyc_verify::audit::hash(text.as_bytes()),
        audit_anchor: None,
        dns_upstream,
        tokens: egress::tokens::Settings::default(),
    }
}

/// Run the component for `host:port` under `text`, with the supervisor serving when
/// `supervised`; what it printed and how it ended, and the supervisor's address for
/// `banner.test`.
fn connect(text: &str, cfg: Option<Config>, host: &str, port: u16) -> (Output, Option<String>) {
    let (_, policies) = compile_text("wasm_net.policy", text);
    let policy = policies.first().unwrap();
    let emitted = Wasi.emit(policy, &EmitContext::default()).unwrap();
    let manifest = parse(emitted.artifacts.get(policyc_targets::wasi::FILE).unwrap()).unwrap();
    let supervisor = cfg.map(|c| Supervisor::prepare(c).unwrap());
    let running = supervisor.as_ref().map(|s| s.serve().unwrap());
    let opts = Options {
        network: supervisor.as_ref().map(Network::of),
        ..Options::with_args(["connect"])
    };
    let out = run(&manifest, &component(host, port), &opts).unwrap();
    let synthetic = supervisor.as_ref().and_then(|s| {
        s.address_for(&Host::parse("banner.test").unwrap())
            .map(|a| a.to_string())
    });
    drop(running);
    (out, synthetic)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_allowed_name_and_port_reach_the_upstream_through_the_broker_in_the_namespace() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let other = Banner::start("127.0.0.1:0");
    let text = policy_text(upstream.port, other.port, "allow-listed-only");
    // banner.test is the first exact name, so the supervisor gives it 127.80.0.1. A decoy
    // at that address and port in the host's namespace would take the connection if the
    // component's socket were made outside the supervisor's namespace.
    let decoy = TcpListener::bind(("127.80.0.1", upstream.port)).unwrap();
    decoy.set_nonblocking(true).unwrap();
    let cfg = config(&text, upstream.port, None);
    let (out, synthetic) = connect(&text, Some(cfg), "banner.test", upstream.port);
    assert_eq!(synthetic.as_deref(), Some("127.80.0.1"));
    assert_eq!(
        stdout(&out),
        "lookup ok 127.80.0.1\nconnected\nread * OK ready\r\nread hello\n",
        "{out:?}"
    );
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(upstream.hits(), 1);
    assert_eq!(other.hits(), 0);
    assert!(
        decoy.accept().is_err(),
        "the component's socket was made in the host's namespace"
    );
}

#[test]
fn a_denied_port_is_refused_by_the_socket_check() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let other = Banner::start("127.0.0.1:0");
    let text = policy_text(upstream.port, other.port, "allow-listed-only");
    let port = Banner::start("127.0.0.1:0").port;
    let cfg = config(&text, upstream.port, None);
    let (out, _) = connect(&text, Some(cfg), "banner.test", port);
    assert_eq!(
        stdout(&out),
        format!("lookup ok 127.80.0.1\nconnect {ACCESS_DENIED}\n")
    );
    assert_eq!(out.status, ExitStatus::Exited(1));
    assert_eq!(upstream.hits(), 0);
}

#[test]
fn a_name_allowed_on_another_port_is_refused_by_the_broker() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let other = Banner::start("127.0.0.1:0");
    let text = policy_text(upstream.port, other.port, "allow-listed-only");
    let cfg = config(&text, upstream.port, None);
    // other.test's address on banner.test's port: the socket check lets it through (an
    // address and a port the supervisor owns); the broker finds no rule and closes.
    let (out, _) = connect(&text, Some(cfg), "other.test", upstream.port);
    assert_eq!(
        stdout(&out),
        "lookup ok 127.80.0.2\nconnected\nread closed\n",
        "{out:?}"
    );
    assert_eq!(out.status, ExitStatus::Exited(1));
    assert_eq!(upstream.hits() + other.hits(), 0);
}

#[test]
fn a_denied_name_does_not_resolve_and_asks_no_upstream() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let dns = CountingDns::start();
    for mode in ["allow-listed-only", "any"] {
        let text = policy_text(upstream.port, 1, mode);
        let cfg = config(&text, upstream.port, Some(dns.addr));
        let (out, _) = connect(&text, Some(cfg), "evil.test", upstream.port);
        let printed = stdout(&out);
        if mode == "any" {
            // Under `dns any` every name gets a synthetic address; the broker refuses it.
            assert!(printed.starts_with("lookup ok 127.80.0."), "{printed}");
            assert!(printed.ends_with("read closed\n"), "{printed}");
        } else {
            assert_eq!(printed, format!("lookup {NAME_UNRESOLVABLE}\n"));
        }
        assert_eq!(out.status, ExitStatus::Exited(1));
    }
    assert_eq!(upstream.hits(), 0);
    assert_eq!(dns.queries.load(Ordering::SeqCst), 0);
}

#[test]
fn an_ip_literal_is_refused_by_the_socket_check() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let text = policy_text(upstream.port, 1, "allow-listed-only");
    let cfg = config(&text, upstream.port, None);
    let (out, _) = connect(&text, Some(cfg), "127.0.0.1", upstream.port);
    assert_eq!(
        stdout(&out),
        format!("lookup ok 127.0.0.1\nconnect {ACCESS_DENIED}\n")
    );
    assert_eq!(out.status, ExitStatus::Exited(1));
    assert_eq!(upstream.hits(), 0);
}

#[test]
fn egress_none_gives_no_lookup_and_no_socket() {
    if !live() {
        return;
    }
    let upstream = Banner::start("127.0.0.1:0");
    let text = "policy wasm_net {\n    isolation wasm\n    net { egress none }\n}\n";
    let (out, _) = connect(text, None, "banner.test", upstream.port);
    assert_eq!(
        stdout(&out),
        format!("lookup {PERMANENT_RESOLVER_FAILURE}\n")
    );
    assert_eq!(out.status, ExitStatus::Exited(1));
    let (out, _) = connect(text, None, "127.0.0.1", upstream.port);
    assert_eq!(
        stdout(&out),
        format!("lookup ok 127.0.0.1\nsocket {ACCESS_DENIED}\n")
    );
    assert_eq!(upstream.hits(), 0);
}
