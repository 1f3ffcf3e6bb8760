//! Snapshot tests over every target's corpus, `tests/<target>_corpus/`: one small policy per
//! diagnostic the target gives (`P07xx` seccomp, `P08xx` Landlock, `P09xx` AppArmor,
//! `P10xx` OCI, `P11xx` WASI, `P12xx` egress), named after the code it shows. These come from `emit`, not
//! from `compile`, so they live here rather than in the compiler's error corpus. (The other
//! way to get P0701, a filter over 4096 BPF instructions, needs a policy of a thousand lines;
//! `adv09_a_policy_too_large_for_bpf_fails_with_p0701` builds one.)
//!
//! Each snapshot holds the source, then every diagnostic the target gives: the errors when
//! the build fails, else the build report, then what the target emitted (see [`Shown`]).
//! Files named after the target's "no home" code are built without a home directory, the
//! others with `/home/user`; seccomp's are all built without one.

use crate::harness::snapshot;
use policyc_compiler::{compile, Code, NoModules, SourceMap};
use policyc_targets::oci;
use policyc_targets::{registry, EmitContext, Emitted, Target};
use policyc_testkit::stdlib::{render, HOME};
use std::collections::BTreeSet;
use std::path::Path;

/// What a snapshot shows of a build that succeeds, after its report.
#[derive(Debug, Clone, Copy)]
enum Shown {
    /// Nothing (seccomp's filters are in the stdlib snapshots).
    Nothing,
    /// Every emitted file.
    Files,
    /// The mount table and masked paths of the OCI bundle (the rest of `config.json` is in
    /// the stdlib snapshots).
    Mounts,
}

/// One target's corpus.
#[derive(Debug)]
struct Corpus {
    /// The target's [`Target::name`]; its corpus is `tests/<target>_corpus/`.
    target: &'static str,
    /// The code prefix of the target's diagnostics.
    codes: &'static str,
    /// Files whose names start with this are built without a home directory.
    no_home: &'static str,
    /// The line between the source and the diagnostics.
    banner: &'static str,
    shown: Shown,
    /// Codes no policy text can raise, so no corpus file shows.
    unreachable: &'static [Code],
}

/// Every target's corpus, in registry order.
const CORPORA: &[Corpus] = &[
    Corpus {
        target: "seccomp",
        codes: "P07",
        no_home: "P07",
        banner: "=============================== seccomp ================================\n",
        shown: Shown::Nothing,
        unreachable: &[],
    },
    // The round-trip guard only a policyc bug can raise.
    Corpus {
        target: "landlock",
        codes: "P08",
        no_home: "P0803",
        banner: "=============================== landlock ===============================\n",
        shown: Shown::Files,
        unreachable: &[Code::LandlockRoundTrip],
    },
    // `P0901`: policy names are identifiers by the grammar (the unit tests build bad names in
    // the IR); `P0903`: paths cannot hold NUL after canonicalisation; `P0906`: the round-trip
    // guard only a policyc bug can raise.
    Corpus {
        target: "apparmor",
        codes: "P09",
        no_home: "P0902",
        banner: "=============================== apparmor ===============================\n",
        shown: Shown::Files,
        unreachable: &[
            Code::AppArmorBadName,
            Code::AppArmorUnwritablePath,
            Code::AppArmorRoundTrip,
        ],
    },
    // The internal guard only a policyc bug can raise.
    Corpus {
        target: "oci",
        codes: "P10",
        no_home: "P1007",
        banner: "================================== oci ==================================\n",
        shown: Shown::Mounts,
        unreachable: &[Code::OciInternal],
    },
    // The round-trip guard only a policyc bug can raise.
    Corpus {
        target: "wasi",
        codes: "P11",
        no_home: "P1103",
        banner: "================================= wasi =================================\n",
        shown: Shown::Files,
        unreachable: &[Code::WasiRoundTrip],
    },
    // The round-trip guard only a policyc bug can raise.
    Corpus {
        target: "egress",
        codes: "P12",
        no_home: "P12-none",
        banner: "================================ egress ================================\n",
        shown: Shown::Files,
        unreachable: &[Code::EgressRoundTrip],
    },
];

/// The directory of the targets' test files.
fn tests_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The corpus of `target`.
fn corpus(target: &dyn Target) -> &'static Corpus {
    CORPORA
        .iter()
        .find(|c| c.target == target.name())
        .unwrap_or_else(|| panic!("{}: no corpus", target.name()))
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

/// What `shown` shows of an emitted build.
fn shown_text(shown: Shown, e: &Emitted) -> String {
    match shown {
        Shown::Nothing => String::new(),
        Shown::Files => e
            .artifacts
            .iter()
            .map(|(file, bytes)| format!("--- {file}\n{}", String::from_utf8_lossy(bytes)))
            .collect(),
        Shown::Mounts => e.artifacts.get(oci::FILE).map_or(String::new(), |bytes| {
            format!(
                "--- {} (mounts and masked paths)\n{}",
                oci::FILE,
                mount_table(bytes)
            )
        }),
    }
}

/// The snapshot of one corpus file, and the codes of its diagnostics.
fn snapshot_text(target: &dyn Target, name: &str, text: &str) -> (String, Vec<Code>) {
    let c = corpus(target);
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &NoModules);
    assert!(
        !out.diagnostics.has_errors(),
        "{name} does not compile:\n{}",
        render(&sources, &out.diagnostics.0)
    );
    let home = (!name.starts_with(c.no_home)).then(|| HOME.to_string());
    let result = target.emit(&out.policies[0], &EmitContext { home });
    let mut s = format!("{text}{}", c.banner);
    let diags = match &result {
        Ok(e) => &e.report,
        Err(d) => d,
    };
    s.push_str(&render(&sources, diags));
    if let Ok(e) = &result {
        s.push_str(&shown_text(c.shown, e));
    }
    (s, diags.iter().map(|d| d.code).collect())
}

#[test]
fn corpus_of_every_target() {
    for target in registry() {
        let t = target.name();
        insta::glob!("..", &format!("{t}_corpus/*.policy"), |path| {
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
            let (snap, codes) = snapshot_text(*target, &name, &text);
            let want = name.split('-').next().unwrap();
            assert!(
                codes.iter().any(|c| c.as_str() == want),
                "{name}: expected {want} among {:?}",
                codes.iter().map(|c| c.as_str()).collect::<Vec<_>>()
            );
            snapshot(&format!("{t}_diagnostics__corpus"), &snap);
        });
    }
}

/// Every code of every target has a corpus file, except those no policy text can raise.
#[test]
fn every_code_of_every_target_has_a_corpus_file() {
    for target in registry() {
        let c = corpus(*target);
        let dir = tests_dir().join(format!("{}_corpus", c.target));
        let files: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.split('-').next().map(str::to_string))
            .collect();
        let missing: Vec<&str> = Code::ALL
            .iter()
            .filter(|code| code.as_str().starts_with(c.codes) && !c.unreachable.contains(code))
            .map(|code| code.as_str())
            .filter(|code| !files.contains(*code))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: no corpus file for {missing:?}",
            c.target
        );
    }
}

/// The corpora are the registry's targets, no more.
#[test]
fn every_corpus_is_a_registered_target() {
    let names: Vec<&str> = registry().iter().map(|t| t.name()).collect();
    let corpora: Vec<&str> = CORPORA.iter().map(|c| c.target).collect();
    assert_eq!(names, corpora);
}
