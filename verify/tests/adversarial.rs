//! One named, permanent regression test per class of `ADVERSARIAL.md` that had none: the
//! Landlock classes (17 to 22) and the egress, token and path classes (30 to 33). The other
//! classes have theirs in `targets/tests/*` (`adv01`-`adv16`, `adv23`-`adv29`).
//!
//! Each test asserts the concrete behaviour through compile, emit and the simulators. Where
//! this machine can show it for real, an `*_live_*` variant in policyc-host's live tests
//! (`host/tests/live/adversarial.rs`) runs a shell under the emitted ruleset.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{compile_errors, fs, reference_allows};
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, Code, Diagnostic, Request, SourceMap};
use policyc_targets::landlock::{self, FsRight, Landlock, MAX_EMITTED_ABI, MAX_KNOWN_ABI};
use policyc_targets::{registry, stack, stack_for, Artifacts, Emitted, Target, Verdict};
use policyc_testkit::stdlib::{ctx, policy, Loader, HOME};
use policyc_verify::probe::Probe;
use policyc_verify::{emit_layers, stack as stack_check};
use std::collections::{BTreeMap, BTreeSet};

// ------------------------------------------------------------------------------ helpers

/// Emit the Landlock ruleset of a process policy, built for [`HOME`].
fn landlock_emit(text: &str) -> Result<Emitted, Vec<Diagnostic>> {
    Landlock.emit(&policy(text), &ctx())
}

fn ruleset(e: &Emitted) -> landlock::Ruleset {
    landlock::parse(&e.artifacts[landlock::FILE]).unwrap()
}

fn codes(diags: &[Diagnostic]) -> Vec<Code> {
    diags.iter().map(|d| d.code).collect()
}

/// The source text a diagnostic points at.
fn pointed<'t>(text: &'t str, d: &Diagnostic) -> &'t str {
    &text[d.span.start as usize..d.span.end as usize]
}

/// Every registry target's artifacts for a policy (or the codes it failed with).
fn all_artifacts(p: &Policy) -> BTreeMap<&'static str, Result<Artifacts, Vec<Code>>> {
    registry()
        .iter()
        .map(|t| {
            let r = t
                .emit(p, &ctx())
                .map(|e| e.artifacts)
                .map_err(|d| codes(&d));
            (t.name(), r)
        })
        .collect()
}

fn verdict_name(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Allow) => "allow",
        Some(Verdict::Deny) => "deny",
        Some(Verdict::NotMediated) => "not mediated",
        None => "not built",
    }
}

// ----------------------------------------------------------------------------- Landlock

/// A process policy using every Landlock ABI up to the one policyc emits: file rights
/// (ABI 1), `refer` (2), `truncate` (3), TCP ports (4), `ioctl_dev` (5), scopes (6), with
/// a deny test that only the TCP rights enforce.
const ABI_POLICY: &str = r#"policy abi {
    isolation process
    fs {
        read "/srv/data"
        write "/srv/out"
    }
    net { egress direct { allow "api.example.com":443 } }
    test "ports" { deny connect "api.example.com":80 }
}"#;

