//! `--junit FILE`: JUnit XML, one `testsuite` per policy and one `testcase` per test case
//! and layer (not-mediated layers are `skipped` with that reason), plus one per finding.

use super::PolicyResult;
use policyc_verify::Outcome;
use std::fmt::Write;

/// The JUnit XML document for every policy's results.
pub fn document(all: &[PolicyResult]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"policyc test\">\n",
    );
    for r in all {
        suite(r, &mut out);
    }
    out.push_str("</testsuites>\n");
    out
}

fn suite(r: &PolicyResult, out: &mut String) {
    let failures = r.rows.iter().filter(|x| x.outcome.fails()).count()
        + r.blocks.iter().filter(|(_, f)| *f).count();
    let skipped = r
        .rows
        .iter()
        .filter(|x| matches!(x.outcome, Outcome::NotMediated | Outcome::Unverified))
        .count();
    let tests = r.rows.len() + r.blocks.len();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" file=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        esc(&r.policy),
        esc(&r.file)
    );
    for row in &r.rows {
        let _ = write!(
            out,
            "    <testcase classname=\"{}.{}\" name=\"{} [{}]\"",
            esc(&r.policy),
            esc(&row.test),
            esc(&row.case),
            esc(&row.layer)
        );
        match row.outcome {
            Outcome::Pass => out.push_str("/>\n"),
            Outcome::Fail | Outcome::NotBuilt | Outcome::Unenforced => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">at {}</failure>\n    </testcase>",
                    esc(&row.detail),
                    esc(&row.location)
                );
            }
            Outcome::NotMediated | Outcome::Unverified => {
                let why = if row.outcome == Outcome::NotMediated {
                    "not mediated by this target".to_string()
                } else {
                    format!("not verifiable live: {}", row.detail)
                };
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(&why)
                );
            }
        }
    }
    for (b, fails) in &r.blocks {
        let _ = write!(
            out,
            "    <testcase classname=\"{}.findings\" name=\"{}\"",
            esc(&r.policy),
            esc(&b.title)
        );
        if *fails {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                esc(&b.title),
                esc(&b.lines.join("\n"))
            );
        } else {
            let _ = writeln!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                esc(&b.lines.join("\n"))
            );
        }
    }
    out.push_str("  </testsuite>\n");
}

/// Escape for XML attributes and text; characters XML 1.0 cannot carry become U+FFFD.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' => o.push_str("&#10;"),
            '\t' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}
