//! `--junit FILE`: JUnit XML (through quick-junit), one `testsuite` per policy and one
//! `testcase` per test case and layer (not-mediated layers are `skipped` with that reason),
//! plus one per finding; and one `testsuite` named `files` with a failing `testcase` per
//! input file that could not be read or has errors, so a report never looks clean when
//! nothing was tested.

use super::{Block, PolicyResult, Row};
use policyc_verify::Outcome;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// An input file `policyc test` could not test, and why.
#[derive(Debug, Clone)]
pub struct Untested {
    pub file: String,
    pub why: String,
}

/// The JUnit XML document for every policy's results and the files not tested.
pub fn document(all: &[PolicyResult], untested: &[Untested]) -> String {
    let mut report = Report::new("policyc test");
    for r in all {
        report.add_test_suite(suite(r));
    }
    if !untested.is_empty() {
        let mut files = TestSuite::new("files");
        for u in untested {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(u.why.as_str());
            let mut case = TestCase::new(u.file.as_str(), status);
            case.set_classname("files");
            files.add_test_case(case);
        }
        report.add_test_suite(files);
    }
    // Serialising a report built only from strings cannot fail but through I/O into a
    // `Vec`; an empty report says so rather than panic.
    report.to_string().unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- the report could not be serialised: {e} -->\n")
    })
}

fn suite(r: &PolicyResult) -> TestSuite {
    let mut s = TestSuite::new(r.policy.as_str());
    s.extra.insert("file".into(), r.file.as_str().into());
    for row in &r.rows {
        s.add_test_case(row_case(r, row));
    }
    for (b, fails) in &r.blocks {
        s.add_test_case(block_case(r, b, *fails));
    }
    s
}

fn row_case(r: &PolicyResult, row: &Row) -> TestCase {
    let status = match row.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail | Outcome::NotBuilt | Outcome::Unenforced => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(row.detail.as_str());
            s.set_description(format!("at {}", row.location));
            s
        }
        Outcome::NotMediated | Outcome::Unverified => {
            let why = match (row.outcome, row.detail.is_empty()) {
                (Outcome::NotMediated, true) => "not mediated by this target".to_string(),
                (Outcome::NotMediated, false) => row.detail.clone(),
                _ => format!("not verifiable live: {}", row.detail),
            };
            let mut s = TestCaseStatus::skipped();
            s.set_message(why);
            s
        }
    };
    let mut case = TestCase::new(format!("{} [{}]", row.case, row.layer), status);
    case.set_classname(format!("{}.{}", r.policy, row.test));
    case
}

fn block_case(r: &PolicyResult, b: &Block, fails: bool) -> TestCase {
    let text = b.lines.join("\n");
    let mut case = if fails {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(b.title.as_str());
        s.set_description(text);
        TestCase::new(b.title.as_str(), s)
    } else {
        let mut c = TestCase::new(b.title.as_str(), TestCaseStatus::success());
        c.set_system_out(text);
        c
    };
    case.set_classname(format!("{}.findings", r.policy));
    case
}
