//! Unit tests: escaping, glob matching, the reader's strictness, names and home handling.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::pattern::{Pattern, Tok};
use super::*;
use crate::testing::EmitText;
use crate::Verdict;
use policyc_compiler::Request;
use policyc_testkit::stdlib::policy;

fn profile_of(p: &Policy, home: Option<&str>) -> String {
    let e = AppArmor.emit_home(p, home).unwrap();
    String::from_utf8(e.artifacts[FILE].clone()).unwrap()
}

#[test]
fn special_bytes_are_escaped_and_read_back() {
    let cases = [
        ("/a\"b", "\"/a\\042b\""),
        ("/a\\b", "\"/a\\134b\""),
        ("/end\\", "\"/end\\134\""),
        ("/a,b c", "\"/a\\,b c\""),
        ("/{a,b}", "\"/\\{a\\,b\\}\""),
        ("/[ab]^x", "\"/\\[ab\\]\\^x\""),
        ("/@{HOME}", "\"/@\\{HOME\\}\""),
        ("/#include", "\"/#include\""),
        ("/é", "\"/\\303\\251\""),
        ("/a\nb", "\"/a\\012b\""),
        ("/a\u{7f}", "\"/a\\177\""),
    ];
    for (path, want) in cases {
        let p = Pattern::literal(false, path);
        let text = p.render().unwrap();
        assert_eq!(text, want, "{path:?}");
        assert!(text.is_ascii());
        let inner = &text[1..text.len() - 1];
        assert!(!inner.contains('"'), "a quote inside {text}");
        assert_eq!(Pattern::parse(inner).unwrap(), p, "{path:?}");
        assert!(p.matches(None, path.as_bytes()), "{path:?}");
    }
    assert_eq!(Pattern::literal(false, "/a\0b").render(), Err(Unwritable));
}

#[test]
fn every_byte_round_trips() {
    for b in 1u8..=255 {
        let p = Pattern {
            home: false,
            toks: vec![Tok::Byte(b'/'), Tok::Byte(b)],
        };
        let text = p.render().unwrap();
        let inner = &text[1..text.len() - 1];
        assert_eq!(Pattern::parse(inner).unwrap(), p, "byte {b:#x}: {text}");
        assert!(!inner.contains('"') && !inner.ends_with('\\'), "{text}");
        assert!(p.matches(None, &[b'/', b]));
        assert!(!p.matches(None, &[b'/', b, b'x']));
    }
}

#[test]
fn random_hostile_paths_round_trip_and_match_only_themselves() {
    let alphabet: Vec<char> = "ab/ \"\\,{}[]^@#$*?!.-~é日\u{2028}".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut s = String::from("/");
        let len = (seed >> 59) as usize + 1;
        for _ in 0..len {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        let p = Pattern::literal(false, &s);
        let text = p.render().unwrap();
        let inner = &text[1..text.len() - 1];
        assert_eq!(Pattern::parse(inner).unwrap(), p, "{s:?}");
        assert!(p.matches(None, s.as_bytes()), "{s:?}");
        assert!(!p.matches(None, format!("{s}x").as_bytes()), "{s:?}");
        let tree = p.with_suffix("/**");
        assert!(tree.matches(None, format!("{s}/x").as_bytes()), "{s:?}");
        assert!(!tree.matches(None, format!("{s}x/y").as_bytes()), "{s:?}");
    }
}

#[test]
fn globs_follow_apparmor_parser() {
    // Pattern, path, whether it matches, and why when that is not obvious.
    let cases = [
        ("/data/**", "/data/x", true, ""),
        ("/data/**", "/data/x/y/z", true, ""),
        (
            "/data/**",
            "/data/",
            false,
            "`/**` needs one byte after the slash",
        ),
        ("/data/**", "/data", false, ""),
        ("/data/**", "/data2/x", false, ""),
        (
            "/data/**",
            "/data//x",
            false,
            "the first byte is not a slash",
        ),
        ("/proc/*/mem", "/proc/self/mem", true, ""),
        ("/proc/*/mem", "/proc/1234/mem", true, ""),
        (
            "/proc/*/mem",
            "/proc//mem",
            false,
            "`*` alone in a component is not empty",
        ),
        ("/proc/*/mem", "/proc/1/task/2/mem", false, ""),
        (
            "/proc/*/attr/**",
            "/proc/thread-self/attr/apparmor/current",
            true,
            "",
        ),
        ("/a*b", "/ab", true, "`*` inside a component may be empty"),
        ("/a*b", "/axxb", true, ""),
        ("/a*b", "/a/b", false, ""),
        ("/**", "/x", true, ""),
        ("/**", "/", false, ""),
    ];
    for (pat, path, want, why) in cases {
        let got = Pattern::glob(pat).matches(None, path.as_bytes());
        assert_eq!(got, want, "{pat} on {path}: {why}");
    }
}

