//! Message handling: queries built with hickory-proto, fed to the resolver, answers read back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::testing::ListPolicy;
use super::*;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ALLOW: &[&str] = &["api.example.com", "*.cdn.example.net", "10.0.0.1"];

fn resolver(mode: DnsMode) -> Resolver {
    let policy = ListPolicy::new(mode, ALLOW, &["*.bad.cdn.example.net"]);
    Resolver::new(Arc::new(Names::new(Arc::new(policy))))
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn ask_msg(r: &Resolver, q: &Message) -> Message {
    let bytes = block_on(r.answer(&q.to_vec().unwrap(), Transport::Udp)).expect("an answer");
    let answer = Message::from_vec(&bytes).unwrap();
    assert_eq!(answer.metadata.id, q.metadata.id);
    assert_eq!(answer.metadata.message_type, MessageType::Response);
    answer
}

fn ask(r: &Resolver, name: &str, t: RecordType) -> Message {
    ask_msg(r, &query(name, t))
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// A recording upstream resolver on loopback: counts every query, answers A 192.0.2.1 for
/// names in `exists` and NXDOMAIN for the rest.
struct Upstream {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(exists: &'static [&'static str]) -> Upstream {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let (count, names, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (c, n, s) = (count.clone(), names.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::SeqCst) {
                let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let Ok(q) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let name = q.queries[0].name().to_ascii();
                n.lock().unwrap().push(name.clone());
                let mut a = Message::response(q.metadata.id, OpCode::Query);
                a.queries.clone_from(&q.queries);
                if exists
                    .iter()
                    .any(|e| name.eq_ignore_ascii_case(&format!("{e}.")))
                {
                    let rd = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
                    a.answers
                        .push(Record::from_rdata(q.queries[0].name().clone(), 60, rd));
                } else {
                    a.metadata.response_code = ResponseCode::NXDomain;
                }
                let _ = socket.send_to(&a.to_vec().unwrap(), peer);
            }
        });
        Upstream {
            addr,
            count,
            names,
            stop,
            thread: Some(thread),
        }
    }

    fn queries(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn an_allowed_name_gets_its_synthetic_address() {
    let r = resolver(DnsMode::AllowListedOnly);
    let m = ask(&r, "api.example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let addrs = a_records(&m);
    assert_eq!(addrs, vec![Ipv4Addr::new(127, 80, 0, 1)]);
    assert_eq!(
        r.names().name_for(addrs[0]),
        Some(Host::parse("api.example.com").unwrap())
    );
    assert_eq!(m.answers[0].ttl, message::TTL);
}

#[test]
fn the_answer_keeps_the_question_spelling() {
    let r = resolver(DnsMode::AllowListedOnly);
    let m = ask(&r, "ApI.eXaMpLe.CoM.", RecordType::A);
    assert_eq!(m.queries[0].name().to_ascii(), "ApI.eXaMpLe.CoM.");
    assert_eq!(m.answers[0].name.to_ascii(), "ApI.eXaMpLe.CoM.");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 80, 0, 1)]);
}

#[test]
fn a_wildcard_rule_answers_subdomains_but_not_the_apex() {
    let r = resolver(DnsMode::AllowListedOnly);
    let m = ask(&r, "img.cdn.example.net.", RecordType::A);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 80, 0, 2)]);
    for name in ["cdn.example.net.", "x.bad.cdn.example.net."] {
        let m = ask(&r, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert!(m.answers.is_empty());
    }
}

/// EGRESS.md case 9: a secret encoded in a name is never asked upstream.
#[test]
fn case_9_an_exfiltrating_name_is_nxdomain_and_never_forwarded() {
    let up = Upstream::start(&[]);
    let r = resolver(DnsMode::AllowListedOnly).with_upstream(up.addr);
    let name = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpiytemzu.attacker.example.";
    for t in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::TXT,
        RecordType::MX,
    ] {
        let m = ask(&r, name, t);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{t}");
        assert!(m.answers.is_empty());
    }
    // An allowed name under `allow-listed-only` is answered from the policy alone, too.
    ask(&r, "api.example.com.", RecordType::A);
    ask(&r, "img.cdn.example.net.", RecordType::A);
    assert_eq!(up.queries(), 0, "the upstream resolver was asked");
}

/// EGRESS.md case 10: no record type that can carry data, even for an allowed name.
#[test]
fn case_10_only_a_is_served_for_an_allowed_name() {
    let up = Upstream::start(&["api.example.com"]);
    for mode in [DnsMode::AllowListedOnly, DnsMode::Any] {
        let r = resolver(mode).with_upstream(up.addr);
        for t in [
            RecordType::TXT,
            RecordType::ANY,
            RecordType::NULL,
            RecordType::SVCB,
            RecordType::HTTPS,
            RecordType::AAAA,
            RecordType::MX,
            RecordType::CNAME,
            RecordType::PTR,
            RecordType::Unknown(65280),
        ] {
            let m = ask(&r, "api.example.com.", t);
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{t}");
            assert!(m.answers.is_empty(), "{t}: {:?}", m.answers);
            assert!(m.additionals.is_empty() && m.authorities.is_empty());
        }
    }
    assert_eq!(up.queries(), 0);
}

