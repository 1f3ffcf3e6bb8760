//! The `env` block: what the program's environment holds, and the diagnostics for names
//! given twice and for names that look like credentials.

use super::*;

fn run(src: &str) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("test.policy", src);
    compile(&mut sources, id, &NoModules)
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

const HEAD: &str = "policy p { isolation process; syscalls { allow read } ";

#[test]
fn passed_and_set_names_reach_the_ir() {
    let c = run(&format!(
        "{HEAD} env {{ pass LANG, TERM; set PYTHONDONTWRITEBYTECODE \"1\" }} }}"
    ));
    assert!(codes(&c).is_empty(), "{:?}", c.diagnostics);
    let env = &c.policies[0].env;
    assert_eq!(
        env.pass.iter().map(String::as_str).collect::<Vec<_>>(),
        ["LANG", "TERM"]
    );
    assert_eq!(
        env.set.get("PYTHONDONTWRITEBYTECODE").map(String::as_str),
        Some("1")
    );
}

#[test]
fn a_policy_without_env_passes_nothing() {
    let c = run(&format!("{HEAD} }}"));
    assert!(c.policies[0].env.is_empty());
    let json = serde_json::to_string(&c.policies[0]).unwrap();
    assert!(!json.contains("\"env\""), "{json}");
}

#[test]
fn env_blocks_of_included_fragments_add_up() {
    let c = run(
        "fragment f { env { pass LANG } }\npolicy p { isolation process; include f; env { set A \"1\" } }",
    );
    let env = &c.policies[0].env;
    assert!(env.pass.contains("LANG") && env.set.contains_key("A"));
}

#[test]
fn a_name_passed_and_set_is_p0319() {
    let c = run(&format!("{HEAD} env {{ pass LANG; set LANG \"C\" }} }}"));
    assert_eq!(codes(&c), ["P0319"]);
    assert!(c.policies.is_empty());
    let c = run(&format!("{HEAD} env {{ set A \"1\"; set A \"2\" }} }}"));
    assert_eq!(codes(&c), ["P0319"]);
}

#[test]
fn a_nul_in_a_value_is_p0319() {
    let c = run(&format!("{HEAD} env {{ set A \"x\\0y\" }} }}"));
    assert_eq!(codes(&c), ["P0319"]);
}

#[test]
fn passing_a_credential_name_is_p0411_and_names_the_threat() {
    let c = run(
        "policy p { isolation process; threats credential_theft; syscalls { allow read } env { pass GITHUB_TOKEN, LANG } }",
    );
    assert_eq!(codes(&c), ["P0411"]);
    let d = &c.diagnostics.0[0];
    assert!(d.message.contains("GITHUB_TOKEN") && d.message.contains("credential theft"));
    assert_eq!(c.policies.len(), 1, "a warning keeps the policy");
}

#[test]
fn env_is_a_keyword_so_it_cannot_name_a_fragment() {
    let c = run("fragment env { }");
    assert_eq!(codes(&c), ["P0001"]);
}

#[test]
fn metadata_requests_are_decided_as_writes() {
    let c = run(r#"policy p {
    isolation process
    syscalls { allow read }
    fs {
        read "~/Notes"
        write "~/Reports"
    }
    test "metadata" {
        deny chmod "~/.ssh/id_rsa"
        deny utime "~/.bashrc"
        deny chown "~/Notes/a.md"
        deny xattr "~/Notes/a.md"
        allow chmod "~/Reports/r.md"
        allow utime "~/Reports/r.md"
    }
}"#);
    assert!(codes(&c).is_empty(), "{:?}", c.diagnostics);
    let p = &c.policies[0];
    let cases = &p.tests[0].cases;
    assert_eq!(cases.len(), 6);
    for case in cases {
        assert!(
            matches!(case.request, crate::request::Request::Meta { .. }),
            "{}",
            case.request
        );
        let d = crate::eval::decide(p, &case.request);
        assert_eq!(d.allow, case.expect_allow, "{}", case.request);
    }
    assert_eq!(cases[0].request.to_string(), "chmod \"~/.ssh/id_rsa\"");
}
