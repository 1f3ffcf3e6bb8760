//! Live tests: emitted bundles run under runc (through `policyc_host::runc`), with
//! busybox-static in the rootfs and the policy's `~` folders in a process-specific
//! temporary home. Each container's `process.args` is replaced by a probe script (the test
//! edits the JSON; `emit` never does), which prints one `name=status:first line of output`
//! line per probe.
//!
//! Besides the behaviour the policies promise (documents readable, read-only mounts
//! refusing writes with EROFS, masks hiding denied objects, scratch never executable, paths
//! outside the mounts absent, only `lo`, no capabilities, namespaces and mounts refused by
//! seccomp), every probe that maps to a request is checked against the simulator: where it
//! says `Allow` the probe succeeds, where it says `Deny` the probe fails.
//!
//! Needs root, `runc` and a static busybox (`apt-get install -y runc busybox-static`). Skips
//! (with a message) without them, unless `POLICYC_REQUIRE_LIVE=1`, when it fails instead.
//! When AppArmor is not enabled or the policy's profile is not loaded, the test removes
//! `process.apparmorProfile` (runc refuses to start otherwise) and says so.

use policyc_compiler::ast::Access;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Request};
use policyc_host::runc::{Bundle, Tools};
use policyc_targets::oci::{Oci, FILE, RUNTIME_SYSCALLS};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{EmitContext, Target, Verdict};
use policyc_testkit::live::cannot_run;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The first policy of one file's text, compiled with the standard library.
fn compile_one(name: &str, text: &str) -> Policy {
    let (_, policies) = policyc_testkit::stdlib::compile_text(name, text);
    policies.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------- environment

/// `Some(tools)`, or `None` after saying why (and failing under `POLICYC_REQUIRE_LIVE=1`).
fn tools_or_skip() -> Option<Tools> {
    match Tools::find() {
        Ok(t) => Some(t),
        Err(why) => {
            cannot_run(&why);
            None
        }
    }
}

// ------------------------------------------------------------------------------- bundles

const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "touch", "echo", "mkdir", "cp", "rm", "mv", "id", "grep", "head", "unshare",
    "mount", "pwd", "true", "wc", "stat", "ip", "hostname", "nc", "nslookup",
];

