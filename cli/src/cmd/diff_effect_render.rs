//! The simulator view of `policyc diff --artifacts` in every format: text for a terminal,
//! markdown for a pull-request comment, JSON, and SARIF results added to the permission
//! diff's log (drift only: a change that follows the policy is already a result on the
//! policy line).

use super::diff_effect::{Change, EffectReport, PolicyEffect, TargetEffect};
use policyc_targets::Verdict;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// At most this many changes are listed per layer and direction in text and markdown (JSON
/// lists them all).
const SHOWN: usize = 20;

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::NotMediated => "not mediated",
    }
}

/// One change in words: the request, the layer's verdicts, and what the policy did.
fn line(sign: char, c: &Change) -> String {
    let policy = if c.follows_policy {
        format!("the policy changed too: {}", word(c.policy_new))
    } else if c.policy_old == c.policy_new {
        format!(
            "DRIFT: the policy did not change ({} on both sides)",
            word(c.policy_new)
        )
    } else {
        format!(
            "DRIFT: the policy changed the other way ({} -> {})",
            word(c.policy_old),
            word(c.policy_new)
        )
    };
    let rule = c
        .rule
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{sign} {}: {} -> {}; {policy}{rule}",
        c.request,
        word(c.old),
        word(c.new)
    )
}

fn summary(t: &TargetEffect) -> String {
    let drift = t.drift().count();
    let files = if t.changed_files.is_empty() {
        "bytes unchanged".to_string()
    } else {
        format!("changed {}", t.changed_files.join(", "))
    };
    if t.widens.is_empty() && t.narrows.is_empty() {
        return format!("{}: no change in effect; {files}", t.target);
    }
    format!(
        "{}: widens {}, narrows {}, drift {drift}; {files}",
        t.target,
        t.widens.len(),
        t.narrows.len()
    )
}

fn changes(t: &TargetEffect, indent: &str, s: &mut String) {
    for (sign, list) in [('+', &t.widens), ('-', &t.narrows)] {
        for c in list.iter().take(SHOWN) {
            let _ = writeln!(s, "{indent}{}", line(sign, c));
        }
        if list.len() > SHOWN {
            let _ = writeln!(s, "{indent}{sign} ... and {} more", list.len() - SHOWN);
        }
    }
}

fn unchanged(p: &PolicyEffect) -> bool {
    p.targets
        .iter()
        .all(|t| t.widens.is_empty() && t.narrows.is_empty())
}

fn header(r: &EffectReport) -> String {
    format!(
        "{} -> {}, requests from both versions' tests and adversarial pools (seed {})",
        r.old, r.new, r.seed
    )
}

/// Text for a terminal.
pub(crate) fn text(r: &EffectReport) -> String {
    let mut s = format!("artifacts, by their simulators: {}\n", header(r));
    for p in &r.policies {
        if unchanged(p) {
            let _ = writeln!(
                s,
                "{}: no change in effect ({} requests)",
                p.policy, p.requests
            );
        } else {
            let _ = writeln!(s, "{} ({} requests)", p.policy, p.requests);
        }
        for t in &p.targets {
            let _ = writeln!(s, "  {}", summary(t));
            changes(t, "    ", &mut s);
        }
        for n in &p.notes {
            let _ = writeln!(s, "  note: {n}");
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// Markdown for a pull-request comment: a table per layer, then the changes folded.
pub(crate) fn markdown(r: &EffectReport) -> String {
    let mut s = format!(
        "\n#### Artifacts, by their simulators\n\n{}.\n\n",
        header(r).replace(" -> ", " → ")
    );
    if r.policies.is_empty() {
        s.push_str("No policy is in both builds.\n");
    } else {
        s.push_str("| policy | layer | widens | narrows | drift | changed files |\n");
        s.push_str("|---|---|---:|---:|---:|---|\n");
        for p in &r.policies {
            for t in &p.targets {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    p.policy,
                    t.target,
                    t.widens.len(),
                    t.narrows.len(),
                    t.drift().count(),
                    t.changed_files.join(", ")
                );
            }
        }
    }
    for p in &r.policies {
        for t in p
            .targets
            .iter()
            .filter(|t| !t.widens.is_empty() || !t.narrows.is_empty())
        {
            let _ = writeln!(
                s,
                "\n<details><summary><code>{}</code> {}</summary>\n\n```diff",
                p.policy,
                summary(t)
            );
            changes(t, "", &mut s);
            s.push_str("```\n\n</details>\n");
        }
    }
    for n in r.policies.iter().flat_map(|p| &p.notes).chain(&r.notes) {
        let _ = writeln!(s, "\n> {n}");
    }
    s
}

/// The SARIF rules of artifact results.
fn rules() -> Value {
    json!([
        {
            "id": "policyc/artifact-drift-widens",
            "shortDescription": { "text": "An artifact allows what its policy does not newly allow" }
        },
        {
            "id": "policyc/artifact-drift",
            "shortDescription": { "text": "An artifact changed in a way its policy did not" }
        }
    ])
}

/// Add the drift of `r` to a SARIF log (the permission diff's, as text): one result per
/// layer that drifted, on its first changed file in the new build, errors when it widens.
pub(crate) fn add_to_sarif(sarif: &str, r: &EffectReport) -> String {
    let Ok(mut log) = serde_json::from_str::<Value>(sarif) else {
        return sarif.to_string();
    };
    if let Some(run) = log.get_mut("runs").and_then(|v| v.get_mut(0)) {
        if let Some(list) = run
            .pointer_mut("/tool/driver/rules")
            .and_then(Value::as_array_mut)
        {
            list.extend(rules().as_array().cloned().unwrap_or_default());
        }
        let results: Vec<Value> = r
            .policies
            .iter()
            .flat_map(|p| p.targets.iter().filter_map(move |t| result(r, p, t)))
            .collect();
        if let Some(list) = run.get_mut("results").and_then(Value::as_array_mut) {
            list.extend(results);
        }
    }
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

fn result(r: &EffectReport, p: &PolicyEffect, t: &TargetEffect) -> Option<Value> {
    let drift: Vec<&Change> = t.drift().collect();
    let first = drift.first()?;
    let widens = t.widens.iter().any(|c| !c.follows_policy);
    let (rule, level) = if widens {
        ("policyc/artifact-drift-widens", "error")
    } else {
        ("policyc/artifact-drift", "warning")
    };
    let file = t.changed_files.first().map_or_else(
        || format!("{}/{}", r.new, p.policy),
        |f| format!("{}/{}/{f}", r.new, p.policy),
    );
    let text = format!(
        "{} of `{}`: {} request(s) changed in a way the policy did not, e.g. {}",
        t.target,
        p.policy,
        drift.len(),
        line(if widens { '+' } else { '-' }, first)
    );
    Some(json!({
        "ruleId": rule,
        "level": level,
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file },
                "region": { "startLine": 1 }
            }
        }]
    }))
}
