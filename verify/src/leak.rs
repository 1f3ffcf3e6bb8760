//! Leaks: a target allowing what the policy denies. A leak report names the target, the
//! request, the artifact lines or BPF instructions that allow it, the rule that should have
//! denied it, and (see [`crate::minimize`]) a minimal reproducing policy.

use crate::probe::{self, Probe};
use crate::run::Layer;
use policyc_compiler::eval::Decision;
use policyc_compiler::ir::Policy;
use policyc_compiler::Request;
use policyc_targets::{Artifacts, Verdict};

/// The most artifact lines a report quotes.
const MAX_EVIDENCE: usize = 12;

/// One target allowing one request the policy denies.
#[derive(Debug, Clone)]
pub struct Leak {
    pub target: &'static str,
    pub probe: Probe,
    /// The reference decision: why the policy denies it, and which rule says so.
    pub reference: Decision,
    /// The artifact lines or instructions that allow it.
    pub evidence: Vec<String>,
}

/// Every layer that allows `p` while the policy denies it.
pub fn find(policy: &Policy, layers: &[Layer], home: Option<&str>, p: &Probe) -> Vec<Leak> {
    let mut out = Vec::new();
    let mut reference = None;
    for l in layers {
        let Ok(emitted) = &l.emitted else { continue };
        if l.verdict(p) != Some(Verdict::Allow) {
            continue;
        }
        let r = reference.get_or_insert_with(|| probe::reference_at(policy, home, p));
        if r.allow {
            continue;
        }
        out.push(Leak {
            target: l.name(),
            probe: p.clone(),
            reference: r.clone(),
            evidence: evidence(l, &emitted.artifacts, p, home),
        });
    }
    out
}

/// The artifact parts that allow `p`: the target's own explanation (e.g. the BPF path), or
/// the text lines that name the request's path (its longest named ancestor), host or port.
pub fn evidence(
    layer: &Layer,
    artifacts: &Artifacts,
    p: &Probe,
    home: Option<&str>,
) -> Vec<String> {
    let own = match p {
        Probe::Request(r) => layer.target.explain(artifacts, r),
        Probe::Raw { .. } => Vec::new(),
    };
    if !own.is_empty() {
        return own;
    }
    let needles = needles(p, home);
    for needle in &needles {
        let lines = quote(artifacts, needle);
        if !lines.is_empty() {
            return lines;
        }
    }
    Vec::new()
}

/// Strings to look for, most specific first.
fn needles(p: &Probe, home: Option<&str>) -> Vec<String> {
    match p {
        Probe::Request(Request::Fs { path, .. } | Request::Meta { path, .. }) => path
            .ancestors()
            .flat_map(|a| {
                let s = a.as_str().to_string();
                let resolved = home.and_then(|h| {
                    s.strip_prefix('~')
                        .map(|rest| format!("{}{rest}", h.trim_end_matches('/')))
                });
                resolved.into_iter().chain(std::iter::once(s))
            })
            .filter(|s| s != "/" && s != "~")
            .collect(),
        Probe::Request(Request::Connect { host, port }) => {
            vec![host.to_string(), port.to_string()]
        }
        Probe::Request(Request::Resolve { host }) => vec![host.to_string()],
        Probe::Request(Request::Syscall { name, .. }) => vec![format!("\"{name}\"")],
        Probe::Raw { .. } => Vec::new(),
    }
}

/// Lines of text artifacts containing `needle` followed by a path boundary.
fn quote(artifacts: &Artifacts, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, bytes) in artifacts {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if contains_bounded(line, needle) {
                out.push(format!("{name}:{}: {}", i + 1, line.trim()));
                if out.len() >= MAX_EVIDENCE {
                    return out;
                }
            }
        }
    }
    out
}

fn contains_bounded(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, m)| {
        let after = line.get(i + m.len()..).and_then(|r| r.chars().next());
        matches!(after, None | Some('"' | '/' | ' ' | ',' | '}' | ':' | '\''))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bounded_matches_do_not_take_siblings() {
        assert!(contains_bounded("  \"/data/\" r,", "/data"));
        assert!(contains_bounded("\"source\": \"/data\"", "/data"));
        assert!(!contains_bounded("\"source\": \"/data2\"", "/data"));
    }
}
