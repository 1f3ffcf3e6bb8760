//! `allow warning` suppressions print before the statement or rule they apply to, at any
//! depth, and survive formatting with their comments.

use super::*;
use crate::ast::File;
use crate::span::FileId;
use crate::syntax::parse;

fn ok(src: &str) -> File {
    let (f, d) = parse(FileId(0), src);
    assert!(d.is_empty(), "unexpected diagnostics {d:?} for:\n{src}");
    f
}

fn fmt(src: &str) -> String {
    format(&ok(src), src)
}

const CANONICAL: &str = r#"policy p {
    isolation process

    allow warning P0507 "a placeholder the next release fills in"
    test "later" {}

    fs {
        allow warning P0502 "kept while the deny is reviewed"  # ticket 42
        read "/data/private"
        deny "/data"
        # before the rule, after its suppression
        allow warning P0404 "the cache is rebuilt on every start"
        scratch "/data/cache" size 1MiB
    }

    syscalls {
        allow read
        allow warning P0405 "the debugger attaches to its own children"
        allow warning P0503 "x"
        allow ptrace
        deny ptrace
    }

    net {
        egress via proxy {
            allow warning P0506 "a reason"
            allow "a.example.com":443
            deny "*.example.com":*
        }
    }

    env {
        allow warning P0411 "the agent needs the token"
        pass API_TOKEN
    }
}
"#;

#[test]
fn suppressions_format_in_place_and_round_trip() {
    assert_eq!(fmt(CANONICAL), CANONICAL);
    let messy = CANONICAL
        .replace("    allow warning", "allow   warning")
        .replace("\"x\"\n", "\"x\";");
    let once = fmt(&messy);
    assert_eq!(once, CANONICAL);
    assert_eq!(ok(&once).items, ok(CANONICAL).items);
}

#[test]
fn suppressions_attach_to_the_rule_that_follows() {
    let f = ok(CANONICAL);
    let crate::ast::Item::Policy(b) = &f.items[0] else {
        panic!("not a policy")
    };
    let targets: Vec<(&str, &str)> = b
        .suppressions
        .iter()
        .map(|s| {
            let text = CANONICAL
                .get(s.target.start as usize..s.target.end as usize)
                .unwrap_or_default();
            (
                s.code.node.as_str(),
                text.lines().next().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("P0507", "test \"later\" {}"),
            ("P0502", "read \"/data/private\""),
            ("P0404", "scratch \"/data/cache\" size 1MiB"),
            ("P0405", "allow ptrace"),
            ("P0503", "allow ptrace"),
            ("P0506", "allow \"a.example.com\":443"),
            ("P0411", "pass API_TOKEN"),
        ]
    );
}

#[test]
fn a_suppression_without_a_rule_after_it_is_a_syntax_error() {
    let (_, d) = parse(
        FileId(0),
        "policy p {\n  isolation wasm\n  allow warning P0502 \"x\"\n}\n",
    );
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert_eq!(d.0[0].code.as_str(), "P0001");
}

#[test]
fn a_missing_reason_still_formats() {
    let src = "policy p {\n    allow warning P0507\n    test \"t\" {}\n}\n";
    assert_eq!(fmt(src), src);
}

#[test]
fn a_syscall_named_like_the_keyword_is_still_a_syscall_list() {
    let f = ok("policy p { syscalls { allow warning, read } }");
    let crate::ast::Item::Policy(b) = &f.items[0] else {
        panic!("not a policy")
    };
    assert!(b.suppressions.is_empty());
}
