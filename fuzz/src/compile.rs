//! The `compile` target: a [`PolicyModel`] rendered to source text and compiled with the
//! standard library available.
//!
//! Proves: the checker never panics; rendered text never has a syntax error (the renderer
//! writes only grammatical text, so one would be a parser bug); every diagnostic's span
//! lies inside its file and renders; diagnostics come sorted; a file with errors yields no
//! policies; the reference semantics runs every test without panicking; and, where the text parses
//! cleanly, the formatted text compiles to the same policies with the same diagnostic codes.

use crate::sources::{check_diagnostic, compile_text};
use crate::Summary;
use policyc_compiler::fmt::format;
use policyc_compiler::{run_tests, Code};
use policyc_testkit::policies::PolicyModel;

pub fn check_compile(model: &PolicyModel) -> Result<Summary, String> {
    let text = model.source();
    let summary = check_source(&text)?;
    if summary.parsed == 0 {
        return Err(format!("rendered text has a syntax error:\n{text}"));
    }
    Ok(summary)
}

/// The compile checks for any source text.
pub fn check_source(text: &str) -> Result<Summary, String> {
    let (sources, out) = compile_text(text);
    let context = |e: String| format!("{e}\n--- source\n{text}");
    let mut last = None;
    for d in out.diagnostics.iter() {
        check_diagnostic(d, &sources).map_err(context)?;
        let key = (d.span.file, d.span.start);
        if last > Some(key) {
            return Err(context(format!("diagnostics out of order at {d:?}")));
        }
        last = Some(key);
    }
    let errors = out.diagnostics.has_errors();
    if errors && !out.policies.is_empty() {
        return Err(context("policies survived an error".to_string()));
    }
    for p in &out.policies {
        for outcome in run_tests(p) {
            let _ = outcome.passed();
        }
    }
    let syntax_error = out.diagnostics.iter().any(|d| d.code == Code::Syntax);
    let parsed_cleanly = !out
        .diagnostics
        .iter()
        .any(|d| matches!(d.code, Code::Syntax | Code::BadLiteral | Code::BadEscape));
    if parsed_cleanly {
        let printed = format(&out.syntax, text);
        let (_, again) = compile_text(&printed);
        let codes = |c: &policyc_compiler::Compiled| {
            let mut v: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
            v.sort_unstable();
            v
        };
        if codes(&again) != codes(&out) {
            return Err(context(format!(
                "formatting changed the diagnostics: {:?} became {:?}\n--- formatted\n{printed}",
                codes(&out),
                codes(&again)
            )));
        }
        if again.policies != out.policies {
            return Err(context(format!(
                "formatting changed what the policies mean\n--- formatted\n{printed}"
            )));
        }
    }
    Ok(Summary {
        parsed: usize::from(!syntax_error),
        policies: out.policies.len(),
        ..Summary::default()
    })
}
