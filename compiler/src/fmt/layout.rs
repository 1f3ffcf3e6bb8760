//! Printed lines, the placement of `#` comments among them, and rendering.
//!
//! The printer first turns the tree into [`Group`]s of [`Line`]s in source order; every line
//! has an *anchor*, the source offset of the node it prints (a block's closing `}` line is
//! anchored at the brace). Comments are then placed by offset: a comment that starts before
//! a line's anchor (and after the previous line's) is printed just before that line, or at
//! the end of the previous line when it was a trailing comment there. Each comment is taken
//! from the queue exactly once, so none is lost or duplicated.

use super::lit;
use crate::ast::Comment;

/// Spaces per indentation level.
const INDENT: &str = "    ";

/// One printed line of code with the comments placed around it.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub indent: usize,
    /// Indentation of the leading comments: one level deeper on a closing `}` line, so
    /// comments after a block's last statement stay inside the block.
    pub comment_indent: usize,
    pub text: String,
    /// Source offset of what this line prints.
    pub anchor: u32,
    /// Print an empty line before this one (and before its leading comments).
    pub blank_before: bool,
    /// `#` comment texts printed on their own lines just before this line.
    pub leading: Vec<String>,
    /// A `#` comment text printed at the end of this line.
    pub trailing: Option<String>,
}

/// The lines of one top-level item.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub lines: Vec<Line>,
    pub is_use: bool,
}

/// Place every comment on or before a line (see the module docs). Returns the comments
/// that follow the last line and could not trail it; they go at the end of the file.
pub(super) fn place_comments<'c>(
    groups: &mut [Group],
    comments: impl IntoIterator<Item = &'c Comment>,
) -> Vec<String> {
    let mut queue = comments.into_iter().peekable();
    let mut prev: Option<&mut Line> = None;
    for line in groups.iter_mut().flat_map(|g| g.lines.iter_mut()) {
        while let Some(c) = queue.next_if(|c| c.span.start < line.anchor) {
            place(c, prev.as_deref_mut(), &mut line.leading);
        }
        prev = Some(line);
    }
    let mut tail = Vec::new();
    for c in queue {
        place(c, prev.as_deref_mut(), &mut tail);
    }
    tail
}

/// A trailing comment stays at the end of the previous line if that line has no comment
/// yet and nothing was placed after it; otherwise it becomes a line of its own.
fn place(c: &Comment, prev: Option<&mut Line>, leading: &mut Vec<String>) {
    let text = lit::one_line(&c.text);
    if c.trailing && leading.is_empty() {
        if let Some(p) = prev.filter(|p| p.trailing.is_none()) {
            p.trailing = Some(text);
            return;
        }
    }
    leading.push(text);
}

/// The final text: groups separated by an empty line (consecutive `use` lines stay
/// together), then any comments from the end of the file.
pub(super) fn render(groups: &[Group], tail: &[String]) -> String {
    let mut out = String::new();
    let mut prev_use: Option<bool> = None;
    for g in groups {
        let separate = prev_use.is_some_and(|was_use| !(was_use && g.is_use));
        for (i, line) in g.lines.iter().enumerate() {
            let blank = if i == 0 { separate } else { line.blank_before };
            render_line(&mut out, line, blank);
        }
        prev_use = Some(g.is_use);
    }
    if !tail.is_empty() && !out.is_empty() {
        out.push('\n');
    }
    for c in tail {
        push_comment(&mut out, 0, c);
    }
    out
}

fn render_line(out: &mut String, line: &Line, blank: bool) {
    if blank {
        out.push('\n');
    }
    for c in &line.leading {
        push_comment(out, line.comment_indent, c);
    }
    push_indent(out, line.indent);
    out.push_str(&line.text);
    if let Some(c) = &line.trailing {
        out.push_str("  #");
        out.push_str(c);
    }
    out.push('\n');
}

fn push_comment(out: &mut String, indent: usize, text: &str) {
    push_indent(out, indent);
    out.push('#');
    out.push_str(text);
    out.push('\n');
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str(INDENT);
    }
}
