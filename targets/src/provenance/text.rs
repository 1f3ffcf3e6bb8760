//! Origins of the lines of a text artifact (an AppArmor profile, `squid.conf`,
//! `dnsmasq.conf`), and the `# file:line` comments `policyc build` writes before them.

use super::{dedup_spans, Keys, Origin};
use policyc_compiler::Span;

/// The rules each line names, by 0-based line index (comment and empty lines name none).
fn line_spans(keys: &Keys, text: &str) -> Vec<Vec<Span>> {
    text.split('\n')
        .map(|line| {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                return Vec::new();
            }
            let mut spans: Vec<Span> = words(t).flat_map(|w| keys.value(w, None)).collect();
            dedup_spans(&mut spans);
            spans
        })
        .collect()
}

/// The words of a line that may name a rule: quoted or bare words, and the domain of a
/// `key=/domain/...` setting.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.trim_matches('"');
            match w.split_once("=/") {
                Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
                None => w,
            }
        })
}

/// The origins of a text artifact: each run of consecutive lines naming the same rules,
/// once per rule.
pub(super) fn origins(keys: &Keys, text: &str) -> Vec<Origin> {
    runs(&line_spans(keys, text))
        .into_iter()
        .flat_map(|(first, last, spans)| {
            spans.into_iter().map(move |span| Origin {
                lines: Some((first + 1, last + 1)),
                pointer: None,
                span,
            })
        })
        .collect()
}

/// Runs of consecutive lines with the same non-empty rules: 0-based first and last line.
fn runs(per_line: &[Vec<Span>]) -> Vec<(usize, usize, Vec<Span>)> {
    let mut out: Vec<(usize, usize, Vec<Span>)> = Vec::new();
    for (i, spans) in per_line.iter().enumerate() {
        if spans.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((_, last, prev)) if *last + 1 == i && same(prev, spans) => *last = i,
            _ => out.push((i, i, spans.clone())),
        }
    }
    out
}

fn same(a: &[Span], b: &[Span]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.key() == y.key())
}

/// The text with `header` as its first line and a comment naming the rules before each run
/// of lines that come from them.
pub(super) fn stamp(
    keys: &Keys,
    text: &str,
    leader: &str,
    header: &str,
    locate: &dyn Fn(Span) -> String,
) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let runs = runs(&line_spans(keys, text));
    let mut next_run = runs.iter().peekable();
    let mut out = String::with_capacity(text.len() + header.len() + 64 * runs.len());
    out.push_str(header);
    out.push('\n');
    for (i, line) in lines.iter().enumerate() {
        if let Some((_, _, spans)) = next_run.next_if(|(first, _, _)| *first == i) {
            let indent = line
                .get(..line.len() - line.trim_start().len())
                .unwrap_or("");
            let mut locs: Vec<String> = spans.iter().map(|s| locate(*s)).collect();
            locs.dedup();
            out.push_str(indent);
            out.push_str(leader);
            out.push(' ');
            out.push_str(&locs.join(", "));
            out.push('\n');
        }
        out.push_str(line);
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}
