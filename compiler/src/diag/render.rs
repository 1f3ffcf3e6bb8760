//! Rendering diagnostics at the edge: for humans with annotate-snippets (what rustc renders
//! with), and as JSON lines.
//!
//! The human rendering shows `error[CODE]: message`, the `file:line:col`, the source with
//! the span marked (a long line is cut around the span, a span over several lines is drawn
//! as one), every label, and the hint as `= hint: ...`. Plain rendering has no colour and is
//! byte-for-byte deterministic; [`render_human_styled`] adds ANSI colour for a terminal.

use super::{Diagnostic, Label, Severity};
use crate::span::{SourceFile, SourceMap, Span};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;
use std::ops::Range;

/// Width the renderer cuts long source lines to, in columns.
const WIDTH: usize = 120;

/// Render one diagnostic for humans, without colour.
pub fn render_human(d: &Diagnostic, sources: &SourceMap) -> String {
    render_with(d, sources, Renderer::plain())
}

/// Render one diagnostic for humans, with ANSI colour (for a terminal).
pub fn render_human_styled(d: &Diagnostic, sources: &SourceMap) -> String {
    render_with(d, sources, Renderer::styled())
}

fn render_with(d: &Diagnostic, sources: &SourceMap, renderer: Renderer) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut group = Group::with_title(level.primary_title(d.message.as_str()).id(d.code.as_str()));
    // The primary span's file first, then every other file a label points into, in order.
    let mut files = vec![d.span.file];
    for l in &d.labels {
        if !files.contains(&l.span.file) {
            files.push(l.span.file);
        }
    }
    for (i, id) in files.iter().enumerate() {
        let Some(file) = sources.get(*id) else {
            continue;
        };
        let primary = (i == 0).then_some(d.span);
        let labels: Vec<&Label> = d.labels.iter().filter(|l| l.span.file == *id).collect();
        group = group.element(snippet(file, primary, &labels));
    }
    if let Some(h) = &d.hint {
        group = group.element(Level::HELP.with_name("hint").message(h.as_str()));
    }
    let mut out = renderer.term_width(WIDTH).render(&[group]);
    out.push('\n');
    out
}

/// The lines of `file` that the primary span and the labels touch, annotated.
fn snippet<'a>(
    file: &'a SourceFile,
    primary: Option<Span>,
    labels: &[&'a Label],
) -> Snippet<'a, annotate_snippets::Annotation<'a>> {
    let spans = primary.iter().copied().chain(labels.iter().map(|l| l.span));
    let text = file.text.as_str();
    let (mut from, mut to) = (text.len(), 0);
    for s in spans {
        let r = shown(text, s);
        from = from.min(line_start(text, r.start));
        to = to.max(line_end(text, r.end));
    }
    let from = from.min(to);
    let source = text.get(from..to).unwrap_or_default();
    let (first_line, _) = file.line_col(u32::try_from(from).unwrap_or(u32::MAX));
    let shift = |s: Span| {
        let r = shown(text, s);
        r.start.saturating_sub(from)..r.end.saturating_sub(from)
    };
    let mut snip = Snippet::source(source)
        .line_start(first_line)
        .path(file.name.as_str());
    if let Some(p) = primary {
        snip = snip.annotation(AnnotationKind::Primary.span(shift(p)));
    }
    for l in labels {
        snip = snip.annotation(
            AnnotationKind::Context
                .span(shift(l.span))
                .label(l.message.as_str()),
        );
    }
    snip
}

/// Spans over more lines than this (a whole policy, a whole block) are drawn on their first
/// line only: the `file:line:col` already says where they start, and drawing the block would
/// bury the message under the policy's own text.
const MAX_DRAWN_LINES: usize = 6;

/// The part of a span that is drawn: all of it, or its first line when it covers more than
/// [`MAX_DRAWN_LINES`] lines.
fn shown(text: &str, s: Span) -> Range<usize> {
    let r = clamp(text, s);
    let covered = text.get(r.clone()).unwrap_or_default();
    if covered.matches('\n').count() < MAX_DRAWN_LINES {
        return r;
    }
    r.start..line_end(text, r.start).max(r.start)
}

/// A span's byte range in `text`, inside it and on character boundaries.
fn clamp(text: &str, s: Span) -> Range<usize> {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(s.start as usize);
    start..floor(s.end as usize).max(start)
}

/// Byte offset of the start of the line holding `at`.
fn line_start(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// Byte offset of the end of the line holding `at` (before its newline).
fn line_end(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| at + i)
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    hint: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

/// File name, start and end `(line, column)` of a span.
fn place(sources: &SourceMap, s: Span) -> (&str, (usize, usize), (usize, usize)) {
    match sources.get(s.file) {
        Some(f) => (f.name.as_str(), f.line_col(s.start), f.line_col(s.end)),
        None => ("<unknown>", (0, 0), (0, 0)),
    }
}

/// Render one diagnostic as a single line of JSON.
pub fn render_json(d: &Diagnostic, sources: &SourceMap) -> String {
    let (file, (line, column), (end_line, end_column)) = place(sources, d.span);
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let (file, (line, column), (end_line, end_column)) = place(sources, l.span);
            JsonLabel {
                message: &l.message,
                file,
                line,
                column,
                end_line,
                end_column,
            }
        })
        .collect();
    let j = JsonDiagnostic {
        code: d.code.as_str(),
        severity: d.severity,
        message: &d.message,
        file,
        line,
        column,
        end_line,
        end_column,
        hint: d.hint.as_deref(),
        labels,
    };
    serde_json::to_string(&j).unwrap_or_default()
}