/// ADVERSARIAL 17: rights the running kernel's ABI lacks fail closed. The file states the
/// ABI its rights need, a reader refuses a file whose ABI it does not know or that names
/// rights above its stated ABI (the simulator then denies everything, as the launcher
/// refuses to run), `landlock::apply` without best effort makes every handled right a
/// hard requirement, and the build report names the exact gap of every older ABI with the
/// policy's deny tests it would lose.
///
/// An older kernel cannot be had on this machine: `apply`'s refusal there is the
/// `landlock` crate's hard-requirement mode, and `host/tests/live/landlock.rs` checks that
/// this kernel enforces the whole ruleset with no gap.
#[test]
fn adv17_rights_above_the_kernel_abi_fail_closed_and_the_gap_is_reported() {
    let e = landlock_emit(ABI_POLICY).unwrap();
    let json = &e.artifacts[landlock::FILE];
    let rs = ruleset(&e);
    assert_eq!(rs.abi, MAX_EMITTED_ABI);
    assert_eq!(landlock::required_abi(json).unwrap(), 6);
    // What each older kernel would leave unenforced, right by right.
    let gaps = |abi: u32| -> Vec<&'static str> {
        landlock::unenforced_at(&rs, abi)
            .iter()
            .map(|g| g.right)
            .collect()
    };
    assert!(gaps(6).is_empty() && gaps(7).is_empty());
    assert_eq!(gaps(5), ["abstract_unix_socket", "signal"]);
    assert_eq!(
        gaps(4),
        ["ioctl_dev", "abstract_unix_socket", "signal"],
        "ABI 4 lacks ioctl_dev and the scopes"
    );
    assert_eq!(
        gaps(3),
        [
            "ioctl_dev",
            "bind_tcp",
            "connect_tcp",
            "abstract_unix_socket",
            "signal"
        ]
    );
    assert_eq!(gaps(2).len(), 6, "{:?}", gaps(2));
    assert!(gaps(1).contains(&"refer") && gaps(1).contains(&"truncate"));
    assert_eq!(
        gaps(0).len(),
        16 + 2 + 2,
        "without Landlock nothing is enforced"
    );
    let six = landlock::unenforced_at(&rs, 5);
    assert!(six[0].to_string().contains("Linux 6.12"), "{}", six[0]);

    // The report: one warning per ABI above 1, each naming its rights, what is lost
    // without them, and that the launcher refuses to run without `--best-effort`.
    let abi_entries: Vec<&Diagnostic> = e
        .report
        .iter()
        .filter(|d| d.code == Code::LandlockAbi)
        .collect();
    assert_eq!(abi_entries.len(), 5, "{abi_entries:#?}");
    for (abi, right) in [
        (2, "`refer`"),
        (3, "`truncate`"),
        (4, "`connect_tcp`"),
        (5, "`ioctl_dev`"),
        (6, "`signal`"),
    ] {
        let d = abi_entries
            .iter()
            .find(|d| d.message.contains(&format!("ABI {abi} ")))
            .unwrap_or_else(|| panic!("no entry for ABI {abi}: {abi_entries:#?}"));
        assert!(d.message.contains(right), "{}", d.message);
        assert!(
            d.hint
                .as_deref()
                .is_some_and(|h| h.contains("refuses to run")),
            "{d:?}"
        );
    }
    let tcp = abi_entries
        .iter()
        .find(|d| d.message.contains("ABI 4 "))
        .unwrap();
    assert!(
        tcp.message
            .contains("1 of this policy's deny tests, e.g. `connect \"api.example.com\":80`"),
        "{}",
        tcp.message
    );

    // The simulator at each ABI: what an older kernel in best-effort mode enforces.
    let port80 = Request::Connect {
        host: Host::parse("api.example.com").unwrap(),
        port: 80,
    };
    let outside = fs(Access::Read, "/etc/passwd").unwrap();
    let at = |r: &Request, abi| landlock::simulate_with_abi(&e.artifacts, r, abi);
    assert_eq!(at(&port80, 4), Verdict::Deny);
    assert_eq!(at(&port80, 3), Verdict::NotMediated);
    assert_eq!(at(&outside, 1), Verdict::Deny);
    assert_eq!(at(&outside, 0), Verdict::NotMediated);

    // A file claiming an ABI policyc does not know, or naming rights above the ABI it
    // states, does not read: the launcher refuses it and the simulator denies everything.
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains("\"abi\": 6,"), "{text}");
    for (abi, why) in [
        (MAX_KNOWN_ABI + 1, "not one policyc knows"),
        (5, "names rights of ABI 6"),
    ] {
        let bad = text.replacen("\"abi\": 6,", &format!("\"abi\": {abi},"), 1);
        let err = landlock::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
        let mut artifacts = e.artifacts.clone();
        artifacts.insert(landlock::FILE.to_string(), bad.into_bytes());
        let inside = fs(Access::Read, "/srv/data/a.csv").unwrap();
        assert_eq!(Landlock.simulate(&artifacts, &inside), Verdict::Deny);
    }
}

/// ADVERSARIAL 18: Landlock is allow-only. A deny beneath a grant that gives a right the
/// deny removes fails the build with `P0801` at the deny (process isolation, and
/// container isolation through a bind mount); it is never dropped.
#[test]
fn adv18_a_deny_nested_in_a_landlock_grant_fails_the_build_with_p0801() {
    for (text, deny) in [
        (
            "policy p { isolation process\n fs { read \"~/Documents\"\n deny \"~/Documents/private\" } }",
            "deny \"~/Documents/private\"",
        ),
        (
            "policy p { isolation process\n fs { write \"/srv/out\"\n deny write \"/srv/out/keep\" } }",
            "deny write \"/srv/out/keep\"",
        ),
        (
            "policy p { isolation process\n fs { scratch \"/var/tmp/agent\" size 1MiB\n deny \"/var/tmp/agent/x\" } }",
            "deny \"/var/tmp/agent/x\"",
        ),
        (
            "policy p { isolation container\n fs { read \"~/Documents\" at \"/mnt/docs\"\n deny \"~/Documents/private\" } }",
            "deny \"~/Documents/private\"",
        ),
    ] {
        let errs = landlock_emit(text).unwrap_err();
        assert_eq!(codes(&errs), [Code::LandlockNestedDeny], "{text}");
        assert_eq!(pointed(text, &errs[0]), deny, "the error points at the deny");
        assert!(
            errs[0].message.contains("allow-only"),
            "{}",
            errs[0].message
        );
    }
}

