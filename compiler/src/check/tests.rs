//! Unit tests of the checker: the IR valid policies lower to, include and `use` resolution,
//! threat escalation, and how diagnostics are ordered.

use super::*;
use crate::ast::{Access, CmpOp, DnsMode, EgressVia};
use crate::diag::Severity;
use crate::hosts::{Host, HostPattern};
use crate::ir::{ArgCond, AuditItem, DataClass, DenyAction, Isolation, MountKind, Threat};
use crate::paths::CanonPath;
use crate::request::Request;
use std::net::{IpAddr, Ipv4Addr};

/// A loader over an in-memory table: `("std::x", text)` serves `use std::x`.
struct Modules(Vec<(&'static str, &'static str)>);

impl ModuleLoader for Modules {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let key = path.join("::");
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(k, t)| (format!("{}.policy", k.replace("::", "/")), t.to_string()))
    }
}

/// A loader with infinitely many modules, each importing the next.
struct Endless;

impl ModuleLoader for Endless {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let n: u64 = path.last()?.strip_prefix('m')?.parse().ok()?;
        Some((format!("m{n}.policy"), format!("use std::m{}\n", n + 1)))
    }
}

fn compile_with(src: &str, loader: &dyn ModuleLoader) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("test.policy", src);
    compile(&mut sources, id, loader)
}

fn run(src: &str) -> Compiled {
    compile_with(src, &NoModules)
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

/// The one policy of a source that must compile without any diagnostic.
fn clean_with(src: &str, loader: &dyn ModuleLoader) -> ir::Policy {
    let c = compile_with(src, loader);
    assert!(
        c.diagnostics.is_empty(),
        "unexpected diagnostics: {:#?}",
        c.diagnostics
    );
    assert_eq!(c.policies.len(), 1);
    c.policies.into_iter().next().unwrap()
}

fn clean(src: &str) -> ir::Policy {
    clean_with(src, &NoModules)
}

fn cp(s: &str) -> CanonPath {
    CanonPath::parse(s).unwrap()
}

fn domain(s: &str) -> HostPattern {
    HostPattern::Exact(Host::Domain(s.to_string()))
}

fn find(c: &Compiled, code: Code) -> Vec<&Diagnostic> {
    c.diagnostics.iter().filter(|d| d.code == code).collect()
}

// ------------------------------------------------------------------------- filesystem

#[test]
fn mounts_are_canonical_and_sorted_by_guest_path() {
    let p = clean(
        r#"policy p {
            isolation container
            fs {
                tmpfs "/tmp/" size 64MiB
                write "/srv//out/." at "/out"
                read "~/Documents/" at "/mnt/docs/"
                exec "/usr/bin"
                scratch "/mnt/scratch" size 256MiB
            }
            syscalls { allow read }
        }"#,
    );
    assert_eq!(p.isolation, Isolation::Container);
    let guests: Vec<&str> = p.fs.mounts.iter().map(|m| m.guest.as_str()).collect();
    assert_eq!(
        guests,
        ["/mnt/docs", "/mnt/scratch", "/out", "/tmp", "/usr/bin"]
    );
    let kinds: Vec<&MountKind> = p.fs.mounts.iter().map(|m| &m.kind).collect();
    assert_eq!(
        kinds,
        [
            &MountKind::Bind {
                host: cp("~/Documents"),
                access: Access::Read
            },
            &MountKind::Scratch { size: 256 << 20 },
            &MountKind::Bind {
                host: cp("/srv/out"),
                access: Access::Write
            },
            &MountKind::Tmpfs { size: 64 << 20 },
            &MountKind::Bind {
                host: cp("/usr/bin"),
                access: Access::Exec
            },
        ]
    );
}

#[test]
fn a_mount_without_at_is_seen_at_its_host_path() {
    let p = clean(r#"policy p { isolation wasm; fs { read "/data/./in/" } }"#);
    assert_eq!(p.fs.mounts.len(), 1);
    assert_eq!(p.fs.mounts[0].guest, cp("/data/in"));
    assert_eq!(p.fs.mounts[0].host(), Some(&cp("/data/in")));
}

#[test]
fn process_isolation_keeps_home_paths_and_accepts_an_identical_at() {
    let p = clean(
        r#"policy p {
            isolation process
            fs { read "~/notes"; write "/data" at "/data/" }
            syscalls { allow read }
        }"#,
    );
    let guests: Vec<&str> = p.fs.mounts.iter().map(|m| m.guest.as_str()).collect();
    assert_eq!(guests, ["/data", "~/notes"]);
}

