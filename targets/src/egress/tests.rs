//! Unit tests: the artifact, its reader (fail closed), and the simulator against the
//! reference semantics.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use super::*;
use crate::testing::{connect, fs, resolve, EmitText};
use crate::{Target, Verdict};
use policyc_compiler::ast::{Access, DnsMode};
use policyc_compiler::eval::decide;
use policyc_compiler::hosts::Host;
use policyc_compiler::Request;
use policyc_testkit::stdlib::policy;

const MAIL: &str = r#"policy mail {
    isolation process
    fs { read "/srv/mail" }
    net {
        egress via proxy {
            allow "imap.example.com":993 with token imap
            allow "*.cdn.example.com":443
            allow "[2001:db8::1]":443
            deny "bad.cdn.example.com":*
            deny "*.cdn.example.com":8443
        }
        dns allow-listed-only
    }
    token imap { audience "imap.example.com"; scope "mail:read"; ttl 15m }
    audit { egress; dns; denials }
}"#;

const NONE: &str = r#"policy offline {
    isolation container
    fs { scratch "/out" size 1MiB }
    net { egress none }
}"#;

fn artifact(src: &str) -> (Emitted, Artifact) {
    let e = Egress.emitted(src);
    let a = Artifact::parse(&e.artifacts[FILE]).unwrap();
    (e, a)
}

fn json(src: &str) -> serde_json::Value {
    serde_json::from_slice(&Egress.emitted(src).artifacts[FILE]).unwrap()
}

fn reparse(v: &serde_json::Value) -> Result<Artifact, Error> {
    Artifact::parse(&serde_json::to_vec(v).unwrap())
}

fn host(h: &str) -> Host {
    Host::parse(h).unwrap()
}

#[test]
fn artifact_lists_rules_in_decision_order_with_tokens_dns_and_audit() {
    let (e, a) = artifact(MAIL);
    assert_eq!(a.policy, "mail");
    assert!(a.egress);
    let allows: Vec<bool> = a.rules.iter().map(|r| r.allow).collect();
    assert_eq!(allows, [false, false, true, true, true], "denies first");
    let imap = a.rules.iter().find(|r| r.token.is_some()).unwrap();
    assert_eq!(imap.token.as_deref(), Some("imap"));
    assert_eq!(imap.rule, r#"allow "imap.example.com":993 with token imap"#);
    assert_eq!(a.dns.mode, DnsMode::AllowListedOnly);
    let names: Vec<String> = a.dns.names.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["imap.example.com", "[2001:db8::1]", "*.cdn.example.com"]
    );
    let refused: Vec<String> = a.dns.refused.iter().map(ToString::to_string).collect();
    assert_eq!(refused, ["bad.cdn.example.com"]);
    let t = &a.tokens["imap"];
    assert_eq!(
        (t.audience.as_str(), t.ttl_ms, t.approval),
        ("imap.example.com", 900_000, false)
    );
    assert_eq!(t.scopes, ["mail:read"]);
    assert_eq!(
        a.audit,
        Audit {
            egress: true,
            dns: true,
            tokens: false,
            denials: true
        }
    );
    let text = String::from_utf8(e.artifacts[FILE].clone()).unwrap();
    assert!(text.contains("\"format\": \"policyc-egress\""), "{text}");
    assert!(text.ends_with("}\n"));
    assert_eq!(e.stats[FILE]["rules"], 5);
    // Byte-identical for identical input.
    assert_eq!(Egress.emitted(MAIL).artifacts, e.artifacts);
}

#[test]
fn egress_none_is_an_explicit_deny_all_artifact() {
    let (_, a) = artifact(NONE);
    assert!(!a.egress && a.rules.is_empty());
    assert_eq!(a.dns.mode, DnsMode::None);
    assert_eq!(json(NONE)["egress"], "none");
    assert!(connect_allowed(&a, &host("example.com"), 443).is_none());
    assert!(!resolve_allowed(&a, &host("example.com")));
}

#[test]
fn joins_the_stack_only_of_policies_with_egress_rules() {
    for src in [MAIL, NONE] {
        let p = policy(src);
        let with = crate::stack_for(&p).iter().any(|t| t.name() == "egress");
        assert_eq!(with, !p.net.egress_none, "{}", p.name);
        assert!(!crate::stack(p.isolation)
            .iter()
            .any(|t| t.name() == "egress"));
    }
}

#[test]
fn connect_allowed_returns_the_admitting_rule() {
    let (_, a) = artifact(MAIL);
    let r = connect_allowed(&a, &host("IMAP.Example.COM."), 993).unwrap();
    assert_eq!(r.token.as_deref(), Some("imap"));
    assert!(connect_allowed(&a, &host("imap.example.com"), 143).is_none());
    let cdn = connect_allowed(&a, &host("a.b.cdn.example.com"), 443).unwrap();
    assert_eq!(cdn.host.to_string(), "*.cdn.example.com");
    // Strict subdomains only; denies win on their port or every port.
    assert!(connect_allowed(&a, &host("cdn.example.com"), 443).is_none());
    assert!(connect_allowed(&a, &host("bad.cdn.example.com"), 443).is_none());
    assert!(connect_allowed(&a, &host("x.cdn.example.com"), 8443).is_none());
    // An address that is not public (here documentation) is refused whatever the rules say.
    assert!(connect_allowed(&a, &host("[2001:db8::1]"), 443).is_none());
    assert!(connect_allowed(&a, &host("93.184.216.34"), 993).is_none());
}

