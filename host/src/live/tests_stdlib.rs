//! Live runs of the standard library's use-case policies, with their own test cases: every
//! `Allow` or `Deny` a layer observes must be the case's expectation (see `tests`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::tests::{cases, check_live, compile_one, layer};
use super::LiveVerdict;
use policyc_targets::Verdict;

fn stdlib_policy(name: &str) {
    let (file, text) = policyc_stdlib::policies()
        .iter()
        .find(|(f, _)| f.contains(name))
        .unwrap_or_else(|| panic!("no stdlib policy `{name}`"));
    let policy = compile_one(file, text);
    let cases = cases(&policy);
    let Some(runs) = check_live(&policy, &cases) else {
        return;
    };
    for run in &runs {
        let decided = run
            .verdicts
            .iter()
            .filter(|v| matches!(v, LiveVerdict::Observed(Verdict::Allow | Verdict::Deny)))
            .count();
        eprintln!(
            "{}: {} decided {decided} of {} cases live",
            policy.name,
            run.layer,
            cases.len()
        );
    }
    let syscalls = cases
        .iter()
        .filter(|(r, _)| matches!(r, policyc_compiler::Request::Syscall { .. }))
        .count();
    if let Some(sc) = runs.iter().find(|r| r.layer == "seccomp") {
        let decided = sc
            .verdicts
            .iter()
            .filter(|v| matches!(v, LiveVerdict::Observed(Verdict::Allow | Verdict::Deny)))
            .count();
        assert_eq!(
            decided, syscalls,
            "{}: every syscall case is decided by seccomp",
            policy.name
        );
    }
    let _ = layer;
}

#[test]
fn document_organizer_live() {
    stdlib_policy("document_organizer");
}

#[test]
fn email_assistant_live() {
    stdlib_policy("email_assistant");
}

/// The process policy: Landlock decides its file cases in the running kernel.
#[test]
fn report_writer_live() {
    stdlib_policy("report_writer");
}

#[test]
fn spreadsheet_generator_live() {
    stdlib_policy("spreadsheet_generator");
}

#[test]
fn every_stdlib_policy_has_a_live_test() {
    let names: Vec<&str> = policyc_stdlib::policies().iter().map(|(f, _)| *f).collect();
    for n in &names {
        assert!(
            [
                "document_organizer",
                "email_assistant",
                "report_writer",
                "spreadsheet_generator"
            ]
            .iter()
            .any(|k| n.contains(k)),
            "{n} has no live test"
        );
    }
}
