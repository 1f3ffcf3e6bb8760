//! Snapshot tests over `tests/wasi_corpus/`: one small policy per WASI diagnostic
//! (`P11xx`), named after the code it shows. The WASI target's errors come from `emit`, not
//! from `compile`, so they live here rather than in the compiler's error corpus.
//!
//! Each snapshot holds the source, then every diagnostic the target gives (the errors when
//! the build fails, else the build report), then every emitted file. Files named `P1103-*`
//! are built without a home directory, the others with `/home/user`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::diag::render_human;
use policyc_compiler::{compile, Code, NoModules, SourceMap};
use policyc_targets::wasi::Wasi;
use policyc_targets::{EmitContext, Target};
use std::collections::BTreeSet;
use std::path::Path;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasi_corpus")
}

fn snapshot_text(name: &str, text: &str) -> (String, Vec<Code>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &NoModules);
    assert!(!out.diagnostics.has_errors(), "{name} does not compile");
    let home = (!name.starts_with("P1103")).then(|| "/home/user".to_string());
    let result = Wasi.emit(&out.policies[0], &EmitContext { home });
    let mut s =
        format!("{text}================================= wasi =================================\n");
    let (diags, artifacts) = match &result {
        Ok(e) => (&e.report, Some(&e.artifacts)),
        Err(d) => (d, None),
    };
    for d in diags {
        s.push_str(&render_human(d, &sources));
    }
    for (file, bytes) in artifacts.into_iter().flatten() {
        s.push_str(&format!("--- {file}\n{}", String::from_utf8_lossy(bytes)));
    }
    (s, diags.iter().map(|d| d.code).collect())
}

#[test]
fn corpus() {
    insta::glob!("wasi_corpus", "*.policy", |path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with("# "),
            "{name}: start with a `# ` line saying what it shows"
        );
        let (snap, codes) = snapshot_text(&name, &text);
        let want = name.split('-').next().unwrap();
        assert!(
            codes.iter().any(|c| c.as_str() == want),
            "{name}: expected {want} among {:?}",
            codes.iter().map(|c| c.as_str()).collect::<Vec<_>>()
        );
        insta::assert_snapshot!(snap);
    });
}

/// Every WASI code has a corpus file, except the round-trip guard, which only a policyc bug
/// can raise.
#[test]
fn every_wasi_code_has_a_corpus_file() {
    let files: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.split('-').next().map(str::to_string))
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| c.starts_with("P11") && *c != Code::WasiRoundTrip.as_str())
        .filter(|c| !files.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no corpus file for {missing:?}");
}
