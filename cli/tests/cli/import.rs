//! `policyc import`: each importer's exit status, output that is `policyc fmt`-clean and
//! builds, and errors that carry their code and the place in the input.

use super::{policyc, scratch, stderr, stdout};
use std::path::Path;

/// The example settings file of sandbox-runtime's README ("Complete Configuration Example").
const SRT_README: &str = r#"{
  "network": {
    "allowedDomains": ["github.com", "*.github.com", "lfs.github.com", "api.github.com",
                       "npmjs.org", "*.npmjs.org"],
    "deniedDomains": ["malicious.com"],
    "allowUnixSockets": ["/var/run/docker.sock"],
    "allowLocalBinding": false
  },
  "filesystem": {
    "denyRead": ["~/.ssh"],
    "allowWrite": [".", "src/", "test/", "/tmp"],
    "denyWrite": [".env", "config/production.json"]
  },
  "ignoreViolations": {"*": ["/usr/bin", "/System"], "npm": ["/private/tmp"]},
  "enableWeakerNestedSandbox": false
}"#;

/// A small Docker-style seccomp profile.
const SECCOMP: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "syscalls": [
    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
  ]
}"#;

/// `policyc import ARGS` in `dir`, writing `out.policy`; asserts success, then that the
/// file is fmt-clean and builds with `targets` (empty: the policy's own stack).
fn imports_and_builds(dir: &Path, args: &[&str], targets: &str) -> String {
    let (what, rest) = args.split_first().unwrap();
    let mut all = vec!["import", what, "-o", "out.policy"];
    all.extend_from_slice(rest);
    let o = policyc(&all, dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fmt = policyc(&["fmt", "--check", "out.policy"], dir);
    assert_eq!(fmt.status.code(), Some(0), "{}", stderr(&fmt));
    let mut build = vec!["build", "out.policy", "-o", "built"];
    if !targets.is_empty() {
        build.extend_from_slice(&["--target", targets]);
    }
    let b = policyc(&build, dir);
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    std::fs::read_to_string(dir.join("out.policy")).unwrap()
}

/// `policyc --error-format json import ARGS` fails with status 1 and one JSON error.
fn fails_with(dir: &Path, args: &[&str], code: &str, place: &str) {
    let mut all = vec!["--error-format", "json", "import"];
    all.extend_from_slice(args);
    let o = policyc(&all, dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).is_empty(),
        "no policy on failure: {}",
        stdout(&o)
    );
    let err: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    assert_eq!(err["code"], code, "{err}");
    assert_eq!(err["place"], place, "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{err}"
    );
}

#[test]
fn import_seccomp_writes_a_policy_that_builds() {
    let dir = scratch("import-seccomp");
    std::fs::write(dir.join("profile.json"), SECCOMP).unwrap();
    let text = imports_and_builds(&dir, &["seccomp", "profile.json"], "seccomp");
    assert!(text.contains("allow personality if arg0 == 8"), "{text}");
    let bad = SECCOMP.replace("SCMP_CMP_EQ", "SCMP_CMP_SOMETIMES");
    std::fs::write(dir.join("bad.json"), bad).unwrap();
    fails_with(
        &dir,
        &["seccomp", "bad.json"],
        "P1501",
        "syscalls[1].args[0].op",
    );
    let o = policyc(&["import", "seccomp", "missing.json"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn import_sandbox_runtime_readme_example() {
    let dir = scratch("import-srt");
    std::fs::write(dir.join("srt-settings.json"), SRT_README).unwrap();
    let args = [
        "sandbox-runtime",
        "srt-settings.json",
        "--cwd",
        "/work/project",
        "--best-effort",
    ];
    // Landlock and OCI refuse denies beneath grants (fail closed); AppArmor expresses them.
    let text = imports_and_builds(&dir, &args, "apparmor");
    for line in [
        "exec \"/\"",
        "write \"/work/project/src\"",
        "deny \"~/.ssh\"",
        "deny write \"/work/project/.git/hooks\"",
        "deny write \"/work/project/.env\"",
        "allow \"*.github.com\":*",
        "deny \"malicious.com\"",
        "Not enforced (--best-effort)",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    std::fs::write(dir.join("settings.json"), SRT_README).unwrap();
    fails_with(
        &dir,
        &["sandbox-runtime", "settings.json"],
        "P1502",
        "filesystem.allowWrite[0]",
    );
    fails_with(
        &dir,
        &["sandbox-runtime", "settings.json", "--cwd", "/work/project"],
        "P1502",
        "filesystem.allowWrite[0]",
    );
    let glob = SRT_README.replace("\"src/\"", "\"src/**/*.ts\"");
    std::fs::write(dir.join("glob.json"), glob).unwrap();
    fails_with(
        &dir,
        &[
            "sandbox-runtime",
            "glob.json",
            "--cwd",
            "/p",
            "--best-effort",
        ],
        "P1502",
        "filesystem.allowWrite[1]",
    );
    let unknown = SRT_README.replace("\"allowLocalBinding\"", "\"allowEverything\"");
    std::fs::write(dir.join("unknown.json"), unknown).unwrap();
    fails_with(
        &dir,
        &[
            "sandbox-runtime",
            "unknown.json",
            "--cwd",
            "/p",
            "--best-effort",
        ],
        "P1501",
        "network.allowEverything",
    );
}

#[test]
fn import_sandbox_runtime_without_writes_needs_no_cwd() {
    let dir = scratch("import-srt-ro");
    let settings = r#"{"network": {"allowedDomains": [], "deniedDomains": []},
        "filesystem": {"denyRead": ["~/.aws"], "allowWrite": [], "denyWrite": []}}"#;
    std::fs::write(dir.join("ro.json"), settings).unwrap();
    let text = imports_and_builds(&dir, &["sandbox-runtime", "ro.json"], "apparmor");
    assert!(text.contains("egress none"), "{text}");
    assert!(text.contains("deny \"~/.aws\""), "{text}");
}

#[test]
fn import_landrun_readme_examples() {
    let dir = scratch("import-landrun");
    let text = imports_and_builds(
        &dir,
        &[
            "landrun",
            "--name",
            "lister",
            "--",
            "--rox",
            "/usr/",
            "--ro",
            "/lib,/lib64",
            "ls",
        ],
        "",
    );
    assert!(text.contains("policy lister"), "{text}");
    assert!(text.contains("exec \"/usr\""), "{text}");
    assert!(text.contains("read \"/lib64\""), "{text}");
    assert!(text.contains("egress none"), "{text}");
    fails_with(
        &dir,
        &[
            "landrun",
            "--",
            "--rox",
            "/usr/",
            "--ro",
            "/lib",
            "--bind-tcp",
            "8080",
            "server",
        ],
        "P1502",
        "argv[4] `--bind-tcp`",
    );
    fails_with(
        &dir,
        &[
            "landrun", "--", "--rox", "/usr/bin", "--rwx", "/var/log", "nginx",
        ],
        "P1502",
        "argv[2] `--rwx`",
    );
    fails_with(
        &dir,
        &["landrun", "--", "--frobnicate"],
        "P1501",
        "argv[0] `--frobnicate`",
    );
    let o = policyc(&["import", "landrun"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
