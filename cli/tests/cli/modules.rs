//! User modules: `use acme::...` resolved through the `[modules]` table of a `policyc.toml`
//! above the policy, or `--lib NAME=DIR`, for every subcommand that compiles policies.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use std::path::Path;

const SECRETS: &str = "/// What this team never lets an agent read.\npaths team_secrets {\n    \"~/.config/acme\",\n}\n";

const POLICY: &str = r#"use acme::secrets

policy reader {
    isolation process

    fs {
        read "/usr"
        deny team_secrets
    }

    syscalls {
        allow read
    }

    test "team secrets stay secret" {
        deny read "~/.config/acme/token"
        allow read "/usr/lib/os-release"
    }
}
"#;

/// A repository: `policyc.toml` at the root, modules in `policies/lib`, the policy in
/// `agents/`.
fn repo(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("policies/lib")).unwrap();
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(
        dir.join("policyc.toml"),
        "[modules]\nacme = \"policies/lib\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("policies/lib/secrets.policy"), SECRETS).unwrap();
    std::fs::write(dir.join("agents/reader.policy"), POLICY).unwrap();
    dir
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn a_module_path_from_policyc_toml_serves_check_build_and_test() {
    let dir = repo("modules-toml");
    let check = policyc(&["check", "agents/reader.policy"], &dir);
    assert_eq!(code(&check), 0, "{}", stderr(&check));
    let test = policyc(&["test", "--home", "/home/u", "agents"], &dir);
    assert_eq!(code(&test), 0, "{}{}", stdout(&test), stderr(&test));
    assert!(stdout(&test).contains("0 failed"), "{}", stdout(&test));
    let build = policyc(
        &["build", "--home", "/home/u", "agents", "--out", "out"],
        &dir,
    );
    assert_eq!(code(&build), 0, "{}", stderr(&build));
    // The policy is found from a subdirectory too: the project file is looked for above.
    let sub = policyc(&["check", "reader.policy"], &dir.join("agents"));
    assert_eq!(code(&sub), 0, "{}", stderr(&sub));
    let explain = policyc(
        &[
            "explain",
            "agents/reader.policy",
            "read \"~/.config/acme/x\"",
        ],
        &dir,
    );
    assert_eq!(code(&explain), 0, "{}", stderr(&explain));
    assert!(
        stdout(&explain).contains("team_secrets"),
        "{}",
        stdout(&explain)
    );
}

#[test]
fn without_a_module_path_the_hint_says_how_to_declare_one() {
    let dir = scratch("modules-none");
    std::fs::write(dir.join("p.policy"), POLICY).unwrap();
    let o = policyc(&["check", "p.policy"], &dir);
    assert_eq!(code(&o), 1);
    assert_stderr_has(&o, "error[P0101]: no module `acme::secrets`");
    assert_stderr_has(&o, "--> p.policy:1:1");
    assert_stderr_has(
        &o,
        "add `acme = \"DIR\"` under `[modules]` in a `policyc.toml`",
    );
    assert_stderr_has(&o, "or pass `--lib acme=DIR`");
    // The hint on the `use` suggests no standard library module.
    let first = stderr(&o).split("\n\n").next().unwrap().to_string();
    assert!(!first.contains("std::"), "{first}");
}

#[test]
fn lib_on_the_command_line_serves_the_module_and_wins_over_the_project_file() {
    let dir = repo("modules-lib");
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    std::fs::write(
        dir.join("elsewhere/secrets.policy"),
        "paths other { \"/x\" }\n",
    )
    .unwrap();
    let o = policyc(
        &["check", "--lib", "acme=elsewhere", "agents/reader.policy"],
        &dir,
    );
    assert_eq!(code(&o), 1, "the module of --lib has no `team_secrets`");
    assert_stderr_has(&o, "no path list `team_secrets`");
    std::fs::remove_file(dir.join("policyc.toml")).unwrap();
    let o = policyc(
        &[
            "check",
            "--lib",
            "acme=policies/lib",
            "agents/reader.policy",
        ],
        &dir,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = policyc(
        &["check", "--lib", "std=policies/lib", "agents/reader.policy"],
        &dir,
    );
    assert_eq!(code(&o), 2);
    assert_stderr_has(&o, "standard library");
}

#[test]
fn a_misspelt_module_gets_the_file_looked_for_and_the_nearest_module() {
    let dir = repo("modules-typo");
    std::fs::write(
        dir.join("agents/reader.policy"),
        POLICY.replace("acme::secrets", "acme::secret"),
    )
    .unwrap();
    let o = policyc(&["check", "agents/reader.policy"], &dir);
    assert_eq!(code(&o), 1);
    assert_stderr_has(&o, "did you mean `acme::secrets`?");
    assert_stderr_has(
        &o,
        "no file `policies/lib/secret.policy`; the module path is `policies/lib`, from `acme = ...` in `policyc.toml`",
    );
}

#[test]
fn an_import_cycle_is_reported_in_the_module_that_closes_it() {
    let dir = repo("modules-cycle");
    let lib = dir.join("policies/lib");
    std::fs::write(
        lib.join("secrets.policy"),
        format!("use acme::base\n{SECRETS}"),
    )
    .unwrap();
    std::fs::write(lib.join("base.policy"), "use acme::secrets\n").unwrap();
    let o = policyc(&["check", "agents/reader.policy"], &dir);
    assert_eq!(code(&o), 1);
    assert_stderr_has(
        &o,
        "error[P0112]: modules import each other in a cycle: `acme::secrets` -> `acme::base` -> `acme::secrets`",
    );
    assert_stderr_has(&o, "--> policies/lib/base.policy:1:1");
}

#[test]
fn a_broken_project_file_is_a_usage_error_at_its_line() {
    let dir = repo("modules-broken");
    std::fs::write(dir.join("policyc.toml"), "[modules]\nacme = 3\n").unwrap();
    let o = policyc(&["check", "agents/reader.policy"], &dir);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_stderr_has(&o, "policyc.toml");
    assert_stderr_has(&o, ":2:8");
    assert!(Path::new(&dir.join("policyc.toml")).exists());
}
