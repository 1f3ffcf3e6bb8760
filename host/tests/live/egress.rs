//! The egress supervisor, live: programs in a namespace with only `lo`, the supervisor's
//! proxy and listeners as their only way out, upstream servers this test starts on the
//! host's loopback (reached through `--resolve`-style pins). One named test per case of
//! EGRESS.md that needs no token; each fails if its case leaks: the upstream servers count
//! every connection they accept, and a denied case must leave the count where it was.
//! Nothing here contacts an address outside this machine: connects to public addresses are
//! made only inside the namespace, where there is no route.

use super::tempdir;
use policyc_compiler::hosts::Host;
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{self, Config, Supervisor};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::landlock::{NetRight, PortRule, Ruleset};
use policyc_targets::{EmitContext, Target as _};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::compile_text;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_rustls::rustls;

const PROBE: &str = include_str!("egress_probe.py");

/// True when the live egress tests can run: root (the namespace and the bind mount of
/// resolv.conf need it), python3 and curl.
pub(super) fn live() -> bool {
    let missing: Vec<&str> = ["/usr/bin/python3", "/usr/bin/curl", "/bin/sh"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if root && missing.is_empty() {
        return true;
    }
    cannot_run(&format!(
        "the live egress tests need root and {missing:?}; root: {root}"
    ));
    false
}

/// An upstream server on the host's loopback that counts the connections it accepts.
pub(super) struct Server {
    pub(super) port: u16,
    hits: Arc<AtomicUsize>,
}

impl Server {
    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Serve each connection with `handle` on its own thread.
    fn start(handle: impl Fn(TcpStream) + Send + Sync + Clone + 'static) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let h = handle.clone();
                std::thread::spawn(move || h(s));
            }
        });
        Server { port, hits }
    }

    /// A plain HTTP server answering `body`.
    fn http(body: &'static str) -> Server {
        Server::start(move |s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            read_head(&mut r);
            respond(&mut &s, body);
        })
    }

    /// A server that speaks first (as IMAP and SMTP do), then echoes one line.
    fn banner() -> Server {
        Server::start(|mut s| {
            let _ = s.write_all(b"* OK ready\r\n");
            let mut line = String::new();
            let _ = BufReader::new(s.try_clone().unwrap()).read_line(&mut line);
            let _ = s.write_all(line.as_bytes());
        })
    }

    /// A TLS server with a certificate for `name`, made now; its CA file for clients.
    fn tls(dir: &Path, name: &str) -> (Server, PathBuf) {
        let key = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let cert_file = dir.join("upstream.pem");
        std::fs::write(&cert_file, key.cert.pem()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let server = Server::start(move |s| {
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut r = BufReader::new(&mut tls);
            read_head(&mut r);
            respond(&mut tls, "ok\n");
        });
        (server, cert_file)
    }
}

fn read_head(r: &mut impl BufRead) {
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line == "\r\n" {
            break;
        }
        line.clear();
    }
}

fn respond(w: &mut impl std::io::Write, body: &str) {
    let _ = write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = w.flush();
}

/// The fixture: a TLS upstream for `allowed.test`, a plain HTTP one for `plain.test`, one
/// that speaks first for `banner.test`, and the rules and pins that name them.
pub(super) struct World {
    _dir: tempfile::TempDir,
    pub(super) dir: PathBuf,
    pub(super) tls: Server,
    ca: PathBuf,
    pub(super) http: Server,
    banner: Server,
}

impl World {
    pub(super) fn new() -> World {
        let (d, dir) = tempdir();
        let (tls, ca) = Server::tls(&dir, "allowed.test");
        std::fs::write(dir.join("probe.py"), PROBE).unwrap();
        World {
            _dir: d,
            http: Server::http("plain\n"),
            banner: Server::banner(),
            tls,
            ca,
            dir,
        }
    }

    pub(super) fn hits(&self) -> usize {
        self.tls.hits() + self.http.hits() + self.banner.hits()
    }

