//! Nothing inherited (ADVERSARIAL.md class 34): the caller's environment never reaches the
//! sandbox beyond what the policy names, under process and wasm isolation.

use super::{scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::path::Path;
use std::process::{Command, Output};

const SECRETS: [(&str, &str); 3] = [
    ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
    ("GITHUB_TOKEN", "ghp_x"),
    ("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock"),
];

/// Run `policyc` with the secrets (and `LANG`) in its environment.
fn with_secrets(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policyc"))
        .args(args)
        .current_dir(cwd)
        .envs(SECRETS)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .output()
        .unwrap()
}

fn live() -> bool {
    if policyc_host::landlock::kernel_abi() >= 1 {
        return true;
    }
    cannot_run("nothing-inherited exec tests need Landlock");
    false
}

#[test]
fn the_environment_holds_only_what_the_policy_names() {
    if !live() {
        return;
    }
    let dir = scratch("exec-env");
    let policy = r#"use std::secrets
use std::runtime::base
use std::runtime::static

policy demo {
    isolation process
    threats credential_theft, exfiltration
    fs {
        exec "/usr"
        deny secrets
    }
    net { egress none }
    syscalls { allow static_binary }
    env {
        pass LANG
        set PYTHONDONTWRITEBYTECODE "1"
    }
}
"#;
    std::fs::write(dir.join("demo.policy"), policy).unwrap();
    let o = with_secrets(
        &[
            "exec",
            "--home",
            "/home/agent",
            "demo.policy",
            "--",
            "/usr/bin/env",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "HOME=/home/agent",
            "LANG=C.UTF-8",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
        ]
    );
    for (_, v) in SECRETS {
        assert!(!stdout(&o).contains(v));
    }
}

/// A module that exits with the number of its environment variables.
const ENV_COUNT_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (call $proc_exit (i32.load (i32.const 0)))))"#;

#[test]
fn wasm_modules_see_only_the_policys_variables() {
    let dir = scratch("exec-env-wasm");
    std::fs::write(
        dir.join("count.wasm"),
        wat::parse_str(ENV_COUNT_WAT).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("none.policy"), "policy m { isolation wasm }\n").unwrap();
    let o = with_secrets(&["exec", "none.policy", "--", "count.wasm"], &dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "no variable at all: {}",
        stderr(&o)
    );
    std::fs::write(
        dir.join("two.policy"),
        "policy m {\n    isolation wasm\n    env {\n        pass LANG, UNSET_HERE\n        set A \"1\"\n    }\n}\n",
    )
    .unwrap();
    let o = with_secrets(&["exec", "two.policy", "--", "count.wasm"], &dir);
    assert_eq!(o.status.code(), Some(2), "LANG and A: {}", stderr(&o));
}

#[test]
fn a_policy_too_narrow_to_start_the_program_is_a_policyc_error_naming_the_syscall() {
    if !live() {
        return;
    }
    let dir = scratch("exec-narrow");
    let write = |name: &str, syscalls: &str| {
        let text = format!(
            "use std::runtime::base\nuse std::runtime::static\npolicy n {{\n    isolation process\n    fs {{\n        exec \"/usr\"\n    }}\n    syscalls {{\n        {syscalls}\n    }}\n}}\n"
        );
        std::fs::write(dir.join(name), text).unwrap();
    };
    write("read.policy", "allow read");
    let o = with_secrets(&["exec", "read.policy", "--", "/bin/true"], &dir);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("`execve`") && err.contains("`exit_group`") && err.contains("`brk`"),
        "{err}"
    );
    assert!(err.contains("read.policy:"), "names the policy file: {err}");

    write("nobrk.policy", "allow static_binary\n        deny brk");
    let o = with_secrets(&["exec", "nobrk.policy", "--", "/bin/true"], &dir);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("denies `brk`"), "{err}");

    write("base.policy", "allow static_binary");
    let o = with_secrets(&["exec", "base.policy", "--", "/bin/true"], &dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the base set starts /bin/true: {}",
        stderr(&o)
    );
    let o = with_secrets(&["exec", "base.policy", "--", "/bin/false"], &dir);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the program's own status: {}",
        stderr(&o)
    );
}
