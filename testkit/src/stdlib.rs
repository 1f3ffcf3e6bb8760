//! Compiling test policies against the standard library, and the stdlib's own policies.

use policyc_compiler::diag::render_human;
use policyc_compiler::ir::Policy;
use policyc_compiler::{compile, Code, Diagnostic, SourceMap};
use policyc_targets::EmitContext;

/// Resolves `use std::...` from the standard library built into policyc.
pub use policyc_stdlib::Loader;

/// The home directory tests build policies with.
pub const HOME: &str = "/home/user";

/// The emit context for [`HOME`].
pub fn ctx() -> EmitContext {
    EmitContext {
        home: Some(HOME.to_string()),
    }
}

/// Every diagnostic, rendered as a person sees it.
pub fn render(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| render_human(d, sources)).collect()
}

/// Compile one file's text with the standard library: its source map and policies, or the
/// rendered errors.
pub fn try_compile(name: &str, text: &str) -> Result<(SourceMap, Vec<Policy>), String> {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &Loader);
    if out.diagnostics.has_errors() {
        return Err(render(&sources, &out.diagnostics.0));
    }
    Ok((sources, out.policies))
}

/// Compile one file's text with the standard library; fails the test on errors.
#[track_caller]
pub fn compile_text(name: &str, text: &str) -> (SourceMap, Vec<Policy>) {
    match try_compile(name, text) {
        Ok(out) => out,
        Err(e) => panic!("{name} does not compile:\n{e}"),
    }
}

/// The one policy a text holds; fails the test on errors or on more than one policy.
#[track_caller]
pub fn policy(text: &str) -> Policy {
    let (_, mut policies) = compile_text("test.policy", text);
    assert_eq!(policies.len(), 1, "expected one policy");
    policies.remove(0)
}

/// The codes of every diagnostic compiling `text` gives, in order (warnings included).
pub fn codes(text: &str) -> Vec<Code> {
    let mut sources = SourceMap::new();
    let id = sources.add("test.policy", text);
    compile(&mut sources, id, &Loader)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

/// Every stdlib use-case policy, compiled, with the source map it came from.
pub fn policies() -> Vec<(SourceMap, Policy)> {
    let mut out = Vec::new();
    for (name, text) in policyc_stdlib::policies() {
        let (sources, policies) = compile_text(name, text);
        out.extend(policies.into_iter().map(|p| (sources.clone(), p)));
    }
    out
}