/// How long a container may run.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A bundle with a busybox rootfs and the emitted `config.json`, its probe script set as
/// `process.args`.
fn bundle(tools: &Tools, config: &[u8], profile: &str, script: &str) -> Bundle {
    let b = Bundle::new(tools, APPLETS).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(config).unwrap();
    v["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
    if !policyc_host::apparmor::profile_loaded(profile) {
        let p = v["process"].as_object_mut().unwrap();
        assert_eq!(p.remove("apparmorProfile"), Some(profile.into()));
        eprintln!("AppArmor profile `{profile}` is not loaded: running without it");
    }
    b.write_config(&v).unwrap();
    b
}

/// Run a bundle to completion; returns the probe lines (`name` to `status:output`) and the
/// raw output.
fn run(tools: &Tools, bundle: &Bundle) -> (BTreeMap<String, String>, String) {
    let (probes, all) = run_raw(tools, bundle);
    assert!(
        all.contains("PROBES-DONE"),
        "the container did not run its probes:\n{all}"
    );
    (probes, all)
}

/// Run a bundle to completion, whether or not the probes ran.
fn run_raw(tools: &Tools, bundle: &Bundle) -> (BTreeMap<String, String>, String) {
    let out = bundle.run(tools, TIMEOUT).unwrap();
    let status = out.status.map_or_else(
        || format!("killed after {} s", TIMEOUT.as_secs()),
        |s| s.to_string(),
    );
    let all = format!(
        "status: {status}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let probes = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (probes, all)
}

/// The shell prelude: `p NAME CMD...` prints `NAME=STATUS:first line of output`.
const PRELUDE: &str = r#"p() { n=$1; shift; o=$("$@" 2>&1); s=$?; echo "$n=$s:$(echo "$o" | head -n 1)"; }
"#;

fn script(probes: &[(&str, &str)]) -> String {
    let mut s = PRELUDE.to_string();
    for (name, cmd) in probes {
        s.push_str(&format!("p {name} {cmd}\n"));
    }
    s.push_str("echo PROBES-DONE\n");
    s
}

fn ok(probes: &BTreeMap<String, String>, name: &str) -> bool {
    probes
        .get(name)
        .unwrap_or_else(|| panic!("no probe `{name}` in {probes:#?}"))
        .starts_with("0:")
}

fn output<'a>(probes: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    let v = &probes[name];
    v.split_once(':').map_or("", |(_, o)| o)
}

/// Assert a probe failed, with `why` in its message.
fn failed_with(probes: &BTreeMap<String, String>, name: &str, why: &str, all: &str) {
    assert!(!ok(probes, name), "`{name}` succeeded:\n{all}");
    assert!(
        output(probes, name).contains(why),
        "`{name}` failed without `{why}`: {}\n{all}",
        probes[name]
    );
}

/// Every probe that is a request: the simulator's `Allow` must succeed, `Deny` must fail
/// (`succeeded` says which probes did).
fn agrees(
    artifacts: &policyc_targets::Artifacts,
    succeeded: &dyn Fn(&str) -> bool,
    checks: &[(&str, Access, &str)],
    all: &str,
) -> usize {
    for (name, access, path) in checks {
        let r = Request::Fs {
            access: *access,
            path: CanonPath::parse_request(path).unwrap(),
        };
        match Oci.simulate(artifacts, &r) {
            Verdict::Allow => assert!(
                succeeded(name),
                "simulator allows `{r}`, runc refused:\n{all}"
            ),
            Verdict::Deny => assert!(
                !succeeded(name),
                "simulator denies `{r}`, runc allowed:\n{all}"
            ),
            Verdict::NotMediated => {}
        }
    }
    checks.len()
}

// --------------------------------------------------------------------------------- tests

const LIVE_POLICY: &str = r#"use std::secrets
use std::runtime::static
policy live_probe {
    isolation container
    fs {
        read "~/docs" at "/mnt/docs"
        write "~/out" at "/mnt/out"
        exec "~/tools" at "/opt/tools"
        read "~/archive" at "/mnt/archive"
        scratch "/mnt/scratch" size 8MiB
        tmpfs "/tmp" size 4MiB
        deny secrets
        deny write persistence
        deny "~/docs/private"
        deny "~/docs/key.txt"
        deny read "~/archive"
    }
    net { egress none }
    include runtime_guards
    syscalls {
        allow static_binary
        allow fstatfs  # runc calls it after installing the filter
        deny unshare, setns, mount, umount2 errno EPERM
        default errno EPERM
    }
    limits { memory 64MiB; pids 32; files 64; cpus 1 }
}
"#;

/// A temporary home with the folders the live policy mounts, and secrets beside them.
fn live_home(busybox: &Path) -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("policyc-oci-home-")
        .tempdir()
        .unwrap();
    let h = home.path();
    for d in ["docs/private", "out", "tools", "archive", ".ssh"] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    std::fs::write(h.join("docs/readme.txt"), "hello docs\n").unwrap();
    std::fs::write(h.join("docs/private/secret.txt"), "PRIVATE-SECRET\n").unwrap();
    std::fs::write(h.join("docs/key.txt"), "KEY-MATERIAL\n").unwrap();
    std::fs::write(h.join("archive/old.txt"), "ARCHIVED\n").unwrap();
    std::fs::write(h.join(".ssh/id_ed25519"), "SSH-PRIVATE-KEY\n").unwrap();
    // Named `busybox`, so that busybox takes its first argument as the applet.
    std::fs::copy(busybox, h.join("tools/busybox")).unwrap();
    std::fs::copy(busybox, h.join("docs/busybox")).unwrap();
    std::fs::copy(busybox, h.join("out/busybox")).unwrap();
    home
}