/// ADVERSARIAL 18: the denies Landlock can express are kept: a deny of a right the grant
/// does not give, a deny covering a whole grant (the grant is narrowed, and the report
/// says so), a grant wholly inside a deny (left out). Each decides as the policy does.
#[test]
fn adv18_denies_landlock_can_express_are_kept_never_dropped() {
    let text = r#"use std::secrets
policy p {
    isolation process
    fs {
        read "~/Documents"
        deny write "~/Documents/private"
        write "~/Projects"
        deny write "~/Projects"
        read "~/.aws/config"
        deny secrets
    }
}"#;
    let p = policy(text);
    let e = Landlock.emit(&p, &ctx()).unwrap();
    let rs = ruleset(&e);
    let rules: BTreeMap<String, BTreeSet<&str>> = rs
        .paths
        .iter()
        .map(|r| {
            (
                r.path.to_string(),
                r.allowed.iter().map(|a| a.name()).collect(),
            )
        })
        .collect();
    assert_eq!(
        rules.keys().collect::<Vec<_>>(),
        ["/home/user/Documents", "/home/user/Projects"],
        "the grant inside `secrets` is left out"
    );
    assert_eq!(
        rules["/home/user/Projects"],
        ["read_dir", "read_file"].into_iter().collect(),
        "narrowed to read"
    );
    let narrowed: Vec<&str> = e
        .report
        .iter()
        .filter(|d| d.code == Code::LandlockNarrowed)
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        narrowed
            .iter()
            .any(|m| m.contains("`write \"~/Projects\"` grants only read")),
        "{narrowed:#?}"
    );
    assert!(
        narrowed
            .iter()
            .any(|m| m.contains("`read \"~/.aws/config\"` is left out of the ruleset")),
        "{narrowed:#?}"
    );
    for (access, path, allow) in [
        (Access::Read, "~/Documents/private/a", true),
        (Access::Write, "~/Documents/private/a", false),
        (Access::Read, "~/Projects/x", true),
        (Access::Write, "~/Projects/x", false),
        (Access::Read, "~/.aws/config", false),
        (Access::Read, "/home/user/.aws/config", false),
    ] {
        let r = fs(access, path).unwrap();
        let want = if allow { Verdict::Allow } else { Verdict::Deny };
        assert_eq!(Landlock.simulate(&e.artifacts, &r), want, "{r}");
        assert_eq!(
            reference_allows(&p, &Probe::Request(r.clone())),
            allow,
            "{r}"
        );
    }
}

/// ADVERSARIAL 20: directory-only rights are split by object type. The ruleset lists a
/// tree's rights (whether a path is a file cannot be known when building); the launcher
/// keeps only the rights that apply to files on a rule whose path is not a directory,
/// and says which it dropped.
#[test]
fn adv20_directory_only_rights_are_split_from_file_rights() {
    let (files, dirs): (Vec<FsRight>, Vec<FsRight>) =
        FsRight::ALL.into_iter().partition(|r| r.applies_to_files());
    let names = |v: &[FsRight]| v.iter().map(|r| r.name()).collect::<Vec<_>>();
    assert_eq!(
        names(&files),
        [
            "execute",
            "write_file",
            "read_file",
            "truncate",
            "ioctl_dev"
        ]
    );
    assert_eq!(
        names(&dirs),
        [
            "read_dir",
            "remove_dir",
            "remove_file",
            "make_char",
            "make_dir",
            "make_reg",
            "make_sock",
            "make_fifo",
            "make_block",
            "make_sym",
            "refer"
        ]
    );
    let e = landlock_emit(
        "policy p { isolation process\n fs { write \"/srv/notes.txt\"\n exec \"/opt/tool\" } }",
    )
    .unwrap();
    let rs = ruleset(&e);
    let write = &rs
        .paths
        .iter()
        .find(|r| r.path.as_str() == "/srv/notes.txt")
        .unwrap()
        .allowed;
    assert!(write.contains(&FsRight::WriteFile) && write.contains(&FsRight::MakeReg));
    assert!(!write.contains(&FsRight::Refer) && !write.contains(&FsRight::MakeChar));
}

/// ADVERSARIAL 22: what Landlock cannot restrict is reported in every build (stat, chmod,
/// chown, extended attributes, timestamps, pathname UNIX sockets, UDP and so DNS), and
/// left to other layers: the simulator says name resolution and syscalls are not
/// mediated, and the syscalls behind those accesses are the seccomp layer's, which denies
/// them unless the policy allows them.
#[test]
fn adv22_what_landlock_cannot_restrict_is_reported_and_left_to_other_layers() {
    let text = r#"policy p {
    isolation process
    fs { read "/srv/data" }
    net { egress direct { allow "api.example.com":443 } }
    syscalls { allow read, write, openat, close, exit_group }
}"#;
    let p = policy(text);
    let e = Landlock.emit(&p, &ctx()).unwrap();
    let limit = e
        .report
        .iter()
        .find(|d| d.code == Code::LandlockNotMediated && d.message.contains("does not restrict"))
        .expect("a report entry for what Landlock does not restrict");
    for what in [
        "stat",
        "chmod",
        "chown",
        "extended attributes",
        "timestamps",
        "pathname UNIX sockets",
        "UDP (so DNS)",
    ] {
        assert!(limit.message.contains(what), "{what}: {}", limit.message);
    }
    let resolve = Request::Resolve {
        host: Host::parse("api.example.com").unwrap(),
    };
    assert_eq!(
        Landlock.simulate(&e.artifacts, &resolve),
        Verdict::NotMediated
    );
    let layers = emit_layers(&p, &stack_for(&p), &ctx());
    for name in [
        "chmod",
        "fchmodat",
        "chown",
        "fchownat",
        "setxattr",
        "utimensat",
        "connect",
        "sendto",
    ] {
        let call = Probe::Request(Request::Syscall {
            name: name.to_string(),
            args: [0; 6],
        });
        let said: Vec<(&str, Option<Verdict>)> = layers
            .iter()
            .map(|l| (l.name(), l.verdict(&call)))
            .collect();
        assert!(
            said.contains(&("seccomp", Some(Verdict::Deny))),
            "{name}: {said:?}"
        );
        assert!(said.contains(&("landlock", Some(Verdict::NotMediated))));
    }
}

// ----------------------------------------------------------------- egress, tokens, paths

/// A policy of each isolation level with the given egress rules.
fn net_policy(isolation: &str, net: &str) -> String {
    let fs = match isolation {
        "process" => "read \"/srv/data\"",
        _ => "read \"/srv/data\" at \"/data\"",
    };
    format!(
        "use std::runtime::python\npolicy p {{\n isolation {isolation}\n fs {{ {fs} }}\n net {{ {net} }}\n include runtime_guards\n syscalls {{ allow python }}\n}}"
    )
}