/// EGRESS.md case 11: an exact rule does not allow the host's subdomains.
#[test]
fn case_11_a_subdomain_of_an_exact_name_is_nxdomain() {
    let r = resolver(DnsMode::AllowListedOnly);
    for name in [
        "evil.api.example.com.",
        "a.b.api.example.com.",
        "example.com.",
    ] {
        let m = ask(&r, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
}

/// EGRESS.md case 8 (the names in it), and address literals asked as names.
#[test]
fn case_8_metadata_and_local_names_are_nxdomain() {
    let up = Upstream::start(&["metadata.google.internal", "localhost"]);
    let r = resolver(DnsMode::AllowListedOnly).with_upstream(up.addr);
    for name in [
        "metadata.google.internal.",
        "localhost.",
        "localhost.localdomain.",
        "169.254.169.254.",
        "100.100.100.200.",
        "127.0.0.1.",
        "0.0.0.0.",
        "10.0.0.1.",
        "1.1.254.169.in-addr.arpa.",
    ] {
        let m = ask(&r, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
    assert_eq!(up.queries(), 0);
}

#[test]
fn dns_none_refuses_everything() {
    let up = Upstream::start(&["api.example.com"]);
    let r = resolver(DnsMode::None).with_upstream(up.addr);
    for name in ["api.example.com.", "img.cdn.example.net.", "other.example."] {
        let m = ask(&r, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(m.answers.is_empty());
    }
    assert_eq!(up.queries(), 0);
}

#[test]
fn dns_any_forwards_only_a_queries_for_unlisted_names() {
    let up = Upstream::start(&["exists.example.org"]);
    let r = resolver(DnsMode::Any).with_upstream(up.addr);
    // Listed names never go upstream.
    let m = ask(&r, "api.example.com.", RecordType::A);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 80, 0, 1)]);
    assert_eq!(up.queries(), 0);
    // Other types for unlisted names never go upstream either.
    for t in [RecordType::TXT, RecordType::AAAA, RecordType::ANY] {
        let m = ask(&r, "exists.example.org.", t);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
    }
    assert_eq!(up.queries(), 0);
    // An A query does, and the sandbox gets a synthetic address, never the real one.
    let m = ask(&r, "Exists.Example.org.", RecordType::A);
    let addrs = a_records(&m);
    assert_eq!(addrs.len(), 1);
    assert!(crate::egress::names::is_synthetic(addrs[0]));
    assert_eq!(
        r.names().name_for(addrs[0]),
        Some(Host::parse("exists.example.org").unwrap())
    );
    let m = ask(&r, "missing.example.org.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.queries(), 2);
    assert_eq!(
        *up.names.lock().unwrap(),
        vec!["exists.example.org.", "missing.example.org."]
    );
}

#[test]
fn dns_any_fails_closed_without_an_upstream() {
    // A loopback port nobody answers on.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = resolver(DnsMode::Any).with_upstream(silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let m = ask(&r, "unlisted.example.org.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(m.answers.is_empty());
    assert!(started.elapsed() < UPSTREAM_TIMEOUT + Duration::from_secs(2));
}

#[test]
fn odd_queries_get_error_codes() {
    let r = resolver(DnsMode::AllowListedOnly);
    let mut update = query("api.example.com.", RecordType::A);
    update.metadata.op_code = OpCode::Update;
    assert_eq!(
        ask_msg(&r, &update).metadata.response_code,
        ResponseCode::NotImp
    );

    let mut two = query("api.example.com.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("img.cdn.example.net.").unwrap(),
        RecordType::A,
    ));
    let m = ask_msg(&r, &two);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert!(m.answers.is_empty());

    let mut none = query("api.example.com.", RecordType::A);
    none.queries.clear();
    assert_eq!(
        ask_msg(&r, &none).metadata.response_code,
        ResponseCode::FormErr
    );

    let mut chaos = query("api.example.com.", RecordType::A);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let m = ask_msg(&r, &chaos);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
}

#[test]
fn names_that_are_not_host_names_are_nxdomain() {
    let r = resolver(DnsMode::AllowListedOnly);
    // `api\.example.com`: one label holding a dot; and a label of raw bytes.
    let mut dotted = Name::from_labels(vec![b"api.example".to_vec(), b"com".to_vec()]).unwrap();
    dotted.set_fqdn(true);
    let raw = Name::from_labels(vec![vec![0xffu8, 0x00, b'a'], b"com".to_vec()]).unwrap();
    for name in [dotted, raw, Name::root()] {
        let mut q = Message::query();
        q.add_query(Query::query(name.clone(), RecordType::A));
        let m = ask_msg(&r, &q);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
}

#[test]
fn edns_queries_get_edns_answers() {
    let r = resolver(DnsMode::AllowListedOnly);
    let mut q = query("api.example.com.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.edns = Some(edns);
    let m = ask_msg(&r, &q);
    assert_eq!(m.edns.as_ref().map(Edns::max_payload), Some(1232));
    assert_eq!(a_records(&m).len(), 1);
    let plain = ask(&r, "api.example.com.", RecordType::A);
    assert!(plain.edns.is_none());
}

#[test]
fn malformed_packets_and_responses_are_dropped() {
    let r = resolver(DnsMode::AllowListedOnly);
    let good = query("api.example.com.", RecordType::A).to_vec().unwrap();
    let mut response = query("api.example.com.", RecordType::A);
    response.metadata.message_type = MessageType::Response;
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0; 5],
        good[..good.len() - 3].to_vec(),
        vec![0xff; 512],
        response.to_vec().unwrap(),
    ];
    for (i, packet) in cases.iter().enumerate() {
        assert_eq!(block_on(r.answer(packet, Transport::Udp)), None, "case {i}");
    }
}

/// Every mutation of a valid query, and random bytes, get an answer or are dropped: the
/// resolver never panics, and never answers a name the policy does not list.
#[test]
fn mutated_queries_never_panic() {
    let r = resolver(DnsMode::AllowListedOnly);
    let base = query("api.example.com.", RecordType::A).to_vec().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..20_000 {
        let mut packet = base.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % packet.len() as u64) as usize;
            packet[i] = next() as u8;
        }
        if next() % 5 == 0 {
            packet.truncate((next() % packet.len() as u64) as usize);
        }
        if let Some(reply) = rt.block_on(r.answer(&packet, Transport::Udp)) {
            let m = Message::from_vec(&reply).unwrap();
            for addr in a_records(&m) {
                let name = r.names().name_for(addr).unwrap();
                assert!(r.names().policy().listed(&name).allow, "{name}");
            }
        }
    }
}