#[test]
fn home_mounts_need_a_guest_path_outside_process_isolation() {
    for iso in ["container", "wasm"] {
        let c = run(&format!(
            r#"policy p {{ isolation {iso}; fs {{ read "~/notes" }} }}"#
        ));
        assert_eq!(codes(&c), ["P0206"], "{iso}");
        assert!(c.policies.is_empty());
    }
}

#[test]
fn denies_expand_path_lists_and_keep_their_access() {
    let p = clean(
        r#"
        paths secrets { "~/.ssh", "~/.aws/", }
        policy p {
            isolation wasm
            fs {
                read "~" at "/home"
                deny secrets
                deny write "~/.bashrc"
                deny exec "/home/bin"
            }
        }"#,
    );
    let denies: Vec<(&str, Vec<Access>, Option<&str>)> =
        p.fs.denies
            .iter()
            .map(|d| {
                (
                    d.path.as_str(),
                    d.access.iter().copied().collect(),
                    d.list.as_deref(),
                )
            })
            .collect();
    let all = vec![Access::Read, Access::Write, Access::Exec];
    assert_eq!(
        denies,
        [
            ("/home/bin", vec![Access::Exec], None),
            ("~/.aws", all.clone(), Some("secrets")),
            ("~/.bashrc", vec![Access::Write], None),
            ("~/.ssh", all, Some("secrets")),
        ]
    );
}

#[test]
fn deny_of_an_access_applies_that_access_to_a_whole_list() {
    let p = clean(
        r#"paths dotfiles { "~/.bashrc", "~/.profile" }
        policy p { isolation wasm; fs { read "~" at "/home"; deny write dotfiles } }"#,
    );
    assert!(p
        .fs
        .denies
        .iter()
        .all(|d| d.access.iter().eq([Access::Write].iter())));
    assert_eq!(p.fs.denies.len(), 2);
}

