//! Unit tests: origins found in each kind of artifact point at the rule that made the entry,
//! and stamping adds comments the artifact's own reader skips.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use super::*;
use crate::{registry, EmitContext, Target};
use policyc_compiler::SourceMap;
use policyc_testkit::stdlib::{compile_text, HOME};

const SRC: &str = r#"policy mail {
    isolation container
    fs {
        read "~/Mail" at "/mail"
        scratch "/drafts" size 64MiB
    }
    net {
        egress via proxy {
            allow "imap.example.com":993
            allow "smtp.example.com":465
            allow "smtp.example.com":587
        }
        dns allow-listed-only
    }
    syscalls {
        default errno EPERM
        allow read, write, exit_group
    }
}"#;

fn build() -> (SourceMap, Policy) {
    let (sources, mut policies) = compile_text("mail.policy", SRC);
    (sources, policies.remove(0))
}

fn target(name: &str) -> &'static dyn Target {
    *registry().iter().find(|t| t.name() == name).unwrap()
}

fn emit(policy: &Policy, name: &str) -> crate::Artifacts {
    let ctx = EmitContext {
        home: Some(HOME.to_string()),
    };
    target(name).emit(policy, &ctx).unwrap().artifacts
}

/// The line of the policy source a span starts on.
fn line(sources: &SourceMap, span: Span) -> usize {
    sources.get(span.file).unwrap().line_col(span.start).0
}

/// Every origin of an artifact as (pointer or first line, policy line).
fn found(sources: &SourceMap, policy: &Policy, t: &str, path: &str) -> Vec<(String, usize)> {
    let arts = emit(policy, t);
    origins(policy, t, path, &arts[path], Some(HOME))
        .into_iter()
        .map(|o| {
            let at = o
                .pointer
                .clone()
                .unwrap_or_else(|| format!("L{}", o.lines.unwrap().0));
            (at, line(sources, o.span))
        })
        .collect()
}

#[test]
fn oci_mounts_point_at_their_mount_rules() {
    let (sources, policy) = build();
    let arts = emit(&policy, "oci");
    let config: serde_json::Value = serde_json::from_slice(&arts["oci/config.json"]).unwrap();
    let got = found(&sources, &policy, "oci", "oci/config.json");
    let mounts = config["mounts"].as_array().unwrap();
    let at = |dest: &str| {
        let i = mounts
            .iter()
            .position(|m| m["destination"] == dest)
            .unwrap();
        format!("/mounts/{i}")
    };
    assert!(got.contains(&(at("/mail"), 4)), "{got:?}");
    assert!(got.contains(&(at("/drafts"), 5)), "{got:?}");
    // Mounts every bundle has (`/proc`) come from no rule.
    assert!(!got.iter().any(|(p, _)| *p == at("/proc")), "{got:?}");
}

#[test]
fn egress_rules_are_told_apart_by_port() {
    let (sources, policy) = build();
    let got = found(&sources, &policy, "egress", "egress.json");
    let rules: Vec<&(String, usize)> = got
        .iter()
        .filter(|(p, _)| p.starts_with("/rules/"))
        .collect();
    assert_eq!(
        rules,
        [
            &("/rules/0".to_string(), 9),
            &("/rules/1".to_string(), 10),
            &("/rules/2".to_string(), 11)
        ]
    );
}

