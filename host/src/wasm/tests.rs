//! Unit tests for the parts that need no runtime: preparing preopens and the socket check.

use super::*;
use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::HostPattern;
use policyc_compiler::paths::CanonPath;
use policyc_targets::wasi::{Limits, NetRule, Network};
use std::collections::BTreeMap;

fn manifest(preopens: Vec<Preopen>, network: Network) -> Manifest {
    Manifest {
        policy: "t".to_string(),
        home: None,
        preopens,
        env: BTreeMap::new(),
        network,
        limits: Limits::default(),
    }
}

fn no_network() -> Network {
    Network {
        egress: false,
        rules: Vec::new(),
        dns: DnsMode::None,
    }
}

fn rule(allow: bool, host: &str, port: Option<u16>, via: EgressVia) -> NetRule {
    NetRule {
        allow,
        host: HostPattern::parse(host).unwrap(),
        port,
        via,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn no_socket_without_egress() {
    let m = manifest(Vec::new(), no_network());
    for u in [
        SocketUse::TcpConnect,
        SocketUse::TcpBind,
        SocketUse::TcpListen,
        SocketUse::Udp,
    ] {
        assert!(!socket_allowed(&m, None, addr("93.184.216.34:443"), u));
        assert!(!socket_allowed(&m, None, addr("0.0.0.0:0"), u));
    }
}

#[test]
fn sockets_reach_the_proxy_and_direct_ip_literals_only() {
    let m = manifest(
        Vec::new(),
        Network {
            egress: true,
            rules: vec![
                rule(false, "10.0.0.9", None, EgressVia::Direct),
                rule(true, "formulas.example.com", Some(443), EgressVia::Proxy),
                rule(true, "10.0.0.0.", None, EgressVia::Direct),
                rule(true, "10.0.0.9", Some(80), EgressVia::Direct),
                rule(true, "192.0.2.7", Some(8443), EgressVia::Direct),
            ],
            dns: DnsMode::AllowListedOnly,
        },
    );
    let proxy = Some(addr("127.0.0.1:3128"));
    let ok = |a: &str, u| socket_allowed(&m, proxy, addr(a), u);
    assert!(ok("127.0.0.1:3128", SocketUse::TcpConnect));
    assert!(!ok("127.0.0.1:3129", SocketUse::TcpConnect));
    assert!(!socket_allowed(
        &m,
        None,
        addr("127.0.0.1:3128"),
        SocketUse::TcpConnect
    ));
    assert!(ok("192.0.2.7:8443", SocketUse::TcpConnect));
    assert!(ok("[::ffff:192.0.2.7]:8443", SocketUse::TcpConnect));
    assert!(!ok("192.0.2.7:443", SocketUse::TcpConnect));
    assert!(ok("10.0.0.0:22", SocketUse::TcpConnect));
    assert!(!ok("10.0.0.9:80", SocketUse::TcpConnect), "deny wins");
    assert!(!ok("93.184.216.34:443", SocketUse::TcpConnect));
    assert!(ok("0.0.0.0:0", SocketUse::TcpBind));
    assert!(ok("[::]:0", SocketUse::TcpBind));
    assert!(!ok("0.0.0.0:8080", SocketUse::TcpBind));
    assert!(!ok("192.0.2.7:8443", SocketUse::TcpListen));
    assert!(!ok("192.0.2.7:8443", SocketUse::TcpAccept));
    assert!(!ok("192.0.2.7:8443", SocketUse::Udp));
}

fn host_preopen(path: &Path, guest: &str) -> Preopen {
    Preopen {
        guest: CanonPath::parse(guest).unwrap(),
        source: Source::Host(CanonPath::parse(path.to_str().unwrap()).unwrap()),
        perms: Perms::ReadOnly,
    }
}

#[test]
fn host_dirs_must_exist_and_be_real_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let real = root.join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(root.join("file"), b"x").unwrap();
    std::os::unix::fs::symlink(&real, root.join("link")).unwrap();
    assert!(prepare(&manifest(vec![host_preopen(&real, "/r")], no_network())).is_ok());
    for bad in ["missing", "file", "link"] {
        let m = manifest(vec![host_preopen(&root.join(bad), "/r")], no_network());
        let e = prepare(&m).unwrap_err();
        assert!(matches!(e, Error::HostDir { .. }), "{bad}: {e}");
    }
}

#[test]
fn fresh_dirs_are_made_empty_and_removed() {
    let m = manifest(
        vec![
            Preopen {
                guest: CanonPath::parse("/out").unwrap(),
                source: Source::Scratch { size: 1 },
                perms: Perms::ReadWrite,
            },
            Preopen {
                guest: CanonPath::parse("/tmp").unwrap(),
                source: Source::Tmpfs { size: 1 },
                perms: Perms::ReadWrite,
            },
        ],
        no_network(),
    );
    let p = prepare(&m).unwrap();
    let dirs: Vec<PathBuf> = p.preopens.iter().map(|p| p.host.clone()).collect();
    assert_eq!(dirs.len(), 2);
    for d in &dirs {
        assert!(d.is_dir());
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
    }
    assert_ne!(dirs[0], dirs[1]);
    drop(p);
    assert!(dirs.iter().all(|d| !d.exists()));
}