#[test]
fn two_mounts_at_one_guest_path_collide() {
    let c = run(r#"policy p { isolation wasm; fs { read "/a" at "/m"; write "/b" at "/m/" } }"#);
    assert_eq!(codes(&c), ["P0505"]);
}

// ------------------------------------------------------------------------------ network

#[test]
fn egress_rules_are_normalised_with_denies_first() {
    let p = clean(
        r#"policy p {
            isolation wasm
            net {
                egress via proxy {
                    allow "API.Example.COM.":443
                    allow "*.Example.org":*
                    allow "0x7f.1:8080"
                    deny "evil.example.com"
                }
                egress direct { allow "[::ffff:10.0.0.1]":22 }
            }
        }"#,
    );
    assert!(!p.net.egress_none);
    let rules: Vec<(bool, &HostPattern, Option<u16>, EgressVia)> = p
        .net
        .rules
        .iter()
        .map(|r| (r.allow, &r.host, r.port, r.via))
        .collect();
    let loopback = HostPattern::Exact(Host::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
    let ten = HostPattern::Exact(Host::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
    let sub = HostPattern::Subdomains("example.org".to_string());
    let mut expected = vec![
        (true, &loopback, Some(8080), EgressVia::Proxy),
        (true, &ten, Some(22), EgressVia::Direct),
        (true, &sub, None, EgressVia::Proxy),
    ];
    let api = domain("api.example.com");
    let evil = domain("evil.example.com");
    expected.push((true, &api, Some(443), EgressVia::Proxy));
    expected.sort_by(|a, b| (a.1, a.2).cmp(&(b.1, b.2)));
    expected.insert(0, (false, &evil, None, EgressVia::Proxy));
    assert_eq!(rules, expected);
}

#[test]
fn no_net_block_means_no_egress_and_no_dns() {
    let p = clean("policy p { isolation wasm }");
    assert!(p.net.egress_none);
    assert!(p.net.rules.is_empty());
    assert_eq!(p.net.dns, DnsMode::None);
}

#[test]
fn egress_none_means_dns_none() {
    let p = clean("policy p { isolation wasm; net { egress none } }");
    assert!(p.net.egress_none);
    assert_eq!(p.net.dns, DnsMode::None);
    let p = clean("policy p { isolation wasm; net { egress none; dns none } }");
    assert_eq!(p.net.dns, DnsMode::None);
}

#[test]
fn egress_rules_default_dns_to_allow_listed_only() {
    let p = clean(
        r#"policy p { isolation wasm; net { egress via proxy { allow "a.example.com":443 } } }"#,
    );
    assert!(!p.net.egress_none);
    assert_eq!(p.net.dns, DnsMode::AllowListedOnly);
    let p = clean(
        r#"policy p { isolation wasm; net { egress via proxy { allow "a.example.com":443 }; dns any } }"#,
    );
    assert_eq!(p.net.dns, DnsMode::Any);
}

#[test]
fn dns_other_than_none_contradicts_egress_none() {
    for mode in ["any", "allow-listed-only"] {
        let c = run(&format!(
            "policy p {{ isolation wasm; net {{ egress none; dns {mode} }} }}"
        ));
        assert_eq!(codes(&c), ["P0314"], "{mode}");
    }
}

#[test]
fn egress_none_contradicts_egress_rules() {
    let c = run(
        r#"policy p { isolation wasm; net { egress none; egress via proxy { allow "a.example.com":443 } } }"#,
    );
    assert_eq!(codes(&c), ["P0314"]);
}

#[test]
fn a_token_used_by_an_egress_rule_is_lowered() {
    let p = clean(
        r#"
        token shared { audience "api.example.com"; ttl 10m; scope "write", "read", "read" }
        policy p {
            isolation wasm
            token own { audience "*.example.org"; ttl 30s; approval required }
            net {
                egress via proxy {
                    allow "api.example.com":443 with token shared
                    allow "files.example.org":443 with token own
                }
            }
        }"#,
    );
    let shared = &p.tokens["shared"];
    assert_eq!(shared.audience, "api.example.com");
    assert_eq!(shared.scopes, ["read", "write"]);
    assert_eq!(shared.ttl_ms, 600_000);
    assert!(!shared.approval);
    let own = &p.tokens["own"];
    assert_eq!(own.ttl_ms, 30_000);
    assert!(own.approval);
    assert_eq!(p.tokens.len(), 2);
}

// ----------------------------------------------------------------------------- syscalls

#[test]
fn syscall_sets_expand_recursively_across_modules() {
    let loader = Modules(vec![
        ("std::base", "syscalls base { read, write, close }"),
        (
            "std::python",
            "use std::base\nsyscalls python { base, openat, mmap }",
        ),
    ]);
    let p = clean_with(
        "use std::python\npolicy p { isolation process; syscalls { allow python, getpid } }",
        &loader,
    );
    let names: Vec<&str> = p.syscalls.rules.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["close", "getpid", "mmap", "openat", "read", "write"]
    );
    assert!(p.syscalls.rules.values().all(|r| r.unconditional()));
}

#[test]
fn deny_wins_and_carries_its_action() {
    let c = run("policy p { isolation process; syscalls {
            allow read, write, personality
            deny personality errno EACCES
            deny keyctl kill
            deny bpf
        } }");
    assert_eq!(codes(&c), ["P0503"]);
    let p = &c.policies[0];
    let r = &p.syscalls.rules;
    let deny = |name: &str| r[name].deny_for(&[0; 6]);
    assert_eq!(deny("personality"), Some(DenyAction::Errno(13)));
    assert!(r["personality"].always_denied());
    assert!(!r["personality"].allow.is_empty());
    assert_eq!(deny("keyctl"), Some(DenyAction::Kill));
    assert_eq!(deny("bpf"), Some(DenyAction::Errno(1)));
    assert_eq!(deny("read"), None);
    assert!(r["read"].deny.is_empty());
}

#[test]
fn a_deny_without_an_action_takes_the_policy_default() {
    // The default may come after the deny.
    let p = clean(
        "policy p { isolation process; syscalls { allow read; deny bpf; default errno ENOSYS } }",
    );
    assert_eq!(
        p.syscalls.rules["bpf"].deny_for(&[0; 6]),
        Some(DenyAction::Errno(38))
    );
    let p =
        clean("policy p { isolation process; syscalls { default kill; allow read; deny bpf } }");
    assert_eq!(
        p.syscalls.rules["bpf"].deny_for(&[0; 6]),
        Some(DenyAction::Kill)
    );
}

#[test]
fn a_conditional_deny_applies_only_when_it_holds() {
    let p = clean(
        "policy p { isolation process; syscalls { allow clone; deny clone if arg0 & 0x10000000 != 0 errno EPERM } }",
    );
    let clone = &p.syscalls.rules["clone"];
    assert!(!clone.always_denied());
    assert_eq!(
        clone.deny_for(&[0x1000_0000, 0, 0, 0, 0, 0]),
        Some(DenyAction::Errno(1))
    );
    assert_eq!(clone.deny_for(&[0x11, 0, 0, 0, 0, 0]), None);
}