#[test]
fn every_decision_is_reported() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let r = resolver(DnsMode::AllowListedOnly).with_audit(Arc::new(move |e: &DnsEvent| {
        sink.lock().unwrap().push(e.clone())
    }));
    ask(&r, "API.example.com.", RecordType::A);
    ask(&r, "api.example.com.", RecordType::TXT);
    ask(&r, "x.attacker.example.", RecordType::A);
    ask(&r, "img.cdn.example.net.", RecordType::Unknown(65280));
    let lines: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            r#"{"name":"API.example.com","type":"A","rcode":"NOERROR","decision":"allow","reason":"listed","answer":"127.80.0.1","rule":"test.policy:1","upstream":false,"transport":"udp"}"#,
            r#"{"name":"api.example.com","type":"TXT","rcode":"NOERROR","decision":"deny","reason":"type-not-served","rule":"test.policy:1","upstream":false,"transport":"udp"}"#,
            r#"{"name":"x.attacker.example","type":"A","rcode":"NXDOMAIN","decision":"deny","reason":"not-allowed","upstream":false,"transport":"udp"}"#,
            r#"{"name":"img.cdn.example.net","type":"TYPE65280","rcode":"NOERROR","decision":"deny","reason":"type-not-served","rule":"test.policy:2","upstream":false,"transport":"udp"}"#,
        ]
    );
}

#[test]
fn serves_udp_and_tcp_on_the_given_sockets() {
    use std::io::{Read, Write};
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (ua, ta) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let running = resolver(DnsMode::AllowListedOnly).spawn(udp, tcp).unwrap();

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(&[1, 2, 3], ua).unwrap(); // dropped, and the server goes on
    let q = query("api.example.com.", RecordType::A);
    client.send_to(&q.to_vec().unwrap(), ua).unwrap();
    let mut buf = [0u8; 512];
    let n = client.recv(&mut buf).unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 80, 0, 1)]);

    let mut stream = std::net::TcpStream::connect(ta).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for (name, rcode) in [
        ("img.cdn.example.net.", ResponseCode::NoError),
        ("evil.example.", ResponseCode::NXDomain),
    ] {
        let bytes = query(name, RecordType::A).to_vec().unwrap();
        stream
            .write_all(&(bytes.len() as u16).to_be_bytes())
            .unwrap();
        stream.write_all(&bytes).unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut reply).unwrap();
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.metadata.response_code, rcode, "{name}");
    }
    running.stop();
    // Stopped: the sockets are closed.
    assert!(std::net::TcpStream::connect(ta).is_err());
}

#[test]
fn the_upstream_comes_from_resolv_conf() {
    let text = "# comment\nsearch example.com\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
    assert_eq!(
        upstream_from_resolv_conf(text),
        Some("10.0.0.2:53".parse().unwrap())
    );
    assert_eq!(upstream_from_resolv_conf("search x\n"), None);
    assert_eq!(
        upstream_from_resolv_conf("nameserver ::1\n"),
        Some("[::1]:53".parse().unwrap())
    );
}
