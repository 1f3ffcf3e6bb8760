//! A pull-request comment: a summary table of every policy, then per changed policy its
//! entries (widening first) in a table, with the deciding rules in a collapsible section.

use super::super::{Class, Entry, PolicyDiff, Report, SideNote};
use std::fmt::Write;

/// Render a report as GitHub-flavoured markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::from("## policyc: change in effective permissions\n\n");
    if report.unchanged() {
        out.push_str("**No change in effect.** ");
        let _ = writeln!(
            out,
            "{} polic{} compared; every request is decided as before.",
            report.policies.len(),
            if report.policies.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
        return out;
    }
    let _ = writeln!(out, "{}.\n", capitalised(&super::summary(report)));
    out.push_str("| policy | widens | narrows | neutral | against a declared threat |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for p in &report.policies {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            p.policy,
            p.count(Class::Widens),
            p.count(Class::Narrows),
            p.count(Class::Neutral),
            p.threats()
        );
    }
    for p in report.policies.iter().filter(|p| !p.entries.is_empty()) {
        policy(&mut out, p);
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Text safe in a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Text in a code span, whatever backticks it holds.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", cell(s))
    } else {
        format!("`{}`", cell(s))
    }
}

fn icon(e: &Entry) -> &'static str {
    match e.class {
        _ if e.violates_threat() => ":x: widens",
        Class::Widens => ":warning: widens",
        Class::Narrows => ":white_check_mark: narrows",
        Class::Neutral => "neutral",
    }
}

fn at(s: &SideNote) -> String {
    s.at.as_ref()
        .map_or("-".to_string(), |l| code(&l.to_string()))
}

fn policy(out: &mut String, p: &PolicyDiff) {
    let _ = writeln!(out, "\n### `{}`\n", p.policy);
    out.push_str("| | change | risk | old | new |\n|---|---|---|---|---|\n");
    for e in &p.entries {
        let risk = e.risk.as_ref().map_or(String::new(), |r| match r.threat {
            Some(t) => format!("**{}**: {}", t.keyword(), cell(&r.note)),
            None => cell(&r.note),
        });
        let _ = writeln!(
            out,
            "| {} | {} | {risk} | {} | {} |",
            icon(e),
            code(&e.change),
            at(&e.old),
            at(&e.new)
        );
    }
    let _ = writeln!(
        out,
        "\n<details><summary>Why: the deciding rules ({})</summary>\n",
        super::counts(p)
    );
    for e in &p.entries {
        let _ = writeln!(out, "- {}", code(&e.change));
        for (label, s) in [("old", &e.old), ("new", &e.new)] {
            match &s.at {
                Some(l) => {
                    let _ = writeln!(
                        out,
                        "  - {label}: {} ({})",
                        cell(&s.reason),
                        code(&l.to_string())
                    );
                }
                None => {
                    let _ = writeln!(out, "  - {label}: {}", cell(&s.reason));
                }
            }
        }
    }
    out.push_str("\n</details>\n");
}
