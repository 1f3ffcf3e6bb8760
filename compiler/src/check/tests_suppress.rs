//! `allow warning CODE "reason"`: silences that warning on the rule after it, only there;
//! needs a reason; cannot allow errors, the hole-marking warnings, or a warning that guards
//! a declared threat; an unused one is a warning itself.

use super::*;
use crate::diag::Severity;

fn compile_src(src: &str) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("s.policy", src);
    compile(&mut sources, id, &NoModules)
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

const TWO_SHADOWED: &str = r#"policy p {
    isolation wasm
    THREATS
    fs {
        deny "/data"
        ALLOW
        read "/data/a"
        read "/data/b"
    }
}"#;

fn shadowed(allow: &str, threats: &str) -> Compiled {
    compile_src(
        &TWO_SHADOWED
            .replace("ALLOW", allow)
            .replace("THREATS", threats),
    )
}

#[test]
fn a_suppression_silences_its_code_on_the_next_rule_only() {
    let c = shadowed("", "");
    assert_eq!(codes(&c), ["P0502", "P0502"]);
    let allow = r#"allow warning P0502 "a is read through the deny's review""#;
    let c = shadowed(allow, "");
    assert_eq!(codes(&c), ["P0502"], "{:#?}", c.diagnostics);
    // The remaining warning is the one on `/data/b`.
    let src = TWO_SHADOWED.replace("ALLOW", allow).replace("THREATS", "");
    let b = src.find("read \"/data/b\"").unwrap();
    assert_eq!(c.diagnostics.0[0].span.start as usize, b);
    assert_eq!(c.suppressions.len(), 1);
    let s = &c.suppressions[0];
    assert_eq!((s.policy.as_str(), s.code.as_str()), ("p", "P0502"));
    assert_eq!(s.reason, "a is read through the deny's review");
    assert_eq!(s.silenced.len(), 1);
    assert_eq!(c.policies.len(), 1);
}

#[test]
fn a_suppression_of_another_code_silences_nothing_and_is_unused() {
    let c = shadowed(r#"allow warning P0501 "not this one""#, "");
    assert_eq!(codes(&c), ["P0511", "P0502", "P0502"]);
    let d = &c.diagnostics.0[0];
    assert_eq!(d.severity, Severity::Warning);
    assert!(d.message.contains("silences nothing"), "{}", d.message);
}

#[test]
fn the_reason_is_required() {
    for allow in ["allow warning P0502", r#"allow warning P0502 "  ""#] {
        let c = shadowed(allow, "");
        assert!(codes(&c).contains(&"P0509"), "{allow}: {:?}", codes(&c));
        assert!(c.policies.is_empty());
    }
}

#[test]
fn errors_holes_and_unknown_codes_cannot_be_allowed() {
    for (code, says) in [
        ("P0201", "it is an error"),
        ("P0409", "hide the hole"),
        ("P0410", "hide the hole"),
        ("P0511", "suppressions themselves"),
        ("P0805", "the targets report it"),
        ("P0052", "not a diagnostic code"),
        ("W123", "not a diagnostic code"),
    ] {
        let c = shadowed(&format!("allow warning {code} \"why\""), "");
        let d: Vec<&Diagnostic> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::UnsuppressibleCode)
            .collect();
        assert_eq!(d.len(), 1, "{code}: {:#?}", c.diagnostics);
        assert!(d[0].message.contains(says), "{code}: {}", d[0].message);
        assert!(c.policies.is_empty());
    }
    let c = shadowed("allow warning P0520 \"why\"", "");
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.code == Code::UnsuppressibleCode)
        .unwrap();
    assert_eq!(d.hint.as_deref(), Some("did you mean `P0502`?"));
}

const DANGEROUS: &str = r#"policy p {
    isolation process
    THREATS
    syscalls {
        allow read
        allow warning P0405 "the debugger attaches to its own children"
        allow ptrace
    }
}"#;

#[test]
fn a_warning_that_guards_a_declared_threat_cannot_be_allowed() {
    let c = compile_src(&DANGEROUS.replace("THREATS", ""));
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    assert_eq!(c.suppressions[0].silenced.len(), 1);
    // `tampering` is not what P0405 guards: still allowed.
    let c = compile_src(&DANGEROUS.replace("THREATS", "threats tampering"));
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    let c = compile_src(&DANGEROUS.replace("THREATS", "threats privilege_escalation"));
    assert!(codes(&c).contains(&"P0510"), "{:?}", codes(&c));
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.code == Code::UnsuppressibleCode)
        .unwrap();
    assert!(
        d.message.contains("`privilege_escalation`"),
        "{}",
        d.message
    );
    assert!(c.policies.is_empty());
}

#[test]
fn a_suppression_in_a_fragment_applies_in_each_including_policy() {
    let src = r#"
fragment debug {
    syscalls {
        allow warning P0405 "the debugger attaches to its own children"
        allow ptrace
    }
}
policy a { isolation process; include debug; syscalls { allow read } }
policy b { isolation process; include debug; syscalls { allow read } }
"#;
    let c = compile_src(src);
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    let names: Vec<&str> = c.suppressions.iter().map(|s| s.policy.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    // A fragment no policy includes is never checked: its suppression is not "unused".
    let c = compile_src(&src.replace("include debug;", ""));
    assert!(!codes(&c).contains(&"P0511"), "{:?}", codes(&c));
}

#[test]
fn a_statement_level_suppression_covers_the_whole_statement() {
    let src = r#"policy p {
    isolation wasm
    allow warning P0507 "filled in by the next change"
    test "later" { }
}"#;
    let c = compile_src(src);
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    let c = compile_src(&src.replace("allow warning P0507 \"filled in by the next change\"", ""));
    assert_eq!(codes(&c), ["P0507"]);
}
