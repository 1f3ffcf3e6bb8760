//! Permanent regression tests for the AppArmor items of ADVERSARIAL.md (12 to 16), and for
//! the places where AppArmor's union-of-rules matching differs from the reference
//! semantics' longest-prefix mount resolution. Each is checked with the simulator against
//! `decide`; `host/tests/live/apparmor.rs` compiles the same profiles with `apparmor_parser`.

use crate::apparmor::check;
use crate::apparmor_common::*;
use crate::harness::requests;
use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Request};
use policyc_targets::apparmor::{self, AppArmor, Pattern, Rule};
use policyc_targets::{Emitted, Target, Verdict};
use policyc_testkit::spelling::fs;
use policyc_testkit::stdlib::Loader;

fn read(path: &str) -> Request {
    fs(Access::Read, path).unwrap()
}

fn sim(e: &Emitted, r: &Request) -> Verdict {
    AppArmor.simulate(&e.artifacts, r)
}

#[test]
fn adv12_hostile_paths_read_back_as_exactly_the_compiled_rules() {
    for c in HOSTILE {
        let (sources, policies) = compile_text("hostile.policy", &hostile_container(c));
        let policy = &policies[0];
        let e = emit(&sources, policy);
        let text = profile_text(&e);
        let back = apparmor::parse(&text).unwrap_or_else(|err| panic!("{c:?}: {err}\n{text}"));
        let guest = CanonPath::parse(&format!("/mnt/{c}")).unwrap().to_string();
        let files: Vec<_> = back
            .rules
            .iter()
            .filter_map(|r| match r {
                Rule::File(f) => Some(f),
                _ => None,
            })
            .collect();
        let allows: Vec<Pattern> = files
            .iter()
            .filter(|f| !f.deny)
            .map(|f| f.pattern.clone())
            .collect();
        let want = Pattern::literal(false, &guest);
        assert_eq!(
            allows,
            vec![want.clone(), want.with_suffix("/"), want.with_suffix("/**")],
            "{c:?}:\n{text}"
        );
        let secret = Pattern::literal(false, &format!("{guest}/secret"));
        let denies: Vec<Pattern> = files
            .iter()
            .filter(|f| f.deny && !f.pattern.literal_prefix().starts_with("/proc"))
            .filter(|f| !f.pattern.literal_prefix().starts_with("/sys"))
            .filter(|f| !f.pattern.literal_prefix().starts_with("/dev"))
            .map(|f| f.pattern.clone())
            .collect();
        assert_eq!(
            denies,
            vec![
                secret.clone(),
                secret.with_suffix("/"),
                secret.with_suffix("/**")
            ],
            "{c:?}:\n{text}"
        );
        // Every rule is on its own line: nothing was injected.
        let rule_lines = text
            .lines()
            .filter(|l| {
                l.starts_with("  ") && !l.trim_start().starts_with('#') && !l.trim().is_empty()
            })
            .count();
        assert_eq!(rule_lines, back.rules.len(), "{c:?}:\n{text}");
        // And the simulator agrees with the reference on the hostile paths.
        let reqs: Vec<Request> = [
            guest.clone(),
            format!("{guest}/x"),
            format!("{guest}/secret"),
            format!("{guest}/secret/y"),
            format!("{guest}x"),
            "/mnt".to_string(),
            "/etc/passwd".to_string(),
        ]
        .iter()
        .flat_map(|p| [Access::Read, Access::Write, Access::Exec].map(|a| fs(a, p)))
        .flatten()
        .collect();
        check(policy, &e, &reqs, true);
        assert_eq!(
            sim(&e, &read(&format!("{guest}/x"))),
            Verdict::Allow,
            "{c:?}"
        );
        assert_eq!(
            sim(&e, &read(&format!("{guest}/secret/y"))),
            Verdict::Deny,
            "{c:?}"
        );
    }
}

#[test]
fn adv12_hostile_home_paths_under_process_isolation() {
    for c in HOSTILE {
        let (sources, policies) = compile_text("hostile.policy", &hostile_process(c));
        let policy = &policies[0];
        let e = emit(&sources, policy);
        let text = profile_text(&e);
        apparmor::parse(&text).unwrap_or_else(|err| panic!("{c:?}: {err}\n{text}"));
        let mut reqs = requests(policy);
        reqs.push(read(&format!("~/{c}/x")));
        reqs.push(read(&format!("{HOME}/{c}/secret")));
        check(policy, &e, &reqs, true);
        assert_eq!(sim(&e, &read(&format!("~/{c}/x"))), Verdict::Allow, "{c:?}");
        assert_eq!(
            sim(&e, &read(&format!("~/{c}/secret/k"))),
            Verdict::Deny,
            "{c:?}"
        );
    }
}

