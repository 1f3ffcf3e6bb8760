//! `--format json`: one document with every policy's rows, findings and coverage.

use super::{BlockKind, PolicyResult, Totals};
use policyc_verify::Outcome;
use serde_json::{json, Value};

/// The JSON document for every policy's results and the totals.
pub fn document(all: &[PolicyResult], t: &Totals) -> String {
    let policies: Vec<Value> = all.iter().map(policy).collect();
    let doc = json!({
        "policies": policies,
        "summary": {
            "passed": t.passed,
            "failed": t.failed,
            "not_mediated": t.not_mediated,
            "not_verifiable_live": t.unverified,
            "stack_checked": t.stack_checked,
            "findings": t.findings,
            "declared_limits": t.limits,
            "files_with_errors": t.broken_files,
            "ok": !t.failed(),
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn policy(r: &PolicyResult) -> Value {
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            json!({
                "test": row.test,
                "case": row.case,
                "layer": row.layer,
                "outcome": match row.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail | Outcome::NotBuilt => "fail",
                    Outcome::NotMediated => "not-mediated",
                    Outcome::Unverified => "not-verifiable",
                    Outcome::Unenforced => "unenforced",
                },
                "detail": row.detail,
                "location": row.location,
            })
        })
        .collect();
    let findings: Vec<Value> = r
        .blocks
        .iter()
        .map(|(b, fails)| {
            json!({
                "kind": match b.kind {
                    BlockKind::BuildError => "build-error",
                    BlockKind::Leak => "leak",
                    BlockKind::Gap => "gap",
                    BlockKind::Limit => "limit",
                    BlockKind::LiveLayer => "live-layer",
                    BlockKind::LiveNote => "live-note",
                },
                "fails": fails,
                "title": b.title,
                "lines": b.lines,
            })
        })
        .collect();
    json!({
        "policy": r.policy,
        "file": r.file,
        "cases": rows,
        "findings": findings,
        "stack_checked": r.stack_checked,
        "coverage": r.coverage_json,
    })
}
