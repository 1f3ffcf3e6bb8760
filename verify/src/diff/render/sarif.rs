//! SARIF 2.1.0 for code scanning: one result per entry, on the policy line that decides it
//! now (or, for a removed rule, the policy's own line). Widening entries are warnings,
//! those against a declared threat errors, the rest notes. Rules from `use`d modules and the
//! old side's rules are related locations.

use super::super::{Class, Entry, Loc, PolicyDiff, Report};
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, Region,
    ReportingDescriptor, Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent,
};

/// The rules results refer to: id, short description, default level.
const RULES: [(&str, &str); 4] = [
    (
        "policyc/threat",
        "A change widens what the agent may do against a threat the policy declares",
    ),
    ("policyc/widens", "A change widens what the agent may do"),
    ("policyc/narrows", "A change narrows what the agent may do"),
    (
        "policyc/neutral",
        "A change that grants and removes nothing",
    ),
];

/// The report as a SARIF log.
pub fn render(report: &Report) -> String {
    let log = log(report);
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

/// The SARIF log for a report.
pub fn log(report: &Report) -> Sarif {
    let rules: Vec<ReportingDescriptor> = RULES
        .iter()
        .map(|(id, text)| {
            ReportingDescriptor::builder()
                .id(*id)
                .short_description(MultiformatMessageString::builder().text(*text).build())
                .build()
        })
        .collect();
    let driver = ToolComponent::builder()
        .name("policyc")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://example.invalid/policyc")
        .rules(rules)
        .build();
    let results: Vec<SarifResult> = report
        .policies
        .iter()
        .flat_map(|p| p.entries.iter().map(move |e| result(p, e)))
        .collect();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build();
    Sarif::builder()
        .version(serde_json::json!("2.1.0"))
        .schema(serde_sarif::sarif::SCHEMA_URL)
        .runs(vec![run])
        .build()
}

fn rule_and_level(e: &Entry) -> (&'static str, ResultLevel) {
    match e.class {
        _ if e.violates_threat() => ("policyc/threat", ResultLevel::Error),
        Class::Widens => ("policyc/widens", ResultLevel::Warning),
        Class::Narrows => ("policyc/narrows", ResultLevel::Note),
        Class::Neutral => ("policyc/neutral", ResultLevel::Note),
    }
}

fn location(loc: &Loc, note: Option<String>) -> Location {
    let physical = PhysicalLocation::builder()
        .artifact_location(ArtifactLocation::builder().uri(loc.file.clone()).build())
        .region(Region::builder().start_line(loc.line as i64).build())
        .build();
    match note {
        Some(text) => Location::builder()
            .physical_location(physical)
            .message(Message::builder().text(text).build())
            .build(),
        None => Location::builder().physical_location(physical).build(),
    }
}

/// The place a result is shown: the new rule in the policy's own file, else the old rule
/// when the policy is gone, else the policy's declaration.
fn primary<'a>(p: &'a PolicyDiff, e: &'a Entry) -> Option<&'a Loc> {
    let own = |l: &&Loc| !l.module;
    e.new
        .at
        .as_ref()
        .filter(own)
        .or_else(|| {
            e.old
                .at
                .as_ref()
                .filter(own)
                .filter(|_| p.new_file.is_none())
        })
        .or(p.at.as_ref())
}

fn result(p: &PolicyDiff, e: &Entry) -> SarifResult {
    let (rule, level) = rule_and_level(e);
    let mut text = format!("{}: {}", p.policy, e.change);
    if let Some(r) = &e.risk {
        text.push_str(&format!(" ({})", r.note));
    }
    text.push_str(&format!(
        ". Before: {}. After: {}.",
        e.old.reason, e.new.reason
    ));
    let main = primary(p, e);
    let related: Vec<Location> = [("old", &e.old), ("new", &e.new)]
        .into_iter()
        .filter_map(|(label, s)| {
            let at = s.at.as_ref()?;
            // `REV:path` (a file at a git revision) is no file of the checkout.
            (Some(at) != main && !at.file.contains(':'))
                .then(|| location(at, Some(format!("{label}: {}", s.reason))))
        })
        .collect();
    let b = SarifResult::builder()
        .rule_id(rule)
        .level(level)
        .message(Message::builder().text(text).build());
    match (main, related.is_empty()) {
        (Some(m), true) => b.locations(vec![location(m, None)]).build(),
        (Some(m), false) => b
            .locations(vec![location(m, None)])
            .related_locations(related)
            .build(),
        (None, _) => b.build(),
    }
}