#[test]
fn a_conditional_deny_of_a_set_is_rejected() {
    let c = run("syscalls procs { clone, fork }\npolicy p { isolation process; syscalls { allow read; deny procs if arg0 == 1 } }");
    assert_eq!(codes(&c), ["P0318"]);
}

#[test]
fn denying_a_member_of_an_allowed_set_is_not_a_conflict() {
    let p = clean(
        "syscalls tools { read, write, ptrace }
         policy p { isolation process; syscalls { allow tools; deny ptrace } }",
    );
    assert!(p.syscalls.rules["ptrace"].always_denied());
}

#[test]
fn the_default_action_is_eperm_unless_set() {
    let p = clean("policy p { isolation process; syscalls { allow read } }");
    assert_eq!(p.syscalls.default, DenyAction::Errno(1));
    for (src, want) in [
        ("default errno EACCES", DenyAction::Errno(13)),
        ("default errno 38", DenyAction::Errno(38)),
        ("default errno 0x26", DenyAction::Errno(38)),
        ("default kill", DenyAction::Kill),
    ] {
        let p = clean(&format!(
            "policy p {{ isolation process; syscalls {{ {src}; allow read }} }}"
        ));
        assert_eq!(p.syscalls.default, want, "{src}");
    }
}

#[test]
fn errno_numbers_outside_1_to_4095_are_rejected() {
    for n in ["0", "4096"] {
        let c = run(&format!(
            "policy p {{ isolation process; syscalls {{ default errno {n}; allow read }} }}"
        ));
        assert_eq!(codes(&c), ["P0308"], "{n}");
    }
}

#[test]
fn a_second_default_is_a_repeated_statement() {
    let c =
        run("policy p { isolation process; syscalls { default kill; default kill; allow read } }");
    assert_eq!(codes(&c), ["P0314"]);
}

#[test]
fn conditions_become_alternatives() {
    let p = clean(
        "policy p { isolation process; syscalls {
            allow socket if arg0 == 1 and arg1 & 0xff != 2
            allow socket if arg0 >= 10
            allow read
        } }",
    );
    let socket = &p.syscalls.rules["socket"];
    assert!(!socket.unconditional());
    assert_eq!(
        socket.allow,
        [
            vec![
                ArgCond {
                    arg: 0,
                    mask: None,
                    op: CmpOp::Eq,
                    value: 1
                },
                ArgCond {
                    arg: 1,
                    mask: Some(0xff),
                    op: CmpOp::Ne,
                    value: 2
                },
            ],
            vec![ArgCond {
                arg: 0,
                mask: None,
                op: CmpOp::Ge,
                value: 10
            }],
        ]
    );
    assert!(p.syscalls.rules["read"].unconditional());
}

#[test]
fn an_unconditional_allow_makes_a_conditional_one_redundant_but_both_are_kept() {
    let p = clean(
        "policy p { isolation process; syscalls { allow socket if arg0 == 1; allow socket } }",
    );
    let socket = &p.syscalls.rules["socket"];
    assert!(socket.unconditional());
    assert_eq!(socket.allow.len(), 2);
}

#[test]
fn ambiguous_set_names_and_set_cycles_are_errors() {
    let c = run("syscalls read { write }\npolicy p { isolation process; syscalls { allow read } }");
    assert_eq!(codes(&c), ["P0109"]);
    let c = run(
        "syscalls a { read, b }\nsyscalls b { a }\npolicy p { isolation process; syscalls { allow a } }",
    );
    assert_eq!(codes(&c), ["P0108"]);
    let c = run("syscalls a { a }\npolicy p { isolation process; syscalls { allow a } }");
    assert_eq!(codes(&c), ["P0108"]);
}

#[test]
fn wasm_needs_no_syscalls_but_process_and_container_do() {
    clean("policy p { isolation wasm }");
    for iso in ["process", "container"] {
        let c = run(&format!("policy p {{ isolation {iso} }}"));
        assert_eq!(codes(&c), ["P0407"], "{iso}");
        assert_eq!(c.policies.len(), 1, "a warning keeps the policy");
    }
}

// ------------------------------------------------------------------ other statements