    /// The policy (the allow rule for `allowed.test` is on line 5), compiled, emitted as
    /// `egress.json` and read back, with `--resolve`-style pins to the upstreams.
    pub(super) fn config(&self, audit: Option<PathBuf>) -> Config {
        let (t, h, b) = (self.tls.port, self.http.port, self.banner.port);
        let text = format!(
            r#"policy egress_test {{
    isolation process
    net {{
        egress via proxy {{
            allow "allowed.test":{t}
            allow "plain.test":{h}
            allow "banner.test":{b}
            allow "localhost":{t}
            deny "denied.allowed.test"
        }}
        dns allow-listed-only
    }}
    audit {{ egress; dns }}
}}
"#
        );
        // "localhost" is allowed but never pinned: the supervisor resolves it itself, gets
        // loopback, and must refuse.
        let (sources, policies) = compile_text("test.policy", &text);
        let policy = policies.first().unwrap();
        let emitted = Egress.emit(policy, &EmitContext::default()).unwrap();
        let artifact = Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap();
        let locations = artifact
            .rules
            .iter()
            .map(|a| {
                let r = policy
                    .net
                    .rules
                    .iter()
                    .find(|r| r.allow == a.allow && r.host == a.host && r.port == a.port)
                    .unwrap();
                let at = sources.location(r.span);
                at.rsplit_once(':').unwrap().0.to_string()
            })
            .collect();
        let pin = |host: &str, port: u16| Pin {
            host: Host::parse(host).unwrap(),
            port,
            addr: "127.0.0.1".parse().unwrap(),
        };
        Config {
            artifact,
            locations,
            pins: vec![
                pin("allowed.test", t),
                pin("plain.test", h),
                pin("banner.test", b),
            ],
            audit_log: audit,
            record_egress: false,
            policy_hash: policyc_verify::audit::hash(text.as_bytes()),
            audit_anchor: None,
            dns_upstream: None,
            tokens: egress::tokens::Settings::default(),
        }
    }

    /// Run `script` under `sh -c` in the sandbox; its exit code and its output.
    fn run(&self, script: &str) -> (i32, String) {
        self.run_with(self.config(None), true, script)
    }

    /// Run `script`; with `landlock`, TCP connect is also limited to the rules' ports (as a
    /// policy's ruleset does), without it the namespace alone confines the program.
    pub(super) fn run_with(&self, config: Config, landlock: bool, script: &str) -> (i32, String) {
        let ports: Vec<u16> = config
            .artifact
            .rules
            .iter()
            .filter_map(|r| r.port)
            .collect();
        let supervisor = Supervisor::prepare(config).unwrap();
        let ruleset = landlock.then(|| {
            let mut rs = connect_only(&ports);
            egress::admit_own_ports(&mut rs, &supervisor);
            rs
        });
        let out = self.dir.join(format!("out-{}", unique()));
        super::run_behind(supervisor, ruleset, &self.dir, &out, script)
    }

    /// Run the Python probe with `ops`; one result line each.
    pub(super) fn probe(&self, ops: &[String]) -> Vec<String> {
        self.probe_in(true, ops)
    }

    /// [`World::probe`] with the namespace as the only confinement (no Landlock ports).
    pub(super) fn probe_namespace_only(&self, ops: &[String]) -> Vec<String> {
        self.probe_in(false, ops)
    }

    fn probe_in(&self, landlock: bool, ops: &[String]) -> Vec<String> {
        let args: Vec<String> = ops.iter().map(|o| format!("'{o}'")).collect();
        let script = format!("/usr/bin/python3 -I probe.py {}", args.join(" "));
        let (code, out) = self.run_with(self.config(None), landlock, &script);
        assert_eq!(code, 0, "{out}");
        out.lines().map(str::to_string).collect()
    }

    /// The synthetic address the supervisor gives `name`.
    pub(super) fn address(&self, name: &str) -> String {
        let s = Supervisor::prepare(self.config(None)).unwrap();
        s.address_for(&Host::parse(name).unwrap())
            .unwrap()
            .to_string()
    }
}

/// A seccomp program that allows every call: these tests exercise the network layers.
/// A Landlock ruleset that restricts TCP connect to `ports`, as a policy's would.
fn connect_only(ports: &[u16]) -> Ruleset {
    Ruleset {
        abi: 4,
        home: None,
        handled_fs: Default::default(),
        handled_net: [NetRight::ConnectTcp].into_iter().collect(),
        scoped: Default::default(),
        paths: Vec::new(),
        ports: ports
            .iter()
            .map(|&port| PortRule {
                port,
                allowed: [NetRight::ConnectTcp].into_iter().collect(),
            })
            .collect(),
    }
}