#[test]
fn adv12_control_characters_never_reach_a_profile() {
    // The compiler refuses them (P0203) before any target runs.
    let mut sources = policyc_compiler::SourceMap::new();
    let id = sources.add(
        "p.policy",
        "policy p { isolation process\n fs { read \"/a\\nb\" } }",
    );
    let out = policyc_compiler::compile(&mut sources, id, &Loader);
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == Code::PathControlChar));
}

#[test]
fn adv13_directory_grant_does_not_match_sibling() {
    let (policy, e) = build(
        "policy p { isolation container\n fs { read \"~/Documents/Finance\" at \"/data\" } }",
    );
    let text = profile_text(&e);
    assert!(!text.contains("\"/data*"), "{text}");
    assert!(
        text.contains("  \"/data\" r,\n  \"/data/\" r,\n  \"/data/**\" r,\n"),
        "{text}"
    );
    for p in [
        "/data2",
        "/data2/x",
        "/data-evil/x",
        "/dat",
        "/database",
        "/datax/y",
    ] {
        assert_eq!(sim(&e, &read(p)), Verdict::Deny, "{p}");
    }
    for p in ["/data", "/data/x", "/data/a/b.csv"] {
        assert_eq!(sim(&e, &read(p)), Verdict::Allow, "{p}");
    }
    check(&policy, &e, &requests(&policy), true);
}

#[test]
fn adv13_the_reader_refuses_a_prefix_glob() {
    let text = "profile policyc.p flags=(mediate_deleted) {\n  \"/data*\" r,\n}\n";
    assert!(apparmor::parse(text).is_err());
}

#[test]
fn adv14_deny_wins_over_a_more_specific_grant() {
    // A grant inside a deny: the deny wins in AppArmor as in the reference semantics.
    let (policy, e) = build(
        "policy p { isolation process\n fs { read \"~\"; read \"~/.ssh/config\"; deny \"~/.ssh\" } }",
    );
    for p in [
        "~/.ssh/config",
        "~/.ssh",
        "~/.ssh/id_ed25519",
        "/home/user/.ssh/config",
    ] {
        assert_eq!(sim(&e, &read(p)), Verdict::Deny, "{p}");
    }
    assert_eq!(sim(&e, &read("~/notes.txt")), Verdict::Allow);
    assert_eq!(sim(&e, &read("~/.sshx")), Verdict::Allow);
    let text = profile_text(&e);
    assert!(
        text.contains("# read \"~/.ssh/config\": no rule, a deny covers everything it grants"),
        "{text}"
    );
    check(&policy, &e, &requests(&policy), true);
}

#[test]
fn adv14_deny_inside_a_grant_is_exact() {
    let (policy, e) = build(
        "policy p { isolation container\n fs { write \"~/Documents\" at \"/docs\"; deny write \"~/Documents/taxes\"; deny \"~/Documents/.git/hooks\" } }",
    );
    let w = |p: &str| sim(&e, &fs(Access::Write, p).unwrap());
    assert_eq!(w("/docs/taxes/2024.pdf"), Verdict::Deny);
    assert_eq!(w("/docs/taxes"), Verdict::Deny);
    assert_eq!(w("/docs/taxes2/x"), Verdict::Allow);
    assert_eq!(sim(&e, &read("/docs/taxes/2024.pdf")), Verdict::Allow);
    assert_eq!(sim(&e, &read("/docs/.git/hooks/pre-commit")), Verdict::Deny);
    assert!(e
        .report
        .iter()
        .all(|d| !d.message.contains("nested beneath")));
    check(&policy, &e, &requests(&policy), true);
}

#[test]
fn adv15_exec_grants_use_ix_never_ux() {
    let (_, e) = build("policy p { isolation process\n fs { exec \"/usr\"; exec \"/opt/tool\" } }");
    let text = profile_text(&e);
    let p = apparmor::parse(&text).unwrap();
    for r in &p.rules {
        if let Rule::File(f) = r {
            if f.perms.exec && !f.deny {
                assert!(f.perms.letters(false).ends_with("ix"), "{r:?}");
            }
        }
    }
    for line in text.lines().filter(|l| l.trim_start().starts_with('"')) {
        let perms = line.trim_end_matches(',').rsplit(' ').next().unwrap();
        assert!(!perms.contains(['u', 'U', 'p', 'P', 'c', 'C']), "{line}");
    }
    assert!(text.contains("  \"/usr/**\" rmix,\n"), "{text}");
    assert_eq!(
        sim(&e, &fs(Access::Exec, "/usr/bin/python3").unwrap()),
        Verdict::Allow
    );
}