#[test]
fn threats_data_audit_and_limits_are_lowered() {
    let p = clean(
        "policy p {
            isolation wasm
            threats exfiltration, denial_of_service
            data pii, financial, pii
            audit { writes; egress, denials }
            limits { memory 512MiB; pids 64; cpus 1.5; files 1024 }
        }",
    );
    assert_eq!(
        p.threats.iter().copied().collect::<Vec<_>>(),
        [Threat::Exfiltration, Threat::DenialOfService]
    );
    assert_eq!(
        p.data.iter().copied().collect::<Vec<_>>(),
        [DataClass::Pii, DataClass::Financial]
    );
    assert_eq!(
        p.audit.iter().copied().collect::<Vec<_>>(),
        [AuditItem::Writes, AuditItem::Egress, AuditItem::Denials]
    );
    assert_eq!(p.limits.memory, Some(512 << 20));
    assert_eq!(p.limits.pids, Some(64));
    assert_eq!(p.limits.millicpus, Some(1500));
    assert_eq!(p.limits.files, Some(1024));
}

#[test]
fn limits_reject_wrong_kinds_zero_and_repeats() {
    for (body, want) in [
        ("cpus 0.0005", "P0309"),
        ("cpus 0", "P0309"),
        ("memory 0MiB", "P0309"),
        ("memory 512", "P0309"),
        ("pids 1.5", "P0309"),
        ("files 4KiB", "P0309"),
        ("swap 1GiB", "P0309"),
        ("pids 4; pids 4", "P0314"),
    ] {
        let c = run(&format!(
            "policy p {{ isolation wasm; limits {{ {body} }} }}"
        ));
        assert_eq!(codes(&c), [want], "{body}");
    }
}

#[test]
fn test_requests_are_normalised_like_policy_values() {
    let p = clean(
        r#"policy p {
            isolation process
            syscalls { allow read }
            test "normalised" {
                deny read "/data/./x/"
                deny connect "Example.COM.":443
                deny resolve "0x7f.1"
                allow syscall read(1, 2)
            }
        }"#,
    );
    let reqs: Vec<&Request> = p.tests[0].cases.iter().map(|c| &c.request).collect();
    assert_eq!(
        reqs,
        [
            &Request::Fs {
                access: Access::Read,
                path: cp("/data/x")
            },
            &Request::Connect {
                host: Host::Domain("example.com".to_string()),
                port: 443
            },
            &Request::Resolve {
                host: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
            },
            &Request::Syscall {
                name: "read".to_string(),
                args: [1, 2, 0, 0, 0, 0]
            },
        ]
    );
    assert!(p.tests[0].cases[0..3].iter().all(|c| !c.expect_allow));
    assert!(p.tests[0].cases[3].expect_allow);
}

#[test]
fn a_connect_request_needs_exactly_one_port() {
    for ep in [r#""example.com""#, r#""example.com":*"#] {
        let c = run(&format!(
            "policy p {{ isolation wasm; test \"t\" {{ deny connect {ep} }} }}"
        ));
        assert_eq!(codes(&c), ["P0317"], "{ep}");
    }
}

// ----------------------------------------------------------------- includes and modules

#[test]
fn includes_merge_fragment_statements_into_the_policy() {
    let p = clean(
        r#"
        fragment files { fs { read "/data" } }
        fragment runtime { syscalls { allow read, write } }
        fragment base { include files; include runtime; threats tampering }
        policy p {
            isolation container
            include base
            fs { write "/out" }
        }"#,
    );
    let guests: Vec<&str> = p.fs.mounts.iter().map(|m| m.guest.as_str()).collect();
    assert_eq!(guests, ["/data", "/out"]);
    assert_eq!(p.syscalls.rules.len(), 2);
    assert!(p.threats.contains(&Threat::Tampering));
}

#[test]
fn a_fragment_reached_twice_is_merged_once() {
    // `shared` is included through both `a` and `b`; merging it twice would collide.
    let p = clean(
        r#"
        fragment shared { fs { read "/data" } }
        fragment a { include shared }
        fragment b { include shared }
        policy p { isolation wasm; include a; include b }"#,
    );
    assert_eq!(p.fs.mounts.len(), 1);
}

#[test]
fn an_included_fragment_may_set_the_isolation() {
    let p = clean("fragment iso { isolation wasm }\npolicy p { include iso }");
    assert_eq!(p.isolation, Isolation::Wasm);
    let c = run("fragment iso { isolation wasm }\npolicy p { include iso; isolation container }");
    assert_eq!(codes(&c), ["P0314"]);
}

