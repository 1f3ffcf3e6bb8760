//! Unit tests of the reference semantics. Each test is named for the rule it proves; the
//! policies are compiled from source so the tests read like the book's examples.

use super::*;
use crate::ast::Access;
use crate::ir::{DenyAction, Policy};
use crate::{compile, NoModules, SourceMap};

/// The first policy of `src`, which may have warnings but no errors.
fn policy(src: &str) -> Policy {
    let mut sources = SourceMap::new();
    let id = sources.add("eval.policy", src);
    let out = compile(&mut sources, id, &NoModules);
    assert!(
        !out.diagnostics.has_errors(),
        "policy does not compile: {:#?}",
        out.diagnostics
    );
    out.policies.into_iter().next().unwrap()
}

fn fs(p: &Policy, access: Access, path: &str) -> Decision {
    let path = CanonPath::parse(path).unwrap();
    decide(p, &Request::Fs { access, path })
}

fn can_read(p: &Policy, path: &str) -> bool {
    fs(p, Access::Read, path).allow
}

fn can_write(p: &Policy, path: &str) -> bool {
    fs(p, Access::Write, path).allow
}

fn can_exec(p: &Policy, path: &str) -> bool {
    fs(p, Access::Exec, path).allow
}

fn connect(p: &Policy, host: &str, port: u16) -> bool {
    let host = Host::parse(host).unwrap();
    decide(p, &Request::Connect { host, port }).allow
}

fn resolve(p: &Policy, host: &str) -> bool {
    let host = Host::parse(host).unwrap();
    decide(p, &Request::Resolve { host }).allow
}

fn syscall(p: &Policy, name: &str, args: &[u64]) -> Decision {
    let mut a = [0u64; 6];
    for (slot, v) in a.iter_mut().zip(args) {
        *slot = *v;
    }
    decide(
        p,
        &Request::Syscall {
            name: name.to_string(),
            args: a,
        },
    )
}

// ------------------------------------------------------------------------- filesystem

#[test]
fn the_mount_with_the_longest_guest_prefix_decides() {
    let p = policy(
        r#"policy p { isolation wasm; fs { read "/data"; write "/data/out"; read "/data/out/frozen" } }"#,
    );
    assert!(can_write(&p, "/data/out/report.csv"));
    assert!(!can_write(&p, "/data/input.csv"));
    assert!(can_read(&p, "/data/out/report.csv"));
    assert!(!can_write(&p, "/data/out/frozen/x"));
    let chosen = resolve_mount(&p, &CanonPath::parse("/data/out/a/b").unwrap()).unwrap();
    assert_eq!(chosen.guest.as_str(), "/data/out");
}

