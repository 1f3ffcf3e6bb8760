//! Syntax tree to [`Group`]s of [`Line`]s, in source order: top-level items and the
//! block machinery shared by every `name { ... }` construct. Statement bodies are in
//! [`super::stmts`].

use super::layout::{Group, Line};
use super::lit;
use crate::ast::{Block, Comment, File, Item, Suppression, TokenDecl};
use crate::span::{Span, Spanned};

/// Builds the lines of a file; also records where string literals and `///` lines are,
/// because the comment collector may report a `#` inside either as a comment.
#[derive(Debug)]
pub(super) struct Builder<'a> {
    source: &'a str,
    /// `[start, end)` of every collected comment, sorted by start.
    comments: Vec<(u32, u32)>,
    /// `[start, end)` of string literals and doc lines: no comment can start inside one.
    opaque: Vec<(u32, u32)>,
    groups: Vec<Group>,
    lines: Vec<Line>,
    indent: usize,
    blank: bool,
    /// The current block's `allow warning` lines not printed yet: (where the rule they
    /// precede starts, where they stand, the text), sorted.
    suppressions: Vec<(u32, u32, String)>,
}

/// What the builder produced.
#[derive(Debug)]
pub(super) struct Built {
    pub groups: Vec<Group>,
    /// Sorted `[start, end)` ranges of string literals and doc lines.
    opaque: Vec<(u32, u32)>,
}

