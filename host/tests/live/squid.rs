//! The operators' configurations, live: the real squid (`squid-openssl`) and dnsmasq run
//! with the `squid.conf` and `dnsmasq.conf` policyc emits, on loopback, in front of upstreams
//! this test starts (a TLS server with a throwaway certificate, a DNS server that records
//! every query). Each adversarial case must get the verdict the target's simulator gives
//! (which the build and the property tests hold to the reference semantics), and denied
//! names must reach no upstream. The clients and upstreams are `squid_cases.py`.
//!
//! The operator's part of each file is filled in as its documentation says: squid's port,
//! peek certificate, logs and hosts file (names resolve to the loopback upstreams); dnsmasq's
//! upstream address and listening port. The rule lines are used exactly as emitted.

use policyc_compiler::hosts::Host;
use policyc_compiler::Request;
use policyc_targets::{dnsmasq, squid, EmitContext, Target, Verdict};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::policy;
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CASES_PY: &str = include_str!("squid_cases.py");

/// A free loopback TCP port (a race with other programs is possible but harmless here).
pub(super) fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The program, if this machine has it (else the test cannot run).
pub(super) fn program(path: &str, package: &str) -> Option<String> {
    if Path::new(path).exists() {
        return Some(path.to_string());
    }
    cannot_run(&format!("`{path}` is missing (Debian package {package})"));
    None
}

/// Kills the child it holds when dropped (each test ends only what it started).
pub(super) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run the cases script with `spec`; its JSON answer.
pub(super) fn cases(dir: &Path, spec: &Value) -> Value {
    let script = dir.join("squid_cases.py");
    std::fs::write(&script, CASES_PY).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(spec.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Wait until `ready` holds, for at most 20 s.
pub(super) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start squid with the emitted `conf`, its operator's part filled in as its documentation
/// says (a loopback port, a peek certificate made now, logs in `dir`, `hosts_line` as its
/// hosts file); the running squid, its port and the certificate (upstreams may serve it).
pub(super) fn start_squid(
    squid_bin: &str,
    dir: &Path,
    conf: &str,
    hosts_line: &str,
) -> (Running, u16, std::path::PathBuf) {
    let cert = dir.join("peek.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=policyc-test"])
        .arg("-keyout")
        .arg(&cert)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success());
    std::fs::set_permissions(&cert, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, hosts_line).unwrap();
    let proxy = free_tcp();
    let d = dir.display();
    let live_conf = conf
        .replace(
            "http_port 3128 ",
            &format!("http_port 127.0.0.1:{proxy} "),
        )
        .replace(squid::PEEK_CERT, &cert.display().to_string())
        + &format!(
            "pid_filename {d}/squid.pid\ncache_log {d}/cache.log\naccess_log none\nhosts_file {}\ndns_nameservers 127.0.0.1\nshutdown_lifetime 0 seconds\n",
            hosts.display()
        );
    let conf_path = dir.join("squid.conf");
    std::fs::write(&conf_path, &live_conf).unwrap();
    let parsed = Command::new(squid_bin)
        .arg("-k")
        .arg("parse")
        .arg("-f")
        .arg(&conf_path)
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "squid -k parse:\n{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let squid = Running(
        Command::new(squid_bin)
            .arg("-N")
            .arg("-f")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("squid", || TcpStream::connect(("127.0.0.1", proxy)).is_ok());
    (squid, proxy, cert)
}

/// Start dnsmasq with the emitted `conf`, its upstream set to a free loopback port (where
/// the cases script serves); the running dnsmasq, its port and the upstream's port.
pub(super) fn start_dnsmasq(dnsmasq_bin: &str, dir: &Path, conf: &str) -> (Running, u16, u16) {
    let (port, upstream) = (free_udp(), free_udp());
    let conf_path = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf_path,
        conf.replace(dnsmasq::UPSTREAM, &format!("127.0.0.1#{upstream}")),
    )
    .unwrap();
    let dnsmasq = Running(
        Command::new(dnsmasq_bin)
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf_path.display()))
            .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
            .arg(format!("--port={port}"))
            .arg("--cache-size=0")
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // dnsmasq answers once it listens: the probe is a name it refuses at once.
    wait_for("dnsmasq", || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let q = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'p', b'r', b'o', b'b', b'e', 0, 0, 1, 0,
            1,
        ];
        s.send_to(&q, ("127.0.0.1", port)).is_ok() && s.recv(&mut [0; 512]).is_ok()
    });
    (dnsmasq, port, upstream)
}

