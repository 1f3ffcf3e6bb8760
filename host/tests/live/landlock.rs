//! Live: the emitted `landlock.json`, parsed and applied with `landlock::apply` in a forked
//! child, enforced by this machine's kernel, with exact errnos.
//!
//! Skips (with a message) on a kernel without Landlock ABI 6, unless
//! `POLICYC_REQUIRE_LIVE=1`, when it fails instead. The test runs alone in a fresh process
//! of the test binary (see `alone`), so the process has no other test thread running when
//! it forks.

#![allow(unsafe_code, reason = "the probes make raw calls, as a program would")]

use super::{alone, tempdir};
use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_host::sys::{self, Ended, Fork};
use policyc_targets::landlock::{self, Error, Landlock, FILE};
use policyc_targets::{EmitContext, Target, Verdict};
use policyc_testkit::live::cannot_run;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// The kernel's Landlock ABI (negative: none), asked directly rather than through
/// `policyc_host::landlock::kernel_abi`, which the test checks against it.
fn kernel_abi() -> i64 {
    // SAFETY: landlock_create_ruleset with a NULL attribute, size 0 and the VERSION flag only
    // returns a number.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    }
}

/// Run `f` in a forked child; returns what it wrote and how it ended.
fn in_child(f: impl FnOnce(&mut File)) -> (String, Option<Ended>) {
    let (r, w) = sys::pipe().unwrap();
    match sys::fork().unwrap() {
        Fork::Child => {
            drop(r);
            let mut w = File::from(w);
            f(&mut w);
            let _ = w.flush();
            sys::exit_now(0)
        }
        Fork::Parent(pid) => {
            drop(w);
            let mut out = String::new();
            File::from(r).read_to_string(&mut out).unwrap();
            (out, sys::wait(pid))
        }
    }
}

/// `0` for success, else the errno.
fn errno<T>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

/// `execv` a program; returns the errno when it fails (it does not return otherwise).
fn exec_errno(path: &Path) -> i32 {
    let p = c(path);
    let argv = [p.as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated path and argument vector.
    unsafe { libc::execv(p.as_ptr(), argv.as_ptr()) };
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    port: u16,
    _listener: std::net::TcpListener,
    abstract_name: String,
    _unix: std::os::unix::net::UnixListener,
}

fn fixture() -> Fixture {
    use std::os::linux::net::SocketAddrExt as _;
    let (dir, root) = tempdir();
    for d in ["ro", "rw/sub", "outside"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("ro/a.txt"), "hello").unwrap();
    fs::write(root.join("single.txt"), "one file").unwrap();
    fs::write(root.join("outside/secret.txt"), "secret").unwrap();
    for script in ["ro/run.sh", "rw/run.sh"] {
        fs::write(root.join(script), "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(root.join(script), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let abstract_name = format!("policyc-live-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_name).unwrap();
    let unix = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    Fixture {
        _dir: dir,
        root,
        port,
        _listener: listener,
        abstract_name,
        _unix: unix,
    }
}

fn ruleset(src: &str) -> landlock::Ruleset {
    landlock::parse(&emit(src)[FILE]).unwrap()
}

fn emit(src: &str) -> policyc_targets::Artifacts {
    let (_, policies) = policyc_testkit::stdlib::compile_text("live.policy", src);
    let emitted = Landlock
        .emit(&policies[0], &EmitContext { home: None })
        .unwrap_or_else(|d| panic!("{d:?}"));
    emitted.artifacts
}

fn live_policy(fx: &Fixture) -> String {
    let r = fx.root.display();
    format!(
        r#"policy live {{
    isolation process
    fs {{
        read "{r}/ro"
        write "{r}/rw"
        read "{r}/single.txt"
        exec "/usr"
    }}
    net {{ egress direct {{ allow "127.0.0.1":{port} }} }}
}}"#,
        port = fx.port
    )
}

