//! The canonical printer.
//!
//! [`format`] prints a syntax tree as canonical text that parses back to the same tree:
//!
//! - four-space indentation, one statement or rule per line;
//! - every `name { ... }` body over several lines, except an empty body with no comment
//!   inside, which prints as `name {}`; `paths` and `syscalls` sets list one member per line
//!   with a trailing comma; lists in statements (`threats a, b`, `allow read, write`) stay on
//!   one line, unless a `#` comment stands between two items: then the keyword stands alone
//!   and each item takes a line (with a comma after all but the last), so the comment stays
//!   after the item it follows;
//! - an empty line between top-level items, except between consecutive `use` lines, which
//!   are moved to the top of the file in source order; inside a policy or fragment, an empty
//!   line around every block statement (`fs`, `net`, `token`, `syscalls`, `limits`, `audit`,
//!   `test`);
//! - strings re-escaped (`\"`, `\\`, `\n`, `\t`, `\r`, `\0`, and `\u{..}` for other control,
//!   invisible and bidirectional characters); sizes and durations in their largest exact
//!   unit (`64MiB`, `1536KiB`, `90s`, `1500ms`); masks in hex, other numbers in decimal;
//!   endpoints as `"host":443`, `"host":*` or `"host"`;
//! - `///` doc comments as `/// text`; every `#` comment kept, before the line of the node
//!   that follows it or, if it trailed code, at the end of that line (see the `layout` module).
//!
//! The output is a fixed point: formatting the parse of the output gives the output again.

mod build;
mod layout;
pub(crate) mod lit;
mod stmts;

use crate::ast;

/// Print `file` canonically. `source` is the text `file` was parsed from; it is read only to
/// place comments (to find a block's closing brace and the `///` lines before an item). A
/// tree that did not come from text can be printed with an empty `source`.
pub fn format(file: &ast::File, source: &str) -> String {
    let mut comments: Vec<&ast::Comment> = file.comments.iter().collect();
    comments.sort_by_key(|c| c.span.start);
    let built = build::Builder::new(source, &comments).file(file);
    // The collector does not know about `///` lines; a `#` there is doc text, not a comment.
    let kept: Vec<&ast::Comment> = comments
        .into_iter()
        .filter(|c| !built.is_opaque(c.span.start))
        .collect();
    let mut groups = built.groups;
    let tail = layout::place_comments(&mut groups, kept);
    // Stable: `use` lines keep their order, and so does everything else.
    groups.sort_by_key(|g| !g.is_use);
    layout::render(&groups, &tail)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests_suppress;
