//! The `*_live_*` variants of the Landlock classes of `ADVERSARIAL.md` (the rest of each
//! class is in `verify/tests/adversarial.rs`): a shell runs under the emitted ruleset
//! (applied with `landlock::apply` between fork and exec). They skip with a message on a
//! kernel without Landlock ABI 6, and fail instead when `POLICYC_REQUIRE_LIVE=1`. With them,
//! the two checks of classes 19 and 21 that open rule paths the way the launcher does.

#![allow(unsafe_code, reason = "the ruleset is applied between fork and exec")]

use super::tempdir;
use policyc_compiler::Code;
use policyc_host::landlock::open_rule_path;
use policyc_targets::landlock::{self, Landlock};
use policyc_targets::{EmitContext, Target};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::{ctx, policy};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// True when the live variants can run here; with `POLICYC_REQUIRE_LIVE=1` a machine
/// where they cannot is a failure, not a skip.
fn live() -> bool {
    let abi = policyc_host::landlock::kernel_abi();
    let missing: Vec<&str> = [
        "/bin/sh",
        "/usr/bin/chmod",
        "/usr/bin/touch",
        "/usr/bin/cat",
    ]
    .into_iter()
    .filter(|p| !Path::new(p).exists())
    .collect();
    if abi >= 6 && missing.is_empty() {
        return true;
    }
    cannot_run(&format!(
        "the live Landlock tests need ABI 6 and {missing:?}; this kernel reports ABI {abi}"
    ));
    false
}

/// When the live variants can run here, a temporary root (no symlink on its path) holding
/// `files` (path in the root, content).
fn live_root(files: &[(&str, &str)]) -> Option<(tempfile::TempDir, PathBuf)> {
    if !live() {
        return None;
    }
    let (dir, root) = tempdir();
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    Some((dir, root))
}

/// The ruleset of a process policy with absolute paths only.
fn live_ruleset(fs_rules: &str) -> landlock::Ruleset {
    let text = format!("policy live {{ isolation process\n fs {{ {fs_rules}\n exec \"/usr\" }} }}");
    let e = Landlock
        .emit(&policy(&text), &EmitContext { home: None })
        .unwrap_or_else(|d| panic!("{d:?}"));
    landlock::parse(&e.artifacts[landlock::FILE]).unwrap()
}

/// `/bin/sh -c script` with `rs` applied between fork and exec. The child's first line of
/// output is what `apply` reported: `enforcement=Full dropped=right,right`.
fn spawn_restricted(rs: landlock::Ruleset, script: &str, stdin: Stdio) -> std::process::Child {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec: it applies the ruleset to
    // that child alone and writes one line to its stdout.
    unsafe {
        cmd.pre_exec(move || {
            let report = policyc_host::landlock::apply(&rs, false)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let dropped: Vec<&str> = report
                .file_rules
                .iter()
                .flat_map(|r| r.dropped.iter().copied())
                .collect();
            let line = format!(
                "enforcement={:?} dropped={}\n",
                report.enforcement,
                dropped.join(",")
            );
            let _ = libc::write(1, line.as_ptr().cast(), line.len());
            Ok(())
        });
    }
    cmd.spawn().expect("the restricted shell starts")
}