#[test]
fn home_patterns_expand_the_variable() {
    let p = Pattern::literal(true, "/.ssh").with_suffix("/**");
    assert!(p.matches(Some("/home/u"), b"/home/u/.ssh/id_rsa"));
    assert!(!p.matches(Some("/home/u"), b"/home/u2/.ssh/id_rsa"));
    assert!(!p.matches(None, b"/home/u/.ssh/id_rsa"));
    assert_eq!(p.render().unwrap(), "\"@{HOME}/.ssh/**\"");
}

fn minimal(rules: &str) -> String {
    format!("profile policyc.p flags=(mediate_deleted) {{\n{rules}}}\n")
}

#[test]
fn the_reader_accepts_what_policyc_writes() {
    let text = minimal(
        "  deny capability,\n  network unix,\n  deny network inet6 dgram,\n  \"/a/**\" rwk,\n  deny \"/b\" rwlkmx,\n  \"/c\" rmix,\n  signal (receive) peer=unconfined,\n",
    );
    let p = parse(&text).unwrap();
    assert_eq!(p.name, "policyc.p");
    assert_eq!(p.rules.len(), 7);
}

#[test]
fn the_reader_refuses_everything_else() {
    let bad = [
        "  \"/a/**\" rux,\n",
        "  \"/a/**\" Ux,\n",
        "  \"/a/**\" px,\n",
        "  \"/a/**\" cx,\n",
        "  \"/a/**\" rx,\n",
        "  \"/a/**\" ra,\n",
        "  \"/a/**\" rl,\n",
        "  deny \"/a/**\" ix,\n",
        "  owner \"/a/**\" r,\n",
        "  audit \"/a/**\" r,\n",
        "  /a/** r,\n",
        "  \"/a*\" r,\n",
        "  \"/{a,b}\" r,\n",
        "  \"/a?\" r,\n",
        "  \"/[ab]\" r,\n",
        "  \"/a\\\\b\" r,\n",
        "  \"/a\\\"b\" r,\n",
        "  \"/\\101\" r,\n",
        "  \"/x/@{HOME}\" r,\n",
        "  \"/a\"  r,\n",
        "  \"/a\" r\n",
        "#include <abstractions/base>\n",
        "  include <abstractions/base>\n",
        "  capability,\n",
        "  network,\n",
        "  network inet raw,\n",
        "  signal,\n",
        "  signal (send, receive) peer=other,\n",
        "  change_profile -> unconfined,\n",
        "  ^hat { }\n",
        "  \"/a\" r, \"/b\" r,\n",
        "  #comment-without-space\n",
    ];
    for rule in bad {
        let text = minimal(rule);
        assert!(parse(&text).is_err(), "accepted {rule:?}");
        let artifacts: Artifacts = [(FILE.to_string(), text.into_bytes())].into();
        let r = Request::Fs {
            access: policyc_compiler::ast::Access::Read,
            path: policyc_compiler::paths::CanonPath::parse("/a/x").unwrap(),
        };
        assert_eq!(AppArmor.simulate(&artifacts, &r), Verdict::Deny, "{rule:?}");
    }
    for text in [
        "",
        "profile policyc.p {\n}\n",
        "profile policyc.p flags=(attach_disconnected,mediate_deleted) {\n}\n",
        "profile policyc.a b flags=(mediate_deleted) {\n}\n",
        "profile policyc.p//hat flags=(mediate_deleted) {\n}\n",
        "profile :ns:policyc.p flags=(mediate_deleted) {\n}\n",
        "profile /usr/bin/x flags=(mediate_deleted) {\n}\n",
        "profile policyc.p flags=(mediate_deleted) {\n",
        "profile policyc.p flags=(mediate_deleted) {\n}\nprofile policyc.q flags=(mediate_deleted) {\n}\n",
        "abi <abi/3.0>,\nprofile policyc.p flags=(mediate_deleted) {\n}\n",
        "@{HOME}=\"/h\" \"/i\"\nprofile policyc.p flags=(mediate_deleted) {\n}\n",
        "@{HOME}=\"/h/*\"\nprofile policyc.p flags=(mediate_deleted) {\n}\n",
        "@{HOME}=relative\nprofile policyc.p flags=(mediate_deleted) {\n}\n",
        "@{HOME}=\"/h\"\n@{HOME}=\"/i\"\nprofile policyc.p flags=(mediate_deleted) {\n}\n",
    ] {
        assert!(parse(text).is_err(), "accepted {text:?}");
    }
}

