//! Human text: per policy, each entry with its class, risk and the deciding rule on both
//! sides.

use super::super::{Entry, PolicyDiff, Report, SideNote};
use std::fmt::Write;

/// Render a report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for p in &report.policies {
        policy(&mut out, p);
    }
    let _ = writeln!(out, "{}", super::summary(report));
    out
}

fn files(p: &PolicyDiff) -> String {
    match (&p.old_file, &p.new_file) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a} -> {b}"),
        (Some(a), None) => format!("{a}, removed"),
        (None, Some(b)) => format!("{b}, added"),
        (None, None) => String::new(),
    }
}

fn policy(out: &mut String, p: &PolicyDiff) {
    if p.entries.is_empty() {
        let _ = writeln!(
            out,
            "policy {} ({}): no change in effect",
            p.policy,
            files(p)
        );
        return;
    }
    let _ = writeln!(
        out,
        "policy {} ({}): {}",
        p.policy,
        files(p),
        super::counts(p)
    );
    for e in &p.entries {
        entry(out, e);
    }
    out.push('\n');
}

fn side(out: &mut String, label: &str, s: &SideNote) {
    match &s.at {
        Some(at) => {
            let _ = writeln!(out, "             {label}: {} ({at})", s.reason);
        }
        None => {
            let _ = writeln!(out, "             {label}: {}", s.reason);
        }
    }
}

fn entry(out: &mut String, e: &Entry) {
    let _ = writeln!(out, "  {:<9}  {}", e.class.word(), e.change);
    if let Some(r) = &e.risk {
        match r.threat {
            Some(t) => {
                let _ = writeln!(out, "             risk ({}): {}", t.keyword(), r.note);
            }
            None => {
                let _ = writeln!(out, "             note: {}", r.note);
            }
        }
    }
    side(out, "old", &e.old);
    side(out, "new", &e.new);
}
