//! Why a policy allows or denies one request: the reference decision with the rule that
//! decides it (its `file:line` and the item it is written in, a fragment or paths list of a
//! `use`d module included), and each layer's verdict with the artifact parts that decide
//! there, read by the same simulators `policyc test` runs. Explain therefore cannot
//! disagree with what the layers enforce: it is their answer.

use crate::leak;
use crate::outcome::Outcome;
use crate::probe::{self, Probe};
use crate::run::Layer;
use policyc_compiler::eval::Decision;
use policyc_compiler::ir::Policy;
use policyc_compiler::{Request, SourceMap, Span};
use policyc_targets::Verdict;
use serde::Serialize;

/// The answer for one request.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub policy: String,
    pub request: String,
    /// The reference semantics' decision.
    pub reference: Decision,
    /// The rule that decides, when one does (none: the built-in default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// Each layer of the policy's stack, in registry order.
    pub layers: Vec<LayerAnswer>,
}

/// A rule's place in the sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// `file:line:col`.
    pub at: String,
    /// The top-level item the rule is written in: `policy p`, `fragment runtime_guards`,
    /// `paths ssh_keys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The source line, trimmed.
    pub line: String,
}

/// One layer's answer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerAnswer {
    pub target: &'static str,
    /// The simulator's verdict; `None` when the target could not build the policy.
    pub verdict: Option<Verdict>,
    /// How that compares with the reference decision.
    pub outcome: Outcome,
    /// The artifact parts that decide: the target's own explanation (a BPF path), or the
    /// artifact lines naming the request's path, host or syscall.
    pub evidence: Vec<String>,
}

/// Explain `request` under `policy`, whose `layers` were emitted with `home`.
pub fn explain(
    policy: &Policy,
    sources: &SourceMap,
    layers: &[Layer],
    home: Option<&str>,
    request: &Request,
) -> Explanation {
    let probe = Probe::Request(request.clone());
    let reference = probe::reference_at(policy, home, &probe);
    let expected = reference.verdict();
    let layers = layers
        .iter()
        .map(|l| {
            let verdict = l.verdict(&probe);
            let evidence = match &l.emitted {
                Ok(e) => leak::evidence(l, &e.artifacts, &probe, home),
                Err(_) => Vec::new(),
            };
            LayerAnswer {
                target: l.name(),
                verdict,
                outcome: Outcome::judge(expected, verdict),
                evidence,
            }
        })
        .collect();
    Explanation {
        policy: policy.name.clone(),
        request: request.to_string(),
        rule: reference.span.map(|s| rule_ref(sources, s)),
        reference,
        layers,
    }
}

/// Where a span is, with its line and enclosing item.
pub fn rule_ref(sources: &SourceMap, span: Span) -> RuleRef {
    let (line_no, text) = sources.get(span.file).map_or((0, String::new()), |f| {
        let (line, _) = f.line_col(span.start);
        (line, f.line_text(line).trim().to_string())
    });
    RuleRef {
        at: sources.location(span),
        item: sources
            .get(span.file)
            .and_then(|f| enclosing_item(&f.text, line_no)),
        line: text,
    }
}

/// The top-level item (an unindented `policy`, `fragment`, `paths`, `syscalls` or `token`
/// line) at or above 1-based line `line`.
fn enclosing_item(text: &str, line: usize) -> Option<String> {
    const KINDS: [&str; 5] = ["policy", "fragment", "paths", "syscalls", "token"];
    let lines: Vec<&str> = text.lines().take(line).collect();
    lines.iter().rev().find_map(|l| {
        let mut words = l.split_whitespace();
        let kind = words.next()?;
        let name = words.next()?.trim_end_matches('{');
        (!l.starts_with(char::is_whitespace) && KINDS.contains(&kind) && !name.is_empty())
            .then(|| format!("{kind} {name}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enclosing_item_is_the_nearest_unindented_declaration() {
        let text = "use std::secrets\n\nfragment guards {\n    fs { deny \"~/x\" }\n}\n\npolicy p {\n    fs { read \"/d\" }\n}\n";
        assert_eq!(enclosing_item(text, 4).as_deref(), Some("fragment guards"));
        assert_eq!(enclosing_item(text, 8).as_deref(), Some("policy p"));
        assert_eq!(enclosing_item(text, 1), None);
    }
}
