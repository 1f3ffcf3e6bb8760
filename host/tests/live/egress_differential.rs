//! The same requests through the real squid and dnsmasq (with the `squid.conf` and
//! `dnsmasq.conf` policyc emits, set up as in `squid.rs`) and through the real egress
//! supervisor (the live engine's `egress` layer, with the emitted `egress.json`): every
//! verdict must agree, unless the difference is one the squid or dnsmasq build report
//! declares. The one declared here: squid leaves a rule on an IP address out (`P1301`),
//! where the supervisor enforces it (and refuses a non-public address whatever the rule).

use super::squid::{cases, free_tcp, program, start_dnsmasq, start_squid};
use policyc_compiler::diag::Code;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_host::live::{self, LayerStatus, LiveRun};
use policyc_targets::{dnsmasq, squid, EmitContext, Target, Verdict};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::policy;
use serde_json::{json, Value};

fn text(allowed: u16, wildcard: u16) -> String {
    format!(
        r#"policy operator_differential {{
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
    )
}

/// The supervisor's verdicts on `requests` (the live engine's egress layer).
fn supervisor(p: &Policy, requests: &[Request]) -> Option<LiveRun> {
    let run = live::run(p, requests)
        .into_iter()
        .find(|r| r.layer == "egress")
        .expect("the egress layer runs live");
    if run.status != LayerStatus::Ran {
        cannot_run(&format!("the supervisor did not run: {:?}", run.status));
        return None;
    }
    Some(run)
}

fn observed(run: &LiveRun, i: usize) -> Verdict {
    run.verdicts[i]
        .verdict()
        .unwrap_or_else(|| panic!("request {i} unverifiable: {}", run.evidence[i]))
}

