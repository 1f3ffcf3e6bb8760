//! The `fmt_roundtrip` target: whatever parses without errors formats to text that parses
//! back to the same syntax tree, and formatting that text again changes nothing.
//!
//! "The same tree" allows exactly what the formatter documents: `use` lines move to the top
//! of the file in source order, and `#` comments may move to a neighbouring line (their
//! texts are kept, as a multiset). Spans are ignored by equality.

use crate::Summary;
use policyc_compiler::ast::{File, Item};
use policyc_compiler::fmt::format;
use policyc_compiler::span::FileId;
use policyc_compiler::syntax::parse;

pub fn check_fmt_roundtrip(data: &[u8]) -> Result<Summary, String> {
    let text = String::from_utf8_lossy(data);
    let (file, diags) = parse(FileId(0), &text);
    if diags.has_errors() {
        return Ok(Summary::default());
    }
    let printed = format(&file, &text);
    let (again, diags) = parse(FileId(0), &printed);
    if diags.has_errors() {
        return Err(format!(
            "formatted text does not parse: {:?}\n--- source\n{text}\n--- formatted\n{printed}",
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        ));
    }
    let expected = uses_first(&file);
    if again.items != expected {
        let at = again
            .items
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(again.items.len().min(expected.len()));
        return Err(format!(
            "formatting changed item {at}: {:?}\nbecame {:?}\n--- source\n{text}\n--- formatted\n{printed}",
            expected.get(at),
            again.items.get(at)
        ));
    }
    if comment_texts(&again) != comment_texts(&file) {
        return Err(format!(
            "formatting changed the comments: {:?}\nbecame {:?}\n--- source\n{text}\n--- formatted\n{printed}",
            comment_texts(&file),
            comment_texts(&again)
        ));
    }
    let twice = format(&again, &printed);
    if twice != printed {
        return Err(format!(
            "formatting is not idempotent\n--- source\n{text}\n--- once\n{printed}\n--- twice\n{twice}"
        ));
    }
    Ok(Summary {
        parsed: 1,
        ..Summary::default()
    })
}

/// The items in the order the formatter prints them: `use` lines first.
fn uses_first(file: &File) -> Vec<Item> {
    let (uses, rest): (Vec<&Item>, Vec<&Item>) =
        file.items.iter().partition(|i| matches!(i, Item::Use(_)));
    uses.into_iter().chain(rest).cloned().collect()
}

fn comment_texts(file: &File) -> Vec<&str> {
    let mut texts: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts
}