#[test]
fn a_path_outside_every_mount_is_denied() {
    let p = policy(r#"policy p { isolation wasm; fs { read "/data" } }"#);
    let d = fs(&p, Access::Read, "/etc/passwd");
    assert!(!d.allow);
    assert!(d.reason.contains("not inside any mount"), "{}", d.reason);
    assert_eq!(d.span, None);
}

#[test]
fn a_nested_tmpfs_shadows_a_read_only_mount() {
    let p = policy(
        r#"policy p { isolation wasm; fs { read "/srv/app"; tmpfs "/srv/app/cache" size 16MiB } }"#,
    );
    assert!(can_write(&p, "/srv/app/cache/blob"));
    assert!(can_read(&p, "/srv/app/cache/blob"));
    assert!(!can_exec(&p, "/srv/app/cache/blob"), "tmpfs is no-exec");
    assert!(!can_write(&p, "/srv/app/main.py"));
    assert!(!can_write(&p, "/srv/app/cache2/blob"));
}

#[test]
fn a_deny_carves_a_guest_path_out_of_a_grant() {
    let p = policy(r#"policy p { isolation wasm; fs { write "/data"; deny "/data/private" } }"#);
    assert!(!can_read(&p, "/data/private"));
    assert!(!can_read(&p, "/data/private/key.pem"));
    assert!(!can_write(&p, "/data/private/key.pem"));
    assert!(can_read(&p, "/data/public.txt"));
    assert!(
        can_read(&p, "/data/private-not/x"),
        "prefixes are component-wise"
    );
}

#[test]
fn a_deny_on_a_host_path_applies_through_the_mount_that_shows_it() {
    let p = policy(
        r#"policy p {
            isolation container
            fs { read "~/Documents" at "/mnt/docs"; deny "~/Documents/taxes" }
            syscalls { allow read }
        }"#,
    );
    assert!(can_read(&p, "/mnt/docs/notes.txt"));
    let d = fs(&p, Access::Read, "/mnt/docs/taxes/2023.pdf");
    assert!(!d.allow);
    assert!(d.reason.contains("deny ~/Documents/taxes"), "{}", d.reason);
    assert!(d.span.is_some());
    assert!(!can_read(&p, "~/Documents/taxes/2023.pdf"));
    assert!(can_read(&p, "~/Documents/notes.txt"));
}

#[test]
fn a_deny_wins_over_a_nested_grant() {
    let p = policy(
        r#"policy p { isolation wasm; fs { read "/data"; write "/data/x/inner"; deny "/data/x" } }"#,
    );
    assert!(!can_write(&p, "/data/x/inner/f"));
    assert!(!can_read(&p, "/data/x/inner/f"));
    assert!(can_read(&p, "/data/y"));
}

#[test]
fn a_deny_of_one_access_leaves_the_others() {
    let p = policy(
        r#"policy p { isolation wasm; fs { write "/data"; deny write "/data/ro"; deny read "/data/wo" } }"#,
    );
    assert!(can_read(&p, "/data/ro/x"));
    assert!(!can_write(&p, "/data/ro/x"));
    assert!(!can_read(&p, "/data/wo/x"));
    assert!(can_write(&p, "/data/wo/x"));
}

#[test]
fn a_deny_from_a_path_list_names_the_list() {
    let p = policy(
        r#"paths secrets { "~/.ssh", "~/.aws" }
        policy p { isolation container; fs { read "~" at "/home/agent"; deny secrets }; syscalls { allow read } }"#,
    );
    let d = fs(&p, Access::Read, "/home/agent/.ssh/id_ed25519");
    assert!(!d.allow);
    assert!(d.reason.contains("(from `secrets`)"), "{}", d.reason);
    assert!(!can_read(&p, "~/.aws/credentials"));
    assert!(can_read(&p, "~/.bashrc"));
}

#[test]
fn a_host_object_is_reachable_only_through_a_mount() {
    let p = policy(
        r#"policy p {
            isolation container
            fs { read "~/Documents" at "/mnt/docs"; write "~/Documents/out" at "/out" }
            syscalls { allow read }
        }"#,
    );
    assert!(can_read(&p, "~/Documents/a.txt"));
    assert!(!can_write(&p, "~/Documents/a.txt"), "reached read-only");
    assert!(
        can_write(&p, "~/Documents/out/r.csv"),
        "reached writable through /out"
    );
    let d = fs(&p, Access::Read, "~/.ssh/id_ed25519");
    assert!(!d.allow);
    assert!(d.reason.contains("no mount reaches"), "{}", d.reason);
    assert!(!can_read(&p, "~/Documents2/a.txt"));
    assert!(!can_read(&p, "~"));
}

#[test]
fn a_host_object_hidden_by_a_nested_mount_is_not_reachable() {
    // The tmpfs at /mnt/docs/tmp hides ~/Documents/tmp: the program sees the tmpfs there.
    let p = policy(
        r#"policy p {
            isolation container
            fs { read "~/Documents" at "/mnt/docs"; tmpfs "/mnt/docs/tmp" size 1MiB }
            syscalls { allow read }
        }"#,
    );
    assert!(!can_read(&p, "~/Documents/tmp/secret.txt"));
    assert!(!can_write(&p, "~/Documents/tmp/secret.txt"));
    assert!(can_write(&p, "/mnt/docs/tmp/scratch.txt"));
    assert!(can_read(&p, "~/Documents/notes.txt"));
}

