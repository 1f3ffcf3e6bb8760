//! `policyc diff --artifacts` on build folders: two `policyc build` outputs compared by
//! their simulators, on a fixture pair (a policy that widens a mount, and a committed
//! artifact edited by hand so it drifts from its policy), and a rebuild with no policy
//! change, which changes nothing in effect.

use super::{policyc, scratch, stderr, stdout};
use std::path::{Path, PathBuf};

const HOME: &str = "/home/user";

fn stdlib(name: &str) -> String {
    policyc_stdlib::policy_source(&format!("{name}.policy"))
        .unwrap()
        .to_string()
}

/// `old.policy` (the stdlib document organiser) built into `b-old`, and `new.policy` (its
/// mount made writable) built into `b-new`.
fn fixture(name: &str) -> PathBuf {
    let dir = scratch(name);
    let text = stdlib("document_organizer");
    let widened = text.replace(
        r#"read "~/Documents" at "/mnt/docs""#,
        r#"write "~/Documents" at "/mnt/docs""#,
    );
    assert_ne!(widened, text);
    std::fs::write(dir.join("old.policy"), &text).unwrap();
    std::fs::write(dir.join("new.policy"), &widened).unwrap();
    build(&dir, "old.policy", "b-old");
    build(&dir, "new.policy", "b-new");
    dir
}

fn build(dir: &Path, policy: &str, out: &str) {
    let o = policyc(&["build", policy, "--out", out, "--home", HOME], dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Run `policyc diff` and describe the run: the command, its exit status and its stdout.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    let o = policyc(&all, dir);
    assert!(
        stderr(&o).is_empty() || o.status.code() != Some(2),
        "{}",
        stderr(&o)
    );
    let shown = format!(
        "$ policyc {}\nexit: {:?}\n\n{}",
        all.join(" "),
        o.status.code(),
        stdout(&o)
    );
    (o.status.code(), shown)
}

/// Copy a build folder, then make the OCI bundle mount `/mnt/docs` writable by hand (`ro`
/// and `rro` dropped, `rw` added).
fn drifted(dir: &Path, from: &str, to: &str) {
    let (src, dst) = (dir.join(from), dir.join(to));
    let o = std::process::Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(o.status.success());
    let path = dst.join("document_organizer/oci/config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mounts = config["mounts"].as_array_mut().unwrap();
    let docs = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/mnt/docs")
        .unwrap();
    let options = docs["options"].as_array_mut().unwrap();
    let before = options.len();
    options.retain(|o| o != "ro" && o != "rro");
    assert_eq!(options.len(), before - 2, "{options:?}");
    options.push("rw".into());
    let mut text = serde_json::to_string_pretty(&config).unwrap();
    text.push('\n');
    std::fs::write(&path, text).unwrap();
}

fn validates_as_sarif(text: &str) {
    let sarif: serde_json::Value = serde_json::from_str(text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../verify/tests/diff/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_widened_mount_widens_the_layers_as_the_policy_does() {
    let dir = fixture("builds-widen");
    let base = [
        "old.policy",
        "new.policy",
        "--build",
        "b-old",
        "--build",
        "b-new",
    ];
    for format in ["human", "markdown", "json"] {
        let mut args = base.to_vec();
        args.extend(["--format", format]);
        let (code, shown) = run(&dir, &args);
        assert_eq!(code, Some(1), "{shown}");
        assert!(!shown.contains("DRIFT"), "{shown}");
        insta::assert_snapshot!(format!("widen_{format}"), shown);
    }
    let mut args = base.to_vec();
    args.extend(["--format", "sarif"]);
    let (_, shown) = run(&dir, &args);
    let sarif = shown.split_once("\n\n").unwrap().1;
    validates_as_sarif(sarif);
    // The widening follows the policy: no artifact result, only the policy's own.
    assert!(
        !sarif.contains("\"ruleId\": \"policyc/artifact-drift"),
        "{sarif}"
    );
}

#[test]
fn an_artifact_edited_by_hand_drifts_from_its_policy() {
    let dir = fixture("builds-drift");
    drifted(&dir, "b-old", "b-edited");
    let base = [
        "old.policy",
        "old.policy",
        "--build",
        "b-old",
        "--build",
        "b-edited",
    ];
    for format in ["human", "sarif"] {
        let mut args = base.to_vec();
        args.extend(["--format", format]);
        let (code, shown) = run(&dir, &args);
        // Nothing widens in the policy; the bundle widens on its own, which fails even
        // `--fail-on threat`.
        assert_eq!(code, Some(1), "{shown}");
        assert!(shown.contains("DRIFT") || format == "sarif", "{shown}");
        if format == "sarif" {
            validates_as_sarif(shown.split_once("\n\n").unwrap().1);
        }
        insta::assert_snapshot!(format!("drift_{format}"), shown);
    }
    let mut args = base.to_vec();
    args.extend(["--fail-on", "threat"]);
    assert_eq!(run(&dir, &args).0, Some(1));
}

#[test]
fn a_rebuild_without_a_policy_change_changes_nothing() {
    let dir = fixture("builds-rebuild");
    // The same policy, with a comment added: every text artifact's provenance changes
    // (the file's sha256, the rule lines), what the layers decide does not.
    let text = format!("# reviewed\n{}", stdlib("document_organizer"));
    std::fs::write(dir.join("again.policy"), text).unwrap();
    build(&dir, "again.policy", "b-again");
    let (code, shown) = run(
        &dir,
        &[
            "old.policy",
            "again.policy",
            "--build",
            "b-old",
            "--build",
            "b-again",
        ],
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("document_organizer: no change in effect ("),
        "{shown}"
    );
    assert!(!shown.contains("widens"), "{shown}");
    insta::assert_snapshot!("rebuild", shown);
}

#[test]
fn the_text_view_stays_and_flags_are_checked() {
    let dir = fixture("builds-flags");
    let (code, shown) = run(&dir, &["--artifacts=text", "old.policy", "new.policy"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("--- old/document_organizer/oci/config.json"),
        "{shown}"
    );
    let o = policyc(
        &["diff", "old.policy", "new.policy", "--build", "b-old"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--build OLD --build NEW"),
        "{}",
        stderr(&o)
    );
    let o = policyc(
        &[
            "diff",
            "--artifacts=text",
            "old.policy",
            "new.policy",
            "--format",
            "sarif",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    // Without build folders, both sides are built in memory.
    let (code, shown) = run(&dir, &["--artifacts", "old.policy", "new.policy"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("artifacts, by their simulators: (built in memory) -> (built in memory)"),
        "{shown}"
    );
}
