//! Snapshot tests over `tests/oci_corpus/`: one small policy per OCI diagnostic (`P10xx`),
//! named after the code it shows. The OCI target's errors come from `emit`, not `compile`.
//!
//! Each snapshot holds the source, then every diagnostic the target gives (the errors when
//! the build fails, else the build report), then, for a bundle, its mount table and masked
//! paths (the rest of `config.json` is in the stdlib snapshots). Files named `P1007-*` are
//! built without a home directory, the others with `/home/user`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::diag::render_human;
use policyc_compiler::{compile, Code, NoModules, SourceMap};
use policyc_targets::oci::{Oci, FILE};
use policyc_targets::{EmitContext, Target};
use std::collections::BTreeSet;
use std::path::Path;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oci_corpus")
}

/// The mount table and masked paths of a `config.json`, one line each.
fn mount_table(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let mut s = String::new();
    for m in v["mounts"].as_array().unwrap() {
        let opts: Vec<&str> = m["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        s.push_str(&format!(
            "mount {} {} {} [{}]\n",
            m["destination"].as_str().unwrap(),
            m["type"].as_str().unwrap(),
            m["source"].as_str().unwrap(),
            opts.join(",")
        ));
    }
    for p in v["linux"]["maskedPaths"].as_array().unwrap() {
        s.push_str(&format!("masked {}\n", p.as_str().unwrap()));
    }
    s
}

fn snapshot_text(name: &str, text: &str) -> (String, Vec<Code>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &NoModules);
    assert!(!out.diagnostics.has_errors(), "{name} does not compile");
    let home = (!name.starts_with("P1007")).then(|| "/home/user".to_string());
    let result = Oci.emit(&out.policies[0], &EmitContext { home });
    let mut s = format!(
        "{text}================================== oci ==================================\n"
    );
    let (diags, artifacts) = match &result {
        Ok(e) => (&e.report, Some(&e.artifacts)),
        Err(d) => (d, None),
    };
    for d in diags {
        s.push_str(&render_human(d, &sources));
    }
    if let Some(bytes) = artifacts.and_then(|a| a.get(FILE)) {
        s.push_str(&format!("--- {FILE} (mounts and masked paths)\n"));
        s.push_str(&mount_table(bytes));
    }
    (s, diags.iter().map(|d| d.code).collect())
}

#[test]
fn corpus() {
    insta::glob!("oci_corpus", "*.policy", |path| {
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

/// Every OCI code has a corpus file, except the internal guard, which only a policyc bug can
/// raise.
#[test]
fn every_oci_code_has_a_corpus_file() {
    let files: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.split('-').next().map(str::to_string))
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| c.starts_with("P10") && *c != Code::OciInternal.as_str())
        .filter(|c| !files.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no corpus file for {missing:?}");
}