#[test]
fn under_process_isolation_home_paths_are_the_paths_the_program_uses() {
    let p =
        policy(r#"policy p { isolation process; fs { read "~/notes" }; syscalls { allow read } }"#);
    assert!(can_read(&p, "~/notes/today.md"));
    assert!(!can_read(&p, "~/other"));
    assert!(!can_write(&p, "~/notes/today.md"));
}

#[test]
fn a_sibling_with_a_longer_name_does_not_match() {
    let p = policy(r#"policy p { isolation wasm; fs { read "/data" } }"#);
    assert!(can_read(&p, "/data/x"));
    assert!(!can_read(&p, "/data2/x"));
    assert!(!can_read(&p, "/dat"));
    let p =
        policy(r#"policy p { isolation wasm; fs { read "/data2"; read "/data"; deny "/data" } }"#);
    assert!(can_read(&p, "/data2/x"), "deny /data leaves /data2 alone");
    assert!(!can_read(&p, "/data/x"));
}

#[test]
fn exec_is_granted_only_by_exec_mounts() {
    let p = policy(
        r#"policy p { isolation wasm; fs { exec "/usr/bin"; read "/data"; write "/out" } }"#,
    );
    assert!(can_exec(&p, "/usr/bin/python3"));
    assert!(
        can_read(&p, "/usr/bin/python3"),
        "exec mounts are read-execute"
    );
    assert!(!can_write(&p, "/usr/bin/python3"));
    assert!(!can_exec(&p, "/data/tool"));
    assert!(
        !can_exec(&p, "/out/dropped"),
        "write mounts are not executable"
    );
    assert!(can_write(&p, "/out/dropped"));
}

#[test]
fn scratch_is_read_write_but_never_exec() {
    let p = policy(r#"policy p { isolation wasm; fs { scratch "/mnt/scratch" size 64MiB } }"#);
    assert!(can_read(&p, "/mnt/scratch/f"));
    assert!(can_write(&p, "/mnt/scratch/f"));
    assert!(!can_exec(&p, "/mnt/scratch/f"));
}

// ---------------------------------------------------------------------------- network

#[test]
fn egress_none_denies_every_connect_and_resolve() {
    for src in [
        "policy p { isolation wasm; net { egress none } }",
        "policy p { isolation wasm }",
    ] {
        let p = policy(src);
        assert!(!connect(&p, "example.com", 443), "{src}");
        assert!(!connect(&p, "127.0.0.1", 80), "{src}");
        assert!(!resolve(&p, "example.com"), "{src}");
    }
}

#[test]
fn a_wildcard_matches_strict_subdomains_only() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "*.example.com":443 } } }"#,
    );
    assert!(connect(&p, "api.example.com", 443));
    assert!(connect(&p, "a.b.example.com", 443));
    assert!(!connect(&p, "example.com", 443));
    assert!(!connect(&p, "evil-example.com", 443));
    assert!(!connect(&p, "example.com.evil.org", 443));
    assert!(!connect(&p, "api.example.com", 80), "the port must match");
}

#[test]
fn an_exact_host_does_not_match_its_subdomains() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "example.com":* } } }"#,
    );
    assert!(connect(&p, "example.com", 1));
    assert!(connect(&p, "example.com", 65535));
    assert!(!connect(&p, "www.example.com", 443));
}

