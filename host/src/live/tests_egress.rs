//! The egress layer live: the real supervisor decides each `connect` and `resolve` case of
//! small policies, and every verdict must be the case's and the simulator's (see `tests`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::tests::{check_text, decided, layer, verdict_of, Checked};
use policyc_targets::Verdict;

const LISTED: &str = r#"
policy egress_listed {
    isolation process
    fs { read "/srv/data" }
    net {
        egress via proxy {
            allow "api.example.com":443
            allow "*.cdn.example.net":443
            allow "93.184.216.34":8443
            deny "bad.cdn.example.net":*
        }
        dns allow-listed-only
    }
    test "connections" {
        allow connect "api.example.com":443
        allow connect "API.Example.Com.":443
        allow connect "img.cdn.example.net":443
        allow connect "a.b.cdn.example.net":443
        allow connect "93.184.216.34":8443
        deny connect "api.example.com":80
        deny connect "api.example.com":8443
        deny connect "cdn.example.net":443
        deny connect "bad.cdn.example.net":443
        deny connect "x.api.example.com":443
        deny connect "93.184.216.34":443
        deny connect "93.184.216.35":8443
        deny connect "169.254.169.254":80
        deny connect "127.0.0.1":443
        deny connect "[::1]":443
        deny connect "metadata.google.internal":80
    }
    test "names" {
        allow resolve "api.example.com"
        allow resolve "img.cdn.example.net"
        deny resolve "cdn.example.net"
        deny resolve "bad.cdn.example.net"
        deny resolve "c2VjcmV0.attacker.example"
        deny resolve "metadata.google.internal"
    }
    test "files are not the egress layer's" {
        allow read "/srv/data/x"
    }
}
"#;

/// Allow-listed names: every connect and resolve case is decided live, as the policy says.
#[test]
fn the_supervisor_decides_connects_and_lookups_as_the_policy() {
    let Some(Checked {
        policy,
        cases,
        runs,
    }) = check_text("egress_listed.policy", LISTED)
    else {
        return;
    };
    let egress = layer(&runs, "egress");
    let network = cases
        .iter()
        .filter(|(r, _)| {
            matches!(
                r,
                policyc_compiler::Request::Connect { .. }
                    | policyc_compiler::Request::Resolve { .. }
            )
        })
        .count();
    assert_eq!(
        decided(egress),
        network,
        "{}: {:?}",
        policy.name,
        egress.evidence
    );
    let (v, e) = verdict_of(egress, &cases, r#"connect "img.cdn.example.net":443"#);
    assert_eq!(*v, Verdict::Allow, "{e}");
    assert!(e.contains("tunnelled to the upstream"), "{e}");
    let (v, e) = verdict_of(egress, &cases, r#"read "/srv/data/x""#);
    assert_eq!(*v, Verdict::NotMediated, "{e}");
    let (v, e) = verdict_of(egress, &cases, r#"resolve "c2vjcmv0.attacker.example""#);
    assert_eq!(*v, Verdict::Deny, "{e}");
    assert!(
        egress.notes.iter().any(|n| n.contains("0 DNS queries")),
        "no name was asked upstream: {:?}",
        egress.notes
    );
}

const ANY: &str = r#"
policy egress_any {
    isolation process
    fs { read "/srv/data" }
    net {
        egress via proxy {
            allow "api.example.com":443
        }
        dns any
    }
    test "every name resolves, through the upstream" {
        allow resolve "api.example.com"
        allow resolve "anything.example.org"
        deny connect "anything.example.org":443
        allow connect "api.example.com":443
    }
}
"#;

/// `dns any`: names the policy does not list are forwarded to the upstream resolver.
#[test]
fn under_dns_any_unlisted_names_reach_the_upstream_resolver() {
    let Some(Checked { cases, runs, .. }) = check_text("egress_any.policy", ANY) else {
        return;
    };
    let egress = layer(&runs, "egress");
    let (v, e) = verdict_of(egress, &cases, r#"resolve "anything.example.org""#);
    assert_eq!(*v, Verdict::Allow, "{e}");
    assert!(
        egress.notes.iter().any(|n| n.contains(" 1 DNS queries")),
        "{:?}",
        egress.notes
    );
}

const NONE: &str = r#"
policy egress_none {
    isolation process
    fs { read "/srv/data" }
    net { egress none }
    test "nothing leaves" {
        deny connect "api.example.com":443
        deny resolve "api.example.com"
    }
}
"#;

/// `egress none`: the artifact denies everything, and the supervisor does.
#[test]
fn egress_none_is_denied_by_the_supervisor() {
    let Some(Checked { cases, runs, .. }) = check_text("egress_none.policy", NONE) else {
        return;
    };
    let egress = layer(&runs, "egress");
    assert_eq!(decided(egress), cases.len());
    assert!(
        egress.verdicts.iter().all(|v| *v == Verdict::Deny),
        "{:?}",
        egress.evidence
    );
}

const PRIVATE: &str = r#"
policy egress_private {
    isolation process
    fs { read "/srv/data" }
    net {
        egress via proxy {
            allow "10.1.2.3":8080
        }
        dns allow-listed-only
    }
}
"#;

/// A rule that allows a non-public address is narrowed, and reported (P1203): `decide`
/// allows the connection, the egress simulator and the supervisor both refuse it, so a live
/// comparison with the simulator agrees.
#[test]
fn a_rule_for_a_non_public_address_is_refused_by_the_supervisor() {
    use policyc_compiler::hosts::Host;
    use policyc_compiler::Request;
    let policy = super::tests::compile_one("egress_private.policy", PRIVATE);
    let request = Request::Connect {
        host: Host::parse("10.1.2.3").unwrap(),
        port: 8080,
    };
    assert!(policyc_compiler::decide(&policy, &request).allow);
    use policyc_targets::Target as _;
    let emitted = policyc_targets::egress::Egress
        .emit(&policy, &policyc_targets::EmitContext::default())
        .unwrap();
    assert!(
        emitted
            .report
            .iter()
            .any(|d| d.code == policyc_compiler::Code::EgressNarrowed
                && d.message.contains("10.1.2.3")),
        "{:?}",
        emitted.report
    );
    let simulated = policyc_targets::egress::Egress
        .simulator(&emitted.artifacts)
        .simulate(&request);
    assert_eq!(simulated, Verdict::Deny);
    let runs = super::run(&policy, std::slice::from_ref(&request));
    let egress = layer(&runs, "egress");
    if egress.status != super::LayerStatus::Ran {
        policyc_testkit::live::cannot_run(&format!("egress: {:?}", egress.status));
        return;
    }
    assert_eq!(egress.verdicts[0], simulated, "{:?}", egress.evidence);
}