/// The same rules with each host written in one of its spellings.
fn spelled_rules(ip: &str, name: &str, idn: &str) -> String {
    format!(
        "egress via proxy {{\n allow \"{ip}\":8080\n allow \"{name}\":443\n allow \"{idn}\":443\n allow \"*.cdn.example.net\":443\n deny \"blocked.cdn.example.net\" }}"
    )
}

/// Spellings of one host each: IPv4 in every `inet_aton` form and IPv4-mapped IPv6, a
/// name in every case with and without the trailing dot, an IDN in Unicode and punycode.
const IP_SPELLINGS: &[&str] = &[
    "127.0.0.1",
    "0x7f.0.0.1",
    "2130706433",
    "[::ffff:127.0.0.1]",
    "0177.0.0.1",
    "127.1",
    "0x7f000001",
    "[::ffff:7f00:1]",
];
const NAME_SPELLINGS: &[&str] = &[
    "api.example.com",
    "API.EXAMPLE.COM",
    "Api.Example.Com.",
    "api.example.com.",
];
const IDN_SPELLINGS: &[&str] = &[
    "bücher.example",
    "BÜCHER.example.",
    "xn--bcher-kva.example",
    "XN--BCHER-KVA.EXAMPLE",
];

/// ADVERSARIAL 30: IP literals in every spelling, hostnames in every case, with a trailing
/// dot or as an IDN, fold to one form on the policy side (the same rules in any spelling
/// give byte-identical artifacts on every target, for every isolation level) and on the
/// request side (every spelling of a request gets the same verdict from every target,
/// sound against the reference and equal to it where the target mediates hosts), and
/// wildcards match strict subdomains only.
#[test]
fn adv30_host_spellings_normalise_identically_in_policies_and_requests() {
    for iso in ["process", "container", "wasm"] {
        let canonical = policy(&net_policy(
            iso,
            &spelled_rules(IP_SPELLINGS[0], NAME_SPELLINGS[0], IDN_SPELLINGS[0]),
        ));
        let want = all_artifacts(&canonical);
        assert!(
            want.values().filter(|r| r.is_ok()).count() >= 3,
            "{iso}: {want:?}"
        );
        for i in 1..IP_SPELLINGS.len() {
            let spelled = policy(&net_policy(
                iso,
                &spelled_rules(
                    IP_SPELLINGS[i],
                    NAME_SPELLINGS[i % NAME_SPELLINGS.len()],
                    IDN_SPELLINGS[i % IDN_SPELLINGS.len()],
                ),
            ));
            assert_eq!(spelled.net, canonical.net, "{iso}: {}", IP_SPELLINGS[i]);
            assert_eq!(all_artifacts(&spelled), want, "{iso}: {}", IP_SPELLINGS[i]);
        }
        // Request side: every spelling, every port, connect and resolve.
        let layers = emit_layers(&canonical, registry(), &ctx());
        let mut mediated = 0;
        for group in [IP_SPELLINGS, NAME_SPELLINGS, IDN_SPELLINGS] {
            let hosts: Vec<Host> = group.iter().map(|h| Host::parse(h).unwrap()).collect();
            assert!(hosts.iter().all(|h| *h == hosts[0]), "{hosts:?}");
            for port in [None, Some(443), Some(8080), Some(80)] {
                let probes: Vec<Probe> = group
                    .iter()
                    .map(|h| {
                        let host = Host::parse(h).unwrap();
                        Probe::Request(match port {
                            Some(port) => Request::Connect { host, port },
                            None => Request::Resolve { host },
                        })
                    })
                    .collect();
                let allowed = reference_allows(&canonical, &probes[0]);
                for l in &layers {
                    let first = l.verdict(&probes[0]);
                    for p in &probes {
                        assert_eq!(l.verdict(p), first, "{iso} {}: {p}", l.name());
                    }
                    if first == Some(Verdict::Allow) {
                        assert!(allowed, "{iso} {}: {} leaks", l.name(), probes[0]);
                    }
                    if l.name() == "wasi" && iso == "wasm" {
                        mediated += probes.len();
                        let want = if allowed {
                            Verdict::Allow
                        } else {
                            Verdict::Deny
                        };
                        assert_eq!(first, Some(want), "{}", probes[0]);
                    }
                }
            }
        }
        let spellings = IP_SPELLINGS.len() + NAME_SPELLINGS.len() + IDN_SPELLINGS.len();
        assert!(iso != "wasm" || mediated == 4 * spellings, "{mediated}");
        // Wildcards: strict subdomains, never the domain, a sibling or a look-alike.
        for (h, allow) in [
            ("a.cdn.example.net", true),
            ("A.B.CDN.EXAMPLE.NET.", true),
            ("cdn.example.net", false),
            ("evil-cdn.example.net", false),
            ("acdn.example.net", false),
            ("cdn.example.net.evil.org", false),
            ("blocked.cdn.example.net", false),
        ] {
            let p = Probe::Request(Request::Connect {
                host: Host::parse(h).unwrap(),
                port: 443,
            });
            assert_eq!(reference_allows(&canonical, &p), allow, "{p}");
            for l in &layers {
                let v = l.verdict(&p);
                assert!(
                    allow || v != Some(Verdict::Allow),
                    "{iso} {}: {p}",
                    l.name()
                );
                if l.name() == "wasi" && iso == "wasm" {
                    assert_eq!(v == Some(Verdict::Allow), allow, "{p}");
                }
            }
        }
    }
    // Spellings that are not one host are rejected on both sides.
    for bad in [
        "256.0.0.1",
        "1.2.3.4.5",
        "foo.123",
        "exa mple.com",
        "http://example.com",
    ] {
        assert!(Host::parse(bad).is_err(), "{bad}");
        let text = net_policy(
            "wasm",
            &format!("egress via proxy {{ allow \"{bad}\":443 }}"),
        );
        assert!(compile_errors(&text).contains(&Code::BadHost), "{bad}");
    }
    assert!(HostPattern::parse("*.example.com").is_ok());
    assert!(HostPattern::parse("*.com").is_err() && HostPattern::parse("*.127.0.0.1").is_err());
}