#[test]
fn live_probe_policy_under_runc() {
    let Some(tools) = tools_or_skip() else { return };
    let version = Command::new(&tools.runc).arg("--version").output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&version.stdout));
    let home = live_home(&tools.busybox);
    let policy = compile_one("live_probe.policy", LIVE_POLICY);
    let ctx = EmitContext {
        home: Some(home.path().to_str().unwrap().to_string()),
    };
    let e = Oci.emit(&policy, &ctx).unwrap();
    let home_str = home.path().display().to_string();
    let probes = [
        ("read_doc", "cat /mnt/docs/readme.txt"),
        ("list_docs", "ls /mnt/docs"),
        ("write_doc", "touch /mnt/docs/new.txt"),
        ("write_out", "sh -c 'echo report > /mnt/out/report.txt'"),
        ("read_out", "cat /mnt/out/report.txt"),
        ("exec_out", "/mnt/out/busybox true"),
        ("exec_tools", "/opt/tools/busybox true"),
        ("write_tools", "touch /opt/tools/new"),
        ("exec_docs", "/mnt/docs/busybox true"),
        ("read_private", "cat /mnt/docs/private/secret.txt"),
        ("list_private", "ls /mnt/docs/private"),
        ("read_key", "cat /mnt/docs/key.txt"),
        ("list_archive", "ls /mnt/archive"),
        ("read_archive", "cat /mnt/archive/old.txt"),
        (
            "write_scratch",
            "sh -c 'echo x > /mnt/scratch/f && cat /mnt/scratch/f'",
        ),
        ("copy_scratch", "cp /bin/busybox /mnt/scratch/busybox"),
        ("exec_scratch", "/mnt/scratch/busybox true"),
        ("write_tmp", "sh -c 'echo t > /tmp/t && cat /tmp/t'"),
        ("write_root", "touch /newfile"),
        ("write_dev", "touch /dev/newfile"),
        ("home_absent", &format!("ls {home_str}")),
        ("ssh_absent", "cat /root/.ssh/id_ed25519"),
        ("netdevs", "sh -c 'ls /sys/class/net | tr \"\\n\" \" \"'"),
        ("caps", "grep CapEff /proc/self/status"),
        ("capbnd", "grep CapBnd /proc/self/status"),
        ("nnp", "grep NoNewPrivs /proc/self/status"),
        ("seccomp", "grep Seccomp: /proc/self/status"),
        ("unshare_user", "unshare -U true"),
        ("unshare_net", "unshare -n true"),
        ("mount_tmpfs", "mount -t tmpfs none /mnt/scratch"),
        ("cwd", "pwd"),
        ("uid", "id -u"),
        ("devs", "sh -c 'ls /dev | tr \"\\n\" \" \"'"),
        ("hostname", "hostname"),
    ];
    let cmds: Vec<(&str, &str)> = probes.iter().map(|(n, c)| (*n, *c)).collect();
    let bundle = bundle(
        &tools,
        &e.artifacts[FILE],
        "policyc.live_probe",
        &script(&cmds),
    );
    let (p, all) = run(&tools, &bundle);
    eprintln!("{all}");

    assert_eq!(output(&p, "read_doc"), "hello docs", "{all}");
    failed_with(&p, "write_doc", "Read-only file system", &all);
    assert!(ok(&p, "write_out"), "{all}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("out/report.txt")).unwrap(),
        "report\n"
    );
    failed_with(&p, "exec_out", "Permission denied", &all);
    assert!(ok(&p, "exec_tools"), "{all}");
    failed_with(&p, "write_tools", "Read-only file system", &all);
    failed_with(&p, "exec_docs", "Permission denied", &all);
    // Masks: the private folder is an empty read-only tmpfs, the key file /dev/null.
    assert!(!ok(&p, "read_private"), "{all}");
    assert!(!all.contains("PRIVATE-SECRET"), "{all}");
    assert!(!output(&p, "list_private").contains("secret"), "{all}");
    assert!(!all.contains("KEY-MATERIAL"), "{all}");
    // A whole-mount read deny: an empty mode-000 tmpfs, unreadable without capabilities.
    failed_with(&p, "list_archive", "Permission denied", &all);
    assert!(
        !ok(&p, "read_archive") && !all.contains("ARCHIVED"),
        "{all}"
    );
    assert_eq!(output(&p, "write_scratch"), "x", "{all}");
    assert!(ok(&p, "copy_scratch"), "{all}");
    failed_with(&p, "exec_scratch", "Permission denied", &all);
    assert_eq!(output(&p, "write_tmp"), "t", "{all}");
    failed_with(&p, "write_root", "Read-only file system", &all);
    failed_with(&p, "write_dev", "Read-only file system", &all);
    failed_with(&p, "home_absent", "No such file", &all);
    assert!(
        !ok(&p, "ssh_absent") && !all.contains("SSH-PRIVATE-KEY"),
        "{all}"
    );
    assert_eq!(output(&p, "netdevs").trim(), "lo", "{all}");
    assert!(output(&p, "caps").ends_with("0000000000000000"), "{all}");
    assert!(output(&p, "capbnd").ends_with("0000000000000000"), "{all}");
    assert!(output(&p, "nnp").ends_with('1'), "{all}");
    assert!(output(&p, "seccomp").ends_with('2'), "{all}");
    failed_with(&p, "unshare_user", "Operation not permitted", &all);
    failed_with(&p, "unshare_net", "Operation not permitted", &all);
    assert!(!ok(&p, "mount_tmpfs"), "{all}");
    assert_eq!(output(&p, "cwd"), "/", "{all}");
    assert_eq!(output(&p, "uid"), "0", "{all}");
    assert_eq!(output(&p, "hostname"), "policyc", "{all}");
    let devs: Vec<&str> = output(&p, "devs").split_whitespace().collect();
    for d in &devs {
        assert!(
            [
                "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd",
                "stdin", "stdout", "stderr", "ptmx"
            ]
            .contains(d),
            "unexpected /dev entry `{d}`: {devs:?}"
        );
    }

    let n = agrees(
        &e.artifacts,
        &|name| ok(&p, name),
        &[
            ("read_doc", Access::Read, "/mnt/docs/readme.txt"),
            ("write_doc", Access::Write, "/mnt/docs/new.txt"),
            ("read_out", Access::Read, "/mnt/out/report.txt"),
            ("write_out", Access::Write, "/mnt/out/report.txt"),
            ("exec_out", Access::Exec, "/mnt/out/busybox"),
            ("exec_tools", Access::Exec, "/opt/tools/busybox"),
            ("write_tools", Access::Write, "/opt/tools/new"),
            ("exec_docs", Access::Exec, "/mnt/docs/busybox"),
            ("read_private", Access::Read, "/mnt/docs/private/secret.txt"),
            ("list_archive", Access::Read, "/mnt/archive"),
            ("read_archive", Access::Read, "/mnt/archive/old.txt"),
            ("copy_scratch", Access::Write, "/mnt/scratch/busybox"),
            ("exec_scratch", Access::Exec, "/mnt/scratch/busybox"),
            ("write_root", Access::Write, "/newfile"),
            ("write_dev", Access::Write, "/dev/newfile"),
            ("read_doc", Access::Read, "~/docs/readme.txt"),
            ("read_private", Access::Read, "~/docs/private/secret.txt"),
        ],
        &all,
    );
    eprintln!("{n} probes agree with the simulator");
}