#[test]
fn resolve_allowed_answers_allow_listed_names_only() {
    let (_, a) = artifact(MAIL);
    assert!(resolve_allowed(&a, &host("imap.example.com")));
    assert!(resolve_allowed(&a, &host("x.cdn.example.com")));
    // A deny on one port leaves the name resolvable; a deny on every port does not.
    assert!(!resolve_allowed(&a, &host("bad.cdn.example.com")));
    assert!(!resolve_allowed(&a, &host("cdn.example.com")));
    assert!(!resolve_allowed(&a, &host("c2VjcmV0.attacker.example")));
}

#[test]
fn simulator_agrees_with_the_reference_and_leaves_fs_and_syscalls() {
    let p = policy(MAIL);
    let e = Egress.emitted(MAIL);
    let requests = [
        connect("imap.example.com", 993),
        connect("imap.example.com", 994),
        connect("x.cdn.example.com", 443),
        connect("x.cdn.example.com", 8443),
        connect("bad.cdn.example.com", 443),
        connect("cdn.example.com", 443),
        connect("[::ffff:169.254.169.254]", 443),
        resolve("imap.example.com"),
        resolve("bad.cdn.example.com"),
        resolve("y.cdn.example.com"),
        resolve("example.com"),
    ];
    for r in &requests {
        let want = decide(&p, r).verdict();
        assert_eq!(Egress.simulate(&e.artifacts, r), want, "{r}");
    }
    let read = fs(Access::Read, "/srv/mail/x");
    assert_eq!(Egress.simulate(&e.artifacts, &read), Verdict::NotMediated);
    let sys = Request::Syscall {
        name: "ptrace".to_string(),
        args: [0; 6],
    };
    assert_eq!(Egress.simulate(&e.artifacts, &sys), Verdict::NotMediated);
}

#[test]
fn missing_artifact_is_not_mediated_and_a_broken_one_denies() {
    let r = connect("imap.example.com", 993);
    assert_eq!(
        Egress.simulate(&Default::default(), &r),
        Verdict::NotMediated
    );
    let broken = [(FILE.to_string(), b"{".to_vec())].into_iter().collect();
    assert_eq!(Egress.simulate(&broken, &r), Verdict::Deny);
}

/// A change to a good artifact's JSON.
type Edit = fn(&mut serde_json::Value);

#[test]
fn reader_refuses_what_policyc_would_not_write() {
    let good = json(MAIL);
    assert!(reparse(&good).is_ok());
    let edits: [(&str, Edit); 11] = [
        ("format", |v| v["format"] = "policyc-wasi".into()),
        ("version", |v| v["version"] = 2.into()),
        ("unknown key", |v| v["extra"] = true.into()),
        ("unnormalised host", |v| {
            v["rules"][2]["host"] = "IMAP.example.com".into()
        }),
        ("port 0", |v| v["rules"][2]["port"] = 0.into()),
        ("allow before deny", |v| {
            let r = v["rules"].as_array_mut().unwrap();
            r.swap(0, 4);
        }),
        ("unknown token", |v| v["rules"][4]["token"] = "nope".into()),
        ("dns list widened", |v| {
            v["dns"]["names"]
                .as_array_mut()
                .unwrap()
                .push("evil.example".into())
        }),
        ("refused dropped", |v| {
            v["dns"]["refused"] = serde_json::json!([])
        }),
        ("ttl 0", |v| v["tokens"]["imap"]["ttl_ms"] = 0.into()),
        ("egress none with rules", |v| v["egress"] = "none".into()),
    ];
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        assert!(reparse(&v).is_err(), "accepted: {what}");
    }
    let mut none = json(NONE);
    none["dns"]["mode"] = "any".into();
    assert!(reparse(&none).is_err(), "egress none with DNS");
}

const PRIVATE: &str = r#"policy private {
    isolation process
    fs { read "/srv/data" }
    net {
        egress direct {
            allow "db.example.com":5432
            allow "10.1.2.3":5432
            allow "0x7f.1":8080
            allow "93.184.216.34":443
        }
    }
}"#;

#[test]
fn allow_rules_on_non_public_addresses_are_narrowed_and_reported() {
    let p = policy(PRIVATE);
    let e = Egress.emitted(PRIVATE);
    let narrowed = crate::testing::messages(&e, policyc_compiler::Code::EgressNarrowed);
    assert_eq!(narrowed.len(), 2, "{narrowed:?}");
    assert!(narrowed[0].contains("`10.1.2.3`") && narrowed[0].contains("private"));
    assert!(narrowed[1].contains("`127.0.0.1`") && narrowed[1].contains("loopback"));
    // The reference allows them; the layer refuses them, and nothing else changes.
    for (r, layer) in [
        (connect("10.1.2.3", 5432), Verdict::Deny),
        (connect("127.0.0.1", 8080), Verdict::Deny),
        (connect("[::ffff:10.1.2.3]", 5432), Verdict::Deny),
        (connect("93.184.216.34", 443), Verdict::Allow),
        (connect("db.example.com", 5432), Verdict::Allow),
    ] {
        let public = matches!(&r, Request::Connect { host, .. } if host.non_public().is_none());
        assert_eq!(decide(&p, &r).verdict(), Verdict::Allow, "{r}");
        assert_eq!(Egress.simulate(&e.artifacts, &r), layer, "{r}");
        assert_eq!(layer == Verdict::Allow, public, "{r}");
    }
    // The artifact keeps the rules as written: the narrowing is the reader's decision.
    let (_, a) = artifact(PRIVATE);
    assert_eq!(a.rules.len(), 4);
}