#[test]
fn adv16_kernel_interfaces_are_denied_even_under_a_root_grant() {
    let (policy, e) = build("policy p { isolation process\n fs { write \"/\" } }");
    for (access, path) in [
        (Access::Write, "/proc/self/attr/current"),
        (Access::Write, "/proc/self/attr/apparmor/exec"),
        (Access::Write, "/proc/1/task/1/attr/current"),
        (Access::Read, "/proc/self/mem"),
        (Access::Write, "/proc/1/mem"),
        (Access::Read, "/proc/1/environ"),
        (Access::Read, "/proc/kcore"),
        (Access::Read, "/proc/kallsyms"),
        (Access::Write, "/proc/sysrq-trigger"),
        (Access::Write, "/proc/sys/kernel/core_pattern"),
        (Access::Write, "/sys/kernel/security/apparmor/.load"),
        (Access::Read, "/sys/kernel/security/apparmor/profiles"),
        (Access::Write, "/sys/fs/cgroup/x"),
        (Access::Read, "/sys/firmware/efi/efivars/x"),
        (Access::Read, "/dev/mem"),
    ] {
        assert_eq!(
            sim(&e, &fs(access, path).unwrap()),
            Verdict::Deny,
            "{} {path}",
            access.keyword()
        );
    }
    // Outside the fixed denies the root grant holds; the narrowing is reported.
    assert_eq!(sim(&e, &read("/proc/self/status")), Verdict::Allow);
    assert_eq!(sim(&e, &read("/sys/class/net/lo/mtu")), Verdict::Allow);
    assert!(e
        .report
        .iter()
        .any(|d| d.code == Code::AppArmorNarrowed && d.message.contains("/proc/*/mem")));
    // `decide` keeps `~` symbolic, outside `/`: a request inside the home is left out here.
    let reqs: Vec<Request> = requests(&policy)
        .into_iter()
        .filter(|r| !matches!(r, Request::Fs { path, .. } if path.is_home() || path.as_str().starts_with(HOME)))
        .collect();
    check(&policy, &e, &reqs, false);
}

#[test]
fn a_nested_mount_that_grants_less_gets_a_deny() {
    let (policy, e) = build(
        "policy p { isolation process\n fs { write \"/data\"; read \"/data/ro\"; exec \"/data/bin\" } }",
    );
    let w = |p: &str| sim(&e, &fs(Access::Write, p).unwrap());
    assert_eq!(w("/data/x"), Verdict::Allow);
    assert_eq!(w("/data/ro/x"), Verdict::Deny);
    assert_eq!(w("/data/ro"), Verdict::Deny);
    assert_eq!(w("/data/rox"), Verdict::Allow);
    assert_eq!(w("/data/bin/tool"), Verdict::Deny);
    assert_eq!(
        sim(&e, &fs(Access::Exec, "/data/bin/tool").unwrap()),
        Verdict::Allow
    );
    assert_eq!(
        sim(&e, &fs(Access::Exec, "/data/x").unwrap()),
        Verdict::Deny
    );
    check(&policy, &e, &requests(&policy), true);
}

#[test]
fn a_mount_nested_beneath_a_nested_deny_loses_what_it_denies_and_says_so() {
    let (policy, e) = build(
        "policy p { isolation process\n fs { write \"/data\"; read \"/data/ro\"; write \"/data/ro/out\" } }",
    );
    assert_eq!(
        sim(&e, &fs(Access::Write, "/data/ro/out/x").unwrap()),
        Verdict::Deny
    );
    assert!(e
        .report
        .iter()
        .any(|d| d.code == Code::AppArmorNarrowed && d.message.contains("/data/ro/out")));
    check(&policy, &e, &requests(&policy), false);
}

