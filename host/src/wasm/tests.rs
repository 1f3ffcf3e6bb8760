//! Unit tests for the parts that need no runtime: preparing preopens, the socket check and
//! telling modules from components.

use super::*;
use policyc_compiler::ast::DnsMode;
use policyc_compiler::paths::CanonPath;
use policyc_targets::wasi::{Limits, Network};
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

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The supervisor gave out 127.80.0.1 and 127.80.0.2 and listens on 443 and 993.
fn known(ip: Ipv4Addr) -> bool {
    ip == Ipv4Addr::new(127, 80, 0, 1) || ip == Ipv4Addr::new(127, 80, 0, 2)
}

fn ports() -> BTreeSet<u16> {
    [443, 993].into_iter().collect()
}

#[test]
fn no_socket_for_an_address_the_supervisor_did_not_give() {
    let none = |_: Ipv4Addr| false;
    for u in [
        SocketUse::TcpConnect,
        SocketUse::TcpListen,
        SocketUse::TcpAccept,
        SocketUse::Udp,
    ] {
        assert!(!socket_allowed(none, &ports(), addr("127.80.0.1:443"), u));
        assert!(!socket_allowed(
            known,
            &ports(),
            addr("93.184.216.34:443"),
            u
        ));
        assert!(!socket_allowed(known, &ports(), addr("0.0.0.0:0"), u));
    }
}

#[test]
fn sockets_reach_synthetic_addresses_on_listened_ports_only() {
    let ok = |a: &str, u| socket_allowed(known, &ports(), addr(a), u);
    assert!(ok("127.80.0.1:443", SocketUse::TcpConnect));
    assert!(ok("127.80.0.2:993", SocketUse::TcpConnect));
    assert!(ok("[::ffff:127.80.0.1]:443", SocketUse::TcpConnect));
    assert!(!ok("127.80.0.1:444", SocketUse::TcpConnect), "no listener");
    assert!(
        !ok("127.80.0.3:443", SocketUse::TcpConnect),
        "not handed out"
    );
    assert!(!ok("127.0.0.1:443", SocketUse::TcpConnect));
    assert!(!ok("127.0.0.53:53", SocketUse::TcpConnect));
    assert!(!ok("[::1]:443", SocketUse::TcpConnect));
    assert!(ok("0.0.0.0:0", SocketUse::TcpBind));
    assert!(ok("[::]:0", SocketUse::TcpBind));
    assert!(!ok("0.0.0.0:8080", SocketUse::TcpBind));
    assert!(!ok("127.80.0.1:443", SocketUse::TcpBind));
    assert!(!ok("127.80.0.1:443", SocketUse::TcpListen));
    assert!(!ok("127.80.0.1:443", SocketUse::TcpAccept));
    assert!(!ok("127.80.0.1:443", SocketUse::Udp));
}

#[test]
fn the_header_tells_modules_from_components() {
    assert_eq!(kind(b"\0asm\x01\0\0\0rest"), Some(Kind::Module));
    assert_eq!(kind(b"\0asm\x0d\0\x01\0rest"), Some(Kind::Component));
    assert_eq!(kind(b"\0asm\x02\0\0\0"), None);
    assert_eq!(kind(b"\0asm"), None);
    assert_eq!(kind(b"(module)"), None);
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

#[cfg(feature = "wasm")]
#[test]
fn lookups_answer_from_the_address_book_only() {
    use super::lookup::resolve;
    use crate::egress::dns::testing::ListPolicy;
    use crate::egress::names::Names;
    use std::sync::Arc;
    use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;
    let policy = ListPolicy::new(
        DnsMode::AllowListedOnly,
        &["api.example.com", "*.cdn.example.com"],
        &["evil.cdn.example.com"],
    );
    let names = Names::new(Arc::new(policy));
    let first = IpAddr::V4(Ipv4Addr::new(127, 80, 0, 1));
    let second = IpAddr::V4(Ipv4Addr::new(127, 80, 0, 2));
    let ok = |n: &str| resolve(Some(&names), n).ok();
    assert_eq!(ok("api.example.com"), Some(vec![first]));
    assert_eq!(ok("API.example.com."), Some(vec![first]));
    assert_eq!(ok("a.cdn.example.com"), Some(vec![second]));
    assert_eq!(ok("a.cdn.example.com"), Some(vec![second]), "stable");
    for denied in [
        "evil.cdn.example.com",
        "example.com",
        "localhost",
        "cdn.example.com",
    ] {
        assert!(
            matches!(
                resolve(Some(&names), denied),
                Err(ErrorCode::NameUnresolvable)
            ),
            "{denied}"
        );
    }
    assert_eq!(
        ok("93.184.216.34"),
        Some(vec![addr("93.184.216.34:0").ip()])
    );
    assert_eq!(ok("::1"), Some(vec![addr("[::1]:0").ip()]));
    assert!(matches!(
        resolve(Some(&names), "bad name"),
        Err(ErrorCode::InvalidArgument)
    ));
    assert!(matches!(
        resolve(None, "api.example.com"),
        Err(ErrorCode::PermanentResolverFailure)
    ));
    assert_eq!(
        resolve(None, "10.0.0.1").ok(),
        Some(vec![addr("10.0.0.1:0").ip()])
    );
}
