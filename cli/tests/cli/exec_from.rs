//! `policyc exec --from DIR`: a folder `policyc build` wrote runs exactly as `policyc exec
//! POLICY` does (a path outside the grants, the env block, a scratch area), and a folder
//! that is tampered with, incomplete, or built for another home is refused with status 125.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::path::PathBuf;
use std::process::{Command, Output};

const HOME: &str = "/home/agent";

fn live() -> bool {
    let landlock = policyc_host::landlock::kernel_abi() >= 1;
    let seccomp =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    if landlock && seccomp {
        return true;
    }
    cannot_run(&format!(
        "exec --from tests: landlock available: {landlock}, seccomp available: {seccomp}"
    ));
    false
}

/// A policy with a read grant, a scratch area and an env block, built into `out/probe`.
struct Built {
    dir: PathBuf,
}

impl Built {
    fn new(name: &str) -> Built {
        let dir = scratch(&format!("exec-from-{name}"));
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("docs/a.txt"), "hello\n").unwrap();
        std::fs::write(dir.join("secret.txt"), "top secret\n").unwrap();
        let d = dir.display();
        let policy = format!(
            r#"use std::runtime::base
use std::runtime::static

policy probe {{
    isolation process
    fs {{
        exec "/usr"
        read "/etc"
        read "{d}/docs"
        scratch "{d}/scratch" size 1MiB
    }}
    net {{ egress none }}
    syscalls {{ allow static_binary }}
    env {{
        pass LANG
        set PYTHONDONTWRITEBYTECODE "1"
    }}
}}
"#
        );
        std::fs::write(dir.join("probe.policy"), policy).unwrap();
        let b = Built { dir };
        let o = policyc(
            &["build", "--home", HOME, "probe.policy", "--out", "out"],
            &b.dir,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        b
    }

    fn folder(&self) -> PathBuf {
        self.dir.join("out/probe")
    }

    /// Run `cmd` under the policy, from the file (`--from` false) or the built folder.
    fn run(&self, from: bool, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", "--quiet", "--home", HOME];
        if from {
            args.extend(["--from", "out/probe"]);
        } else {
            args.push("probe.policy");
        }
        args.push("--");
        args.extend_from_slice(cmd);
        Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(&args)
            .current_dir(&self.dir)
            .env("LANG", "C.UTF-8")
            .env("GITHUB_TOKEN", "ghp_x")
            .output()
            .unwrap()
    }

    /// Run `cmd` both ways; both outputs, which must agree on status, stdout and stderr.
    fn both(&self, cmd: &[&str]) -> Output {
        let file = self.run(false, cmd);
        let from = self.run(true, cmd);
        assert_eq!(
            (file.status.code(), stdout(&file), stderr(&file)),
            (from.status.code(), stdout(&from), stderr(&from)),
            "exec POLICY and exec --from differ for {cmd:?}"
        );
        from
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

#[test]
fn the_built_folder_lists_the_exec_plan_with_its_sha256() {
    let b = Built::new("manifest");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.folder().join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "exec.json")
        .expect("exec.json in the manifest");
    assert_eq!(entry["target"], "exec");
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.folder().join("exec.json")).unwrap()).unwrap();
    assert_eq!(plan["home"], HOME);
    assert_eq!(plan["policy"]["name"], "probe");
    assert_eq!(plan["policy"]["env"]["set"]["PYTHONDONTWRITEBYTECODE"], "1");
}

#[test]
fn a_path_outside_the_grants_is_not_there_from_the_folder_either() {
    if !live() {
        return;
    }
    let b = Built::new("denied");
    let o = b.both(&["/bin/cat", &b.path("docs/a.txt")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\n");
    let o = b.both(&["/bin/cat", &b.path("secret.txt")]);
    assert_ne!(o.status.code(), Some(0));
    assert_stderr_has(&o, "No such file or directory");
}

#[test]
fn the_env_block_holds_from_the_folder() {
    if !live() {
        return;
    }
    let b = Built::new("env");
    let o = b.both(&["/usr/bin/env"]);
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
}

#[test]
fn the_scratch_area_is_writable_then_wiped_from_the_folder() {
    if !live() {
        return;
    }
    let b = Built::new("scratch");
    let script = format!(
        "echo report > {0}/r.txt && /bin/cat {0}/r.txt && echo x > {1}",
        b.path("scratch"),
        b.path("docs/a.txt")
    );
    let o = b.both(&["/bin/sh", "-c", &script]);
    assert_ne!(o.status.code(), Some(0), "a read grant is read-only");
    assert_eq!(stdout(&o), "report\n");
    assert_stderr_has(&o, "Read-only file system");
    assert!(!b.dir.join("scratch").exists(), "scratch must be wiped");
}

/// Exec from the folder, which must be refused: status 125, the message, nothing run.
#[track_caller]
fn refused(b: &Built, args: &[&str], why: &str) {
    let mut all = vec!["exec", "--from", "out/probe"];
    all.extend_from_slice(args);
    all.extend(["--", "/bin/sh", "-c", "echo ran"]);
    let o = policyc(&all, &b.dir);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "the command must not run");
    assert_stderr_has(&o, why);
    assert_stderr_has(&o, "rebuild it with `policyc build");
}

#[test]
fn a_tampered_artifact_is_refused() {
    let b = Built::new("tampered");
    let landlock = b.folder().join("landlock.json");
    let text = std::fs::read_to_string(&landlock).unwrap();
    // Widen the ruleset: the kind of change a tamperer wants.
    std::fs::write(&landlock, text.replacen("/etc", "/", 1)).unwrap();
    refused(
        &b,
        &["--home", HOME],
        "landlock.json` does not match the sha256 manifest.json lists for it",
    );
}

#[test]
fn a_tampered_exec_plan_is_refused() {
    let b = Built::new("tampered-plan");
    let plan = b.folder().join("exec.json");
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(
        &plan,
        text.replace("\"egress_none\": true", "\"egress_none\": false"),
    )
    .unwrap();
    refused(
        &b,
        &["--home", HOME],
        "exec.json` does not match the sha256 manifest.json lists for it",
    );
}

#[test]
fn a_missing_artifact_is_refused() {
    let b = Built::new("missing");
    std::fs::remove_file(b.folder().join("seccomp.x86_64.bpf")).unwrap();
    std::fs::remove_file(b.folder().join("seccomp.aarch64.bpf")).unwrap();
    refused(&b, &["--home", HOME], "is missing or unreadable");
}

#[test]
fn a_folder_without_a_manifest_or_for_another_home_is_refused() {
    let b = Built::new("home");
    refused(
        &b,
        &["--home", "/home/other"],
        "was built for the home directory `/home/agent`, and this run's is `/home/other`",
    );
    std::fs::remove_file(b.folder().join("manifest.json")).unwrap();
    refused(
        &b,
        &["--home", HOME],
        "is not a folder `policyc build` wrote",
    );
}

#[test]
fn a_folder_from_another_policyc_is_refused() {
    let b = Built::new("version");
    let path = b.folder().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["policyc"] = "0.0.0-other".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    refused(&b, &["--home", HOME], "was built by policyc 0.0.0-other");
}

#[test]
fn from_and_a_policy_file_are_exclusive() {
    let b = Built::new("usage");
    let o = policyc(
        &[
            "exec",
            "--from",
            "out/probe",
            "probe.policy",
            "--",
            "/bin/true",
        ],
        &b.dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, "cannot be used with");
}
