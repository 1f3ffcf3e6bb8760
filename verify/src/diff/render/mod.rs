//! How a [`Report`](super::Report) is printed: human text, a markdown pull-request comment,
//! JSON, and SARIF 2.1.0 for code scanning.

pub mod markdown;
pub mod sarif;
pub mod text;

use super::{Class, PolicyDiff, Report};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Markdown,
    Json,
    Sarif,
}

/// Render a report in a format. Every format ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Human => text::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => json(report),
        Format::Sarif => sarif::render(report),
    }
}

/// The report as one JSON document.
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).unwrap_or_default();
    out.push('\n');
    out
}

/// `2 widening, 1 narrowing, 0 neutral`.
pub(crate) fn counts(p: &PolicyDiff) -> String {
    format!(
        "{} widening, {} narrowing, {} neutral",
        p.count(Class::Widens),
        p.count(Class::Narrows),
        p.count(Class::Neutral)
    )
}

/// The one-line verdict over a whole report.
pub(crate) fn summary(report: &Report) -> String {
    if report.unchanged() {
        return "no change in effect".to_string();
    }
    let total = |c: Class| -> usize { report.policies.iter().map(|p| p.count(c)).sum() };
    let changed = report
        .policies
        .iter()
        .filter(|p| !p.entries.is_empty())
        .count();
    let threats: usize = report.policies.iter().map(PolicyDiff::threats).sum();
    format!(
        "{} widening ({threats} against a declared threat), {} narrowing, {} neutral change{} in {changed} of {} polic{}",
        total(Class::Widens),
        total(Class::Narrows),
        total(Class::Neutral),
        if total(Class::Neutral) == 1 { "" } else { "s" },
        report.policies.len(),
        if report.policies.len() == 1 { "y" } else { "ies" },
    )
}
