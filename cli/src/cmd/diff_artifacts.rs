//! `policyc diff --artifacts`: what the change does to the emitted artifacts. Both sides'
//! policies are built in memory, per target, exactly as `policyc build` emits them (without
//! the provenance comments, which would differ on every line number), and each artifact's
//! text is compared as a unified diff; each hunk names the rules (`file:line`, on each side)
//! of the entries it touches. Binary artifacts (BPF programs) are compared by hash.

use policyc_compiler::ir::Policy;
use policyc_compiler::{SourceMap, Span};
use policyc_targets::{build_targets, provenance, registry, EmitContext, Target};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use similar::{ChangeTag, TextDiff};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// One side's policy and the sources its spans point into.
pub(crate) struct SidePolicy<'a> {
    pub policy: &'a Policy,
    pub sources: &'a SourceMap,
}

/// The change to one artifact of one policy.
#[derive(Debug, Serialize)]
pub(crate) struct ArtifactDiff {
    policy: String,
    target: &'static str,
    path: String,
    change: Change,
}

/// How an artifact changed.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Change {
    /// Text (JSON included): the hunks of a unified diff. An artifact only one side emits
    /// is compared with nothing.
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        only: Option<&'static str>,
        hunks: Vec<Hunk>,
    },
    /// A binary artifact: its size and sha256 on each side (`None`: not emitted).
    Binary {
        old: Option<Digest>,
        new: Option<Digest>,
    },
    /// A target could not emit for one side: why.
    Failed {
        side: &'static str,
        why: Vec<String>,
    },
}

/// A binary artifact's size and hash.
#[derive(Debug, Serialize)]
struct Digest {
    bytes: usize,
    sha256: String,
}