#[test]
fn fragments_come_from_modules() {
    let loader = Modules(vec![(
        "std::secrets",
        r#"paths secrets { "~/.ssh" }
           fragment no_secrets { fs { deny secrets } }"#,
    )]);
    let p = clean_with(
        r#"use std::secrets
        policy p { isolation wasm; include no_secrets; fs { read "~" at "/home" } }"#,
        &loader,
    );
    assert_eq!(p.fs.denies.len(), 1);
    assert_eq!(p.fs.denies[0].list.as_deref(), Some("secrets"));
}

#[test]
fn include_cycles_are_reported_once_each() {
    let c = run("fragment a { include b }\nfragment b { include a }\npolicy p { isolation wasm; include a }");
    assert_eq!(codes(&c), ["P0107"]);
    assert!(c.policies.is_empty());
    let c = run("fragment a { include a }\npolicy p { isolation wasm; include a }");
    assert_eq!(codes(&c), ["P0107"]);
    let c = run("policy p { isolation wasm; include p }");
    assert_eq!(codes(&c), ["P0107"]);
}

#[test]
fn unknown_includes_suggest_a_near_name() {
    let c = run("fragment runtime { }\npolicy p { isolation wasm; include runtme }");
    assert_eq!(codes(&c), ["P0103"]);
    assert_eq!(
        c.diagnostics.0[0].hint.as_deref(),
        Some("did you mean `runtime`?")
    );
}

#[test]
fn unknown_modules_and_module_policies_are_p0101() {
    let c = run("use std::missing\npolicy p { isolation wasm }");
    assert_eq!(codes(&c), ["P0101"]);
    let loader = Modules(vec![("std::bad", "policy inner { isolation wasm }")]);
    let c = compile_with("use std::bad\npolicy p { isolation wasm }", &loader);
    assert_eq!(codes(&c), ["P0101"]);
    assert_eq!(c.diagnostics.0[0].span.file, FileId(1));
}

#[test]
fn a_module_importing_itself_is_an_import_cycle_on_its_use() {
    let loader = Modules(vec![("std::me", "use std::me\npaths mine { \"/x\" }")]);
    let c = compile_with(
        "use std::me\nuse std::me\npolicy p { isolation wasm; fs { read \"/\"; deny mine } }",
        &loader,
    );
    assert_eq!(codes(&c), ["P0112"]);
    let d = &c.diagnostics.0[0];
    assert_eq!(
        d.span.file,
        FileId(1),
        "reported in the module, on its `use`"
    );
    assert_eq!((d.span.start, d.span.end), (0, 11));
    assert!(
        d.message.contains("`std::me` imports itself"),
        "{}",
        d.message
    );
}

#[test]
fn an_endless_import_chain_stops_at_the_module_limit() {
    let c = compile_with("use std::m0\npolicy p { isolation wasm }", &Endless);
    let limit = find(&c, Code::UnknownModule);
    assert_eq!(limit.len(), 1);
    assert!(limit[0].message.contains("256"), "{}", limit[0].message);
}

#[test]
fn syntax_errors_in_modules_are_reported_in_the_module() {
    let loader = Modules(vec![("std::broken", "paths x {")]);
    let c = compile_with("use std::broken\npolicy p { isolation wasm }", &loader);
    assert_eq!(codes(&c), ["P0001"]);
    assert_eq!(c.diagnostics.0[0].span.file, FileId(1));
    assert!(c.policies.is_empty());
}