impl Built {
    /// True if `offset` lies inside a string literal or a `///` line.
    pub(super) fn is_opaque(&self, offset: u32) -> bool {
        let i = self.opaque.partition_point(|&(start, _)| start <= offset);
        i.checked_sub(1)
            .and_then(|i| self.opaque.get(i))
            .is_some_and(|&(_, end)| offset < end)
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> Builder<'a> {
    /// `comments` must be sorted by start offset.
    pub(super) fn new(source: &'a str, comments: &[&Comment]) -> Self {
        Builder {
            source,
            comments: comments
                .iter()
                .map(|c| (c.span.start, c.span.end))
                .collect(),
            opaque: Vec::new(),
            groups: Vec::new(),
            lines: Vec::new(),
            indent: 0,
            blank: false,
            suppressions: Vec::new(),
        }
    }

    pub(super) fn file(mut self, file: &File) -> Built {
        for item in &file.items {
            self.item(item);
            self.groups.push(Group {
                lines: std::mem::take(&mut self.lines),
                is_use: matches!(item, Item::Use(_)),
            });
            self.blank = false;
        }
        self.opaque.sort_unstable();
        Built {
            groups: self.groups,
            opaque: self.opaque,
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Use(u) => {
                let path = lit::join(u.path.iter().map(|s| s.node.as_str()), "::");
                self.line(u.span.start, format!("use {path}"));
            }
            Item::Paths(p) => {
                let at = self.docs(&p.docs, p.span);
                let header = format!("paths {}", p.name.node);
                self.rules_at(at, p.span, &header, &p.paths, |b, s| {
                    let text = b.string(s);
                    b.line(s.span.start, format!("{text},"));
                });
            }
            Item::SyscallSet(s) => {
                let at = self.docs(&s.docs, s.span);
                let header = format!("syscalls {}", s.name.node);
                self.rules_at(at, s.span, &header, &s.members, |b, m| {
                    b.line(m.span.start, format!("{},", m.node));
                });
            }
            Item::Fragment(f) => self.body_block("fragment", f),
            Item::Policy(p) => self.body_block("policy", p),
            Item::Token(t) => self.token(t),
        }
    }

    fn body_block(&mut self, keyword: &str, b: &Block) {
        let at = self.docs(&b.docs, b.span);
        let header = format!("{keyword} {}", b.name.node);
        self.block(at, b.span, header, b.stmts.is_empty(), |me| {
            me.suppressions = b
                .suppressions
                .iter()
                .map(|s| (s.target.start, s.span.start, me.suppression(s)))
                .collect();
            me.suppressions
                .sort_by_key(|(target, at, _)| (*target, *at));
            me.stmts(&b.stmts);
            // The grammar puts a rule after every suppression; none is ever left, but a
            // tree built by hand could hold one, and no text may be dropped.
            me.flush_suppressions(u32::MAX);
        });
    }

    /// `allow warning P0502 "why"`.
    fn suppression(&mut self, s: &Suppression) -> String {
        match &s.reason {
            Some(r) => format!("allow warning {} {}", s.code.node, self.string(r)),
            None => format!("allow warning {}", s.code.node),
        }
    }

    /// Print, at the current indentation, the suppressions of rules starting by `anchor`.
    fn flush_suppressions(&mut self, anchor: u32) {
        let n = self.suppressions.partition_point(|(t, _, _)| *t <= anchor);
        let due: Vec<(u32, u32, String)> = self.suppressions.drain(..n).collect();
        for (_, at, text) in due {
            self.push_line(at, text);
        }
    }

    /// `token NAME { ... }`, at the top level or inside a policy.
    pub(super) fn token(&mut self, t: &TokenDecl) {
        let at = self.docs(&t.docs, t.span);
        let header = format!("token {}", t.name.node);
        self.rules_at(at, t.span, &header, &t.fields, Self::token_field);
    }

    /// Push one line at the current indentation, after the suppressions of the rule it
    /// starts.
    pub(super) fn line(&mut self, anchor: u32, text: String) {
        if !self.suppressions.is_empty() {
            self.flush_suppressions(anchor);
        }
        self.push_line(anchor, text);
    }

    fn push_line(&mut self, anchor: u32, text: String) {
        self.lines.push(Line {
            indent: self.indent,
            comment_indent: self.indent,
            text,
            anchor,
            blank_before: std::mem::take(&mut self.blank),
            leading: Vec::new(),
            trailing: None,
        });
    }

    /// Run `body` one indentation level deeper.
    pub(super) fn indented(&mut self, body: impl FnOnce(&mut Self)) {
        self.indent = self.indent.saturating_add(1);
        body(self);
        self.indent = self.indent.saturating_sub(1);
    }

    /// Put an empty line before the next line.
    pub(super) fn blank_line(&mut self) {
        self.blank = true;
    }

    /// `header { body }` over several lines, or `header {}` when the body is empty and no
    /// comment stands inside the braces. `at` is where the header's keyword stands.
    fn block(
        &mut self,
        at: u32,
        span: Span,
        header: String,
        empty: bool,
        body: impl FnOnce(&mut Self),
    ) {
        let close = self.closing_brace(span);
        if empty && !self.has_comment_between(at, close) {
            self.line(at, format!("{header} {{}}"));
            return;
        }
        self.line(at, format!("{header} {{"));
        self.indent = self.indent.saturating_add(1);
        body(self);
        self.indent = self.indent.saturating_sub(1);
        self.blank = false;
        self.line(close, "}".to_string());
        if let Some(last) = self.lines.last_mut() {
            last.comment_indent = self.indent.saturating_add(1);
        }
    }

    /// `header { ... }` with one line per item (a statement's rules).
    pub(super) fn rules<T>(
        &mut self,
        span: Span,
        header: &str,
        items: &[T],
        each: impl Fn(&mut Self, &T),
    ) {
        self.rules_at(span.start, span, header, items, each);
    }

    /// [`Self::rules`] for an item whose keyword stands at `at`, after its docs.
    fn rules_at<T>(
        &mut self,
        at: u32,
        span: Span,
        header: &str,
        items: &[T],
        each: impl Fn(&mut Self, &T),
    ) {
        self.block(at, span, header.to_string(), items.is_empty(), |b| {
            for item in items {
                each(b, item);
            }
        });
    }

    /// A string literal; remembers where it stood.
    pub(super) fn string(&mut self, s: &Spanned<String>) -> String {
        self.record_literal(s.span);
        lit::string(&s.node)
    }

    /// Remember that a string literal stood at `span`.
    pub(super) fn record_literal(&mut self, span: Span) {
        self.opaque.push((span.start, span.end));
    }

    /// Print an item's `///` lines; returns where its keyword stands (so comments between
    /// the docs and the keyword stay there).
    fn docs(&mut self, docs: &[String], span: Span) -> u32 {
        if docs.is_empty() {
            return span.start;
        }
        let keyword = self
            .record_doc_lines(span.start)
            .clamp(span.start, span.end);
        for d in docs {
            self.line(span.start, lit::doc(d));
        }
        keyword
    }

    /// Record the `///` lines at the start of an item (with any `#` lines between them);
    /// returns the offset of the first thing after them.
    fn record_doc_lines(&mut self, start: u32) -> u32 {
        let mut pos = start as usize;
        let Some(mut rest) = self.source.get(pos..) else {
            return start;
        };
        loop {
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            pos = pos.saturating_add(rest.len().saturating_sub(trimmed.len()));
            let eol = trimmed.find('\n').unwrap_or(trimmed.len());
            if trimmed.starts_with("///") {
                self.opaque
                    .push((to_u32(pos), to_u32(pos.saturating_add(eol))));
            } else if !trimmed.starts_with('#') {
                return to_u32(pos);
            }
            rest = trimmed.get(eol..).unwrap_or("");
            pos = pos.saturating_add(eol);
        }
    }

    /// The offset of a block's closing `}`: the span may run on over the whitespace,
    /// `;` and comments after it. Without matching source text, the span's end.
    fn closing_brace(&self, span: Span) -> u32 {
        let bytes = self.source.as_bytes();
        let start = span.start as usize;
        let mut pos = span.end as usize;
        while pos > start {
            let i = pos.saturating_sub(1);
            if let Some(comment_start) = self.comment_containing(i) {
                pos = comment_start;
                continue;
            }
            match bytes.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n' | b';') => pos = i,
                Some(b'}') => return to_u32(i),
                _ => break,
            }
        }
        span.end
    }

    /// The start of the comment covering byte `i`, if any.
    fn comment_containing(&self, i: usize) -> Option<usize> {
        let k = self.comments.partition_point(|&(s, _)| s as usize <= i);
        let &(s, e) = self.comments.get(k.checked_sub(1)?)?;
        (i < e as usize).then_some(s as usize)
    }

    /// Whether a comment (not inside a string or doc line) starts strictly between.
    pub(super) fn has_comment_between(&self, lo: u32, hi: u32) -> bool {
        let first = self.comments.partition_point(|&(s, _)| s <= lo);
        self.comments
            .iter()
            .skip(first)
            .map(|&(s, _)| s)
            .take_while(|&s| s < hi)
            .any(|s| !self.opaque.iter().any(|&(a, b)| a <= s && s < b))
    }
}
