//! The IR's JSON (what `policyc check --emit-ir` prints) reads back as the IR it was written
//! from, for every kind of rule, and keeps the form users already read.

use super::*;
use crate::{compile, NoModules, SourceMap};

/// Three policies that between them hold every kind of rule the IR has.
const EVERY_RULE: &str = r#"
/// Every fs, net, token, syscall, limit, audit and test form.
policy proxied {
    isolation container
    threats exfiltration, tampering
    data pii, confidential
    fs {
        read "~/Documents" at "/mnt/docs"
        write "/srv/out"
        exec "/opt/tool"
        scratch "/mnt/scratch" size 64MiB
        tmpfs "/tmp" size 16MiB
        deny "~/.ssh"
        deny write "~/.bashrc"
        deny exec "/srv/out/bin"
        deny read "~/Café"
        deny private
    }
    net {
        egress via proxy {
            allow "api.example.com":443 with token api
            allow "*.cdn.example.com":443
            allow "10.1.2.3":8080
            allow "[2001:db8::1]":443
            allow "bücher.example":443
            deny "*.formulas.example.com":*
            deny "192.168.0.1":*
            deny "[::1]":22
        }
        dns allow-listed-only
    }
    token api {
        audience "api.example.com"
        scope "read", "write"
        ttl 5m
        approval required
    }
    syscalls {
        default errno EACCES
        allow read, write, close, exit_group
        allow socket if arg0 == 1 and arg1 & 0xff != 2
        allow ioctl if arg1 == 0x5401
        deny kill errno EPERM
        deny clone if arg0 & 0x10000000 != 0 kill
        deny ptrace
    }
    limits { memory 512MiB; pids 64; cpus 1.5; files 256 }
    audit { reads; writes; exec; egress; dns; denials; tokens }
    test "every request form" {
        deny read "~/.ssh/id_ed25519"
        allow write "/mnt/scratch/out.csv"
        allow connect "api.example.com":443
        deny connect "x.formulas.example.com":443
        deny connect "[::1]":22
        allow resolve "api.example.com"
        deny syscall ptrace
        allow syscall socket(1, 2, 0)
    }
}

policy direct {
    isolation process
    net {
        egress direct { allow "1.2.3.4":53 }
        dns any
    }
    syscalls { default kill; allow read }
}

policy offline {
    isolation wasm
    net { egress none }
}

paths private { "~/.gnupg", "/etc/shadow" }
"#;

fn policies(src: &str) -> Vec<Policy> {
    let mut sources = SourceMap::new();
    let id = sources.add("ir.policy", src);
    let out = compile(&mut sources, id, &NoModules);
    assert!(
        !out.diagnostics.has_errors(),
        "does not compile: {:#?}",
        out.diagnostics
    );
    out.policies
}

#[test]
fn the_json_reads_back_as_the_ir_it_was_written_from() {
    let ir = policies(EVERY_RULE);
    assert_eq!(ir.len(), 3);
    let json = serde_json::to_string_pretty(&ir).unwrap();
    let back: Vec<Policy> = serde_json::from_str(&json).unwrap();
    for (a, b) in ir.iter().zip(&back) {
        assert_eq!(a.fs, b.fs, "fs of `{}`", a.name);
        assert_eq!(a.net, b.net, "net of `{}`", a.name);
        assert_eq!(a.syscalls, b.syscalls, "syscalls of `{}`", a.name);
        assert_eq!(a.tests, b.tests, "tests of `{}`", a.name);
    }
    assert_eq!(back, ir);
    // And the text is a fixed point.
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
}

/// The JSON of one egress rule of the first policy, by its host as displayed.
fn rule_json(ir: &[Policy], host: &str) -> serde_json::Value {
    let rule = ir
        .first()
        .and_then(|p| p.net.rules.iter().find(|r| r.host.to_string() == host))
        .unwrap_or_else(|| panic!("no rule for {host}"));
    serde_json::to_value(rule).unwrap()
}

#[test]
fn wildcard_hosts_keep_their_star_and_exact_hosts_keep_their_form() {
    let ir = policies(EVERY_RULE);
    let host = |h: &str| rule_json(&ir, h)["host"].clone();
    assert_eq!(host("*.formulas.example.com"), "*.formulas.example.com");
    assert_eq!(host("*.cdn.example.com"), "*.cdn.example.com");
    assert_eq!(host("api.example.com"), "api.example.com");
    assert_eq!(host("xn--bcher-kva.example"), "xn--bcher-kva.example");
    assert_eq!(host("10.1.2.3"), "10.1.2.3");
    // Addresses serialise as serde writes an `IpAddr`: IPv6 without brackets.
    assert_eq!(host("[2001:db8::1]"), "2001:db8::1");
    assert_eq!(host("[::1]"), "::1");
}

#[test]
fn malformed_json_is_refused_not_guessed() {
    let ir = policies(EVERY_RULE);
    let json = serde_json::to_string(&ir).unwrap();
    for (good, bad) in [
        ("\"*.formulas.example.com\"", "\"*.com\""),
        ("\"~/.ssh\"", "\"relative/path\""),
        ("\"api.example.com\"", "\"not a host\""),
    ] {
        assert!(json.contains(good), "{good} not in the JSON");
        let broken = json.replacen(good, bad, 1);
        assert!(
            serde_json::from_str::<Vec<Policy>>(&broken).is_err(),
            "{bad} was accepted"
        );
    }
}
