//! The `parse` target: any bytes, read as UTF-8 (invalid sequences replaced), go through
//! `syntax::parse`.
//!
//! Proves: the parser never panics, never overflows the stack (nesting is bounded before
//! pest sees the text) and returns diagnostics whose spans lie inside the text; a syntax
//! error leaves the file empty.

use crate::sources::check_diagnostic;
use crate::Summary;
use policyc_compiler::syntax::parse;
use policyc_compiler::{Code, SourceMap};

pub fn check_parse(data: &[u8]) -> Result<Summary, String> {
    let text = String::from_utf8_lossy(data);
    let mut sources = SourceMap::new();
    let id = sources.add("fuzzed.policy", text.as_ref());
    let (file, diags) = parse(id, &text);
    for d in diags.iter() {
        check_diagnostic(d, &sources)?;
    }
    let syntax_error = diags.iter().any(|d| d.code == Code::Syntax);
    if syntax_error && !file.items.is_empty() {
        return Err(format!(
            "a syntax error left {} items in the file",
            file.items.len()
        ));
    }
    Ok(Summary {
        parsed: usize::from(!syntax_error),
        ..Summary::default()
    })
}