#[test]
fn squid_and_the_supervisor_agree_on_every_connection_or_the_difference_is_declared() {
    let Some(squid_bin) = program("/usr/sbin/squid", "squid-openssl") else {
        return;
    };
    let (_guard, dir) = crate::tempdir();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (allowed, wildcard, undeclared) = (free_tcp(), free_tcp(), free_tcp());
    let p = policy(&text(allowed, wildcard));
    let emitted = squid::Squid.emit(&p, &EmitContext::default()).unwrap();
    let conf = String::from_utf8(emitted.artifacts[squid::FILE].clone()).unwrap();
    let targets: Vec<(&str, u16)> = vec![
        ("api.example.test", allowed),
        ("api.example.test", undeclared),
        ("a.cdn.example.test", wildcard),
        ("x.y.cdn.example.test", wildcard),
        ("cdn.example.test", wildcard),
        ("bad.cdn.example.test", wildcard),
        ("evil.example.test", allowed),
        ("127.0.0.1", allowed),
        ("[::1]", allowed),
        ("169.254.169.254", 80),
    ];
    let requests: Vec<Request> = targets
        .iter()
        .map(|(h, port)| Request::Connect {
            host: Host::parse(h).unwrap(),
            port: *port,
        })
        .collect();
    let Some(sup) = supervisor(&p, &requests) else {
        return;
    };
    let hosts = "127.0.0.1 api.example.test a.cdn.example.test x.y.cdn.example.test cdn.example.test bad.cdn.example.test evil.example.test\n";
    let (_squid, proxy, cert) = start_squid(&squid_bin, &dir, &conf, hosts);
    // Each client sends the host as its TLS server name (none to an address), as a TLS
    // client does.
    let spec_cases: Vec<Value> = targets
        .iter()
        .map(|(h, port)| {
            let sni = Host::parse(h)
                .ok()
                .filter(|h| matches!(h, Host::Domain(_)))
                .map(|_| h.to_string());
            json!({"kind": "connect", "target": format!("{h}:{port}"), "sni": sni})
        })
        .collect();
    let spec = json!({
        "mode": "squid",
        "proxy": proxy,
        "cert": cert.display().to_string(),
        "upstream_ports": [allowed, wildcard, undeclared],
        "cases": spec_cases,
    });
    let out = cases(&dir, &spec);
    let got = out["cases"].as_array().unwrap();
    let mut agreed = 0;
    let mut declared = Vec::new();
    for (i, (target, r)) in targets.iter().zip(&requests).enumerate() {
        let by_squid = if got[i].as_str() == Some("reached") {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let by_supervisor = observed(&sup, i);
        eprintln!(
            "{r}: squid {by_squid:?} ({}), supervisor {by_supervisor:?} ({})",
            got[i], sup.evidence[i]
        );
        if by_squid == by_supervisor {
            agreed += 1;
            continue;
        }
        // The only difference squid declares for these rules: a rule on an address is
        // left out (P1301). The supervisor would have to allow that address, which it does
        // only for public ones; 127.0.0.1 it refuses as well.
        let host = Host::parse(target.0).unwrap();
        let p1301 = emitted
            .report
            .iter()
            .any(|d| d.code == Code::SquidNarrowed && d.message.contains(&host.to_string()));
        assert!(
            matches!(host, Host::Ip(_)) && p1301,
            "{r}: squid says {by_squid:?}, the supervisor {by_supervisor:?}, and squid's build report declares no difference"
        );
        declared.push(r.to_string());
    }
    assert_eq!(agreed + declared.len(), targets.len());
    assert!(agreed >= 8, "{agreed} of {} agree", targets.len());
    assert_eq!(
        observed(&sup, 0),
        Verdict::Allow,
        "the allowed connection is allowed by both"
    );
    eprintln!("{agreed} agree; declared differences: {declared:?}");
}

#[test]
fn dnsmasq_and_the_supervisor_answer_the_same_names() {
    let Some(dnsmasq_bin) = program("/usr/sbin/dnsmasq", "dnsmasq-base") else {
        return;
    };
    let (_guard, dir) = crate::tempdir();
    let p = policy(&text(993, 443));
    let emitted = dnsmasq::Dnsmasq.emit(&p, &EmitContext::default()).unwrap();
    let conf = String::from_utf8(emitted.artifacts[dnsmasq::FILE].clone()).unwrap();
    let names = [
        "api.example.test",
        "API.Example.Test",
        "x.api.example.test",
        "example.test",
        "cdn.example.test",
        "a.cdn.example.test",
        "a.b.cdn.example.test",
        "bad.cdn.example.test",
        "y.bad.cdn.example.test",
        "c2vjcmv0.attacker.example",
        "metadata.google.internal",
        "localhost",
    ];
    let requests: Vec<Request> = names
        .iter()
        .map(|n| Request::Resolve {
            host: Host::parse(n).unwrap(),
        })
        .collect();
    let Some(sup) = supervisor(&p, &requests) else {
        return;
    };
    let (_dnsmasq, port, upstream) = start_dnsmasq(&dnsmasq_bin, &dir, &conf);
    let spec_cases: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
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
    for (i, (name, r)) in names.iter().zip(&requests).enumerate() {
        let by_dnsmasq = if got[i].as_str() == Some("answered") {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let by_supervisor = observed(&sup, i);
        eprintln!(
            "{r}: dnsmasq {by_dnsmasq:?} ({}), supervisor {by_supervisor:?} ({})",
            got[i], sup.evidence[i]
        );
        assert_eq!(
            by_dnsmasq, by_supervisor,
            "{name}: dnsmasq and the supervisor differ"
        );
        if by_dnsmasq == Verdict::Deny {
            let host = Host::parse(name).unwrap().to_string();
            assert!(
                !upstream_saw.contains(&host.as_str()),
                "{name} reached dnsmasq's upstream"
            );
        }
        answered += usize::from(by_dnsmasq == Verdict::Allow);
    }
    assert_eq!(answered, 5, "{got:?}");
    assert!(
        sup.notes.iter().any(|n| n.contains(" 0 DNS queries")),
        "the supervisor asked its upstream: {:?}",
        sup.notes
    );
}
