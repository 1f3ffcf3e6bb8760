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
            allow "x.cdn.example.com":80
            allow "[2001:db8::1]":443
            deny "bad.cdn.example.com":*
            deny "*.evil.cdn.example.com":*
            deny "*.cdn.example.com":8443
        }
        dns allow-listed-only
    }
}"#;

fn text(src: &str) -> String {
    String::from_utf8(Dnsmasq.emitted(src).artifacts[FILE].clone()).unwrap()
}

#[test]
fn answers_exactly_the_names_the_policy_resolves() {
    let t = text(MAIL);
    for line in [
        "no-resolv",
        "no-hosts",
        "server=/imap.example.com/192.0.2.53",
        "address=/*.imap.example.com/",
        "address=/cdn.example.com/",
        "server=/*.cdn.example.com/192.0.2.53",
        "address=/bad.cdn.example.com/",
        "server=/*.bad.cdn.example.com/192.0.2.53",
        "address=/*.evil.cdn.example.com/",
        "address=/#/",
    ] {
        assert!(t.lines().any(|l| l == line), "{line}\n{t}");
    }
    let p = policy(MAIL);
    let e = Dnsmasq.emitted(MAIL);
    for name in [
        "imap.example.com",
        "IMAP.example.com.",
        "x.imap.example.com",
        "example.com",
        "cdn.example.com",
        "a.cdn.example.com",
        "a.b.cdn.example.com",
        "x.cdn.example.com",
        "y.x.cdn.example.com",
        "bad.cdn.example.com",
        "y.bad.cdn.example.com",
        "evil.cdn.example.com",
        "z.evil.cdn.example.com",
        "c2VjcmV0.attacker.example",
    ] {
        let r = resolve(name);
        assert_eq!(
            Dnsmasq.simulate(&e.artifacts, &r),
            reference(&p, &r).verdict(),
            "{name}"
        );
    }
    let ip = resolve("[2001:db8::1]");
    assert_eq!(Dnsmasq.simulate(&e.artifacts, &ip), Verdict::NotMediated);
    let c = connect("imap.example.com", 993);
    assert_eq!(Dnsmasq.simulate(&e.artifacts, &c), Verdict::NotMediated);
}

#[test]
fn dns_modes_and_egress_none() {
    let none = text(r#"policy p { isolation process fs { read "/srv" } net { egress none } }"#);
    assert!(none.lines().any(|l| l == "address=/#/"));
    assert!(!none.contains("server="));
    let any = r#"policy p { isolation process fs { read "/srv" }
        net { egress via proxy { allow "a.example.com":443 } dns any } }"#;
    assert!(text(any).lines().any(|l| l == "server=192.0.2.53"));
    let e = Dnsmasq.emitted(any);
    assert_eq!(
        Dnsmasq.simulate(&e.artifacts, &resolve("anything.example")),
        Verdict::Allow
    );
}

#[test]
fn the_reader_refuses_what_policyc_does_not_write() {
    let good = text(MAIL);
    assert!(parse(&good).is_ok());
    for bad in [
        "conf-file=/etc/other.conf",
        "server=/IMAP.example.com/192.0.2.53",
        "address=/a.example.com/1.2.3.4",
        "server=/a.example.com/",
        "resolv-file=/etc/resolv.conf",
    ] {
        assert!(parse(&format!("{good}{bad}\n")).is_err(), "{bad}");
    }
    let broken = [(FILE.to_string(), b"bogus\n".to_vec())]
        .into_iter()
        .collect();
    assert_eq!(
        Dnsmasq.simulate(&broken, &resolve("imap.example.com")),
        Verdict::Deny
    );
}

#[test]
fn dnsmasq_precedence_as_documented() {
    let c = parse(
        "no-resolv\nno-hosts\nserver=/google.com/1.2.3.4\naddress=/www.google.com/\naddress=/*.mail.google.com/\n",
    )
    .unwrap();
    assert!(c.answers("google.com") && c.answers("gmail.google.com"));
    assert!(!c.answers("www.google.com") && !c.answers("a.www.google.com"));
    assert!(c.answers("mail.google.com") && !c.answers("x.mail.google.com"));
    assert!(!c.answers("supergoogle.com"));
    let with_default = parse("server=192.0.2.1\naddress=/#/\n").unwrap();
    assert!(with_default.answers("evil.example"));
}
