//! `policyc exec --rootfs LAYOUT` on a container policy, end to end under runc: an OCI image
//! layout made here from busybox-static (a gzip layer, a tar layer whiting out a file of
//! the first, and a zstd layer) is checked, unpacked and run; the whited-out file is
//! absent, what the policy denies fails with the exact errno, the image's own `Env` never
//! reaches the program, the program's exit status passes through, and the unpacked tree is
//! removed, also when the command is not found or the filter is too narrow for it. A
//! layout with a corrupted blob is refused (125) before anything runs. The seccomp
//! pre-flight reads the program inside a rootfs folder, never through its absolute
//! symbolic links onto the host. Needs root, runc and busybox-static; fails instead of
//! skipping under `POLICYC_REQUIRE_LIVE=1`.

use super::{scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BUSYBOX: &str = "/bin/busybox";

fn live() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/sbin/runc", "/bin/runc"]
        .iter()
        .any(|p| Path::new(p).is_file());
    let busybox = std::fs::read(BUSYBOX).is_ok_and(|b| is_static(&b));
    let ok = root && runc && busybox;
    if !ok {
        cannot_run(&format!(
            "image layout tests need root, runc and a static {BUSYBOX} (root: {root}, runc: {runc}, busybox-static: {busybox})"
        ));
    }
    ok
}

/// An ELF file without a program interpreter (`PT_INTERP`, type 3).
fn is_static(elf: &[u8]) -> bool {
    if elf.get(..4) != Some(&b"\x7fELF"[..]) || elf.len() < 64 {
        return false;
    }
    let u = |at: usize, n: usize| {
        elf[at..at + n]
            .iter()
            .rev()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b))
    };
    let (phoff, phentsize, phnum) = (u(32, 8), u(54, 2), u(56, 2));
    (0..phnum).all(|i| {
        elf.get(phoff + i * phentsize..phoff + i * phentsize + 4) != Some(&[3u8, 0, 0, 0][..])
    })
}