/// Every probe the sandboxed child runs, name to errno.
fn probes(fx: &Fixture, w: &mut File) {
    use std::os::linux::net::SocketAddrExt as _;
    let root = &fx.root;
    let mut say = |name: &str, e: i32| {
        let _ = writeln!(w, "{name}={e}");
    };
    say(
        "read_outside",
        errno(fs::read(root.join("outside/secret.txt"))),
    );
    say("list_outside", errno(fs::read_dir(root.join("outside"))));
    say(
        "stat_outside",
        errno(fs::metadata(root.join("outside/secret.txt"))),
    );
    let ro = fs::read_to_string(root.join("ro/a.txt"));
    say(
        "read_ro",
        if ro.as_deref().ok() == Some("hello") {
            0
        } else {
            errno(ro)
        },
    );
    say("list_ro", errno(fs::read_dir(root.join("ro"))));
    say("read_single_file", errno(fs::read(root.join("single.txt"))));
    say(
        "write_ro",
        errno(
            fs::OpenOptions::new()
                .write(true)
                .open(root.join("ro/a.txt")),
        ),
    );
    say("create_ro", errno(File::create(root.join("ro/new.txt"))));
    // SAFETY: NUL-terminated path.
    let t = unsafe { libc::truncate(c(&root.join("ro/a.txt")).as_ptr(), 0) };
    say(
        "truncate_ro",
        if t == 0 {
            0
        } else {
            errno::<()>(Err(std::io::Error::last_os_error()))
        },
    );
    say("write_rw", errno(fs::write(root.join("rw/new.txt"), "x")));
    say("mkdir_rw", errno(fs::create_dir(root.join("rw/d"))));
    say(
        "rename_in_dir",
        errno(fs::rename(
            root.join("rw/new.txt"),
            root.join("rw/new2.txt"),
        )),
    );
    say(
        "rename_across_dirs",
        errno(fs::rename(
            root.join("rw/new2.txt"),
            root.join("rw/sub/new2.txt"),
        )),
    );
    say("exec_ro", exec_errno(&root.join("ro/run.sh")));
    say("exec_rw", exec_errno(&root.join("rw/run.sh")));
    say(
        "connect_allowed_port",
        errno(std::net::TcpStream::connect(("127.0.0.1", fx.port))),
    );
    say(
        "connect_other_port",
        errno(std::net::TcpStream::connect((
            "127.0.0.1",
            fx.port.wrapping_add(1).max(1),
        ))),
    );
    say("bind", errno(std::net::TcpListener::bind("127.0.0.1:0")));
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&fx.abstract_name).unwrap();
    say(
        "abstract_unix_connect",
        errno(std::os::unix::net::UnixStream::connect_addr(&addr)),
    );
    // SAFETY: signal 0 only checks whether the parent may be signalled.
    let k = unsafe { libc::kill(libc::getppid(), 0) };
    say(
        "signal_parent",
        if k == 0 {
            0
        } else {
            errno::<()>(Err(std::io::Error::last_os_error()))
        },
    );
}

/// Filesystem requests the simulator and the kernel must agree on.
fn cross_requests(root: &Path) -> Vec<(Access, std::path::PathBuf)> {
    let mut out = Vec::new();
    for p in [
        root.join("ro/a.txt"),
        root.join("rw/cross.txt"),
        root.join("outside/secret.txt"),
        root.join("single.txt"),
        root.join("rw-evil.txt"),
        Path::new("/usr/bin/true").to_path_buf(),
        Path::new("/etc/passwd").to_path_buf(),
    ] {
        out.push((Access::Write, p.clone()));
        out.push((Access::Read, p));
    }
    out
}

/// Try each cross-check request for real: `x <access> <path>=errno`.
fn cross_probes(root: &Path, w: &mut File) {
    for (access, path) in cross_requests(root) {
        let e = match access {
            Access::Read => errno(File::open(&path)),
            _ => errno(
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path),
            ),
        };
        let _ = writeln!(w, "x {} {}={e}", access.keyword(), path.display());
    }
}

/// The simulator's verdict on each cross-check request, against what the kernel did.
fn cross_check(artifacts: &policyc_targets::Artifacts, root: &Path, out: &str) {
    for (access, path) in cross_requests(root) {
        let key = format!("x {} {}=", access.keyword(), path.display());
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no `{key}` in {out}"));
        let kernel_allows = line == "0";
        let request = Request::Fs {
            access,
            path: CanonPath::parse_request(&path.display().to_string()).unwrap(),
        };
        let sim = Landlock.simulate(artifacts, &request);
        assert_eq!(
            sim == Verdict::Allow,
            kernel_allows,
            "simulator says {sim:?} for `{request}`, the kernel returned {line}"
        );
    }
}