/// What busybox `sh` needs to fork and reap its probes, besides a runtime set.
const PROBE_SYSCALLS: &[&str] = &["fork", "vfork", "wait4", "waitid"];

/// Each stdlib container policy's bundle, with its `~` sources in a temporary home.
///
/// When the policy's filter denies a syscall runc itself needs after installing it
/// (`fstatfs`, see the `P1012` report entry), the bundle as emitted must fail to start (and
/// does: that is checked). The probes run on a variant of the policy that also allows those
/// syscalls and the ones busybox `sh` needs to fork and reap ([`PROBE_SYSCALLS`]); its
/// denies (deny wins) and everything else are unchanged.
#[test]
fn stdlib_container_policies_under_runc() {
    let Some(tools) = tools_or_skip() else { return };
    let mut ran = 0;
    for (name, text) in policyc_stdlib::policies() {
        let policy = compile_one(name, text);
        if policy.isolation != Isolation::Container {
            continue;
        }
        let home = tempfile::Builder::new()
            .prefix("policyc-oci-home-")
            .tempdir()
            .unwrap();
        let ctx = EmitContext {
            home: Some(home.path().to_str().unwrap().to_string()),
        };
        let mounted = fill_home(&policy, &home);
        let e = Oci.emit(&policy, &ctx).unwrap();
        let profile = format!("policyc.{}", policy.name);
        let missing: Vec<&str> = RUNTIME_SYSCALLS
            .iter()
            .copied()
            .filter(|n| {
                let r = Request::Syscall {
                    name: n.to_string(),
                    args: [0; 6],
                };
                Seccomp.simulate(&Seccomp.emit(&policy, &ctx).unwrap().artifacts, &r)
                    != Verdict::Allow
            })
            .collect();
        if !missing.is_empty() {
            assert!(
                e.report.iter().any(
                    |d| d.code == Code::OciRuntimeRequirement && d.message.contains(missing[0])
                ),
                "{}: the report names {missing:?}",
                policy.name
            );
            let bundle = bundle(&tools, &e.artifacts[FILE], &profile, &script(&[]));
            let (_, all) = run_raw(&tools, &bundle);
            assert!(
                !all.contains("PROBES-DONE") && all.contains("procfs"),
                "{}: runc started the program though the filter denies {missing:?}, or failed for another reason:\n{all}",
                policy.name
            );
            eprintln!(
                "{}: as emitted, runc refuses to start (the filter denies {missing:?}):\n{all}",
                policy.name
            );
        }
        // The runtime sets are for their interpreters, not for busybox `sh`, which also needs
        // to fork and reap its probes.
        let mut runnable = policy.clone();
        for n in missing.iter().chain(PROBE_SYSCALLS) {
            let rule = runnable.syscalls.rules.entry(n.to_string()).or_default();
            rule.allow.push(vec![]);
        }
        probe_stdlib(&tools, &runnable, &mounted, &home, &ctx, &profile);
        ran += 1;
    }
    assert_eq!(ran, 2, "both stdlib container policies ran");
}

