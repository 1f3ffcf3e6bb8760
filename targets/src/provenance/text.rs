//! Origins of the lines of a text artifact (an AppArmor profile, `squid.conf`,
//! `dnsmasq.conf`), and the `# file:line` comments `policyc build` writes before them.

use super::{dedup_spans, Keys, Origin};
use policyc_compiler::Span;
use std::collections::BTreeMap;

/// The rules each line names, by 0-based line index (comment and empty lines name none).
///
/// Lines that name a rule group (`policyc_r3_host`, `policyc_r3_port`: the names squid's
/// configuration gives each rule's ACLs) all take the group's rules (those the group's first
/// line naming a rule names), and the group's port (`acl policyc_r3_port port 587`) picks
/// among rules for one host.
fn line_spans(keys: &Keys, text: &str) -> Vec<Vec<Span>> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                ""
            } else {
                t
            }
        })
        .collect();
    let mut ports: BTreeMap<u32, u16> = BTreeMap::new();
    for line in &lines {
        if let ["acl", name, "port", port] = line.split_whitespace().collect::<Vec<_>>()[..] {
            if let (Some(g), Ok(p)) = (group(name), port.parse()) {
                ports.insert(g, p);
            }
        }
    }
    let mut own: Vec<Vec<Span>> = lines
        .iter()
        .map(|line| {
            let groups = groups(line);
            let port = match groups.as_slice() {
                [g] => ports.get(g).copied(),
                _ => None,
            };
            let mut spans: Vec<Span> = words(line).flat_map(|w| keys.value(&w, port)).collect();
            dedup_spans(&mut spans);
            spans
        })
        .collect();
    // A group's rules are those its first line naming any (its host ACL) names.
    let mut by_group: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
    for (line, spans) in lines.iter().zip(&own) {
        if let [g] = groups(line).as_slice() {
            if !spans.is_empty() {
                by_group.entry(*g).or_insert_with(|| spans.clone());
            }
        }
    }
    for (line, spans) in lines.iter().zip(own.iter_mut()) {
        let mut from_groups: Vec<Span> = groups(line)
            .iter()
            .filter_map(|g| by_group.get(g))
            .flatten()
            .copied()
            .collect();
        if !from_groups.is_empty() {
            dedup_spans(&mut from_groups);
            *spans = from_groups;
        }
    }
    own
}

/// The rule group an identifier names: `N` of `policyc_rN_...`.
fn group(word: &str) -> Option<u32> {
    let rest = word.trim_start_matches('!').strip_prefix("policyc_r")?;
    let (n, _) = rest.split_once('_')?;
    n.parse().ok()
}

/// Every rule group a line names, sorted and without repeats.
fn groups(line: &str) -> Vec<u32> {
    let mut out: Vec<u32> = line.split_whitespace().filter_map(group).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The words of a line that may name a rule: quoted or bare words, the domain of a
/// `key=/domain/...` setting, and `*.domain` for `.domain`.
fn words(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.trim_matches('"');
            match w.split_once("=/") {
                Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
                None => w,
            }
        })
        .flat_map(|w| {
            // `.example.com` (squid's domain and its subdomains) for `*.example.com`.
            let wild = w
                .strip_prefix('.')
                .filter(|d| !d.is_empty())
                .map(|d| format!("*.{d}"));
            std::iter::once(w.to_string()).chain(wild)
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
                instructions: None,
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