#[test]
fn names_are_defined_once_across_modules() {
    let loader = Modules(vec![("std::secrets", r#"paths secrets { "~/.ssh" }"#)]);
    let c = compile_with(
        "use std::secrets\npaths secrets { \"~/.aws\" }\npolicy p { isolation wasm }",
        &loader,
    );
    assert_eq!(codes(&c), ["P0106"]);
    assert_eq!(c.diagnostics.0[0].span.file, FileId(0));
    // Different kinds have different namespaces.
    clean("paths x { \"/x\" }\nsyscalls x { read }\ntoken x { audience \"a.example.com\"; ttl 1m }\npolicy p { isolation wasm }");
}

// --------------------------------------------------------------- threat escalation

const NESTED_WRITE: &str = r#"policy p {
    isolation wasm
    THREATS
    fs { read "/srv/project"; write "/srv/project/out" }
}"#;

#[test]
fn write_inside_read_only_is_a_warning_without_tampering() {
    let c = run(&NESTED_WRITE.replace("THREATS", "threats exfiltration"));
    let d = find(&c, Code::WriteInsideReadOnly);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(c.policies.len(), 1);
}

#[test]
fn write_inside_read_only_is_an_error_with_tampering() {
    let c = run(&NESTED_WRITE.replace("THREATS", "threats tampering"));
    let d = find(&c, Code::WriteInsideReadOnly);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Error);
    assert!(c.policies.is_empty());
}

#[test]
fn write_inside_read_only_also_compares_host_paths() {
    let c = run(r#"policy p { isolation container; syscalls { allow read }
            fs { read "~/project" at "/src"; write "~/project/build" at "/build" } }"#);
    assert_eq!(codes(&c), ["P0404"]);
    // Scratch and tmpfs areas are writable too.
    let c = run(r#"policy p { isolation wasm; fs { read "/srv"; tmpfs "/srv/tmp" size 1MiB } }"#);
    assert_eq!(codes(&c), ["P0404"]);
}

#[test]
fn dangerous_syscalls_are_errors_only_with_privilege_escalation() {
    let src = "policy p { isolation process; THREATS; syscalls { allow read, ptrace } }";
    let c = run(&src.replace("THREATS", "threats tampering"));
    let d = find(&c, Code::DangerousSyscallAllowed);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(c.policies.len(), 1);
    let c = run(&src.replace("THREATS", "threats privilege_escalation"));
    let d = find(&c, Code::DangerousSyscallAllowed);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Error);
    assert!(c.policies.is_empty());
}

#[test]
fn a_denied_dangerous_syscall_is_not_reported() {
    clean("policy p { isolation process; syscalls { allow read; deny ptrace } }");
}

#[test]
fn dangerous_syscalls_reached_through_a_set_are_reported() {
    let c = run(
        "syscalls debug { ptrace }\npolicy p { isolation process; syscalls { allow read, debug } }",
    );
    assert_eq!(codes(&c), ["P0405"]);
}

#[test]
fn exfiltration_forbids_direct_egress_and_open_dns() {
    let c = run(r#"policy p { isolation wasm; threats exfiltration
            net { egress direct { allow "a.example.com":443; deny "b.example.com" }; dns any } }"#);
    let mut got = codes(&c);
    got.sort_unstable();
    assert_eq!(got, ["P0401", "P0402"]);
    // The same policy without the threat is clean.
    clean(
        r#"policy p { isolation wasm
            net { egress direct { allow "a.example.com":443; deny "b.example.com" }; dns any } }"#,
    );
}

#[test]
fn persistence_forbids_a_writable_home() {
    let src = r#"policy p { isolation container; THREATS
        fs { write "~/" at "/home/agent" }; syscalls { allow read } }"#;
    let c = run(&src.replace("THREATS", "threats persistence"));
    assert_eq!(codes(&c), ["P0408"]);
    clean(&src.replace("THREATS", "threats tampering"));
    // A folder of the home is fine.
    clean(
        &src.replace("THREATS", "threats persistence")
            .replace("\"~/\"", "\"~/work\""),
    );
}

// ---------------------------------------------------------------------- lints

#[test]
fn lints_report_shadowed_duplicate_and_unreachable_rules() {
    let c = run(r#"policy p {
            isolation wasm
            token unused { audience "a.example.com"; ttl 1m }
            fs { read "/data/x"; deny "/data"; deny "/data" }
            net { egress via proxy { allow "a.example.com":443; allow "a.example.com":443; deny "a.example.com":443 } }
            test "empty" { }
        }"#);
    let mut got = codes(&c);
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, ["P0501", "P0502", "P0504", "P0506", "P0507"]);
    assert!(!c.diagnostics.has_errors());
}

#[test]
fn a_partial_deny_does_not_shadow_a_grant() {
    clean(r#"policy p { isolation wasm; fs { write "/data/x"; deny write "/data" } }"#);
}

#[test]
fn token_audience_must_cover_the_host() {
    clean(
        r#"policy p { isolation wasm; token t { audience "*.example.com"; ttl 1m }
            net { egress via proxy { allow "api.example.com":443 with token t } } }"#,
    );
    let c = run(
        r#"policy p { isolation wasm; token t { audience "api.example.com"; ttl 1m }
            net { egress via proxy { allow "*.example.com":443 with token t } } }"#,
    );
    assert_eq!(codes(&c), ["P0406"]);
}

#[test]
fn lints_do_not_run_on_a_policy_with_value_errors() {
    // The dangerous syscall would warn, but the policy already has an error.
    let c = run("policy p { isolation process; threats nope; syscalls { allow ptrace } }");
    assert_eq!(codes(&c), ["P0303"]);
}