fn unique() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub(super) fn op(parts: &[&str]) -> String {
    serde_json::to_string(
        &parts
            .iter()
            .map(|p| match p.parse::<u16>() {
                Ok(n) => serde_json::json!(n),
                Err(_) if *p == "null" => serde_json::Value::Null,
                Err(_) => serde_json::json!(p),
            })
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

pub(super) const FORBIDDEN: &str = "HTTP/1.1 403 Forbidden";
pub(super) const TUNNEL: &str = "HTTP/1.1 200 Connection established";

#[test]
fn case_1_connect_to_an_undeclared_port_of_an_allowed_host_gets_403() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.tls.port;
    let other = if p == 65535 { p - 1 } else { p + 1 };
    let got = w.probe(&[
        op(&["connect", &format!("allowed.test:{other}")]),
        op(&["connect", "allowed.test:443"]),
        op(&["connect", "allowed.test:22"]),
        op(&["connect-tls", &format!("allowed.test:{p}"), "allowed.test"]),
    ]);
    assert_eq!(
        got,
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            &format!("{TUNNEL} / tls HTTP/1.1 200 OK")
        ]
    );
    assert_eq!(w.hits(), 1, "only the allowed port reached the upstream");
}

#[test]
fn case_2_connect_to_ip_literals_of_an_allowed_host_gets_403() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.tls.port;
    let got = w.probe(&[
        op(&["connect", &format!("127.0.0.1:{p}")]),
        op(&["connect", &format!("2130706433:{p}")]),
        op(&["connect", &format!("[::ffff:127.0.0.1]:{p}")]),
        op(&["connect", &format!("{}:{p}", w.address("allowed.test"))]),
    ]);
    assert_eq!(got, [FORBIDDEN; 4]);
    assert_eq!(w.hits(), 0);
}

#[test]
fn case_3_a_server_name_other_than_the_host_or_none_closes_the_connection() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.tls.port.to_string();
    let target = format!("allowed.test:{p}");
    let synthetic = w.address("allowed.test");
    let got = w.probe(&[
        op(&["connect-tls", &target, "evil.test"]),
        op(&["connect-tls", &target, "null"]),
        op(&["connect-tls", &target, "denied.allowed.test"]),
        op(&["tls", &synthetic, &p, "evil.test"]),
        op(&["tls", &synthetic, &p, "null"]),
    ]);
    let closed = format!("{TUNNEL} / closed");
    assert_eq!(got, [&closed, &closed, &closed, "closed", "closed"]);
    assert_eq!(
        w.hits(),
        0,
        "a refused ClientHello never reaches the upstream"
    );
}

#[test]
fn case_4_an_http_host_other_than_the_allowed_host_is_refused() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.http.port.to_string();
    let synthetic = w.address("plain.test");
    let got = w.probe(&[
        op(&["get", &format!("http://plain.test:{p}/"), "evil.test"]),
        op(&["http", &synthetic, &p, "evil.test"]),
        op(&["http", &synthetic, &p, &format!("plain.test:{p}")]),
    ]);
    assert_eq!(got, [FORBIDDEN, "closed", "HTTP/1.1 200 OK"]);
    assert_eq!(
        w.http.hits(),
        1,
        "only the matching Host reached the upstream"
    );
}

#[test]
fn case_5_absolute_form_requests_to_other_hosts_get_403() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.http.port;
    let got = w.probe(&[
        op(&["get", "http://evil.example/", "evil.example"]),
        op(&[
            "get",
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ]),
        op(&[
            "get",
            &format!("http://plain.test@evil.example:{p}/"),
            "evil.example",
        ]),
        op(&[
            "get",
            &format!("http://plain.test:{p}/"),
            &format!("plain.test:{p}"),
        ]),
    ]);
    assert_eq!(got, [FORBIDDEN, FORBIDDEN, FORBIDDEN, "HTTP/1.1 200 OK"]);
    assert_eq!(w.hits(), 1);
}