/// ADVERSARIAL 31: name resolution is limited to allow-listed names. Every target that
/// decides a name resolution decides it as the reference does (no egress: nothing; the
/// default and `allow-listed-only`: exactly the names an allow rule matches, less those a
/// port-less deny matches), and some layer of every stack decides it: WASI for wasm, the
/// AppArmor profile and the OCI bundle's empty network namespace without egress, and the
/// egress layer (the supervisor's resolver) wherever the policy has egress rules, so no
/// stack leaves a gap.
#[test]
fn adv31_name_resolution_is_limited_to_allow_listed_names_wherever_it_is_mediated() {
    let names = [
        "api.example.com",
        "API.example.com.",
        "x.cdn.example.net",
        "blocked.cdn.example.net",
        "cdn.example.net",
        "example.com",
        "evil-api.example.com",
        "c2VjcmV0.leak.attacker.example",
        "localhost",
        "127.0.0.1",
        "[::1]",
    ];
    let probes: Vec<Probe> = names
        .iter()
        .map(|h| {
            Probe::Request(Request::Resolve {
                host: Host::parse(h).unwrap(),
            })
        })
        .collect();
    let allow_list = "egress via proxy {\n allow \"api.example.com\":443\n allow \"*.cdn.example.net\":443\n deny \"blocked.cdn.example.net\" }";
    let mut decided = BTreeMap::<&str, usize>::new();
    for iso in ["process", "container", "wasm"] {
        for net in [
            "egress none".to_string(),
            allow_list.to_string(),
            format!("{allow_list}\n dns allow-listed-only"),
            format!("{allow_list}\n dns none"),
        ] {
            let p = policy(&net_policy(iso, &net));
            for l in emit_layers(&p, registry(), &ctx()) {
                for pr in &probes {
                    let v = l.verdict(pr);
                    if matches!(v, Some(Verdict::Allow | Verdict::Deny)) {
                        *decided.entry(l.name()).or_default() += 1;
                        let want = reference_allows(&p, pr);
                        assert_eq!(
                            v == Some(Verdict::Allow),
                            want,
                            "{iso} `{net}` {}: {pr} is {}",
                            l.name(),
                            verdict_name(v)
                        );
                    }
                }
            }
            let layers = emit_layers(&p, &stack_for(&p), &ctx());
            assert!(layers.iter().all(|l| l.emitted.is_ok()), "{iso} `{net}`");
            let gaps = stack_check::check(&p, &layers, Some(HOME), &probes);
            let egress = !p.net.egress_none;
            assert!(gaps.is_empty(), "{iso} `{net}`: {gaps:#?}");
            assert_eq!(
                layers.iter().any(|l| l.name() == "egress"),
                egress,
                "{iso} `{net}`"
            );
            if egress && iso != "wasm" {
                let allowed: Vec<&str> = names
                    .iter()
                    .zip(&probes)
                    .filter(|(_, pr)| reference_allows(&p, pr))
                    .map(|(n, _)| *n)
                    .collect();
                let want: &[&str] = if net.ends_with("dns none") {
                    &[]
                } else {
                    &["api.example.com", "API.example.com.", "x.cdn.example.net"]
                };
                assert_eq!(allowed, want, "{iso} `{net}`");
            }
        }
    }
    assert!(decided.get("wasi").copied().unwrap_or(0) >= 4 * names.len());
    assert!(
        decided.contains_key("apparmor") && decided.contains_key("oci"),
        "{decided:?}"
    );
    // The egress artifact is written for every policy and decides every lookup.
    assert_eq!(decided.get("egress").copied(), Some(12 * names.len()));
}

/// ADVERSARIAL 31: without the egress layer, a name-resolution gap of the process and
/// container stacks is declared by a report entry about names or hosts, not by an unrelated
/// entry that happens to point at the same egress rule; with it (the policy's own stack) there
/// is no gap, and none can be declared away.
#[test]
fn adv31_a_dns_gap_is_declared_by_an_entry_about_names() {
    for iso in ["process", "container"] {
        let p = policy(&net_policy(
            iso,
            "egress via proxy { allow \"api.example.com\":443 }",
        ));
        let layers = emit_layers(&p, &stack(p.isolation), &ctx());
        let leak = Probe::Request(Request::Resolve {
            host: Host::parse("c2VjcmV0.leak.attacker.example").unwrap(),
        });
        let own = emit_layers(&p, &stack_for(&p), &ctx());
        let closed = stack_check::check(&p, &own, Some(HOME), std::slice::from_ref(&leak));
        assert!(closed.is_empty(), "{iso}: {closed:#?}");
        let gaps = stack_check::check(&p, &layers, Some(HOME), &[leak]);
        assert_eq!(gaps.len(), 1, "{iso}");
        let (message, _) = gaps[0].declared.clone().expect("declared");
        assert!(
            ["DNS", "names", "resolver"]
                .iter()
                .any(|w| message.contains(w)),
            "{iso}: the gap is declared by `{message}`"
        );
    }
}