impl Digest {
    fn of(bytes: &[u8]) -> Digest {
        Digest {
            bytes: bytes.len(),
            sha256: Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

/// One hunk of a unified diff.
#[derive(Debug, Serialize)]
struct Hunk {
    /// `@@ -a,b +c,d @@`.
    header: String,
    /// The rules of the old side's changed lines (`file:line`).
    old_rules: Vec<String>,
    /// The rules of the new side's changed lines.
    new_rules: Vec<String>,
    /// The lines, each starting with ` `, `-` or `+`.
    lines: Vec<String>,
}

/// One side's build of one target.
enum Built {
    Artifacts(policyc_targets::Artifacts),
    Failed(Vec<String>),
    Absent,
}

/// The artifact diffs of every policy both sides name or one side names, paired by name,
/// in the order of `pairs`.
pub(crate) fn diff(
    pairs: &[(Option<SidePolicy<'_>>, Option<SidePolicy<'_>>)],
    ctx: &EmitContext,
) -> Vec<ArtifactDiff> {
    let mut out = Vec::new();
    for (old, new) in pairs {
        let Some(name) = new.as_ref().or(old.as_ref()).map(|s| s.policy.name.clone()) else {
            continue;
        };
        for t in targets(old.as_ref(), new.as_ref()) {
            let a = build(t, old.as_ref(), ctx);
            let b = build(t, new.as_ref(), ctx);
            diff_target(
                &name,
                t,
                (&a, old.as_ref()),
                (&b, new.as_ref()),
                ctx,
                &mut out,
            );
        }
    }
    out
}

/// The targets `build` emits for either side, in registry order.
fn targets(old: Option<&SidePolicy<'_>>, new: Option<&SidePolicy<'_>>) -> Vec<&'static dyn Target> {
    let names: Vec<&str> = [old, new]
        .into_iter()
        .flatten()
        .flat_map(|s| build_targets(s.policy))
        .map(|t| t.name())
        .collect();
    registry()
        .iter()
        .copied()
        .filter(|t| names.contains(&t.name()))
        .collect()
}

fn build(t: &dyn Target, side: Option<&SidePolicy<'_>>, ctx: &EmitContext) -> Built {
    let Some(side) = side else {
        return Built::Absent;
    };
    match t.emit(side.policy, ctx) {
        Ok(e) => Built::Artifacts(e.artifacts),
        Err(diags) => Built::Failed(
            diags
                .iter()
                .map(|d| format!("{}: {}", side.sources.location(d.span), d.message))
                .collect(),
        ),
    }
}

fn diff_target(
    policy: &str,
    t: &'static dyn Target,
    (a, old): (&Built, Option<&SidePolicy<'_>>),
    (b, new): (&Built, Option<&SidePolicy<'_>>),
    ctx: &EmitContext,
    out: &mut Vec<ArtifactDiff>,
) {
    let mut push = |path: String, change: Change| {
        out.push(ArtifactDiff {
            policy: policy.to_string(),
            target: t.name(),
            path,
            change,
        });
    };
    let empty = BTreeMap::new();
    let arts = |built: &Built, side: &'static str| match built {
        Built::Artifacts(a) => Ok(a.clone()),
        Built::Absent => Ok(empty.clone()),
        Built::Failed(why) => Err((side, why.clone())),
    };
    let (a, b) = match (arts(a, "old"), arts(b, "new")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err((side, why)), _) | (_, Err((side, why))) => {
            push(String::new(), Change::Failed { side, why });
            return;
        }
    };
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let (x, y) = (a.get(path), b.get(path));
        if x == y {
            continue;
        }
        let change = match (text_of(x), text_of(y)) {
            (Some(xt), Some(yt)) => Change::Text {
                only: match (x, y) {
                    (None, _) => Some("new"),
                    (_, None) => Some("old"),
                    _ => None,
                },
                hunks: hunks(
                    t,
                    path,
                    (xt, old.filter(|_| x.is_some())),
                    (yt, new.filter(|_| y.is_some())),
                    ctx,
                ),
            },
            _ => Change::Binary {
                old: x.map(|v| Digest::of(v)),
                new: y.map(|v| Digest::of(v)),
            },
        };
        push(path.clone(), change);
    }
}

/// The artifact as text, `""` when absent; `None` when it is binary.
fn text_of(bytes: Option<&Vec<u8>>) -> Option<&str> {
    match bytes {
        None => Some(""),
        Some(b) => std::str::from_utf8(b).ok().filter(|s| {
            !s.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        }),
    }
}

/// Where each line of one side's artifact comes from: 1-based line to rules.
fn line_rules(
    t: &dyn Target,
    path: &str,
    text: &str,
    side: Option<&SidePolicy<'_>>,
    ctx: &EmitContext,
) -> BTreeMap<usize, Vec<String>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let Some(side) = side else {
        return out;
    };
    let home = ctx.home.as_deref();
    for o in provenance::origins(side.policy, t.name(), path, text.as_bytes(), home) {
        if let Some((first, last)) = o.lines {
            let rule = rule_line(side.sources, o.span);
            for l in first..=last {
                out.entry(l).or_default().push(rule.clone());
            }
        }
    }
    out
}

/// `file:line` of a span, the file named as the command line or git named it.
fn rule_line(sources: &SourceMap, span: Span) -> String {
    sources.get(span.file).map_or_else(
        || "<unknown>".to_string(),
        |f| format!("{}:{}", f.name, f.line_col(span.start).0),
    )
}

/// The rules of the changed lines (0-based), sorted and without repeats.
fn rules_at(map: &BTreeMap<usize, Vec<String>>, lines: &[usize]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .filter_map(|l| map.get(&(l + 1)))
        .flat_map(|r| r.iter().cloned())
        .collect();
    // By file, then by line as a number (`a.policy:9` before `a.policy:10`).
    out.sort_by_key(|r| match r.rsplit_once(':') {
        Some((file, line)) => (file.to_string(), line.parse().unwrap_or(usize::MAX)),
        None => (r.clone(), 0),
    });
    out.dedup();
    out
}