fn connect(host: &str, port: u16) -> Request {
    Request::Connect {
        host: Host::parse(host).unwrap(),
        port,
    }
}

#[test]
fn squid_decides_every_case_as_its_simulator() {
    let Some(squid_bin) = program("/usr/sbin/squid", "squid-openssl") else {
        return;
    };
    let (_guard, dir) = crate::tempdir();
    // squid drops to its own user: it must read the files and write its logs here.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (allowed, wildcard, undeclared) = (free_tcp(), free_tcp(), free_tcp());
    let p = policy(&format!(
        r#"policy operator_proxy {{
    isolation process
    fs {{ read "/srv/data" }}
    net {{
        egress via proxy {{
            allow "api.example.test":{allowed}
            allow "*.cdn.example.test":{wildcard}
            allow "127.0.0.1":{allowed}
            deny "bad.cdn.example.test":*
        }}
        dns allow-listed-only
    }}
}}"#
    ));
    let emitted = squid::Squid
        .emit(&p, &EmitContext::default())
        .expect("squid.conf");
    let conf = String::from_utf8(emitted.artifacts[squid::FILE].clone()).unwrap();
    let hosts = "127.0.0.1 api.example.test a.cdn.example.test cdn.example.test bad.cdn.example.test evil.example.test\n";
    let (_squid, proxy, cert) = start_squid(&squid_bin, &dir, &conf, hosts);

    // (CONNECT target, server name sent, the request the simulator is asked, or None for a
    // case beyond its model: a denial, or for `Some(Verdict::Allow)` below, squid's known
    // limit).
    let t = |h: &str, port: u16| format!("{h}:{port}");
    let table: Vec<(String, Option<&str>, Option<Request>)> = vec![
        (
            t("api.example.test", allowed),
            Some("api.example.test"),
            Some(connect("api.example.test", allowed)),
        ),
        // 1: an allowed host on an undeclared port.
        (
            t("api.example.test", undeclared),
            Some("api.example.test"),
            Some(connect("api.example.test", undeclared)),
        ),
        // 2: the IP literal of an allowed host (a rule on an address is left out, P1301).
        (
            t("127.0.0.1", allowed),
            None,
            Some(connect("127.0.0.1", allowed)),
        ),
        // 3: the server name names another host; no server name at all.
        (
            t("api.example.test", allowed),
            Some("evil.example.test"),
            None,
        ),
        // squid splices a ClientHello without a server name to an allowed CONNECT host
        // (P1302 says so): allowed, as the policy allows that host and port.
        (
            t("api.example.test", allowed),
            None,
            Some(connect("api.example.test", allowed)),
        ),
        // A wildcard: a subdomain, the apex, a denied subdomain.
        (
            t("a.cdn.example.test", wildcard),
            Some("a.cdn.example.test"),
            Some(connect("a.cdn.example.test", wildcard)),
        ),
        (
            t("cdn.example.test", wildcard),
            Some("cdn.example.test"),
            Some(connect("cdn.example.test", wildcard)),
        ),
        (
            t("bad.cdn.example.test", wildcard),
            Some("bad.cdn.example.test"),
            Some(connect("bad.cdn.example.test", wildcard)),
        ),
        (
            t("evil.example.test", allowed),
            Some("evil.example.test"),
            Some(connect("evil.example.test", allowed)),
        ),
        // 7, 8: loopback and metadata addresses.
        (t("[::1]", allowed), None, Some(connect("[::1]", allowed))),
        (
            t("169.254.169.254", 80),
            None,
            Some(connect("169.254.169.254", 80)),
        ),
    ];
    let mut spec_cases: Vec<Value> = table
        .iter()
        .map(|(target, sni, _)| json!({"kind": "connect", "target": target, "sni": sni}))
        .collect();
    // 5: an absolute-form request for a host no rule allows.
    spec_cases.push(json!({"kind": "get", "url": format!("http://evil.example.test:{allowed}/")}));
    let spec = json!({
        "mode": "squid",
        "proxy": proxy,
        "cert": cert.display().to_string(),
        "upstream_ports": [allowed, wildcard, undeclared],
        "cases": spec_cases,
    });
    let out = cases(&dir, &spec);
    let got = out["cases"].as_array().unwrap();
    let mut reached = 0;
    for (i, (target, sni, request)) in table.iter().enumerate() {
        let live = got[i].as_str().unwrap();
        let want = match request {
            Some(r) => squid::Squid.simulate(&emitted.artifacts, r),
            None => Verdict::Deny,
        };
        let allowed_live = live == "reached";
        reached += usize::from(allowed_live);
        assert_eq!(
            allowed_live,
            want == Verdict::Allow,
            "CONNECT {target} with server name {sni:?}: squid says `{live}`, the simulator {want:?}"
        );
    }
    assert_eq!(reached, 3, "the allowed cases reach their upstream");
    let get = got[table.len()].as_str().unwrap();
    assert!(get.contains(" 403 "), "absolute-form GET: {get}");
    // Only allowed server names reached an upstream.
    for s in out["upstream"].as_array().unwrap() {
        let sni = s["sni"].as_str();
        assert!(
            matches!(sni, None | Some("api.example.test" | "a.cdn.example.test")),
            "{s}"
        );
    }
}