/// A policy sending one token to its audience (no token: the same rule without one).
fn token_policy(isolation: &str, token: &str) -> String {
    let (with, decl) = if token.is_empty() {
        (String::new(), String::new())
    } else {
        (
            " with token send".to_string(),
            format!("token send {{ {token} }}"),
        )
    };
    format!(
        "use std::runtime::python\npolicy p {{\n isolation {isolation}\n fs {{ read \"/srv/mail\" at \"/mail\" }}\n net {{ egress via proxy {{ allow \"smtp.mail.example.com\":465{with} }} }}\n {decl}\n include runtime_guards\n syscalls {{ allow python }}\n}}"
    )
}

/// ADVERSARIAL 32: tokens. What policyc enforces is checked when the policy compiles: a
/// lifetime is required, non-zero and at most one hour (`P0313`, `P0403`); an audience is
/// required (`P0313`) and a token sent to a host outside its audience draws `P0406`
/// (audiences are normalised like hosts, and a wildcard audience covers strict subdomains
/// only). Scopes are carried verbatim, each string on its own (`/home/u/proj` and
/// `/home/u/proj-evil` stay two scopes; nothing treats one as a prefix of the other), and
/// tokens take no part in any decision.
///
/// Not enforced anywhere in policyc: expiry at use time, audience checks on the wire and
/// scope matching (prefixes against siblings) are the egress proxy's job, and policyc ships
/// no proxy (book: security model, "Tokens, limits and audit"). This test pins what is
/// enforced and that nothing pretends otherwise.
#[test]
fn adv32_token_lifetimes_and_audiences_are_checked_scopes_and_expiry_are_not_enforced() {
    let aud = "audience \"smtp.mail.example.com\"";
    for (token, want) in [
        (format!("{aud}\n ttl 2h"), vec![Code::LongTokenTtl]),
        (format!("{aud}\n ttl 61m"), vec![Code::LongTokenTtl]),
        (format!("{aud}\n ttl 0s"), vec![Code::BadToken]),
        (aud.to_string(), vec![Code::BadToken]),
        ("ttl 5m".to_string(), vec![Code::BadToken]),
        (format!("{aud}\n ttl 5m\n ttl 5m"), vec![Code::BadToken]),
        (format!("{aud}\n ttl 1h"), vec![]),
    ] {
        assert_eq!(
            compile_errors(&token_policy("wasm", &token)),
            want,
            "{token}"
        );
    }
    let warnings = |token: &str| -> Vec<Code> {
        let text = token_policy("wasm", token);
        let mut sources = SourceMap::new();
        let id = sources.add("t.policy", &text);
        let out = compile(&mut sources, id, &Loader);
        assert!(!out.diagnostics.has_errors(), "{token}");
        out.diagnostics.iter().map(|d| d.code).collect()
    };
    for (audience, mismatch) in [
        ("smtp.mail.example.com", false),
        ("SMTP.Mail.Example.COM.", false),
        ("*.mail.example.com", false),
        ("mail.example.com", true),
        ("*.smtp.mail.example.com", true),
        ("imap.mail.example.com", true),
        ("evil-smtp.mail.example.com", true),
    ] {
        let w = warnings(&format!("audience \"{audience}\"\n ttl 5m"));
        assert_eq!(
            w.contains(&Code::TokenAudienceMismatch),
            mismatch,
            "{audience}: {w:?}"
        );
    }
    let scoped = policy(&token_policy(
        "wasm",
        &format!("{aud}\n scope \"/home/u/proj\", \"/home/u/proj-evil\"\n ttl 5m"),
    ));
    assert_eq!(
        scoped.tokens["send"].scopes,
        ["/home/u/proj", "/home/u/proj-evil"]
    );
    assert_eq!(scoped.tokens["send"].ttl_ms, 300_000);
    let unscoped = policy(&token_policy("wasm", ""));
    assert!(unscoped.tokens.is_empty());
    let smtp = Host::parse("smtp.mail.example.com").unwrap();
    for r in [
        Request::Connect {
            host: smtp.clone(),
            port: 465,
        },
        Request::Connect {
            host: smtp.clone(),
            port: 25,
        },
        Request::Resolve { host: smtp },
    ] {
        let p = Probe::Request(r);
        assert_eq!(
            reference_allows(&scoped, &p),
            reference_allows(&unscoped, &p),
            "{p}"
        );
    }
}

