//! Snapshot tests over `tests/corpus/errors/`: one small policy per diagnostic code (several
//! for some), each named `P0xxx-short-name.policy` after the code it demonstrates.
//!
//! Each snapshot holds the source, then every diagnostic rendered for humans, then the same
//! diagnostics as JSON lines. Besides the snapshot, the test asserts that the code in the
//! file name is among the diagnostics, so a snapshot cannot silently drift to a different
//! error, and that every code in [`Code::ALL`] that `compile` reports has a corpus file.

use policyc_compiler::diag::{render_human, render_json};
use policyc_compiler::{compile, Code, Compiled, ModuleLoader, SourceMap};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The directory of the error corpus.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/errors")
}

/// Serves `use std::NAME` from `corpus/errors/modules/std/NAME.policy`; knows nothing else.
#[derive(Debug)]
struct CorpusModules;

impl ModuleLoader for CorpusModules {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let [std, name] = path else { return None };
        if std != "std"
            || name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return None;
        }
        let rel = format!("modules/std/{name}.policy");
        let text = std::fs::read_to_string(corpus_dir().join(&rel)).ok()?;
        Some((rel, text))
    }
}

/// The code a corpus file is named after: `P0201-relative-path.policy` gives `P0201`.
fn expected_code(file_name: &str) -> Option<Code> {
    let prefix = file_name.split('-').next()?;
    Code::ALL.iter().copied().find(|c| c.as_str() == prefix)
}

/// The corpus file names (not paths), sorted.
fn corpus_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".policy"))
        .collect();
    names.sort();
    names
}

fn compile_named(name: &str, text: &str) -> (SourceMap, Compiled) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &CorpusModules);
    (sources, out)
}

/// Source, a separator, human renderings, a separator, JSON lines.
fn snapshot_text(text: &str, sources: &SourceMap, out: &Compiled) -> String {
    let mut s = String::new();
    s.push_str(text);
    if !text.ends_with('\n') {
        s.push('\n');
    }
    s.push_str("=============================== diagnostics ===============================\n");
    for d in out.diagnostics.iter() {
        s.push_str(&render_human(d, sources));
    }
    s.push_str("---------------------------------- json -----------------------------------\n");
    for d in out.diagnostics.iter() {
        let _ = writeln!(s, "{}", render_json(d, sources));
    }
    s
}

#[test]
fn corpus() {
    insta::glob!("../corpus/errors", "*.policy", |path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            text.starts_with("# "),
            "{name}: a corpus file starts with a `# ` line saying what it shows"
        );
        let Some(code) = expected_code(&name) else {
            unreachable!("{name}: the file name must start with a known code like `P0201-`");
        };
        let (sources, out) = compile_named(&name, &text);
        let codes: Vec<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(
            codes.contains(&code.as_str()),
            "{name}: expected {} among the diagnostics, got {codes:?}",
            code.as_str()
        );
        insta::assert_snapshot!(snapshot_text(&text, &sources, &out));
    });
}

/// True for the codes `compile` itself reports (P00xx to P05xx). Codes from P0600 up belong
/// to the targets (P07xx seccomp, P08xx Landlock), which report them while building a
/// policy, so a `.policy` file compiled here cannot show them.
fn reported_by_compile(code: Code) -> bool {
    code.as_str() < "P0600"
}

#[test]
fn every_code_has_a_corpus_file() {
    let files = corpus_files();
    let covered: BTreeSet<Code> = files.iter().filter_map(|f| expected_code(f)).collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| reported_by_compile(**c) && !covered.contains(c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a file in tests/corpus/errors: {missing:?}"
    );
    assert!(
        covered.iter().all(|c| reported_by_compile(*c)),
        "a corpus file is named after a target code, which `compile` cannot report"
    );
}

#[test]
fn every_corpus_file_is_named_after_a_code() {
    let files = corpus_files();
    assert!(!files.is_empty(), "tests/corpus/errors is empty");
    let stray: Vec<&String> = files
        .iter()
        .filter(|f| expected_code(f).is_none() || !f.contains('-'))
        .collect();
    assert!(
        stray.is_empty(),
        "corpus files not named `P0xxx-short-name.policy`: {stray:?}"
    );
}

/// Severities follow the code table except where a declared threat escalates a warning, and
/// a file's policies are dropped exactly when it has errors.
#[test]
fn default_severities_match_the_code_table() {
    for name in corpus_files() {
        let text = std::fs::read_to_string(corpus_dir().join(&name)).unwrap_or_default();
        let (_, out) = compile_named(&name, &text);
        for d in out.diagnostics.iter() {
            let escalated = matches!(
                d.code,
                Code::WriteInsideReadOnly | Code::DangerousSyscallAllowed
            );
            assert!(
                d.severity == d.code.severity() || escalated,
                "{name}: {} has severity {:?}, its table default is {:?}",
                d.code.as_str(),
                d.severity,
                d.code.severity()
            );
        }
        assert_eq!(
            out.policies.is_empty(),
            out.diagnostics.has_errors(),
            "{name}: policies are dropped exactly when there are errors"
        );
    }
}