#[test]
fn every_spelling_of_an_ipv4_address_is_the_same_host() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "127.0.0.1":8080 } } }"#,
    );
    for spelling in [
        "127.0.0.1",
        "0x7f.1",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
    ] {
        assert!(connect(&p, spelling, 8080), "{spelling}");
    }
    assert!(!connect(&p, "127.0.0.2", 8080));
    let p =
        policy(r#"policy p { isolation wasm; net { egress via proxy { allow "0x7f.1":8080 } } }"#);
    assert!(
        connect(&p, "127.0.0.1", 8080),
        "policy-side spellings fold too"
    );
}

#[test]
fn host_names_fold_case_and_a_trailing_dot() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "api.example.com":443 } } }"#,
    );
    assert!(connect(&p, "API.Example.COM", 443));
    assert!(connect(&p, "api.example.com.", 443));
    assert!(connect(&p, "API.EXAMPLE.COM.", 443));
    assert!(resolve(&p, "Api.Example.Com."));
}

#[test]
fn deny_rules_beat_allow_rules() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy {
            allow "*.example.com":443
            deny "evil.example.com"
            deny "pay.example.com":443
            allow "pay.example.com":8443
        } } }"#,
    );
    assert!(connect(&p, "good.example.com", 443));
    assert!(!connect(&p, "evil.example.com", 443));
    assert!(!connect(&p, "pay.example.com", 443));
    assert!(
        connect(&p, "pay.example.com", 8443),
        "a deny with a port leaves other ports"
    );
}

#[test]
fn dns_allow_listed_only_resolves_exactly_the_allowed_hosts() {
    let p = policy(
        r#"policy p { isolation wasm; net {
            egress via proxy {
                allow "api.example.com":443
                allow "*.cdn.example.net":443
                deny "bad.cdn.example.net"
                deny "slow.cdn.example.net":443
            }
            dns allow-listed-only
        } }"#,
    );
    assert!(resolve(&p, "api.example.com"));
    assert!(resolve(&p, "x.cdn.example.net"));
    assert!(!resolve(&p, "cdn.example.net"));
    assert!(!resolve(&p, "other.example.com"));
    assert!(!resolve(&p, "bad.cdn.example.net"), "a deny on every port");
    assert!(
        resolve(&p, "slow.cdn.example.net"),
        "a deny on one port does not block the name"
    );
}

#[test]
fn dns_any_resolves_everything_and_dns_none_nothing() {
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "a.example.com":443 }; dns any } }"#,
    );
    assert!(resolve(&p, "anything.example.org"));
    let p = policy(
        r#"policy p { isolation wasm; net { egress via proxy { allow "a.example.com":443 }; dns none } }"#,
    );
    assert!(!resolve(&p, "a.example.com"));
    assert!(connect(&p, "a.example.com", 443));
}

// --------------------------------------------------------------------------- syscalls

#[test]
fn a_syscall_deny_wins_over_an_allow() {
    let p = policy(
        "policy p { isolation process; syscalls { allow read, personality; deny personality errno EACCES } }",
    );
    let d = syscall(&p, "personality", &[]);
    assert!(!d.allow);
    assert_eq!(d.action, Some(DenyAction::Errno(13)));
    assert!(syscall(&p, "read", &[]).allow);
}

#[test]
fn a_conditional_syscall_deny_wins_only_when_it_holds() {
    let p = policy(
        "policy p { isolation process; syscalls { allow clone; deny clone if arg0 & 0x10000000 != 0 errno EPERM } }",
    );
    assert!(syscall(&p, "clone", &[0x11]).allow);
    let d = syscall(&p, "clone", &[0x1000_0011]);
    assert!(!d.allow);
    assert_eq!(d.action, Some(DenyAction::Errno(1)));
}

#[test]
fn a_deny_from_a_set_member_wins_over_the_set() {
    let p = policy(
        "syscalls tools { read, write, ptrace }
         policy p { isolation process; syscalls { allow tools; deny ptrace kill } }",
    );
    assert!(syscall(&p, "write", &[]).allow);
    assert_eq!(syscall(&p, "ptrace", &[]).action, Some(DenyAction::Kill));
}

