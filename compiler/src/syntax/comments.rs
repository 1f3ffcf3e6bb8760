//! Collect `#` comments for the formatter (the grammar skips them).

use crate::ast::Comment;
use crate::span::{FileId, Span};

/// Every `#` comment outside string literals, in order.
pub(super) fn collect(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut line_has_code = false;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                line_has_code = true;
            }
            '\n' => line_has_code = false,
            // A `///` doc line is syntax, not a comment; skip it whole so a `#` or `"` in
            // its text is not taken for a comment or a string.
            '/' if text.get(i..).is_some_and(|r| r.starts_with("///")) => {
                let end = text
                    .get(i..)
                    .and_then(|r| r.find('\n'))
                    .map_or(text.len(), |n| i + n);
                while iter.peek().is_some_and(|(j, _)| *j < end) {
                    iter.next();
                }
            }
            '#' => {
                let end = text
                    .get(i..)
                    .and_then(|r| r.find('\n'))
                    .map_or(text.len(), |n| i + n);
                let body = text.get(i + 1..end).unwrap_or("").trim_end_matches('\r');
                out.push(Comment {
                    text: body.to_string(),
                    span: Span::new(file, i, end),
                    trailing: line_has_code,
                });
                while iter.peek().is_some_and(|(j, _)| *j < end) {
                    iter.next();
                }
            }
            c if !c.is_whitespace() => line_has_code = true,
            _ => {}
        }
    }
    out
}