#[test]
fn case_6_without_the_proxy_there_is_no_route() {
    if !live() {
        return;
    }
    let w = World::new();
    let (_, out) = w.run(
        "curl -sS --max-time 5 --noproxy '*' https://192.0.2.1/; echo \"curl $?\"; \
         env -u HTTPS_PROXY -u https_proxy curl -sS --max-time 5 https://198.51.100.7/; echo \"curl $?\"",
    );
    assert!(out.contains("curl 7\n"), "{out}");
    assert_eq!(out.matches("curl 7\n").count(), 2, "{out}");
    let got = w.probe_namespace_only(&[
        op(&["direct", "192.0.2.1", "443", "tcp"]),
        op(&["direct", "203.0.113.9", "80", "tcp"]),
    ]);
    assert_eq!(
        got,
        ["errno 101", "errno 101"],
        "ENETUNREACH: the namespace has no route"
    );
}

#[test]
fn case_7_ipv6_literals_and_mapped_addresses_are_refused() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.tls.port.to_string();
    let got = w.probe(&[
        op(&["connect", "[2001:db8::1]:443"]),
        op(&["connect", "[::ffff:169.254.169.254]:80"]),
        op(&["connect", &format!("[::1]:{p}")]),
    ]);
    assert_eq!(got, [FORBIDDEN; 3]);
    let got = w.probe_namespace_only(&[
        op(&["direct", "::1", &p, "tcp"]),
        op(&["direct", "2001:db8::1", "443", "tcp"]),
        op(&["direct", "::ffff:169.254.169.254", "80", "tcp"]),
    ]);
    assert_eq!(got, ["errno 111", "errno 101", "errno 101"]);
    assert_eq!(w.hits(), 0);
}

#[test]
fn case_8_metadata_and_loopback_addresses_are_refused() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.tls.port.to_string();
    let got = w.probe(&[
        op(&["connect", "169.254.169.254:80"]),
        op(&["connect", "100.100.100.200:80"]),
        op(&["connect", "metadata.google.internal:80"]),
        op(&["connect", &format!("127.0.0.1:{p}")]),
        op(&["connect", &format!("0.0.0.0:{p}")]),
        // Allowed by rule 4, but it resolves to loopback: the range check refuses it.
        op(&["connect", &format!("localhost:{p}")]),
        // Inside the namespace 127.0.0.1 is the namespace's own loopback: a listener
        // accepts, sees an address no name was given, and closes.
        op(&["tls", "127.0.0.1", &p, "allowed.test"]),
        op(&["tls", "0.0.0.0", &p, "allowed.test"]),
    ]);
    assert_eq!(
        got,
        [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, "closed", "closed"]
    );
    let got = w.probe_namespace_only(&[
        op(&["direct", "169.254.169.254", "80", "tcp"]),
        op(&["direct", "100.100.100.200", "80", "tcp"]),
    ]);
    assert_eq!(got, ["errno 101", "errno 101"]);
    assert_eq!(w.hits(), 0, "no loopback upstream was reached");
}

#[test]
fn case_12_udp_dns_dot_and_quic_have_no_route() {
    if !live() {
        return;
    }
    let w = World::new();
    let got = w.probe_namespace_only(&[
        op(&["direct", "8.8.8.8", "53", "udp"]),
        op(&["direct", "8.8.8.8", "53", "tcp"]),
        op(&["direct", "1.1.1.1", "853", "tcp"]),
        op(&["direct", "1.1.1.1", "443", "udp"]),
        op(&["direct", "2001:4860:4860::8888", "53", "udp"]),
        op(&["connect", "1.1.1.1:853"]),
        op(&["connect", "dns.google:443"]),
    ]);
    assert_eq!(
        got,
        [
            "errno 101",
            "errno 101",
            "errno 101",
            "errno 101",
            "errno 101",
            FORBIDDEN,
            FORBIDDEN
        ]
    );
}

#[test]
fn curl_through_the_proxy_reaches_the_allowed_endpoints_and_nothing_else() {
    if !live() {
        return;
    }
    let w = World::new();
    let (t, h) = (w.tls.port, w.http.port);
    let ca = w.ca.display();
    let (_, out) = w.run(&format!(
        "curl -sS --max-time 10 --cacert {ca} https://allowed.test:{t}/; echo \"curl $?\"; \
         curl -sS --max-time 10 http://plain.test:{h}/; echo \"curl $?\"; \
         curl -sS --max-time 10 https://evil.example/; echo \"curl $?\"; \
         curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}\\n' http://evil.example/; echo \"curl $?\""
    ));
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("curl: (")).collect();
    assert_eq!(
        lines,
        ["ok", "curl 0", "plain", "curl 0", "curl 56", "403", "curl 0"],
        "{out}"
    );
    assert_eq!((w.tls.hits(), w.http.hits()), (1, 1));
}