/// `key=value` pairs of a child's output, one per word.
fn pairs(out: &str) -> BTreeMap<String, String> {
    out.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run a restricted shell to the end; its stdout pairs and stderr.
fn run_restricted(
    rs: landlock::Ruleset,
    script: &str,
    stdin: Stdio,
) -> (BTreeMap<String, String>, String) {
    let out = spawn_restricted(rs, script, stdin)
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (pairs(&stdout), stderr)
}

/// A script that runs each probe (name, command), printing `name=ok` when the command
/// succeeds and `name=denied` when it fails.
fn probes(probes: &[(&str, &str)]) -> String {
    probes
        .iter()
        .map(|(name, command)| {
            format!("if {command}; then echo {name}=ok; else echo {name}=denied; fi\n")
        })
        .collect()
}

/// Each probe's outcome (`ok` or `denied`) in a child's output pairs; `context` is shown
/// when one differs.
#[track_caller]
fn expect(got: &BTreeMap<String, String>, want: &[(&str, &str)], context: &str) {
    for (name, outcome) in want {
        assert_eq!(got[*name], *outcome, "{name}: {context}");
    }
}

/// ADVERSARIAL 19, live: after the ruleset is applied, the granted directory is renamed
/// and a new one put at its path. The new directory is not granted (the rule is on the
/// old inode, which stays readable under its new name).
#[test]
fn adv19_live_a_rule_stays_on_the_inode_it_was_added_for() {
    let Some((_dir, root)) = live_root(&[("granted/a.txt", "old")]) else {
        return;
    };
    let granted = root.join("granted");
    let rs = live_ruleset(&format!("read \"{}\"", granted.display()));
    let moved = root.join("moved");
    let script = format!(
        "echo ready\nread go\n{}",
        probes(&[
            ("new", &format!("cat '{}/new.txt' >&2", granted.display())),
            ("old", &format!("cat '{}/a.txt' >&2", moved.display())),
            ("list_new", &format!("ls '{}' >&2", granted.display())),
        ])
    );
    let mut child = spawn_restricted(rs, &script, Stdio::piped());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let mut second = String::new();
    stdout.read_line(&mut first).unwrap();
    stdout.read_line(&mut second).unwrap();
    assert!(first.starts_with("enforcement=Full"), "{first}");
    assert_eq!(second, "ready\n");
    std::fs::rename(&granted, &moved).unwrap();
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("new.txt"), "swapped in").unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    expect(
        &pairs(&rest),
        &[("new", "denied"), ("list_new", "denied"), ("old", "ok")],
        &format!("{rest}\n{stderr}"),
    );
    assert!(stderr.contains("old") && !stderr.contains("swapped in"));
}

/// ADVERSARIAL 20, live: a write grant on a regular file. The kernel would refuse a rule
/// with directory rights on a file; `apply` drops exactly those and reports them, and the
/// file is writable while nothing can be created beside it. (`landlock.rs` does the
/// same for a read grant.)
#[test]
fn adv20_live_a_write_grant_on_a_file_drops_directory_rights_and_says_so() {
    let Some((_dir, root)) = live_root(&[("notes.txt", "first\n")]) else {
        return;
    };
    let file = root.join("notes.txt");
    let rs = live_ruleset(&format!("write \"{}\"", file.display()));
    let script = probes(&[
        ("append", &format!("echo appended >> '{}'", file.display())),
        (
            "sibling",
            &format!("echo x > '{}/sibling.txt'", root.display()),
        ),
        ("remove", &format!("rm -f '{}'", file.display())),
    ]);
    let (got, stderr) = run_restricted(rs, &script, Stdio::null());
    assert_eq!(got["enforcement"], "Full");
    let dropped: BTreeSet<&str> = got["dropped"].split(',').collect();
    assert_eq!(
        dropped,
        [
            "read_dir",
            "remove_dir",
            "remove_file",
            "make_dir",
            "make_reg",
            "make_sock",
            "make_fifo",
            "make_sym"
        ]
        .into_iter()
        .collect(),
        "{stderr}"
    );
    expect(
        &got,
        &[
            ("append", "ok"),
            ("sibling", "denied"),
            ("remove", "denied"),
        ],
        &stderr,
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "first\nappended\n");
    assert!(!root.join("sibling.txt").exists());
}

/// ADVERSARIAL 21, live: why the launcher must close descriptors. A file the ruleset does
/// not grant cannot be opened by path, but the same file handed over already open (here
/// as the shell's stdin) is read through the descriptor.
#[test]
fn adv21_live_a_descriptor_opened_before_the_ruleset_escapes_it() {
    let Some((_dir, root)) = live_root(&[("secret.txt", "top secret\n")]) else {
        return;
    };
    std::fs::create_dir(root.join("granted")).unwrap();
    let secret = root.join("secret.txt");
    let rs = live_ruleset(&format!("read \"{}\"", root.join("granted").display()));
    let script = probes(&[
        ("by_path", &format!("cat '{}' >&2", secret.display())),
        ("inherited", "cat >&2"),
    ]);
    let stdin = Stdio::from(std::fs::File::open(&secret).unwrap());
    let (got, stderr) = run_restricted(rs, &script, stdin);
    expect(&got, &[("by_path", "denied"), ("inherited", "ok")], &stderr);
    assert_eq!(stderr.matches("top secret").count(), 1, "{stderr}");
}

