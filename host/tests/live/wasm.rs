//! Live tests: probe modules (WAT in `host/tests/live/wasi_probes/`, assembled with the `wat`
//! crate) call `wasi_snapshot_preview1` directly under wasmtime-wasi, with a `wasi.json`
//! that policyc emitted for a real policy, and every errno is asserted.
//!
//! What wasmtime-wasi 48 answers (observed here, and why):
//! - A write-like open in a read-only preopen (`O_CREAT`, `O_TRUNC`, the `FD_WRITE` right, in
//!   any combination) fails with `ERRNO_PERM` (63): the p1 adapter maps the filesystem's
//!   `NotPermitted`, which `Dir::open_at` returns before the host is asked; so do mkdir,
//!   unlink, rmdir, rename, link, symlink and set-times. It is not `ERRNO_NOTCAPABLE` (76):
//!   wasmtime-wasi no longer tracks preview 1 rights, only the preopen's `FsPerms`.
//! - A file opened for reading in a read-only preopen refuses `fd_write` with `ERRNO_BADF`
//!   (8: the descriptor was not opened for writing) and `fd_filestat_set_size` with
//!   `ERRNO_PERM` (63: the file inherits the preopen's read-only permission).
//! - `..` out of a preopen, an absolute path, and a symlink whose target leaves the preopen
//!   fail with `ERRNO_PERM` (63): cap-std reports an escape as `PermissionDenied`, which
//!   wasmtime-wasi maps to `NotPermitted`.
//!
//! These tests do not skip: wasmtime is a default feature of policyc-host. A build
//! without it fails them when `POLICYC_REQUIRE_LIVE=1` (as in CI) and skips them otherwise.

use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_host::wasm::{parse, run, ExitStatus, Manifest, Options};
use policyc_targets::wasi::{Wasi, FILE};
use policyc_targets::{EmitContext, Target, Verdict};
use policyc_testkit::live::cannot_run;
use std::path::{Path, PathBuf};

const PROBE: &str = include_str!("wasi_probes/probe.wat");
const SOCKETS: &str = include_str!("wasi_probes/sockets.wat");

const PERM: u8 = 63;
const BADF: u8 = 8;
const INVAL: u8 = 28;
const LOOP: u8 = 32;
const NOENT: u8 = 44;
const NOTFOUND: u8 = 255;

// oflags, rights, fdflags, lookupflags
const CREAT: u32 = 1;
const DIRECTORY: u32 = 2;
const EXCL: u32 = 4;
const TRUNC: u32 = 8;
const FD_READ: u64 = 0x2;
const FD_WRITE: u64 = 0x40;
const FD_SET_SIZE: u64 = 0x40_0000;
const ALL_RIGHTS: u64 = 0x3fff_ffff;
const APPEND: u32 = 1;
const FOLLOW: u32 = 1;

/// Fails when live tests must run and cannot; otherwise says whether they can.
fn live() -> bool {
    if policyc_host::wasm::RUNTIME {
        return true;
    }
    cannot_run("policyc-host was built without its `wasm` feature");
    false
}

const POLICY: &str = r#"policy live {
    isolation wasm
    fs {
        read "~/ro" at "/ro"
        write "~/rw" at "/rw"
        scratch "/out" size 1MiB
        deny write "~/ro/locked"
    }
    limits { memory 16MiB }
}"#;

/// A home directory laid out for the probes, and the manifest policyc emits for it.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    manifest: Manifest,
    artifacts: policyc_targets::Artifacts,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let home = root.join("home");
    let ro = home.join("ro");
    std::fs::create_dir_all(ro.join("sub")).unwrap();
    std::fs::create_dir_all(home.join("rw")).unwrap();
    std::fs::create_dir_all(root.join("secret")).unwrap();
    std::fs::write(ro.join("file.txt"), b"read-only data\n").unwrap();
    std::fs::write(home.join("outside.txt"), b"outside\n").unwrap();
    std::fs::write(root.join("secret/passwd"), b"root:x:0:0\n").unwrap();
    let link =
        |target: &Path, name: &str| std::os::unix::fs::symlink(target, ro.join(name)).unwrap();
    link(&root.join("secret"), "escape_abs");
    link(Path::new("../outside.txt"), "escape_rel");
    link(Path::new("sub/../../../secret/passwd"), "escape_deep");
    link(Path::new("file.txt"), "inner");

    let (_, policies) = policyc_testkit::stdlib::compile_text("live.policy", POLICY);
    let e = Wasi
        .emit(
            &policies[0],
            &EmitContext {
                home: Some(home.to_str().unwrap().to_string()),
            },
        )
        .unwrap();
    let manifest = parse(&e.artifacts[FILE]).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        home,
        manifest,
        artifacts: e.artifacts,
    }
}

