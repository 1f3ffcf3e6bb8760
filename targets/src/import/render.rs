//! Writing the imported policy: names, comments, and the canonical printer.

use super::ImportError;
use policyc_compiler::{fmt, syntax, SourceMap};

/// A declared name made from `raw` (a file stem): letters, digits and `_`, not starting
/// with a digit, not a keyword; `imported` when nothing is left.
pub fn ident(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s = s.trim_matches('_').to_string();
    if s.is_empty() {
        return "imported".to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) || syntax::KEYWORDS.contains(&s.as_str()) {
        s = format!("imported_{s}");
    }
    s
}

/// `#` comment lines for `text`, wrapped at about 90 columns.
pub fn comment(out: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() + 1 > 88 {
            out.push_str(&format!("{indent}# {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}# {line}\n"));
    }
}

/// Parse the generated text and print it canonically. A parse error here is a bug in the
/// importer, reported as such.
pub fn format_policy(text: &str) -> Result<String, ImportError> {
    let mut sources = SourceMap::new();
    let id = sources.add("imported.policy".to_string(), text.to_string());
    let (file, diags) = syntax::parse(id, text);
    if diags.has_errors() {
        let first = diags
            .0
            .first()
            .map(|d| d.message.clone())
            .unwrap_or_default();
        return Err(ImportError::invalid(
            "output",
            format!("the generated policy does not parse (a policyc bug): {first}"),
        ));
    }
    Ok(fmt::format(&file, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_declarable() {
        assert_eq!(ident("default"), "imported_default");
        assert_eq!(ident("my-profile.v2"), "my_profile_v2");
        assert_eq!(ident("2fa"), "imported_2fa");
        assert_eq!(ident("--"), "imported");
    }

    #[test]
    fn comments_wrap() {
        let mut s = String::new();
        comment(&mut s, "", &"word ".repeat(40));
        assert!(s.lines().count() > 1);
        assert!(s.lines().all(|l| l.starts_with("# ") && l.len() <= 92));
    }
}
