//! The effective-permission diff on a corpus of policy pairs (`tests/diff/corpus/CASE/`
//! with `old.policy` and `new.policy`): every format is snapshotted with both sources, the
//! SARIF validates against the SARIF 2.1.0 schema, refactors show no change in effect, and
//! each widening case shows its widening.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_testkit::stdlib::compile_text;
use policyc_verify::diff::render::{render, Format};
use policyc_verify::diff::{diff, Class, Input, Report};
use std::path::Path;

fn report_for(dir: &Path) -> (String, String, Report) {
    let old = std::fs::read_to_string(dir.join("old.policy")).unwrap();
    let new = std::fs::read_to_string(dir.join("new.policy")).unwrap();
    let (os, op) = compile_text("old.policy", &old);
    let (ns, np) = compile_text("new.policy", &new);
    let report = diff(
        &[Input {
            policies: &op,
            sources: &os,
        }],
        &[Input {
            policies: &np,
            sources: &ns,
        }],
    );
    (old, new, report)
}

fn sarif_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("diff/sarif-schema-2.1.0.json")).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

#[test]
fn every_format_of_every_corpus_pair() {
    let validator = sarif_validator();
    insta::glob!("diff/corpus/*/old.policy", |path| {
        let dir = path.parent().unwrap();
        let (old, new, report) = report_for(dir);
        let mut snap = format!("//// old.policy\n{old}\n//// new.policy\n{new}\n");
        for (name, format) in [
            ("human", Format::Human),
            ("markdown", Format::Markdown),
            ("json", Format::Json),
            ("sarif", Format::Sarif),
        ] {
            let out = render(&report, format);
            snap.push_str(&format!("//// {name}\n{out}\n"));
        }
        let sarif: serde_json::Value =
            serde_json::from_str(&render(&report, Format::Sarif)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: invalid SARIF: {errors:?}",
            dir.display()
        );
        let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
        assert!(json["policies"].is_array());
        insta::assert_snapshot!(snap);
    });
}

/// The class every corpus case must show, checked apart from the snapshots so a reviewed
/// snapshot cannot hide a wrong verdict.
#[test]
fn each_case_is_classified_as_it_should_be() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff/corpus");
    let expect: &[(&str, Option<&str>)] = &[
        ("refactor_fragment_move", None),
        ("refactor_rename", None),
        ("widen_mount", Some("+ write ~/Documents/**")),
        ("add_host", Some("+ connect \"*.charts.example.com\":443")),
        ("longer_ttl", Some("~ token formula_api: ttl 5m -> 45m")),
        ("add_syscall", Some("+ syscall ptrace")),
        (
            "add_syscall_conditions",
            Some("+ syscall setpriority: now if arg0 == 0 and arg2 >= 10 (was never)"),
        ),
        ("change_isolation", Some("~ isolation container -> process")),
    ];
    for (case, widening) in expect {
        let (_, _, report) = report_for(&root.join(case));
        match widening {
            None => assert!(report.unchanged(), "{case}: {report:#?}"),
            Some(change) => {
                assert!(report.widens(), "{case} does not widen");
                let e = report.policies[0]
                    .entries
                    .iter()
                    .find(|e| e.change == *change)
                    .unwrap_or_else(|| panic!("{case}: no `{change}` in {report:#?}"));
                assert_eq!(e.class, Class::Widens, "{case}");
            }
        }
    }
}

#[test]
fn threat_risks_are_errors_in_sarif_and_widening_is_a_warning() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff/corpus");
    let (_, _, report) = report_for(&root.join("widen_mount"));
    assert!(report.violates_threat());
    let sarif: serde_json::Value = serde_json::from_str(&render(&report, Format::Sarif)).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert!(levels.contains(&"error"), "{levels:?}");
    for r in results {
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "new.policy");
        assert!(loc["region"]["startLine"].as_i64().unwrap() > 0);
    }
}