// ------------------------------------------------------------------- diagnostics

#[test]
fn any_error_drops_every_policy_of_the_file() {
    let c = run("policy good { isolation wasm }\npolicy bad { isolation wasm; threats nope }");
    assert!(c.diagnostics.has_errors());
    assert!(c.policies.is_empty());
    let c = run("policy a { isolation wasm }\npolicy b { isolation process }");
    assert_eq!(c.policies.len(), 2, "warnings keep policies");
    assert_eq!(c.policies[0].name, "a");
}

#[test]
fn diagnostics_come_sorted_by_position() {
    let c = run(r#"policy p {
            isolation wasm
            threats zzz
            fs { read "rel" }
            data yyy
            limits { nope 1 }
            net { egress via proxy { allow "a.example.com":0 } }
        }"#);
    assert_eq!(
        codes(&c),
        ["P0303", "P0201", "P0304", "P0309", "P0305"],
        "{:#?}",
        c.diagnostics
    );
    let starts: Vec<u32> = c.diagnostics.iter().map(|d| d.span.start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
}

#[test]
fn repeated_findings_are_reported_once() {
    // The bad top-level token is checked once per rule that uses it; the ambiguous set once
    // per use. Each finding is reported once.
    let c = run(r#"token t { audience "a.example.com" }
        syscalls open { read }
        policy p {
            isolation process
            syscalls { allow open; allow open }
            net { egress via proxy { allow "a.example.com":443 with token t; allow "a.example.com":80 with token t } }
        }"#);
    assert_eq!(codes(&c), ["P0313", "P0109"], "{:#?}", c.diagnostics);
}

#[test]
fn sort_orders_by_file_then_position_and_drops_exact_repeats() {
    let d = |file: u32, start: usize, code: Code, msg: &str| {
        Diagnostic::new(code, Span::new(FileId(file), start, start + 1), msg)
    };
    let mut ds = Diagnostics(vec![
        d(1, 0, Code::Syntax, "m"),
        d(0, 9, Code::BadPort, "b"),
        d(0, 3, Code::RelativePath, "a"),
        d(0, 9, Code::BadPort, "b"),
        d(0, 9, Code::BadHost, "c"),
        d(0, 3, Code::RelativePath, "a"),
        d(0, 3, Code::RelativePath, "other message"),
    ]);
    ds.sort();
    let got: Vec<(u32, u32, &str, &str)> = ds
        .iter()
        .map(|d| {
            (
                d.span.file.0,
                d.span.start,
                d.code.as_str(),
                d.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, 3, "P0201", "a"),
            (0, 3, "P0201", "other message"),
            (0, 9, "P0305", "b"),
            (0, 9, "P0306", "c"),
            (1, 0, "P0001", "m"),
        ]
    );
}

#[test]
fn a_syntax_error_stops_checking() {
    let c = run("policy p { isolation wasm; threats nope; fs { read } }");
    assert_eq!(codes(&c), ["P0001"]);
    assert!(c.syntax.items.is_empty());
}

#[test]
fn the_syntax_tree_is_returned_with_the_policies() {
    let c = run("/// Doc.\npolicy p { isolation wasm }");
    assert_eq!(c.syntax.items.len(), 1);
    assert_eq!(c.policies[0].docs, ["Doc."]);
}

#[test]
fn an_invalid_policy_token_is_not_also_reported_unknown() {
    let c = run(r#"policy p {
            isolation wasm
            token t { audience "a.example.com" }
            net { egress via proxy { allow "a.example.com":443 with token t } }
        }"#);
    assert_eq!(codes(&c), ["P0313"], "{:#?}", c.diagnostics);
}

#[test]
fn a_misspelt_isolation_is_not_also_missing() {
    for level in ["contianer", "microvm"] {
        let c = run(&format!("policy p {{ isolation {level} }}"));
        assert_eq!(codes(&c).len(), 1, "{level}: {:#?}", c.diagnostics);
        assert!(!codes(&c).contains(&"P0315"), "{level}");
    }
}

#[test]
fn syscall_sets_are_checked_even_when_no_policy_uses_them() {
    let c = run(
        "syscalls openat { read }\nsyscalls a { b }\nsyscalls b { a }\npolicy p { isolation wasm }",
    );
    let mut got = codes(&c);
    got.sort_unstable();
    assert_eq!(got, ["P0108", "P0109"]);
}
