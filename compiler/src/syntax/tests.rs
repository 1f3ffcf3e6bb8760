use super::*;
use crate::ast::*;

fn ok(src: &str) -> File {
    let (f, d) = parse(FileId(0), src);
    assert!(d.is_empty(), "unexpected diagnostics: {d:?}");
    f
}

fn err(src: &str) -> Diagnostics {
    let (_, d) = parse(FileId(0), src);
    assert!(d.has_errors(), "expected an error for {src}");
    d
}

#[test]
fn parses_the_design_example() {
    let f = ok(r#"
use std::secrets            # credential locations no agent may read
use std::runtime::python

/// Scans ~/Documents.
policy document_organizer {
    isolation container
    threats exfiltration, tampering, persistence,
    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 256MiB     # wiped
        tmpfs "/tmp" size 64MiB
        deny secrets
        deny write "~/.bashrc"
    }
    net { egress none }
    syscalls { allow python; deny ptrace, keyctl, bpf errno EPERM; allow socket if arg0 == 1 and arg1 & 0xff != 2 }
    limits { memory 512MiB; pids 64; cpus 1.5 }
    audit { writes; egress; denials }
    test "credentials stay out of reach" {
        deny read "~/.ssh/id_ed25519"
        allow write "/mnt/scratch/report.csv"
        deny connect "example.com:443"
        deny connect "example.com":443
        deny syscall ptrace
        allow syscall socket(1, 2, 0)
        deny resolve "example.com"
    }
}
"#);
    assert_eq!(f.items.len(), 3);
    assert_eq!(f.comments.len(), 2);
    assert!(f.comments.iter().all(|c| c.trailing));
    let Some(Item::Policy(p)) = f.items.get(2) else {
        panic!("expected a policy")
    };
    assert_eq!(p.docs, vec!["Scans ~/Documents.".to_string()]);
    assert_eq!(p.stmts.len(), 8);
    let Some(Stmt::Test(t)) = p.stmts.get(7) else {
        panic!("expected a test")
    };
    assert_eq!(t.expectations.len(), 7);
    let Some(Expectation {
        request: RequestSyntax::Connect(a),
        ..
    }) = t.expectations.get(2)
    else {
        panic!("expected connect")
    };
    let Some(Expectation {
        request: RequestSyntax::Connect(b),
        ..
    }) = t.expectations.get(3)
    else {
        panic!("expected connect")
    };
    assert_eq!(a, b);
}

#[test]
fn syscall_lists_may_hold_read_and_write() {
    let f = ok("policy p { syscalls { allow read, write, deny openat } }");
    let Some(Item::Policy(p)) = f.items.first() else {
        panic!()
    };
    let Some(Stmt::Syscalls(rules, _)) = p.stmts.first() else {
        panic!()
    };
    assert_eq!(rules.len(), 2);
}

#[test]
fn trailing_commas_before_keywords() {
    ok("policy p {\n threats exfiltration,\n data pii,\n fs { read \"/a\" }\n}");
}

#[test]
fn syntax_errors_have_spans_and_expectations() {
    let d = err("policy p {\n  fs { read docs }\n}");
    let first = d.iter().next().unwrap();
    assert_eq!(first.code, Code::Syntax);
    assert_eq!(first.span.start, 23);
    assert!(first.message.contains("a string"), "{}", first.message);
}

#[test]
fn literals_out_of_range_are_diagnostics() {
    let d = err("policy p { fs { scratch \"/s\" size 99999999999999999999TiB } }");
    assert_eq!(d.iter().next().unwrap().code, Code::BadLiteral);
    let d = err("policy p { syscalls { allow socket if arg0 == 0x1ffffffffffffffff } }");
    assert_eq!(d.iter().next().unwrap().code, Code::BadLiteral);
}

