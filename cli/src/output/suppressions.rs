//! `policyc check --explain-suppressions`: every `allow warning` each policy applied, with
//! its reason and the warnings it silenced; and the same as JSON for `--format json`.

use policyc_compiler::diag::Diagnostic;
use policyc_compiler::{SourceMap, Span, Suppressed};
use serde::Serialize;

/// A place in a source file, 1-based.
#[derive(Debug, Clone, Serialize)]
pub struct At {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

fn at(sources: &SourceMap, span: Span) -> At {
    match sources.get(span.file) {
        Some(f) => {
            let (line, column) = f.line_col(span.start);
            At {
                file: f.name.clone(),
                line,
                column,
            }
        }
        None => At {
            file: String::new(),
            line: 0,
            column: 0,
        },
    }
}

/// One silenced warning.
#[derive(Debug, Clone, Serialize)]
pub struct Silenced {
    pub code: &'static str,
    pub message: String,
    #[serde(flatten)]
    pub at: At,
}

/// One suppression as one policy applied it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub policy: String,
    pub code: String,
    pub reason: String,
    #[serde(flatten)]
    pub at: At,
    pub silenced: Vec<Silenced>,
}

/// The entries of one compiled file, in source order.
pub fn entries(list: &[Suppressed], sources: &SourceMap) -> Vec<Entry> {
    let mut out: Vec<Entry> = list
        .iter()
        .map(|s| Entry {
            policy: s.policy.clone(),
            code: s.code.clone(),
            reason: s.reason.clone(),
            at: at(sources, s.span),
            silenced: s.silenced.iter().map(|d| silenced(d, sources)).collect(),
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column, &a.policy).cmp(&(
            &b.at.file,
            b.at.line,
            b.at.column,
            &b.policy,
        ))
    });
    out
}

fn silenced(d: &Diagnostic, sources: &SourceMap) -> Silenced {
    Silenced {
        code: d.code.as_str(),
        message: d.message.clone(),
        at: at(sources, d.span),
    }
}

/// The human listing: one paragraph per suppression and policy.
pub fn human(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "no warning is allowed (no `allow warning` applies to any policy)\n".to_string();
    }
    let mut out = String::new();
    for e in entries {
        out.push_str(&format!(
            "{}:{}:{}: policy `{}` allows {}: {:?}\n",
            e.at.file, e.at.line, e.at.column, e.policy, e.code, e.reason
        ));
        if e.silenced.is_empty() {
            out.push_str("    silences nothing here\n");
        }
        for s in &e.silenced {
            out.push_str(&format!(
                "    silences {}:{}:{}: {}\n",
                s.at.file, s.at.line, s.at.column, s.message
            ));
        }
    }
    out
}
