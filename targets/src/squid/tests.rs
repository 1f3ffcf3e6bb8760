//! Unit tests: the configuration text, its reader, and decisions equal to the reference's.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use super::*;
use crate::testing::{connect, resolve, EmitText};
use policyc_compiler::eval::decide as reference;
use policyc_testkit::stdlib::policy;

const MAIL: &str = r#"policy mail {
    isolation process
    fs { read "/srv/mail" }
    net {
        egress via proxy {
            allow "imap.example.com":993
            allow "*.cdn.example.com":443
            allow "x.cdn.example.com":*
            allow "93.184.216.34":443
            deny "bad.cdn.example.com":*
            deny "*.cdn.example.com":8443
        }
        dns allow-listed-only
    }
}"#;

fn text(src: &str) -> String {
    String::from_utf8(Squid.emitted(src).artifacts[FILE].clone()).unwrap()
}

#[test]
fn decides_domains_exactly_and_refuses_addresses() {
    let t = text(MAIL);
    for line in [
        "acl policyc_r1_host dstdomain -n bad.cdn.example.com",
        "http_access deny policyc_r1_host",
        "http_access deny policyc_r2_host !policyc_r2_apex policyc_r2_port",
        "http_access deny all",
        "ssl_bump peek policyc_step1",
        "ssl_bump terminate all",
    ] {
        assert!(t.lines().any(|l| l == line), "{line}\n{t}");
    }
    assert!(!t.contains("93.184.216.34"), "{t}");
    let p = policy(MAIL);
    let e = Squid.emitted(MAIL);
    for (host, port) in [
        ("imap.example.com", 993),
        ("imap.example.com", 443),
        ("x.imap.example.com", 993),
        ("cdn.example.com", 443),
        ("a.cdn.example.com", 443),
        ("a.b.cdn.example.com", 443),
        ("a.cdn.example.com", 8443),
        ("x.cdn.example.com", 8443),
        ("x.cdn.example.com", 25),
        ("bad.cdn.example.com", 443),
        ("y.bad.cdn.example.com", 443),
        ("evil.example", 443),
    ] {
        let r = connect(host, port);
        assert_eq!(
            Squid.simulate(&e.artifacts, &r),
            reference(&p, &r).verdict(),
            "{host}:{port}"
        );
    }
    let ip = connect("93.184.216.34", 443);
    assert!(reference(&p, &ip).allow);
    assert_eq!(Squid.simulate(&e.artifacts, &ip), Verdict::Deny);
    let narrowed: Vec<&str> = crate::testing::messages(&e, Code::SquidNarrowed);
    assert_eq!(narrowed.len(), 1, "{narrowed:?}");
    assert!(narrowed[0].contains("93.184.216.34"));
    let r = resolve("imap.example.com");
    assert_eq!(Squid.simulate(&e.artifacts, &r), Verdict::NotMediated);
}

#[test]
fn egress_none_refuses_everything() {
    let t = text(r#"policy p { isolation process fs { read "/srv" } net { egress none } }"#);
    assert!(
        !t.contains("http_access allow") && !t.contains("ssl_bump splice"),
        "{t}"
    );
    let e =
        Squid.emitted(r#"policy p { isolation process fs { read "/srv" } net { egress none } }"#);
    assert_eq!(
        Squid.simulate(&e.artifacts, &connect("example.com", 443)),
        Verdict::Deny
    );
}

#[test]
fn the_reader_refuses_what_policyc_does_not_write() {
    let good = text(MAIL);
    assert!(parse(&good).is_ok());
    for bad in [
        "acl x dstdomain .example.com",
        "acl x dst 10.0.0.0/8",
        "http_access allow undefined_acl",
        "ssl_bump bump all",
        "include /etc/squid/other.conf",
    ] {
        let text = good.replace(
            "http_access deny all\n",
            &format!("{bad}\nhttp_access deny all\n"),
        );
        assert!(parse(&text).is_err(), "{bad}");
    }
    // What squid would do with a line policyc does not write, the reader models.
    let open = good.replace("http_access deny all\n", "http_access allow all\n");
    let open = parse(&open).unwrap();
    assert!(
        !open.connects(&Host::parse("evil.example").unwrap(), 443),
        "still terminated"
    );
    let no_peek = good.replace("ssl_bump peek policyc_step1\n", "");
    assert!(parse(&no_peek).is_err());
    let broken = [(FILE.to_string(), b"http_access allow all\n".to_vec())]
        .into_iter()
        .collect();
    assert_eq!(
        Squid.simulate(&broken, &connect("imap.example.com", 993)),
        Verdict::Deny
    );
}

#[test]
fn the_server_name_must_be_allowed_too() {
    let c = parse(&text(MAIL)).unwrap();
    // A ClientHello naming a host no rule allows is terminated even when the CONNECT was
    // allowed: the simulator's own check, with the name taken from the CONNECT.
    let h = Host::parse("imap.example.com").unwrap();
    assert!(c.connects(&h, 993));
    let mut only_access = c.clone();
    only_access.ssl_bump.clear();
    assert!(!only_access.connects(&h, 993));
}