#[test]
fn python_urllib_reaches_the_allowed_endpoint_and_gets_403_elsewhere() {
    if !live() {
        return;
    }
    let w = World::new();
    let script = format!(
        "import ssl, urllib.request, urllib.error\n\
         ctx = ssl.create_default_context(cafile='{ca}')\n\
         print(urllib.request.urlopen('https://allowed.test:{t}/', context=ctx, timeout=10).read().decode().strip())\n\
         for url in ['https://evil.example/', 'http://evil.example/']:\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(url, context=ctx, timeout=10)\n\
         \x20       print('reached', url)\n\
         \x20   except urllib.error.HTTPError as e:\n\
         \x20       print(e.code)\n\
         \x20   except (OSError, urllib.error.URLError) as e:\n\
         \x20       print('refused')\n",
        ca = w.ca.display(),
        t = w.tls.port
    );
    std::fs::write(w.dir.join("client.py"), script).unwrap();
    let (code, out) = w.run("/usr/bin/python3 -I client.py");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "ok\nrefused\n403\n");
    assert_eq!(w.tls.hits(), 1);
}

#[test]
fn a_server_that_speaks_first_is_reached_through_its_listener() {
    if !live() {
        return;
    }
    let w = World::new();
    let p = w.banner.port.to_string();
    let synthetic = w.address("banner.test");
    let got = w.probe(&[op(&["banner", &synthetic, &p])]);
    assert_eq!(got, ["* OK ready"]);
    assert_eq!(w.banner.hits(), 1);
}

#[test]
fn every_decision_is_one_audit_line() {
    if !live() {
        return;
    }
    let w = World::new();
    let log = w.dir.join("audit/egress.jsonl");
    let p = w.tls.port;
    let script = format!(
        "/usr/bin/python3 -I probe.py '{}' '{}'",
        op(&["connect-tls", &format!("allowed.test:{p}"), "allowed.test"]),
        op(&["connect", "evil.example:443"])
    );
    let (code, out) = w.run_with(w.config(Some(log.clone())), true, &script);
    assert_eq!(code, 0, "{out}");
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let summary = policyc_verify::audit::verify(text.as_bytes(), None).unwrap();
    assert_eq!((summary.records, summary.sessions), (4, 1), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "session-start", "{text}");
    assert_eq!(lines[0]["policy"], "egress_test");
    assert_eq!(lines[0]["process"]["name"], "/bin/sh");
    assert_eq!(lines[3]["kind"], "session-end", "{text}");
    assert_eq!(lines[3]["count"], 2, "{text}");
    let denied = lines.iter().find(|l| l["decision"] == "deny").unwrap();
    assert_eq!(denied["dst_endpoint"]["hostname"], "evil.example");
    assert_eq!(denied["class_uid"], 4002);
    assert_eq!(denied["activity_name"], "Connect");
    assert_eq!(denied["action"], "Denied");
    assert_eq!(denied["rule"], serde_json::Value::Null);
    assert_eq!(denied["reason"], "no allow rule for evil.example:443");
    let allowed = lines.iter().find(|l| l["decision"] == "allow").unwrap();
    assert_eq!(allowed["policy_hash"], lines[0]["policy_hash"]);
    assert_eq!(allowed["rule"], "test.policy:5");
    assert_eq!(allowed["rule_text"], format!("allow \"allowed.test\":{p}"));
    assert_eq!(allowed["tls"]["sni"], "allowed.test");
    assert_eq!(allowed["dst_endpoint"]["dialled"], format!("127.0.0.1:{p}"));
    assert_eq!(allowed["dst_endpoint"]["ip"], "127.0.0.1");
    assert_eq!(allowed["connection_info"]["protocol_name"], "tcp");
    assert!(
        allowed["traffic"]["bytes_in"].as_u64().unwrap() > 0,
        "{text}"
    );
    assert!(allowed["duration"].as_u64().is_some(), "{text}");
}

