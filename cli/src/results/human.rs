//! Human output: one line per test case and layer, then findings, limits and coverage.

use super::{BlockKind, PolicyResult, RowOutcome};

/// Print one policy's results to stdout.
pub fn print(r: &PolicyResult, quiet: bool) {
    for row in &r.rows {
        let tag = match row.outcome {
            RowOutcome::Pass => "PASS",
            RowOutcome::Fail => "FAIL",
            RowOutcome::NotMediated => "n/a",
            RowOutcome::Unverified => "?",
        };
        if quiet && row.outcome != RowOutcome::Fail {
            continue;
        }
        println!(
            "{tag:<5} {:<13} {} > {} > {}",
            row.layer, r.policy, row.test, row.case
        );
        if row.outcome == RowOutcome::Fail {
            println!("      at {}: {}", row.location, row.detail);
        } else if row.outcome == RowOutcome::Unverified && !row.detail.is_empty() {
            println!("      {}", row.detail);
        }
    }
    for (b, fails) in &r.blocks {
        let tag = match (b.kind, fails) {
            (BlockKind::Leak, _) => "LEAK",
            (BlockKind::Gap, _) => "GAP",
            (BlockKind::BuildError, _) => "ERROR",
            (BlockKind::Limit, _) => "LIMIT",
            (BlockKind::LiveLayer, true) => "FAIL",
            (BlockKind::LiveLayer | BlockKind::LiveNote, _) => "NOTE",
        };
        println!("{tag:<5} {}: {}", r.policy, b.title);
        for l in &b.lines {
            println!("      {l}");
        }
    }
    println!(
        "stack {}: {} requests the policy denies were checked against its layers",
        r.policy, r.stack_checked
    );
    for (i, l) in r.coverage.iter().enumerate() {
        if i == 0 {
            println!("coverage {}: {l}", r.policy);
        } else {
            println!("      {l}");
        }
    }
}
