//! Snapshot tests over `tests/apparmor_corpus/`: one small policy per AppArmor diagnostic
//! (`P09xx`), named after the code it shows. These come from `emit`, not from `compile`.
//!
//! Each snapshot holds the source, then every diagnostic the target gives: the errors when
//! the build fails, else the build report, then the emitted `apparmor.profile`. Files named
//! `P0902-*` are built without a home directory, the others with `/home/user`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::diag::render_human;
use policyc_compiler::{compile, Code, NoModules, SourceMap};
use policyc_targets::apparmor::AppArmor;
use policyc_targets::{EmitContext, Target};
use std::collections::BTreeSet;
use std::path::Path;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apparmor_corpus")
}

fn snapshot_text(name: &str, text: &str) -> (String, Vec<Code>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &NoModules);
    assert!(
        !out.diagnostics.has_errors(),
        "{name} does not compile:\n{}",
        out.diagnostics
            .iter()
            .map(|d| render_human(d, &sources))
            .collect::<String>()
    );
    let home = (!name.starts_with("P0902")).then(|| "/home/user".to_string());
    let result = AppArmor.emit(&out.policies[0], &EmitContext { home });
    let mut s =
        format!("{text}=============================== apparmor ===============================\n");
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
    insta::glob!("apparmor_corpus", "*.policy", |path| {
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

/// Every AppArmor code has a corpus file, except those no policy text can raise: `P0901`
/// (policy names are identifiers by the grammar; the unit tests build bad names in the IR),
/// `P0903` (paths cannot hold NUL after canonicalisation) and the round-trip guard `P0906`
/// (only a policyc bug can raise it).
#[test]
fn every_apparmor_code_has_a_corpus_file() {
    let files: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.split('-').next().map(str::to_string))
        .collect();
    let unreachable = [
        Code::AppArmorBadName,
        Code::AppArmorUnwritablePath,
        Code::AppArmorRoundTrip,
    ];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.as_str().starts_with("P09") && !unreachable.contains(c))
        .map(|c| c.as_str())
        .filter(|c| !files.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no corpus file for {missing:?}");
}