/// ADVERSARIAL 32: tokens never sit in argv or the environment. The OCI bundle's process
/// has the placeholder command and `PATH` only, the WASI manifest's environment is empty,
/// and no artifact of any target holds a token's name, scope or lifetime, except
/// `egress.json`, which records the declaration (never a value: there is none at build time)
/// for the supervisor that issues the token, and only there.
#[test]
fn adv32_tokens_never_reach_argv_or_the_environment() {
    let token = "audience \"smtp.mail.example.com\"\n scope \"mail:send-secret-scope\"\n ttl 5m\n approval required";
    for iso in ["container", "wasm"] {
        let p = policy(&token_policy(iso, token));
        assert_eq!(p.tokens.len(), 1);
        let mut built = 0;
        for (name, artifacts) in all_artifacts(&p) {
            let artifacts = artifacts.unwrap_or_else(|c| panic!("{iso} {name}: {c:?}"));
            if name == "egress" {
                let a = policyc_targets::egress::Artifact::parse(
                    &artifacts[policyc_targets::egress::FILE],
                )
                .unwrap();
                let t = &a.tokens["send"];
                assert_eq!(t.scopes, ["mail:send-secret-scope"]);
                assert!(t.approval && t.ttl_ms == 300_000);
                assert_eq!(a.rules[0].token.as_deref(), Some("send"));
                built += 1;
                continue;
            }
            for (file, bytes) in &artifacts {
                let text = String::from_utf8_lossy(bytes);
                for needle in ["mail:send-secret-scope", "\"send\"", "300000", "token"] {
                    assert!(!text.contains(needle), "{iso} {name} {file}: {needle}");
                }
                built += 1;
            }
            if name == "oci" && iso == "container" {
                let config: serde_json::Value =
                    serde_json::from_slice(&artifacts[policyc_targets::oci::FILE]).unwrap();
                let env = config["process"]["env"].as_array().unwrap();
                assert_eq!(env.len(), 1, "{env:?}");
                assert!(env[0].as_str().unwrap().starts_with("PATH="));
                assert_eq!(config["process"]["args"], serde_json::json!(["/bin/sh"]));
            }
            if name == "wasi" && iso == "wasm" {
                let m =
                    policyc_targets::wasi::parse(&artifacts[policyc_targets::wasi::FILE]).unwrap();
                assert!(m.env.is_empty());
            }
        }
        assert!(built >= 2, "{iso}");
    }
}

/// One policy whose paths are written in a given spelling: `(mount host, guest, deny)`.
fn path_policy(isolation: &str, spelled: (&str, &str, &str)) -> String {
    let (host, guest, deny) = spelled;
    let at = if isolation == "process" {
        String::new()
    } else {
        format!(" at \"{guest}\"")
    };
    format!(
        "policy p {{\n isolation {isolation}\n fs {{\n read \"{host}\"{at}\n write \"/srv/out\"\n deny write \"{deny}\"\n tmpfs \"/tmp\" size 1MiB\n }}\n syscalls {{ allow read }}\n}}"
    )
}

/// ADVERSARIAL 33: `~`, `.`/`..`, `//` and trailing slashes are canonicalised once, before
/// any target sees a path: the same rules in any spelling compile to the same policy and
/// byte-identical artifacts on every target, for every isolation level, and the spellings
/// of one request get one verdict from every target. Under process isolation a home path
/// and its absolute spelling name one object: every target that resolves the home gives
/// both the same verdict, and the reference agrees.
#[test]
fn adv33_path_spellings_canonicalise_identically_for_every_target() {
    let canonical = ("~/Documents/a/c", "/mnt/docs", "~/Documents/a/c/private");
    let spellings = [
        (
            "~/Documents/./a//b/../c/",
            "/mnt//docs/.",
            "~/Documents/a/c/x/../private/.",
        ),
        (
            "~//Documents/a/c//",
            "/mnt/docs/",
            "~/Documents//a/./c/private//",
        ),
        (
            "~/x/../Documents/a/c",
            "/mnt/x/../docs",
            "~/Documents/a/../a/c/private",
        ),
    ];
    for iso in ["process", "container", "wasm"] {
        let want_policy = policy(&path_policy(iso, canonical));
        let want = all_artifacts(&want_policy);
        assert!(
            want.values().filter(|r| r.is_ok()).count() >= 3,
            "{iso}: {want:?}"
        );
        for s in spellings {
            let p = policy(&path_policy(iso, s));
            assert_eq!(p.fs, want_policy.fs, "{iso}: {s:?}");
            assert_eq!(all_artifacts(&p), want, "{iso}: {s:?}");
        }
        // Requests: every spelling of one path gets one verdict from every target.
        let layers = emit_layers(&want_policy, registry(), &ctx());
        let guest = if iso == "process" {
            "~/Documents/a/c"
        } else {
            "/mnt/docs"
        };
        for (access, group) in [
            (
                Access::Read,
                vec![
                    format!("{guest}/f.txt"),
                    format!("{guest}//./x/../f.txt/"),
                    format!(
                        "/../..{}/f.txt",
                        if iso == "process" {
                            "/home/user/Documents/a/c".to_string()
                        } else {
                            guest.to_string()
                        }
                    ),
                ],
            ),
            (
                Access::Write,
                vec![
                    format!("{guest}/private/k"),
                    format!("{guest}/./private//k"),
                    format!("{guest}/x/../private/k/."),
                ],
            ),
            (
                Access::Read,
                vec![
                    "/srv/out/r".to_string(),
                    "//srv/./out//r/".to_string(),
                    "/srv/data/../out/r".to_string(),
                ],
            ),
        ] {
            let probes: Vec<Probe> = group
                .iter()
                .map(|raw| Probe::Request(fs(access, raw).unwrap_or_else(|| panic!("{raw}"))))
                .collect();
            let allowed: BTreeSet<bool> = probes
                .iter()
                .map(|p| reference_allows(&want_policy, p))
                .collect();
            assert_eq!(allowed.len(), 1, "{iso}: {group:?}");
            for l in &layers {
                let said: BTreeSet<&str> =
                    probes.iter().map(|p| verdict_name(l.verdict(p))).collect();
                assert_eq!(said.len(), 1, "{iso} {}: {group:?} get {said:?}", l.name());
            }
        }
    }
    // `~` and the absolute home: one object under process isolation.
    let p = policy(&path_policy("process", canonical));
    let layers = emit_layers(&p, registry(), &ctx());
    let mut compared = 0;
    for (access, rest) in [
        (Access::Read, "Documents/a/c/f.txt"),
        (Access::Write, "Documents/a/c/private/k"),
        (Access::Read, "Documents/b"),
        (Access::Read, ".ssh/id_ed25519"),
    ] {
        let tilde = Probe::Request(fs(access, &format!("~/{rest}")).unwrap());
        let absolute = Probe::Request(fs(access, &format!("{HOME}/{rest}")).unwrap());
        assert_eq!(
            reference_allows(&p, &tilde),
            reference_allows(&p, &absolute),
            "{rest}"
        );
        for l in &layers {
            let (a, b) = (l.verdict(&tilde), l.verdict(&absolute));
            if a != Some(Verdict::NotMediated) && b != Some(Verdict::NotMediated) {
                assert_eq!(a, b, "{}: {rest}", l.name());
                compared += 1;
            }
        }
    }
    assert!(compared >= 8, "{compared}");
}