/// ADVERSARIAL 22, live: the reported limit is real. Under a read-only grant a file's
/// metadata can be read and changed (mode, timestamps) though its contents cannot be
/// written: that is why the report names them and the seccomp layer must decide them.
#[test]
fn adv22_live_stat_chmod_and_utime_pass_a_read_only_grant_as_reported() {
    let Some((_dir, root)) = live_root(&[("data.csv", "a,b\n")]) else {
        return;
    };
    let file = root.join("data.csv");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let rs = live_ruleset(&format!("read \"{}\"", root.display()));
    let f = file.display();
    let script = probes(&[
        ("stat", &format!("test -e '{f}'")),
        ("chmod", &format!("chmod 600 '{f}'")),
        ("utime", &format!("touch -c -m -d @0 '{f}'")),
        ("write", &format!("echo x >> '{f}'")),
    ]);
    let (got, stderr) = run_restricted(rs, &script, Stdio::null());
    expect(
        &got,
        &[
            ("stat", "ok"),
            ("chmod", "ok"),
            ("utime", "ok"),
            ("write", "denied"),
        ],
        &stderr,
    );
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.mtime(), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a,b\n");
}

/// ADVERSARIAL 19: a rule attaches to the inode its path names when it is added. The
/// launcher opens each rule path with `O_PATH | O_NOFOLLOW`: a missing path is an explicit
/// error, a symlink at the path or on the way to it is an error naming where it leads,
/// and the descriptor checked is the one the kernel gets, so a path swapped afterwards
/// does not change what the rule covers. (`host/tests/live/landlock.rs` checks that `apply`
/// fails on the first two before restricting anything.)
#[test]
fn adv19_rule_paths_are_opened_exactly_and_stay_on_their_inode() {
    let (_dir, root) = tempdir();
    std::fs::create_dir_all(root.join("real/sub")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    let missing = root.join("missing");
    match open_rule_path(&missing) {
        Err(landlock::Error::MissingPath(p)) => assert_eq!(Path::new(&p), missing),
        other => panic!("{other:?}"),
    }
    match open_rule_path(&root.join("link")) {
        Err(landlock::Error::Symlink { resolved: None, .. }) => {}
        other => panic!("{other:?}"),
    }
    match open_rule_path(&root.join("link/sub")) {
        Err(landlock::Error::Symlink {
            resolved: Some(to), ..
        }) => assert_eq!(Path::new(&to), root.join("real/sub")),
        other => panic!("{other:?}"),
    }
    let fd = open_rule_path(&root.join("real")).unwrap();
    let ino = std::fs::metadata(root.join("real")).unwrap().ino();
    // Swap the path: the descriptor still names the original directory.
    std::fs::rename(root.join("real"), root.join("real.old")).unwrap();
    std::fs::create_dir(root.join("real")).unwrap();
    assert_eq!(fd.metadata().unwrap().ino(), ino);
    assert_ne!(std::fs::metadata(root.join("real")).unwrap().ino(), ino);
    assert_eq!(std::fs::metadata(root.join("real.old")).unwrap().ino(), ino);
}

/// ADVERSARIAL 21: descriptors opened before the ruleset applies escape it. The build
/// report says so and names the launcher's duty to close them (`policyc exec` closes every
/// descriptor it does not pass on: `cli/tests/cli/exec.rs`,
/// `inherited_descriptors_are_closed_before_exec`, checks it live), and the descriptors
/// the launcher itself opens for rule paths are close-on-exec, so they never reach the
/// program.
#[test]
fn adv21_open_descriptors_are_reported_and_rule_descriptors_never_reach_the_program() {
    let e = Landlock
        .emit(
            &policy("policy p { isolation process\n fs { read \"/srv/data\" } }"),
            &ctx(),
        )
        .unwrap();
    assert!(
        e.report.iter().any(|d| d.code == Code::LandlockNotMediated
            && d.message
                .contains("files opened before the ruleset applies")
            && d.message.contains("must close inherited descriptors")),
        "{:#?}",
        e.report
    );
    let (_dir, root) = tempdir();
    let fd = open_rule_path(&root).unwrap();
    // The kernel reports a descriptor's flags, close-on-exec included, in fdinfo (octal).
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{raw}")).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
        .unwrap();
    const O_CLOEXEC: u32 = 0o2_000_000;
    const O_PATH: u32 = 0o10_000_000;
    assert!(flags & O_CLOEXEC != 0, "{flags:#o}");
    assert!(flags & O_PATH != 0, "{flags:#o}");
}