#[test]
fn json_origins_carry_the_lines_of_their_entry() {
    let (_, policy) = build();
    let arts = emit(&policy, "egress");
    let text = std::str::from_utf8(&arts["egress.json"]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for o in origins(
        &policy,
        "egress",
        "egress.json",
        text.as_bytes(),
        Some(HOME),
    ) {
        let (first, last) = o.lines.unwrap();
        assert!(first <= last && last <= lines.len());
        if o.pointer.as_deref().unwrap().starts_with("/rules/") {
            assert_eq!(lines[first - 1].trim(), "{");
            assert!(lines[last - 1].trim().starts_with('}'));
        }
    }
}

#[test]
fn seccomp_names_point_at_the_allow_and_other_targets_ignore_them() {
    let (sources, policy) = build();
    let got = found(&sources, &policy, "seccomp", "seccomp.json");
    assert!(!got.is_empty());
    assert!(got.iter().all(|(_, l)| *l == 17 || *l == 16), "{got:?}");
    // `read` is not a syscall in a text artifact.
    let keys = Keys::new(&policy, Some(HOME), false);
    assert!(keys.value("read", None).is_empty());
}

#[test]
fn home_variables_and_the_resolved_home_name_the_same_path() {
    let (_, policy) = build();
    let keys = Keys::new(&policy, Some(HOME), false);
    for spelled in [
        "~/Mail",
        "/home/user/Mail",
        "/home/user/Mail/**",
        "${home}/Mail",
        "@{HOME}/Mail/",
    ] {
        assert_eq!(keys.value(spelled, None).len(), 1, "{spelled}");
    }
    assert!(keys.value("/home/user/Mailbox", None).is_empty());
}

#[test]
fn stamped_text_reads_back_the_same_and_names_each_rule() {
    let (sources, policy) = build();
    let locate = |s: Span| format!("mail.policy:{}", line(&sources, s));
    let source = Source {
        policy: "mail",
        file: "mail.policy",
        sha256: "abc",
    };
    for (t, path) in [
        ("apparmor", "apparmor.profile"),
        ("squid", "squid.conf"),
        ("dnsmasq", "dnsmasq.conf"),
    ] {
        let arts = emit(&policy, t);
        let raw = std::str::from_utf8(&arts[path]).unwrap();
        let leader = target(t).comment_leader(path).unwrap();
        let stamped = stamp(&policy, t, raw, leader, &source, Some(HOME), &locate);
        assert!(
            stamped.starts_with(&format!(
                "# policyc {POLICYC_VERSION}: policy `mail` from `mail.policy` (sha256 abc)"
            )),
            "{stamped}"
        );
        // Without the comments it added, the stamped text is the artifact.
        let added: Vec<&str> = stamped
            .lines()
            .filter(|l| l.trim_start().starts_with("# mail.policy:") || l.contains("sha256 abc"))
            .collect();
        assert!(added.len() >= 2, "{t}: {stamped}");
        let kept: Vec<&str> = stamped.split('\n').filter(|l| !added.contains(l)).collect();
        assert_eq!(kept.join("\n"), raw, "{t}");
        // The simulator reads the stamped text as it reads the artifact.
        let mut stamped_arts = arts.clone();
        stamped_arts.insert(path.to_string(), stamped.clone().into_bytes());
        let req = policyc_compiler::Request::Connect {
            host: policyc_compiler::hosts::Host::parse("smtp.example.com").unwrap(),
            port: 587,
        };
        assert_eq!(
            target(t).simulate(&stamped_arts, &req),
            target(t).simulate(&arts, &req),
            "{t}"
        );
        // Each comment names the rule of the lines below it.
        let text_origins = origins(&policy, t, path, stamped.as_bytes(), Some(HOME));
        assert!(!text_origins.is_empty(), "{t}");
        let lines: Vec<&str> = stamped.lines().collect();
        for o in text_origins {
            let (first, _) = o.lines.unwrap();
            let comment = lines[first - 2].trim();
            assert!(comment.contains(&locate(o.span)), "{t}: {comment}");
        }
    }
}

#[test]
fn squid_rule_groups_take_their_rule_and_port() {
    let (sources, policy) = build();
    let arts = emit(&policy, "squid");
    let text = std::str::from_utf8(&arts["squid.conf"]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let origins = origins(&policy, "squid", "squid.conf", text.as_bytes(), Some(HOME));
    // Every line of the rule for port 587 (its ACLs and its access and bump lines) comes
    // from line 11 alone, though line 10 names the same host.
    let of = |needle: &str| -> Vec<usize> {
        let at = lines.iter().position(|l| l.contains(needle)).unwrap() + 1;
        origins
            .iter()
            .filter(|o| o.lines.is_some_and(|(a, b)| a <= at && at <= b))
            .map(|o| line(&sources, o.span))
            .collect()
    };
    let group = lines
        .iter()
        .find(|l| l.ends_with("port 587"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .trim_end_matches("_port")
        .to_string();
    assert_eq!(of(&format!("{group}_port port 587")), [11]);
    assert_eq!(of(&format!("{group}_host dstdomain")), [11]);
    assert_eq!(of(&format!("http_access allow {group}_host")), [11]);
    assert_eq!(of(&format!("ssl_bump splice {group}_sni")), [11]);
    assert_eq!(of("policyc_r1_host dstdomain"), [9]);
    assert!(of("http_access deny all").is_empty());
}

#[test]
fn a_wildcard_rule_group_keeps_its_apex_exception() {
    let src = r#"policy f {
    isolation process
    fs { read "/srv" }
    net {
        egress via proxy {
            allow "formulas.example.com":443
            deny "*.formulas.example.com":*
        }
        dns allow-listed-only
    }
}"#;
    let (sources, mut policies) = compile_text("f.policy", src);
    let policy = policies.remove(0);
    let arts = emit(&policy, "squid");
    let text = std::str::from_utf8(&arts["squid.conf"]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let origins = origins(&policy, "squid", "squid.conf", text.as_bytes(), Some(HOME));
    let of = |at: usize| -> Vec<usize> {
        origins
            .iter()
            .filter(|o| o.lines.is_some_and(|(a, b)| a <= at && at <= b))
            .map(|o| line(&sources, o.span))
            .collect()
    };
    let mut seen = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.contains("_apex") || l.contains(".formulas.example.com") {
            // The deny's ACLs, its apex exception included, come from the deny alone.
            assert_eq!(of(i + 1), [7], "{l}");
            seen += 1;
        }
    }
    assert!(seen >= 3, "{text}");
}

#[test]
fn every_stdlib_policy_decides_the_same_on_stamped_artifacts() {
    let mut asked = 0;
    for (sources, policy) in policyc_testkit::stdlib::policies() {
        let locate = |s: Span| format!("p.policy:{}", line(&sources, s));
        let source = Source {
            policy: &policy.name,
            file: "p.policy",
            sha256: "0",
        };
        for t in registry() {
            let ctx = EmitContext {
                home: Some(HOME.to_string()),
            };
            let Ok(emitted) = t.emit(&policy, &ctx) else {
                continue;
            };
            let mut stamped = emitted.artifacts.clone();
            for (path, bytes) in &emitted.artifacts {
                if let Some(leader) = t.comment_leader(path) {
                    let text = std::str::from_utf8(bytes).unwrap();
                    let s = stamp(
                        &policy,
                        t.name(),
                        text,
                        leader,
                        &source,
                        Some(HOME),
                        &locate,
                    );
                    // Stamping is deterministic.
                    assert_eq!(
                        s,
                        stamp(
                            &policy,
                            t.name(),
                            text,
                            leader,
                            &source,
                            Some(HOME),
                            &locate
                        )
                    );
                    stamped.insert(path.clone(), s.into_bytes());
                }
            }
            if stamped == emitted.artifacts {
                continue;
            }
            let (raw, with) = (t.simulator(&emitted.artifacts), t.simulator(&stamped));
            for case in policy.tests.iter().flat_map(|test| &test.cases) {
                assert_eq!(
                    with.simulate(&case.request),
                    raw.simulate(&case.request),
                    "{} {}: {}",
                    policy.name,
                    t.name(),
                    case.request
                );
                asked += 1;
            }
        }
    }
    assert!(asked > 100, "only {asked} requests asked");
}