#[test]
fn container_denies_reach_only_through_bind_mounts() {
    let (policy, e) = build(
        "policy p { isolation container\n fs { read \"~/Documents\" at \"/docs\"; read \"~/Mail\" at \"/mail\"; tmpfs \"/tmp\" size 1MiB\n deny \"~/Mail\"; deny \"~/Documents/private\"; deny \"/tmp\" } }",
    );
    // A deny covering a mount's source removes the grant (no rule is written for it).
    assert_eq!(sim(&e, &read("/mail/INBOX")), Verdict::Deny);
    // A deny inside a source is denied at its guest path.
    assert_eq!(sim(&e, &read("/docs/private/x")), Verdict::Deny);
    assert_eq!(sim(&e, &read("/docs/public/x")), Verdict::Allow);
    // A host deny on `/tmp` does not reach the tmpfs at `/tmp` (it holds no host object).
    assert_eq!(
        sim(&e, &fs(Access::Write, "/tmp/x").unwrap()),
        Verdict::Allow
    );
    // `~` paths are the mount table's to decide.
    assert_eq!(sim(&e, &read("~/Mail/INBOX")), Verdict::NotMediated);
    check(&policy, &e, &requests(&policy), true);
}

#[test]
fn a_host_deny_over_a_nested_guest_mount_is_reported() {
    let (policy, e) = build(
        "policy p { isolation container\n fs { read \"~/Documents\" at \"/docs\"; read \"~/Other\" at \"/docs/private/o\"\n deny \"~/Documents/private\" } }",
    );
    // The reference allows `/docs/private/o/x` (it resolves through the nested mount, whose
    // source the deny does not cover); AppArmor's deny on `/docs/private/**` cannot carve
    // it out: narrower, and reported.
    assert_eq!(sim(&e, &read("/docs/private/o/x")), Verdict::Deny);
    assert!(e
        .report
        .iter()
        .any(|d| d.code == Code::AppArmorNarrowed && d.message.contains("nested beneath")));
    check(&policy, &e, &requests(&policy), false);
}

#[test]
fn egress_none_denies_connect_and_resolve() {
    for (sources, policy) in stdlib() {
        let Ok(e) = AppArmor.emit(&policy, &ctx()) else {
            panic!()
        };
        let connect = Request::Connect {
            host: policyc_compiler::hosts::Host::parse("example.com").unwrap(),
            port: 443,
        };
        let resolve = Request::Resolve {
            host: policyc_compiler::hosts::Host::parse("example.com").unwrap(),
        };
        let want = match (policy.isolation, policy.net.egress_none) {
            (policyc_compiler::ir::Isolation::Wasm, _) => Verdict::NotMediated,
            (_, true) => Verdict::Deny,
            (_, false) => Verdict::NotMediated,
        };
        assert_eq!(sim(&e, &connect), want, "{}", policy.name);
        assert_eq!(sim(&e, &resolve), want, "{}", policy.name);
        let _ = sources;
    }
    let (_, e) = build(
        "policy p { isolation process\n net { egress direct { deny \"evil.example\":443 }\n dns any } }",
    );
    let connect = Request::Connect {
        host: policyc_compiler::hosts::Host::parse("1.2.3.4").unwrap(),
        port: 443,
    };
    assert_eq!(sim(&e, &connect), Verdict::Deny, "no allow rule: no TCP");
    let resolve = Request::Resolve {
        host: policyc_compiler::hosts::Host::parse("example.com").unwrap(),
    };
    assert_eq!(
        sim(&e, &resolve),
        Verdict::NotMediated,
        "`dns any` needs UDP"
    );
    assert!(profile_text(&e).contains("  deny network inet stream,\n  network inet dgram,\n"));
}

#[test]
fn syscalls_are_not_mediated() {
    let (_, e) = build("policy p { isolation process\n fs { read \"/srv\" } }");
    let r = Request::Syscall {
        name: "ptrace".to_string(),
        args: [0; 6],
    };
    assert_eq!(sim(&e, &r), Verdict::NotMediated);
}

#[test]
fn a_home_mount_nested_in_an_absolute_one_is_seen_as_nested() {
    // `~/Documents` is `/home/user/Documents`: one object, so the outer `/home` grant's
    // write must not reach it, whichever way the path is written.
    let (_, e) =
        build("policy p { isolation process\n fs { write \"/home\"; read \"~/Documents\" } }");
    let w = |p: &str| sim(&e, &fs(Access::Write, p).unwrap());
    assert_eq!(w("~/Documents/a.txt"), Verdict::Deny);
    assert_eq!(w("/home/user/Documents/a.txt"), Verdict::Deny);
    assert_eq!(w("/home/other/a.txt"), Verdict::Allow);
    assert_eq!(sim(&e, &read("/home/user/Documents/a.txt")), Verdict::Allow);
    assert!(profile_text(&e).contains("  deny \"@{HOME}/Documents/**\" wlk,\n"));
}