#[test]
fn dnsmasq_decides_every_name_as_its_simulator_and_asks_upstream_only_for_allowed_names() {
    let Some(dnsmasq_bin) = program("/usr/sbin/dnsmasq", "dnsmasq-base") else {
        return;
    };
    let (_guard, dir) = crate::tempdir();
    let p = policy(
        r#"policy operator_resolver {
    isolation process
    fs { read "/srv/data" }
    net {
        egress via proxy {
            allow "imap.mail.example.test":993
            allow "*.cdn.example.test":443
            deny "bad.cdn.example.test":*
        }
        dns allow-listed-only
    }
}"#,
    );
    let emitted = dnsmasq::Dnsmasq
        .emit(&p, &EmitContext::default())
        .expect("dnsmasq.conf");
    let conf = String::from_utf8(emitted.artifacts[dnsmasq::FILE].clone()).unwrap();
    let names = [
        "imap.mail.example.test",
        "IMAP.Mail.Example.Test",
        "x.imap.mail.example.test",
        "mail.example.test",
        "cdn.example.test",
        "a.cdn.example.test",
        "a.b.cdn.example.test",
        "bad.cdn.example.test",
        "y.bad.cdn.example.test",
        "c2vjcmv0.attacker.example",
        "metadata.google.internal",
        "localhost",
    ];
    let (_dnsmasq, port, upstream) = start_dnsmasq(&dnsmasq_bin, &dir, &conf);
    let mut spec_cases: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    // 10: a TXT query for an allowed name is forwarded, and its records removed.
    spec_cases.push(json!({"name": "imap.mail.example.test", "qtype": 16}));
    let spec =
        json!({"mode": "dnsmasq", "port": port, "upstream_port": upstream, "cases": spec_cases});
    let out = cases(&dir, &spec);
    let got = out["cases"].as_array().unwrap();
    let upstream_saw: Vec<&str> = out["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut answered = 0;
    for (i, name) in names.iter().enumerate() {
        let live = got[i].as_str().unwrap();
        let host = Host::parse(name).unwrap();
        let want =
            dnsmasq::Dnsmasq.simulate(&emitted.artifacts, &Request::Resolve { host: host.clone() });
        assert_eq!(
            live == "answered",
            want == Verdict::Allow,
            "{name}: dnsmasq says `{live}`, the simulator {want:?}"
        );
        answered += usize::from(live == "answered");
        if want != Verdict::Allow {
            assert!(
                !upstream_saw.contains(&host.to_string().as_str()),
                "{name} was asked upstream: {upstream_saw:?}"
            );
        }
    }
    assert_eq!(answered, 5, "{got:?}");
    let txt = got[names.len()].as_str().unwrap();
    assert_ne!(txt, "answered", "TXT records are removed");
}