#[test]
fn names_are_identifiers() {
    assert!(valid_profile_name("policyc.document_organizer"));
    for bad in [
        "policyc.",
        "policyc.a b",
        "policyc.a//b",
        "policyc.a:b",
        "policyc.1a",
        "policyc.a/b",
        "policyc.é",
        "other.a",
    ] {
        assert!(!valid_profile_name(bad), "{bad}");
    }
    let mut p = policy("policy ok { isolation container\n fs { tmpfs \"/tmp\" size 1MiB } }");
    for bad in ["a b", "x//y", ":ns:x", "a\nb", "", &"a".repeat(201)] {
        p.name = bad.to_string();
        let err = AppArmor.emit_home(&p, None).unwrap_err();
        assert_eq!(err[0].code, Code::AppArmorBadName, "{bad:?}");
    }
}

#[test]
fn process_policies_need_a_home_for_home_paths() {
    let p = policy(
        "policy p { isolation process\n fs { read \"~/Documents\"; deny \"~/.ssh\"; read \"/srv\" } }",
    );
    let err = AppArmor.emit_home(&p, None).unwrap_err();
    assert_eq!(err.len(), 2);
    assert!(err.iter().all(|d| d.code == Code::AppArmorHomeUnknown));
    for bad in ["relative", "/", "~", "/a/../.."] {
        let err = AppArmor.emit_home(&p, Some(bad)).unwrap_err();
        assert_eq!(err[0].code, Code::AppArmorHomeUnknown, "{bad}");
    }
    // Without `~` paths no home is needed, and none is written (the profile does not carry
    // the build machine's home); `~` requests are then not mediated.
    let q = policy("policy q { isolation process\n fs { read \"/srv\" } }");
    assert!(!profile_of(&q, None).contains("@{HOME}"));
    assert_eq!(profile_of(&q, Some("/home/u")), profile_of(&q, None));
    assert_eq!(profile_of(&q, Some("relative")), profile_of(&q, None));
    let artifacts: Artifacts = [(
        FILE.to_string(),
        profile_of(&q, Some("/home/u")).into_bytes(),
    )]
    .into();
    let r = Request::Fs {
        access: policyc_compiler::ast::Access::Read,
        path: policyc_compiler::paths::CanonPath::parse("~/x").unwrap(),
    };
    assert_eq!(AppArmor.simulate(&artifacts, &r), Verdict::NotMediated);
    // Container profiles never need it.
    let c = policy("policy c { isolation container\n fs { read \"~/x\" at \"/x\" } }");
    assert!(!profile_of(&c, Some("/home/u")).contains("@{HOME}"));
}

#[test]
fn a_hostile_home_is_escaped_like_any_path() {
    let p = policy("policy p { isolation process\n fs { read \"~/Documents\" } }");
    let home = "/home/we\"ird {x},[y] \\";
    let text = profile_of(&p, Some(home));
    assert!(
        text.contains("@{HOME}=\"/home/we\\042ird \\{x\\}\\,\\[y\\] \\134\"\n"),
        "{text}"
    );
    let back = parse(&text).unwrap();
    assert_eq!(back.home.as_deref(), Some(home));
    let artifacts: Artifacts = [(FILE.to_string(), text.into_bytes())].into();
    let read = |path: &str| Request::Fs {
        access: policyc_compiler::ast::Access::Read,
        path: policyc_compiler::paths::CanonPath::parse(path).unwrap(),
    };
    assert_eq!(
        AppArmor.simulate(&artifacts, &read("~/Documents/a")),
        Verdict::Allow
    );
    assert_eq!(
        AppArmor.simulate(&artifacts, &read(&format!("{home}/Documents/a"))),
        Verdict::Allow
    );
    assert_eq!(
        AppArmor.simulate(&artifacts, &read("/home/we/Documents/a")),
        Verdict::Deny
    );
}

#[test]
fn output_is_deterministic() {
    let p = policy(
        "policy p { isolation process\n fs { read \"~/b\"; read \"~/a\"; deny \"~/a/x\"; deny write \"/etc\" } }",
    );
    let a = profile_of(&p, Some("/home/u"));
    let b = profile_of(&p, Some("/home/u"));
    assert_eq!(a, b);
    let pos = |s: &str| a.find(s).unwrap();
    assert!(pos("\"@{HOME}/a\" r,") < pos("\"@{HOME}/b\" r,"));
}