/// A layer's tar stream: folders, files (`path`, mode, content) and symbolic links.
fn layer(dirs: &[&str], files: &[(&str, u32, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    for (path, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob(dir: &Path, media: &str, bytes: &[u8]) -> serde_json::Value {
    let hex = sha256(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    json!({"mediaType": media, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// An image layout at `dir`, as `skopeo copy … oci:DIR:probe` writes one: busybox with
/// `/etc/gone` and `/etc/kept` in a gzip layer, an uncompressed layer whiting out
/// `/etc/gone`, and a zstd layer adding `/etc/zstd`. The image's configuration sets
/// `SECRET`, which must not reach the program. Returns the first layer's blob.
fn image_layout(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let base = layer(
        &["bin/", "etc/", "tmp/"],
        &[
            ("bin/busybox", 0o755, &busybox[..]),
            ("etc/gone", 0o644, &b"lower layer\n"[..]),
            ("etc/kept", 0o644, &b"kept from the lower layer\n"[..]),
        ],
        &[
            ("bin/sh", "busybox"),
            ("bin/cat", "busybox"),
            ("bin/touch", "busybox"),
            ("bin/mkdir", "busybox"),
        ],
    );
    let top = layer(&["etc/"], &[("etc/.wh.gone", 0o644, &b""[..])], &[]);
    let zstd_layer = layer(
        &["etc/"],
        &[("etc/zstd", 0o644, &b"from a zstd layer\n"[..])],
        &[],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&base).unwrap();
    let base_gz = gz.finish().unwrap();
    let zstd = ruzstd::encoding::compress_to_vec(
        &zstd_layer[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let layers = [
        blob(dir, "application/vnd.oci.image.layer.v1.tar+gzip", &base_gz),
        blob(dir, "application/vnd.oci.image.layer.v1.tar", &top),
        blob(dir, "application/vnd.oci.image.layer.v1.tar+zstd", &zstd),
    ];
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["SECRET=from-the-image", "PATH=/evil"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [
            format!("sha256:{}", sha256(&base)), format!("sha256:{}", sha256(&top)),
            format!("sha256:{}", sha256(&zstd_layer))]},
    });
    let config = blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": layers});
    let mut manifest = blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    manifest["annotations"] = json!({"org.opencontainers.image.ref.name": "probe"});
    let index = json!({"schemaVersion": 2, "manifests": [manifest]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    dir.join("blobs/sha256")
        .join(&layers[0]["digest"].as_str().unwrap()["sha256:".len()..])
}

/// A container policy for busybox: its documents read-only, a scratch area, and `mkdir`
/// refused with `EMLINK` (an errno nothing else would give).
const POLICY: &str = r#"use std::runtime::static

policy image_probe {
    isolation container

    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 16MiB
    }

    net {
        egress none
    }

    include runtime_guards

    syscalls {
        allow static_binary, fstatfs, getdents64, fcntl
        deny mkdir, mkdirat errno EMLINK
        default errno EPERM
    }
}
"#;

/// What the program does: each line says what it saw.
const SCRIPT: &str = "\
test -e /etc/gone && echo gone: present || echo gone: absent
cat /etc/kept
cat /etc/zstd
cat /mnt/docs/hello.txt
echo x > /mnt/scratch/out && echo scratch: ok
touch /mnt/docs/new 2>&1
{ echo x > /etc/kept; } 2>&1
mkdir /mnt/scratch/d 2>&1
echo SECRET=${SECRET:-unset} PATH=$PATH
exit 7
";

struct Setup {
    dir: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    policy: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = scratch(name);
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("Documents")).unwrap();
    std::fs::write(home.join("Documents/hello.txt"), "hello from the host\n").unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let policy = dir.join("image_probe.policy");
    std::fs::write(&policy, POLICY).unwrap();
    Setup {
        dir,
        home,
        tmp,
        policy,
    }
}

impl Setup {
    fn exec(&self, rootfs: &str, command: &[&str]) -> Output {
        self.exec_under(&self.policy, rootfs, command)
    }

    fn exec_under(&self, policy: &Path, rootfs: &str, command: &[&str]) -> Output {
        let mut args = vec![
            "exec".to_string(),
            "--quiet".into(),
            "--home".into(),
            self.home.display().to_string(),
            "--rootfs".into(),
            rootfs.into(),
        ];
        if policyc_host::container::apparmor::host_enforces().is_err() {
            args.push("--best-effort".into());
        }
        args.push(policy.display().to_string());
        args.push("--".into());
        args.extend(command.iter().map(|s| s.to_string()));
        Command::new(env!("CARGO_BIN_EXE_policyc"))
            .args(args)
            .current_dir(&self.dir)
            .env("TMPDIR", &self.tmp)
            .env("SECRET", "from-the-caller")
            .output()
            .unwrap()
    }

    /// Nothing of the run is left in `TMPDIR` (the bundle and the unpacked image).
    #[track_caller]
    fn assert_clean(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

#[test]
fn busybox_runs_from_an_image_layout_with_its_whiteouts_applied() {
    if !live() {
        return;
    }
    let s = setup("image-run");
    let layout = s.dir.join("layout");
    image_layout(&layout);
    for rootfs in [
        layout.display().to_string(),
        format!("{}:probe", layout.display()),
    ] {
        let o = s.exec(&rootfs, &["/bin/busybox", "sh", "-c", SCRIPT]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(7), "the program's own status\n{err}");
        assert_eq!(
            stdout(&o),
            "gone: absent\n\
             kept from the lower layer\n\
             from a zstd layer\n\
             hello from the host\n\
             scratch: ok\n\
             touch: /mnt/docs/new: Read-only file system\n\
             sh: can't create /etc/kept: Read-only file system\n\
             mkdir: can't create directory '/mnt/scratch/d': Too many links\n\
             SECRET=unset PATH=/usr/local/bin:/usr/bin:/bin\n",
            "{err}"
        );
        s.assert_clean();
    }
    // The image is unchanged, and the host's documents too.
    assert!(Path::new(&layout).join("index.json").is_file());
    assert!(!s.home.join("Documents/new").exists());
}

#[test]
fn a_layout_with_a_corrupted_blob_is_refused() {
    if !live() {
        return;
    }
    let s = setup("image-corrupt");
    let layout = s.dir.join("layout");
    let blob = image_layout(&layout);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();
    let o = s.exec(
        &layout.display().to_string(),
        &["/bin/busybox", "echo", "ran"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(stdout(&o).is_empty(), "nothing ran: {}", stdout(&o));
    assert!(err.contains("policyc exec: --rootfs `"), "{err}");
    assert!(
        err.contains("does not match its digest; refusing to run"),
        "{err}"
    );
    s.assert_clean();

    std::fs::remove_file(&blob).unwrap();
    let o = s.exec(
        &layout.display().to_string(),
        &["/bin/busybox", "echo", "ran"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("the layout is incomplete"), "{err}");
    s.assert_clean();

    let o = s.exec(
        &format!("{}:no-such-tag", layout.display()),
        &["/bin/busybox", "echo", "ran"],
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 manifests named `no-such-tag`"),
        "{}",
        stderr(&o)
    );
}

/// A rootfs folder whose `/bin/echo` is an absolute symbolic link to a path that, on the
/// host, holds a dynamically linked program, and inside the root a static busybox. Under a
/// policy that denies `munmap` (which the dynamic loader needs, and busybox does not), the
/// pre-flight must judge the root's file: the program runs. The root's own dynamic
/// program, reached through an in-root absolute link found in `PATH`, is refused naming
/// `munmap`, and `/bin/sh -> /bin/busybox` runs.
#[test]
fn the_preflight_reads_the_program_inside_the_rootfs_not_through_its_links() {
    if !live() {
        return;
    }
    let s = setup("image-links");
    let dynamic = std::fs::read("/bin/true").unwrap();
    assert!(
        !is_static(&dynamic),
        "/bin/true must be dynamically linked here"
    );
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let host_echo = s.dir.join("host/echo");
    std::fs::create_dir_all(host_echo.parent().unwrap()).unwrap();
    std::fs::write(&host_echo, &dynamic).unwrap();

    let root = s.dir.join("rootfs");
    let exe = |path: &Path, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    exe(&root.join("bin/busybox"), &busybox);
    exe(&root.join(host_echo.strip_prefix("/").unwrap()), &busybox);
    exe(&root.join("bin/dyn"), &dynamic);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link(&host_echo, "bin/echo");
    link(Path::new("/bin/busybox"), "bin/sh");
    link(Path::new("/bin/dyn"), "bin/dynlink");

    let policy = s.dir.join("no_munmap.policy");
    std::fs::write(
        &policy,
        POLICY.replace(
            "deny mkdir, mkdirat errno EMLINK",
            "deny mkdir, mkdirat errno EMLINK\n        deny munmap errno EPERM",
        ),
    )
    .unwrap();
    let rootfs = root.display().to_string();

    let o = s.exec_under(&policy, &rootfs, &["/bin/echo", "the root's echo"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "judged the host's file?\n{err}");
    assert_eq!(stdout(&o), "the root's echo\n", "{err}");
    s.assert_clean();

    let o = s.exec_under(&policy, &rootfs, &["sh", "-c", "echo via sh"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(stdout(&o), "via sh\n", "{err}");

    // The denial does refuse a program that is dynamic inside the root.
    let o = s.exec_under(&policy, &rootfs, &["dynlink"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(126), "{err}");
    assert!(err.contains("`dynlink` cannot start under policy"), "{err}");
    assert!(err.contains("`munmap`"), "{err}");
    assert!(stdout(&o).is_empty());
    s.assert_clean();
    assert_eq!(
        std::fs::read(&host_echo).unwrap(),
        dynamic,
        "the host file is unchanged"
    );
}

/// However a run from an image layout fails after unpacking, the unpacked tree goes with
/// the bundle: a command the image does not hold (127), and a program the policy's filter
/// is too narrow for, found by the pre-flight in the unpacked tree (126).
#[test]
fn a_failed_run_leaves_no_unpacked_image_behind() {
    if !live() {
        return;
    }
    let s = setup("image-cleanup");
    let layout = s.dir.join("layout");
    image_layout(&layout);
    let rootfs = layout.display().to_string();

    let o = s.exec(&rootfs, &["/bin/no-such-program"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains("`/bin/no-such-program`: command not found in the container"),
        "{err}"
    );
    s.assert_clean();

    let policy = s.dir.join("no_exit.policy");
    std::fs::write(
        &policy,
        POLICY.replace(
            "deny mkdir, mkdirat errno EMLINK",
            "deny mkdir, mkdirat errno EMLINK\n        deny exit_group errno EPERM",
        ),
    )
    .unwrap();
    let o = s.exec_under(&policy, &rootfs, &["/bin/sh", "-c", "echo ran"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(126), "{err}");
    assert!(err.contains("`exit_group`"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing ran");
    s.assert_clean();
}