fn wat_string(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// Run the probe on `guest` with `path` (and `path2`), returning one errno per step.
fn probe(m: &Manifest, guest: &str, path: &str, path2: &str, body: &str) -> Vec<u8> {
    let text = PROBE
        .replace("{{GUEST_LEN}}", &guest.len().to_string())
        .replace("{{PATH_LEN}}", &path.len().to_string())
        .replace("{{PATH2_LEN}}", &path2.len().to_string())
        .replace("{{GUEST}}", &wat_string(guest))
        .replace("{{PATH2}}", &wat_string(path2))
        .replace("{{PATH}}", &wat_string(path))
        .replace("{{BODY}}", body);
    let wasm = wat::parse_str(&text).unwrap();
    let out = run(m, &wasm, &Options::with_args(["probe"])).unwrap();
    assert_eq!(
        out.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn open(oflags: u32, rights: u64, fdflags: u32, lookup: u32) -> String {
    format!("(call $open (i32.const {oflags}) (i64.const {rights}) (i32.const {fdflags}) (i32.const {lookup}))")
}

fn open_then(what: &str, oflags: u32, rights: u64, fdflags: u32, lookup: u32) -> String {
    format!("(call $open_{what} (i32.const {oflags}) (i64.const {rights}) (i32.const {fdflags}) (i32.const {lookup}))")
}

#[test]
fn reads_in_a_read_only_preopen_work() {
    if !live() {
        return;
    }
    let f = fixture();
    let m = &f.manifest;
    assert_eq!(
        probe(
            m,
            "/ro",
            "file.txt",
            "",
            &open_then("read", 0, FD_READ, 0, 0)
        ),
        [0, 0]
    );
    // A symlink that stays inside the preopen is followed.
    assert_eq!(
        probe(
            m,
            "/ro",
            "inner",
            "",
            &open_then("read", 0, FD_READ, 0, FOLLOW)
        ),
        [0, 0]
    );
    assert_eq!(
        probe(m, "/ro", "sub", "", &open(DIRECTORY, FD_READ, 0, 0)),
        [0]
    );
    assert_eq!(
        probe(m, "/ro", "missing", "", &open(0, FD_READ, 0, 0)),
        [NOENT]
    );
    assert_eq!(
        probe(m, "/nowhere", "x", "", &open(0, FD_READ, 0, 0)),
        [NOTFOUND]
    );
}

#[test]
fn adv28_read_only_preopen_refuses_every_write_flag() {
    if !live() {
        return;
    }
    let f = fixture();
    let m = &f.manifest;
    let file = f.home.join("ro/file.txt");
    let before = std::fs::read(&file).unwrap();
    let oflag_sets = [
        0,
        CREAT,
        TRUNC,
        CREAT | TRUNC,
        CREAT | EXCL,
        CREAT | EXCL | TRUNC,
    ];
    let rights_sets = [
        0,
        FD_READ,
        FD_WRITE,
        FD_READ | FD_WRITE,
        FD_SET_SIZE,
        ALL_RIGHTS,
    ];
    let mut tried = 0;
    for path in ["file.txt", "new.txt", "sub/new.txt", "inner"] {
        for oflags in oflag_sets {
            for rights in rights_sets {
                for fdflags in [0, APPEND] {
                    for lookup in [0, FOLLOW] {
                        let got = probe(
                            m,
                            "/ro",
                            path,
                            "",
                            &open_then("write", oflags, rights, fdflags, lookup),
                        );
                        let writes = oflags & (CREAT | TRUNC) != 0 || rights & FD_WRITE != 0;
                        let exists = path == "file.txt" || (path == "inner" && lookup == FOLLOW);
                        let want: Vec<u8> = if writes {
                            vec![PERM]
                        } else if path == "inner" && lookup == 0 {
                            // A symlink opened without following it.
                            vec![LOOP]
                        } else if exists {
                            vec![0, BADF]
                        } else {
                            vec![NOENT]
                        };
                        assert_eq!(got, want, "{path} oflags={oflags} rights={rights:#x} fdflags={fdflags} lookup={lookup}");
                        assert_ne!(got.get(1), Some(&0), "a write succeeded: {path}");
                        tried += 1;
                    }
                }
            }
        }
    }
    // Truncation through a descriptor opened for reading, and appends.
    assert_eq!(
        probe(
            m,
            "/ro",
            "file.txt",
            "",
            &open_then("truncate", 0, FD_READ | FD_SET_SIZE, 0, 0)
        ),
        [0, PERM]
    );
    assert_eq!(
        probe(
            m,
            "/ro",
            "file.txt",
            "",
            &open_then("truncate", TRUNC, FD_SET_SIZE, 0, 0)
        ),
        [PERM]
    );
    assert_eq!(
        probe(m, "/ro", "sub", "", &open(DIRECTORY | CREAT, FD_READ, 0, 0)),
        [INVAL]
    );
    // Every other mutation of the tree.
    for (body, path, path2) in [
        ("(call $mkdir)", "newdir", ""),
        ("(call $rmdir)", "sub", ""),
        ("(call $unlink)", "file.txt", ""),
        ("(call $rename)", "file.txt", "moved.txt"),
        ("(call $link)", "file.txt", "hard.txt"),
        ("(call $symlink)", "sym", "file.txt"),
        ("(call $set_times)", "file.txt", ""),
    ] {
        assert_eq!(probe(m, "/ro", path, path2, body), [PERM], "{body}");
    }
    // A directory opened beneath the preopen is just as read-only (Extism's `ro:` hands
    // out a writable one here).
    let body = format!(
        "(call $enter2) {}",
        open_then("write", CREAT, FD_WRITE, 0, 0)
    );
    assert_eq!(probe(m, "/ro", "fresh.txt", "sub", &body), [0, PERM]);
    let body = format!(
        "(call $enter2) {}",
        open_then("write", CREAT, FD_WRITE, 0, 0)
    );
    assert_eq!(probe(m, "/ro", "fresh.txt", ".", &body), [0, PERM]);

    assert!(tried > 500, "{tried}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is unchanged"
    );
    let mut names: Vec<String> = walk(&f.home.join("ro"));
    names.sort();
    assert_eq!(
        names,
        [
            "escape_abs",
            "escape_deep",
            "escape_rel",
            "file.txt",
            "inner",
            "sub"
        ],
        "nothing was created, moved or removed"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        }
        out.push(name);
    }
    out
}

#[test]
fn adv27_dotdot_cannot_escape_preopen() {
    if !live() {
        return;
    }
    let f = fixture();
    let m = &f.manifest;
    for lookup in [0, FOLLOW] {
        for path in [
            "..",
            "../outside.txt",
            "../rw",
            "sub/../../outside.txt",
            "./sub/./../../ro/file.txt",
            "/etc/passwd",
            "/ro/file.txt",
            "//file.txt",
        ] {
            assert_eq!(
                probe(
                    m,
                    "/ro",
                    path,
                    "",
                    &open_then("read", 0, FD_READ, 0, lookup)
                ),
                [PERM],
                "{path} lookup={lookup}"
            );
        }
    }
    // Symlinks inside the preopen that point outside it, followed.
    for path in [
        "escape_abs/passwd",
        "escape_rel",
        "escape_deep",
        "escape_abs",
    ] {
        assert_eq!(
            probe(
                m,
                "/ro",
                path,
                "",
                &open_then("read", 0, FD_READ, 0, FOLLOW)
            ),
            [PERM],
            "{path}"
        );
    }
    // Through a read-write preopen: no escaping writes, and a planted symlink leads nowhere.
    assert_eq!(
        probe(
            m,
            "/rw",
            "../outside.txt",
            "",
            &open_then("write", CREAT, FD_WRITE, 0, 0)
        ),
        [PERM]
    );
    assert_eq!(probe(m, "/rw", "../escaped", "", "(call $mkdir)"), [PERM]);
    let planted = probe(
        m,
        "/rw",
        "planted",
        &f.root.join("secret").display().to_string(),
        "(call $symlink)",
    );
    assert_eq!(planted, [PERM], "an absolute symlink target is refused");
    assert_eq!(
        probe(m, "/rw", "planted2", "../../secret", "(call $symlink)"),
        [0]
    );
    assert_eq!(
        probe(
            m,
            "/rw",
            "planted2/passwd",
            "",
            &open_then("read", 0, FD_READ, 0, FOLLOW)
        ),
        [PERM],
        "a symlink the module made that leaves the preopen is not followed out"
    );
    assert_eq!(
        std::fs::read(f.home.join("outside.txt")).unwrap(),
        b"outside\n"
    );
    assert!(!f.home.join("escaped").exists());
}

#[test]
fn writes_in_read_write_and_scratch_preopens_work() {
    if !live() {
        return;
    }
    let f = fixture();
    let m = &f.manifest;
    assert_eq!(
        probe(
            m,
            "/rw",
            "report.csv",
            "",
            &open_then("write", CREAT, FD_WRITE, 0, 0)
        ),
        [0, 0]
    );
    assert_eq!(
        std::fs::read(f.home.join("rw/report.csv")).unwrap(),
        b"policyc-probe\n"
    );
    assert_eq!(
        probe(
            m,
            "/rw",
            "report.csv",
            "",
            &open_then("truncate", TRUNC, FD_WRITE | FD_SET_SIZE, 0, 0)
        ),
        [0, 0]
    );
    assert_eq!(std::fs::read(f.home.join("rw/report.csv")).unwrap(), b"");
    assert_eq!(probe(m, "/rw", "d", "", "(call $mkdir)"), [0]);
    assert_eq!(
        probe(
            m,
            "/out",
            "book.xlsx",
            "",
            &open_then("write", CREAT | EXCL, FD_WRITE, 0, 0)
        ),
        [0, 0]
    );
    assert_eq!(probe(m, "/out", "d", "", "(call $mkdir)"), [0]);
    // Each run gets a fresh scratch area: last run's file is gone.
    assert_eq!(
        probe(m, "/out", "book.xlsx", "", &open(0, FD_READ, 0, 0)),
        [NOENT]
    );
}

#[test]
fn memory_is_limited() {
    if !live() {
        return;
    }
    let f = fixture();
    // 16 MiB is 256 pages: growing by 300 fails (memory.grow returns -1).
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (if (i32.eq (memory.grow (i32.const 300)) (i32.const -1))
          (then (call $exit (i32.const 7))))
        (call $exit (i32.const 0))))"#;
    let out = run(
        &f.manifest,
        &wat::parse_str(wat).unwrap(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out.status, ExitStatus::Exited(7));
}

/// The simulator against wasmtime: every read and write request on guest paths around the
/// preopens gets the same answer live (a request is denied live when the preopen is missing
/// or the host refuses with a permission errno; other errors, like a missing file, are not
/// denials).
#[test]
fn the_simulator_agrees_with_wasmtime() {
    if !live() {
        return;
    }
    let f = fixture();
    let m = &f.manifest;
    let mut checked = 0;
    for raw in [
        "/ro",
        "/ro/file.txt",
        "/ro/missing",
        "/ro/sub/x",
        "/ro/locked/x",
        "/ro2/x",
        "/r",
        "/rw",
        "/rw/new.txt",
        "/rw/sub/x",
        "/out",
        "/out/a.csv",
        "/outx",
        "/",
        "/etc/passwd",
        "/ro/../rw/z",
        "/out/../ro/file.txt",
    ] {
        for access in [Access::Read, Access::Write] {
            let path = CanonPath::parse_request(raw).unwrap();
            let sim = Wasi.simulate(
                &f.artifacts,
                &Request::Fs {
                    access,
                    path: path.clone(),
                },
            );
            let live = match m.resolve(&path) {
                None => Verdict::Deny,
                Some(p) => {
                    let rest = path.strip_prefix(&p.guest).unwrap();
                    let rel = if rest.is_empty() { "." } else { rest };
                    let body = match access {
                        Access::Read => open(0, FD_READ, 0, 0),
                        _ => open(CREAT, FD_WRITE, 0, 0),
                    };
                    let got = probe(m, p.guest.as_str(), rel, "", &body);
                    if got.iter().any(|e| [PERM, 2, 76].contains(e)) {
                        Verdict::Deny
                    } else {
                        Verdict::Allow
                    }
                }
            };
            assert_eq!(live, sim, "{access:?} {raw}");
            checked += 1;
        }
    }
    assert!(checked >= 34);
}

#[test]
fn adv29_no_network_unless_granted() {
    if !live() {
        return;
    }
    let f = fixture();
    assert!(!f.manifest.network.egress);
    // A preview 1 module has no way to make a socket; the only socket calls work on
    // descriptors the host hands over, and there are none.
    let out = run(
        &f.manifest,
        &wat::parse_str(SOCKETS).unwrap(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(out.stdout.len(), 3 * 16);
    for (i, e) in out.stdout.chunks(3).enumerate() {
        assert!(
            e.iter().all(|e| *e != 0),
            "fd {i}: a socket call succeeded: {e:?}"
        );
    }
    assert_eq!(out.stdout, sockets_expected());
}

/// What each of fds 0 to 15 answers to `sock_accept`, `sock_send` and `sock_shutdown`:
/// stdio and the three preopens are not sockets (`ERRNO_NOTSOCK` 57), the rest do not exist
/// (`ERRNO_BADF` 8).
fn sockets_expected() -> Vec<u8> {
    (0..16)
        .flat_map(|fd| if fd < 6 { [57, 57, 57] } else { [8, 8, 8] })
        .collect()
}