fn hunks(
    t: &dyn Target,
    path: &str,
    (old_text, old): (&str, Option<&SidePolicy<'_>>),
    (new_text, new): (&str, Option<&SidePolicy<'_>>),
    ctx: &EmitContext,
) -> Vec<Hunk> {
    let old_rules = line_rules(t, path, old_text, old, ctx);
    let new_rules = line_rules(t, path, new_text, new, ctx);
    let diff = TextDiff::from_lines(old_text, new_text);
    let mut out = Vec::new();
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        let (mut old_lines, mut new_lines) = (Vec::new(), Vec::new());
        for c in hunk.iter_changes() {
            match c.tag() {
                ChangeTag::Delete => old_lines.extend(c.old_index()),
                ChangeTag::Insert => new_lines.extend(c.new_index()),
                ChangeTag::Equal => {}
            }
        }
        let lines = hunk
            .iter_changes()
            .map(|c| {
                let v = c.value();
                format!("{}{}", c.tag(), v.strip_suffix('\n').unwrap_or(v))
            })
            .collect();
        out.push(Hunk {
            header: hunk.header().to_string(),
            old_rules: rules_at(&old_rules, &old_lines),
            new_rules: rules_at(&new_rules, &new_lines),
            lines,
        });
    }
    out
}

/// The rules a hunk touches, as its header shows them.
fn rules_note(h: &Hunk) -> String {
    match (h.old_rules.join(", "), h.new_rules.join(", ")) {
        (o, n) if o.is_empty() && n.is_empty() => String::new(),
        (o, n) if n.is_empty() => format!("{o} (old)"),
        (o, n) if o.is_empty() => format!("{n} (new)"),
        (o, n) => format!("{o} -> {n}"),
    }
}

/// The artifact diffs as a unified diff, one file header per artifact (`old/POLICY/PATH`,
/// `new/POLICY/PATH`), each hunk header followed by the rules it touches.
pub(crate) fn render_text(diffs: &[ArtifactDiff]) -> String {
    let mut s = String::new();
    if diffs.is_empty() {
        s.push_str("artifacts: no change\n");
        return s;
    }
    for d in diffs {
        if d.path.is_empty() {
            let _ = writeln!(s, "artifacts of {} ({})", d.policy, d.target);
        } else {
            let _ = writeln!(s, "artifact {}/{} ({})", d.policy, d.path, d.target);
        }
        match &d.change {
            Change::Text { only, hunks } => {
                let old = if *only == Some("new") {
                    "/dev/null".to_string()
                } else {
                    format!("old/{}/{}", d.policy, d.path)
                };
                let new = if *only == Some("old") {
                    "/dev/null".to_string()
                } else {
                    format!("new/{}/{}", d.policy, d.path)
                };
                let _ = writeln!(s, "--- {old}\n+++ {new}");
                for h in hunks {
                    let note = rules_note(h);
                    if note.is_empty() {
                        let _ = writeln!(s, "{}", h.header);
                    } else {
                        let _ = writeln!(s, "{} {note}", h.header);
                    }
                    for l in &h.lines {
                        let _ = writeln!(s, "{l}");
                    }
                }
            }
            Change::Binary { old, new } => {
                let side = |v: &Option<Digest>| {
                    v.as_ref().map_or_else(
                        || "absent".to_string(),
                        |d| format!("{} bytes, sha256 {}", d.bytes, d.sha256),
                    )
                };
                let _ = writeln!(s, "binary artifact differs: {} -> {}", side(old), side(new));
            }
            Change::Failed { side, why } => {
                let _ = writeln!(s, "the {side} policy does not build for {}:", d.target);
                for w in why {
                    let _ = writeln!(s, "  {w}");
                }
            }
        }
    }
    s
}

/// The artifact diffs for a pull-request comment: one folded unified diff per artifact.
pub(crate) fn render_markdown(diffs: &[ArtifactDiff]) -> String {
    let mut s = String::from("\n#### Artifacts\n\n");
    if diffs.is_empty() {
        s.push_str("No emitted artifact changes.\n");
        return s;
    }
    for d in diffs {
        let _ = writeln!(
            s,
            "<details><summary><code>{}/{}</code> ({})</summary>\n\n```diff",
            d.policy, d.path, d.target
        );
        s.push_str(&render_text(std::slice::from_ref(d)));
        s.push_str("```\n\n</details>\n\n");
    }
    s
}
