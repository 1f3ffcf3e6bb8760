//! Human output: one line per test case and layer, then findings, limits and coverage.

use super::{BlockKind, PolicyResult};
use policyc_verify::Outcome;

/// Print one policy's results to stdout.
pub fn print(r: &PolicyResult, quiet: bool) {
    for row in &r.rows {
        let tag = match row.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail | Outcome::NotBuilt => "FAIL",
            Outcome::NotMediated => "n/a",
            Outcome::Unverified => "?",
            Outcome::Unenforced => "UNENFORCED",
        };
        if quiet && !row.outcome.fails() {
            continue;
        }
        println!(
            "{tag:<5} {:<13} {} > {} > {}",
            row.layer, r.policy, row.test, row.case
        );
        if row.outcome.fails() {
            println!("      at {}: {}", row.location, row.detail);
        } else if matches!(row.outcome, Outcome::Unverified | Outcome::NotMediated)
            && !row.detail.is_empty()
        {
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