#[test]
fn clients_that_ignore_the_proxy_resolve_allowed_names_to_their_listeners() {
    if !live() {
        return;
    }
    let w = World::new();
    let t = w.tls.port;
    let ca = w.ca.display();
    let (_, out) = w.run(&format!(
        "curl -sS --max-time 10 --noproxy '*' --cacert {ca} https://allowed.test:{t}/; echo \"curl $?\"; \
         curl -sS --max-time 10 --noproxy '*' https://evil.example:{t}/; echo \"curl $?\"; \
         getent hosts allowed.test | cut -d' ' -f1; \
         getent hosts evil.example; echo \"getent $?\""
    ));
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("curl: (")).collect();
    assert_eq!(
        lines,
        [
            "ok",
            "curl 0",
            "curl 6",
            &w.address("allowed.test"),
            "getent 2"
        ],
        "{out}"
    );
    assert_eq!(w.tls.hits(), 1);
}

#[test]
fn node_fetch_ignores_proxy_variables_and_still_reaches_only_the_allowed_endpoint() {
    if !live() || !Path::new("/usr/bin/node").exists() {
        if !Path::new("/usr/bin/node").exists() {
            cannot_run("node is not installed");
        }
        return;
    }
    let w = World::new();
    let t = w.tls.port;
    let script = format!(
        "for (const u of ['https://allowed.test:{t}/', 'https://evil.example/', 'https://169.254.169.254/']) {{\n\
         \x20 try {{ const r = await fetch(u); console.log((await r.text()).trim()); }}\n\
         \x20 catch (e) {{ console.log('refused', (e.cause && e.cause.code) || e.message); }}\n\
         }}\n"
    );
    std::fs::write(w.dir.join("client.mjs"), script).unwrap();
    let (code, out) = w.run(&format!(
        "NODE_EXTRA_CA_CERTS={} /usr/bin/node client.mjs",
        w.ca.display()
    ));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "ok\nrefused ENOTFOUND\nrefused EACCES\n", "{out}");
    assert_eq!(w.tls.hits(), 1);
}

/// Echoes every byte back until the client ends its side.
fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
}

/// Sends an HTTP request head for `plain.test` (the broker wants a `Host` before it dials)
/// and then `n` bytes of a pattern to host:port while reading the echo; prints `ok TOTAL`
/// when the echo is the same bytes in the same order, else what came back.
const TRANSFER: &str = r#"
import hashlib, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = bytes(range(251)) * 4096
s = socket.create_connection((host, port), timeout=30)
head = f"POST / HTTP/1.1\r\nHost: plain.test:{port}\r\n\r\n".encode()
sent = hashlib.sha256(head)
def send():
    s.sendall(head)
    left = n
    while left > 0:
        chunk = block[: min(left, len(block))]
        s.sendall(chunk)
        sent.update(chunk)
        left -= len(chunk)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got, total = hashlib.sha256(), 0
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got.update(b)
    total += len(b)
t.join()
print("ok", total if got.digest() == sent.digest() else f"differs after {total}")
"#;

/// A connection through the supervisor's listener carries 8 MiB each way whole and in
/// order (the broker moves the bytes inside the kernel, through a pipe per direction), and
/// its audit record counts every byte both ways.
#[test]
fn a_large_transfer_each_way_arrives_whole_and_is_counted() {
    if !live() {
        return;
    }
    const N: u64 = 8 << 20;
    let mut w = World::new();
    w.http = Server::start(echo);
    std::fs::write(w.dir.join("transfer.py"), TRANSFER).unwrap();
    let log = w.dir.join("audit/transfer.jsonl");
    let synthetic = w.address("plain.test");
    let script = format!(
        "/usr/bin/python3 -I transfer.py {synthetic} {} {N}",
        w.http.port
    );
    let (code, out) = w.run_with(w.config(Some(log.clone())), true, &script);
    assert_eq!(code, 0, "{out}");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: plain.test:{}\r\n\r\n",
        w.http.port
    );
    let total = N + head.len() as u64;
    assert_eq!(out.trim(), format!("ok {total}"), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let allowed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 1, "{text}");
    assert_eq!(
        allowed[0]["dst_endpoint"]["hostname"], "plain.test",
        "{text}"
    );
    assert_eq!(allowed[0]["traffic"]["bytes_out"], total, "{text}");
    assert_eq!(allowed[0]["traffic"]["bytes_in"], total, "{text}");
    assert_eq!(w.http.hits(), 1);
}