/// ADVERSARIAL 33: a path that cannot be canonicalised is rejected with its own code,
/// wherever it is written (a mount, a guest path, a deny, a test request): relative paths
/// and other users' homes (`P0201`), `..` above `/` or `~` (`P0202`), control characters
/// (`P0203`), components over 255 bytes or paths over 4095 (`P0204`), a home-relative
/// guest path (`P0205`) and globs (`P0207`). A program's own `..` above `/` stays at `/`,
/// as the kernel does; a longest legal path is accepted and every target builds it or
/// fails with a diagnostic.
#[test]
fn adv33_paths_that_cannot_be_canonicalised_are_rejected_with_a_code() {
    let long_component = "n".repeat(256);
    let long_path = "/abcdefghi".repeat(410);
    let cases: Vec<(String, Code)> = vec![
        ("docs".into(), Code::RelativePath),
        ("./docs".into(), Code::RelativePath),
        ("".into(), Code::RelativePath),
        ("~alice/docs".into(), Code::RelativePath),
        ("/..".into(), Code::PathEscapes),
        ("~/../etc".into(), Code::PathEscapes),
        ("/a/b/../../..".into(), Code::PathEscapes),
        ("/a\\tb".into(), Code::PathControlChar),
        ("/a\\nb".into(), Code::PathControlChar),
        ("/a\\0b".into(), Code::PathControlChar),
        (format!("/{long_component}"), Code::PathTooLong),
        (long_path, Code::PathTooLong),
        ("/data/*".into(), Code::PathGlob),
        ("~/a?".into(), Code::PathGlob),
    ];
    for (raw, code) in &cases {
        for text in [
            format!("policy p {{ isolation process\n fs {{ read \"{raw}\" }} }}"),
            format!("policy p {{ isolation container\n fs {{ read \"/srv\" at \"{raw}\" }} }}"),
            format!("policy p {{ isolation process\n fs {{ read \"/srv\"\n deny \"{raw}\" }} }}"),
            format!("policy p {{ isolation process\n test \"t\" {{ deny read \"{raw}\" }} }}"),
        ] {
            let got = compile_errors(&text);
            // A test request may climb above `/` (it stays there); nothing else may.
            if text.contains("test \"t\"") && (raw == "/.." || raw == "/a/b/../../..") {
                assert!(got.is_empty(), "{raw}: {got:?}");
                continue;
            }
            assert_eq!(got, [*code], "{raw:?} in {text}");
        }
    }
    let text = "policy p { isolation container\n fs { read \"/srv\" at \"~/srv\" } }";
    assert_eq!(compile_errors(text), [Code::GuestPathNotAbsolute]);
    assert_eq!(
        CanonPath::parse_request("/../../etc/passwd")
            .unwrap()
            .as_str(),
        "/etc/passwd"
    );
    assert!(CanonPath::parse_request("~/../x").is_err());
    assert!(CanonPath::parse_request("x/y").is_err());
    // The longest legal path: 4095 bytes, components of 255.
    let component = "c".repeat(255);
    let mut longest = String::new();
    while longest.len() + 256 <= 4095 {
        longest.push('/');
        longest.push_str(&component);
    }
    let pad = 4095 - longest.len() - 1;
    longest.push('/');
    longest.push_str(&"d".repeat(pad));
    assert_eq!(longest.len(), 4095);
    let p = policy(&format!(
        "policy p {{ isolation process\n fs {{ read \"{longest}\" }} }}"
    ));
    let inside = Probe::Request(fs(Access::Read, &longest).unwrap());
    for l in emit_layers(&p, registry(), &ctx()) {
        let e = l.emitted.as_ref().map_err(|d| codes(d));
        assert!(e.is_ok(), "{}: {e:?}", l.name());
        assert_ne!(l.verdict(&inside), Some(Verdict::Deny), "{}", l.name());
    }
    assert!(reference_allows(&p, &inside));
}