fn parse_probes(out: &str) -> BTreeMap<String, i32> {
    out.lines()
        .filter(|l| !l.starts_with("x "))
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[test]
fn the_kernel_enforces_the_emitted_ruleset() {
    let me = alone::name(module_path!(), "the_kernel_enforces_the_emitted_ruleset");
    if !alone::is_rerun_of(&me) {
        alone::run_alone(&me);
        return;
    }
    let abi = kernel_abi();
    if abi < 6 {
        cannot_run(&format!(
            "Landlock ABI 6 is needed for the live test; this kernel reports {abi}"
        ));
        return;
    }
    let fx = fixture();
    let artifacts = emit(&live_policy(&fx));
    let rs = landlock::parse(&artifacts[FILE]).unwrap();
    assert!(policyc_host::landlock::unenforced(&rs).is_empty());
    assert_eq!(
        policyc_host::landlock::kernel_abi(),
        6.min(u32::try_from(abi).unwrap())
    );

    let (out, end) = in_child(|w| {
        match policyc_host::landlock::apply(&rs, false) {
            Ok(report) => {
                let _ = writeln!(w, "file_rules={}", report.file_rules.len());
                let _ = writeln!(w, "gaps={}", report.not_enforced.len());
            }
            Err(e) => {
                let _ = writeln!(w, "apply_error: {e}");
                return;
            }
        }
        probes(&fx, w);
        cross_probes(&fx.root, w);
        let _ = writeln!(w, "exec_usr={}", exec_errno(Path::new("/usr/bin/true")));
    });
    assert!(!out.contains("apply_error"), "{out}");
    assert_eq!(
        end,
        Some(Ended::Exited(0)),
        "/usr/bin/true did not run: {out}"
    );
    assert!(
        !out.contains("exec_usr="),
        "exec of /usr/bin/true failed: {out}"
    );
    cross_check(&artifacts, &fx.root, &out);
    let got = parse_probes(&out);
    let want: BTreeMap<String, i32> = [
        ("file_rules", 1),
        ("gaps", 0),
        ("read_outside", libc::EACCES),
        ("list_outside", libc::EACCES),
        ("stat_outside", 0),
        ("read_ro", 0),
        ("list_ro", 0),
        ("read_single_file", 0),
        ("write_ro", libc::EACCES),
        ("create_ro", libc::EACCES),
        ("truncate_ro", libc::EACCES),
        ("write_rw", 0),
        ("mkdir_rw", 0),
        ("rename_in_dir", 0),
        ("rename_across_dirs", libc::EXDEV),
        ("exec_ro", libc::EACCES),
        ("exec_rw", libc::EACCES),
        ("connect_allowed_port", 0),
        ("connect_other_port", libc::EACCES),
        ("bind", libc::EACCES),
        ("abstract_unix_connect", libc::EPERM),
        ("signal_parent", libc::EPERM),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want, "child output:\n{out}");
    missing_and_symlinked_rule_paths_fail_before_restricting();
}

/// A missing rule path, or a symlink at one, is an error before anything is restricted.
fn missing_and_symlinked_rule_paths_fail_before_restricting() {
    let (_dir, root) = tempdir();
    fs::create_dir(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    for (name, want) in [("missing", "does not exist"), ("link", "symlink")] {
        let src = format!(
            r#"policy p {{ isolation process; fs {{ read "{}/{name}" }} }}"#,
            root.display()
        );
        let rs = ruleset(&src);
        let (out, _) = in_child(|w| {
            let r = policyc_host::landlock::apply(&rs, false);
            let restricted = fs::read_dir("/").is_err();
            let _ = match r {
                Ok(_) => writeln!(w, "applied"),
                Err(e @ (Error::MissingPath(_) | Error::Symlink { .. })) => {
                    writeln!(w, "error: {e}; restricted={restricted}")
                }
                Err(e) => writeln!(w, "other error: {e}"),
            };
        });
        assert!(out.contains(want), "{name}: {out}");
        assert!(out.contains("restricted=false"), "{name}: {out}");
    }
}