/// Create the policy's `~` folders (each with `probe.txt`) and a secret beside them;
/// returns the guest paths of the folders.
fn fill_home(policy: &Policy, home: &tempfile::TempDir) -> Vec<String> {
    let mut mounted = Vec::new();
    for m in &policy.fs.mounts {
        if let Some(rest) = m
            .host()
            .and_then(|h| h.as_str().strip_prefix("~/").map(str::to_string))
        {
            let dir = home.path().join(&rest);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("probe.txt"), format!("probe of {rest}\n")).unwrap();
            mounted.push(m.guest.to_string());
        }
    }
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/id_ed25519"), "SSH-PRIVATE-KEY\n").unwrap();
    mounted
}

/// Probe one stdlib container policy's bundle.
fn probe_stdlib(
    tools: &Tools,
    policy: &Policy,
    mounted: &[String],
    home: &tempfile::TempDir,
    ctx: &EmitContext,
    profile: &str,
) {
    let e = Oci.emit(policy, ctx).unwrap();
    let scratch = policy
        .fs
        .mounts
        .iter()
        .find(|m| m.host().is_none())
        .map(|m| m.guest.to_string())
        .unwrap();
    let guest = &mounted[0];
    let cmds = [
        ("read".to_string(), format!("cat {guest}/probe.txt")),
        ("write".to_string(), format!("touch {guest}/new.txt")),
        (
            "copy".to_string(),
            format!("cp /bin/busybox {scratch}/busybox"),
        ),
        ("scratch".to_string(), format!("ls {scratch}")),
        (
            "exec_scratch".to_string(),
            format!("{scratch}/busybox echo ran"),
        ),
        (
            "netdevs".to_string(),
            "sh -c 'ls /sys/class/net | tr \"\\n\" \" \"'".to_string(),
        ),
        ("unshare".to_string(), "unshare -U true".to_string()),
        (
            "mount".to_string(),
            format!("mount -t tmpfs none {scratch}"),
        ),
        (
            "home_absent".to_string(),
            format!("ls {}", home.path().display()),
        ),
        (
            "caps".to_string(),
            "grep CapEff /proc/self/status".to_string(),
        ),
    ];
    let refs: Vec<(&str, &str)> = cmds.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let bundle = bundle(tools, &e.artifacts[FILE], profile, &script(&refs));
    let (p, all) = run(tools, &bundle);
    eprintln!("{}:\n{all}", policy.name);
    let out = |n: &str| output(&p, n).to_string();
    assert!(
        out("read").starts_with("probe of"),
        "{}: {all}",
        policy.name
    );
    failed_with(&p, "write", "Read-only file system", &all);
    assert!(ok(&p, "copy"), "{}: {all}", policy.name);
    assert_eq!(out("scratch"), "busybox", "{}: {all}", policy.name);
    failed_with(&p, "exec_scratch", "Permission denied", &all);
    assert_eq!(out("netdevs").trim(), "lo", "{}: {all}", policy.name);
    failed_with(&p, "unshare", "Operation not permitted", &all);
    assert!(!ok(&p, "mount"), "{}: {all}", policy.name);
    failed_with(&p, "home_absent", "No such file", &all);
    assert!(out("caps").ends_with("0000000000000000"), "{all}");
    assert!(!all.contains("SSH-PRIVATE-KEY"), "{all}");
    agrees(
        &e.artifacts,
        &|n| ok(&p, n),
        &[
            ("read", Access::Read, &format!("{guest}/probe.txt")),
            ("write", Access::Write, &format!("{guest}/new.txt")),
            ("copy", Access::Write, &format!("{scratch}/busybox")),
            ("exec_scratch", Access::Exec, &format!("{scratch}/busybox")),
        ],
        &all,
    );
}