#[test]
fn conditions_compare_arguments() {
    let p = policy(
        "policy p { isolation process; syscalls {
            allow socket if arg0 == 2
            allow socket if arg0 == 10 and arg1 < 4
        } }",
    );
    assert!(syscall(&p, "socket", &[2]).allow);
    assert!(syscall(&p, "socket", &[2, 99]).allow);
    assert!(syscall(&p, "socket", &[10, 3]).allow);
    assert!(!syscall(&p, "socket", &[10, 4]).allow, "`and` needs both");
    let d = syscall(&p, "socket", &[16]);
    assert!(!d.allow);
    assert_eq!(d.action, Some(DenyAction::Errno(1)));
    assert!(d.reason.contains("conditions"), "{}", d.reason);
}

#[test]
fn masked_conditions_compare_only_the_masked_bits() {
    let p = policy("policy p { isolation process; syscalls { allow socket if arg1 & 0xff == 1 } }");
    assert!(syscall(&p, "socket", &[2, 1]).allow);
    assert!(
        syscall(&p, "socket", &[2, 0x80001]).allow,
        "SOCK_STREAM|SOCK_CLOEXEC"
    );
    assert!(!syscall(&p, "socket", &[2, 2]).allow);
    assert!(!syscall(&p, "socket", &[2, 0x102]).allow);
}

#[test]
fn every_comparison_operator_holds_as_written() {
    for (op, holds_for, fails_for) in [
        ("==", 5, 6),
        ("!=", 6, 5),
        ("<", 4, 5),
        ("<=", 5, 6),
        (">", 6, 5),
        (">=", 5, 4),
    ] {
        let p = policy(&format!(
            "policy p {{ isolation process; syscalls {{ allow read if arg2 {op} 5 }} }}"
        ));
        assert!(syscall(&p, "read", &[0, 0, holds_for]).allow, "{op}");
        assert!(!syscall(&p, "read", &[0, 0, fails_for]).allow, "{op}");
    }
}

#[test]
fn the_default_action_answers_unlisted_syscalls() {
    let p = policy("policy p { isolation process; syscalls { allow read } }");
    let d = syscall(&p, "openat", &[]);
    assert!(!d.allow);
    assert_eq!(d.action, Some(DenyAction::Errno(1)));
    assert_eq!(d.span, None);
    let p = policy("policy p { isolation process; syscalls { default errno ENOSYS; allow read } }");
    assert_eq!(
        syscall(&p, "openat", &[]).action,
        Some(DenyAction::Errno(38))
    );
    let p = policy("policy p { isolation process; syscalls { default kill; allow read } }");
    assert_eq!(syscall(&p, "openat", &[]).action, Some(DenyAction::Kill));
    assert_eq!(syscall(&p, "read", &[]).action, None);
}

// ------------------------------------------------------------------------------ tests

#[test]
fn run_tests_counts_passes_and_failures() {
    let p = policy(
        r#"policy p {
            isolation wasm
            fs { read "/data" }
            test "reads" {
                allow read "/data/a"
                deny write "/data/a"
            }
            test "wrong on purpose" {
                allow write "/data/a"
                deny read "/data/b"
                deny connect "example.com":443
            }
        }"#,
    );
    let outcomes = run_tests(&p);
    assert_eq!(outcomes.len(), 5);
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    assert_eq!(passed, 3);
    let failed: Vec<(&str, &str)> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| (o.test.as_str(), o.request.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("wrong on purpose", "write \"/data/a\""),
            ("wrong on purpose", "read \"/data/b\""),
        ]
    );
    assert!(outcomes.iter().take(2).all(|o| o.test == "reads"));
}