#[test]
fn bad_escapes_are_diagnostics() {
    let d = err(r#"policy p { fs { read "/a\q" } }"#);
    assert_eq!(d.iter().next().unwrap().code, Code::BadEscape);
}

#[test]
fn escapes_resolve() {
    let f = ok(r#"policy p { fs { read "/a\"b\u{41}\\" } }"#);
    let Some(Item::Policy(p)) = f.items.first() else {
        panic!()
    };
    let Some(Stmt::Fs(rules, _)) = p.stmts.first() else {
        panic!()
    };
    let Some(FsRule::Mount { host, .. }) = rules.first() else {
        panic!()
    };
    assert_eq!(host.node, "/a\"bA\\");
}

#[test]
fn hash_inside_strings_is_not_a_comment() {
    let f = ok("policy p { fs { read \"/a#b\" } } # real\n");
    assert_eq!(f.comments.len(), 1);
    assert_eq!(f.comments.first().unwrap().text, " real");
}

#[test]
fn deep_nesting_is_rejected_without_recursion() {
    let src = "{".repeat(100_000);
    let d = err(&src);
    assert_eq!(d.iter().next().unwrap().code, Code::Syntax);
}

#[test]
fn doc_lines_are_not_comments() {
    let f = ok("/// see #42 and \"quotes\npolicy p { fs { read \"/a#b\" } } # real\n");
    assert_eq!(f.comments.len(), 1);
    assert_eq!(f.comments.first().unwrap().text, " real");
}

#[test]
fn access_keywords_need_a_word_boundary() {
    let f = ok("paths reader { \"/x\" }\npolicy p { fs { deny reader } }");
    let Some(Item::Policy(p)) = f.items.get(1) else {
        panic!()
    };
    let Some(Stmt::Fs(rules, _)) = p.stmts.first() else {
        panic!()
    };
    assert!(
        matches!(rules.first(), Some(FsRule::Deny { access: None, target: DenyTarget::List(n), .. }) if n.node == "reader")
    );
}

#[test]
fn conditional_denies_parse() {
    let f = ok("policy p { syscalls { deny clone if arg0 & 0x7e020000 != 0 errno EPERM; deny ioctl if arg1 == 0x5412 } }");
    let Some(Item::Policy(p)) = f.items.first() else {
        panic!()
    };
    let Some(Stmt::Syscalls(rules, _)) = p.stmts.first() else {
        panic!()
    };
    let Some(SysRule::Deny {
        condition, action, ..
    }) = rules.first()
    else {
        panic!()
    };
    assert_eq!(condition.len(), 1);
    assert!(action.is_some());
}

/// The hint of the one syntax error in `src`.
fn hint(src: &str) -> String {
    let d = err(src);
    let first = d.iter().next().unwrap();
    assert_eq!(first.code, Code::Syntax);
    first.hint.clone().unwrap_or_default()
}

#[test]
fn a_misspelt_keyword_gets_a_did_you_mean_hint() {
    for (src, keyword) in [
        ("policy p {\n    isolaton container\n}", "isolation"),
        ("policy p { isolation wasm; theats tampering }", "threats"),
        ("policy p { isolation wasm; fs { rad \"/x\" } }", "read"),
        ("policy p { isolation wasm; fs { raed \"/x\" } }", "read"),
        (
            "policy p { isolation wasm; fs { scrach \"/x\" } }",
            "scratch",
        ),
        ("policy p { isolation wasm; net { egres none } }", "egress"),
        (
            "policy p { isolation wasm; syscalls { alow read } }",
            "allow",
        ),
        (
            "policy p { isolation wasm; limits { memory 1MiB }; adit { reads } }",
            "audit",
        ),
        ("polcy p { isolation wasm }", "policy"),
        ("fragmnt f { }", "fragment"),
        ("token t { audiense \"x\" }", "audience"),
        (
            "policy p { isolation wasm; test \"t\" { deny conect \"a.b\":1 } }",
            "connect",
        ),
    ] {
        let h = hint(src);
        assert_eq!(h, format!("did you mean `{keyword}`?"), "{src}");
    }
}

#[test]
fn a_word_far_from_every_keyword_keeps_the_general_hint() {
    let h = hint("policy p {\n    mount \"/data\"\n}");
    assert!(h.starts_with("a policy body holds"), "{h}");
    let h = hint("policy p { isolation wasm; fs { read docs } }");
    assert_eq!(h, "paths and hosts are written in double quotes");
}

#[test]
fn every_listed_keyword_is_refused_as_a_name_and_its_neighbours_are_not() {
    for k in KEYWORDS {
        assert!(
            err(&format!("policy {k} {{ isolation wasm }}")).has_errors(),
            "`{k}` parses as a policy name"
        );
        ok(&format!("policy {k}_x {{ isolation wasm }}"));
    }
}
