//! Compiling text the way `policyc` does, with the standard library served from memory, and
//! the invariants every diagnostic must keep.

use policyc_compiler::diag::{render_human, render_json};
use policyc_compiler::{compile, Compiled, Diagnostic, SourceMap};
use policyc_stdlib::Loader;

/// Compile `text` as the file `fuzzed.policy`, with the stdlib available.
pub fn compile_text(text: &str) -> (SourceMap, Compiled) {
    let mut sources = SourceMap::new();
    let id = sources.add("fuzzed.policy", text);
    let out = compile(&mut sources, id, &Loader);
    (sources, out)
}

/// A diagnostic's span must name a file of the compilation and lie inside its text, on
/// character boundaries; the diagnostic must render as text and as JSON.
pub fn check_diagnostic(d: &Diagnostic, sources: &SourceMap) -> Result<(), String> {
    let s = d.span;
    let Some(file) = sources.get(s.file) else {
        return Err(format!("span in unknown file {:?}: {d:?}", s.file));
    };
    let (start, end) = (s.start as usize, s.end as usize);
    if start > end {
        return Err(format!("inverted span in `{}`: {d:?}", file.name));
    }
    if end > file.text.len() {
        return Err(format!(
            "span {start}..{end} past the end of `{}` ({} bytes): {d:?}",
            file.name,
            file.text.len()
        ));
    }
    if !file.text.is_char_boundary(start) || !file.text.is_char_boundary(end) {
        return Err(format!(
            "span {start}..{end} splits a character in `{}`: {d:?}",
            file.name
        ));
    }
    let human = render_human(d, sources);
    if !human.contains(d.code.as_str()) {
        return Err(format!("rendered diagnostic lacks its code: {human}"));
    }
    let json = render_json(d, sources);
    if serde_json::from_str::<serde_json::Value>(&json).is_err() {
        return Err(format!("diagnostic JSON does not parse: {json}"));
    }
    Ok(())
}
