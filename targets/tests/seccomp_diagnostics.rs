//! Snapshot tests over `tests/seccomp_corpus/`: one small policy per seccomp diagnostic
//! (`P07xx`), named after the code it shows. These errors come from `emit`, not from
//! `compile`, so they live here rather than in the compiler's error corpus. (The other way
//! to get P0701, a filter over 4096 BPF instructions, needs a policy of a thousand lines;
//! `adv09_a_policy_too_large_for_bpf_fails_with_p0701` builds one.)
//!
//! Each snapshot holds the source, then every diagnostic the target gives: the errors when
//! the build fails, else the build report.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::diag::render_human;
use policyc_compiler::{compile, Code, NoModules, SourceMap};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{EmitContext, Target};
use std::collections::BTreeSet;
use std::path::Path;

fn snapshot_text(name: &str, text: &str) -> (String, Vec<Code>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &NoModules);
    assert!(!out.diagnostics.has_errors(), "{name} does not compile");
    let result = Seccomp.emit(&out.policies[0], &EmitContext::default());
    let mut s =
        format!("{text}=============================== seccomp ================================\n");
    let diags = match &result {
        Ok(e) => &e.report,
        Err(d) => d,
    };
    for d in diags {
        s.push_str(&render_human(d, &sources));
    }
    (s, diags.iter().map(|d| d.code).collect())
}

#[test]
fn corpus() {
    insta::glob!("seccomp_corpus", "*.policy", |path| {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
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

#[test]
fn every_seccomp_code_has_a_corpus_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seccomp_corpus");
    let files: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.split('-').next().map(str::to_string))
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| c.starts_with("P07") && !files.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no corpus file for {missing:?}");
}