#[test]
fn run_tests_decides_every_kind_of_request() {
    let p = policy(
        r#"policy p {
            isolation process
            fs { read "/data" }
            net { egress via proxy { allow "api.example.com":443 } }
            syscalls { allow read; allow socket if arg0 == 2 }
            test "all kinds" {
                allow read "/data/x"
                allow connect "API.example.com.":443
                deny connect "api.example.com":80
                allow resolve "api.example.com"
                deny resolve "example.org"
                allow syscall socket(2, 1)
                deny syscall socket(10)
                deny syscall openat
            }
        }"#,
    );
    let outcomes = run_tests(&p);
    assert_eq!(outcomes.len(), 8);
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{}: {}", o.request, o.decision.reason))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_policy_without_tests_has_no_outcomes() {
    let p = policy("policy p { isolation wasm }");
    assert!(run_tests(&p).is_empty());
}

#[test]
fn denies_name_host_objects_not_guest_paths_under_container_isolation() {
    let p = policy(
        r#"policy p { isolation container; fs { read "~/Docs" at "/tmp/docs"; tmpfs "/tmp" size 1MiB; deny "/tmp"; deny "~/Docs/private" } }"#,
    );
    // The tmpfs holds no host object, so the host path `/tmp` does not reach it.
    assert!(can_write(&p, "/tmp/work.txt"));
    // The bind mount maps `~/Docs`; its `private` folder is denied through it.
    assert!(can_read(&p, "/tmp/docs/a.txt"));
    assert!(!can_read(&p, "/tmp/docs/private/a.txt"));
    assert!(!can_read(&p, "~/Docs/private/a.txt"));
}

#[test]
fn denies_match_the_path_itself_under_process_isolation() {
    let p = policy(
        r#"policy p { isolation process; fs { scratch "/tmp/s" size 1MiB; deny "/tmp/s/keep" } }"#,
    );
    assert!(can_write(&p, "/tmp/s/a"));
    assert!(!can_write(&p, "/tmp/s/keep/a"));
}

/// `decide_at` with the home `/home/u`.
fn at_home(p: &Policy, access: Access, path: &str) -> bool {
    let path = CanonPath::parse_request(path).unwrap();
    let home = CanonPath::parse("/home/u").unwrap();
    decide_at(p, &Request::Fs { access, path }, Some(&home)).allow
}

#[test]
fn with_a_home_an_absolute_path_and_its_tilde_spelling_name_the_same_file() {
    let p = policy(
        "policy p {\n isolation process\n fs {\n read \"/\"\n write \"~/out\"\n deny \"~/.ssh\"\n deny write \"/home/u/out/keep\"\n }\n}\n",
    );
    for (path, read, write) in [
        ("~/notes.txt", true, false),
        ("/home/u/notes.txt", true, false),
        ("~/.ssh/id_rsa", false, false),
        ("/home/u/.ssh/id_rsa", false, false),
        ("~/out/a", true, true),
        ("/home/u/out/a", true, true),
        ("~/out/keep", true, false),
        ("/home/u/out/keep", true, false),
        ("/etc/passwd", true, false),
    ] {
        assert_eq!(at_home(&p, Access::Read, path), read, "read {path}");
        assert_eq!(at_home(&p, Access::Write, path), write, "write {path}");
    }
    // Without a home, `~` stays symbolic: `/` holds no `~` path.
    assert!(!can_read(&p, "~/notes.txt"));
}

#[test]
fn with_a_home_a_container_mount_of_its_parent_reaches_a_home_object() {
    let p = policy("policy p {\n isolation container\n fs {\n read \"/home\" at \"/h\"\n }\n}\n");
    assert!(at_home(&p, Access::Read, "~/notes.txt"));
    assert!(!at_home(&p, Access::Write, "~/notes.txt"));
    assert!(at_home(&p, Access::Read, "/h/u/notes.txt"));
    let path = CanonPath::parse_request("~/notes.txt").unwrap();
    let read = Request::Fs {
        access: Access::Read,
        path,
    };
    assert!(
        !decide(&p, &read).allow,
        "symbolic `~` is not under `/home`"
    );
}
