//! The container's root file system.
//!
//! [`Image::Host`]: a `rootfs/` folder in the bundle holding only mount points, the `/etc`
//! essentials a program needs to start, and the host's top-level symlinks (`/bin ->
//! usr/bin` on a merged-`/usr` system); the host's `/usr` and whichever of `/bin`, `/sbin`,
//! `/lib*` are real folders are bind-mounted read-only (`nosuid`, `nodev`), so programs
//! installed on the host run. Nothing else of the host is there: no home directory, no
//! `/run`, `/var` or `/tmp`, none of `/etc` but what [`ETC_FILES`] and [`ETC_DIRS`] name.
//! The root itself is read-only (the emitted spec says so).
//!
//! [`Image::Dir`]: a folder the user gives (`--rootfs DIR`), used as it is. runc creates
//! the mount points the spec needs that are missing in it.
//!
//! [`Image::Layout`]: an OCI image layout the user gives (`--rootfs LAYOUT[:TAG]`), its
//! layers checked and unpacked by [`super::image`] into the bundle's `rootfs/`, removed
//! with the bundle.

use super::image::Layout;
use super::RunError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where the container's root file system comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// The host's system folders, read-only.
    Host,
    /// A root file system folder.
    Dir(PathBuf),
    /// An OCI image layout, unpacked for the run.
    Layout(Layout),
}

impl Image {
    /// What `--rootfs ARG` names: an image layout (`DIR` or `DIR:TAG` where `DIR` holds
    /// an `oci-layout` file), else a root file system folder.
    pub fn from_arg(arg: &Path) -> Image {
        Layout::from_arg(arg).map_or_else(|| Image::Dir(arg.to_path_buf()), Image::Layout)
    }
}

/// The root file system [`assemble`] made.
#[derive(Debug, Clone, Default)]
pub struct Assembled {
    /// The spec's `root.path`.
    pub root: PathBuf,
    /// Mounts to add before the policy's own.
    pub mounts: Vec<Value>,
    /// Entries of an image layout that were not created (device nodes, FIFOs).
    pub skipped: Vec<String>,
}

/// Host folders bind-mounted read-only when they are real folders (recreated as the same
/// symlink when they are symlinks).
pub const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr"];

/// `/etc` files copied from the host when present (the dynamic loader's cache, name
/// service order, time zone).
pub const ETC_FILES: &[&str] = &["ld.so.cache", "ld.so.conf", "nsswitch.conf", "localtime"];

/// `/etc` folders bind-mounted read-only when present: the targets of `/usr/bin`'s
/// alternatives symlinks, and the CA certificates TLS clients need.
pub const ETC_DIRS: &[&str] = &["alternatives", "ssl", "ca-certificates"];

/// Users and groups the container knows: root, nobody and the program's user.
fn passwd(uid: u32, gid: u32) -> (String, String) {
    let mut users = String::from("root:x:0:0:root:/root:/bin/sh\n");
    let mut groups = String::from("root:x:0:\n");
    if uid != 0 && uid != 65534 {
        users.push_str(&format!("user:x:{uid}:{gid}:user:/:/bin/sh\n"));
    }
    if gid != 0 && gid != 65534 {
        groups.push_str(&format!("user:x:{gid}:\n"));
    }
    users.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    groups.push_str("nogroup:x:65534:\n");
    (users, groups)
}

/// Build `image` for `bundle`: the `root.path` to use and the mounts to add before the
/// policy's own.
pub fn assemble(
    bundle: &Path,
    image: &Image,
    uid: u32,
    gid: u32,
) -> Result<(PathBuf, Vec<Value>), RunError> {
    assemble_image(bundle, image, uid, gid).map(|a| (a.root, a.mounts))
}

/// [`assemble`], also saying what an image layout left out.
pub fn assemble_image(
    bundle: &Path,
    image: &Image,
    uid: u32,
    gid: u32,
) -> Result<Assembled, RunError> {
    let (root, mounts) = match image {
        Image::Layout(layout) => return unpack(bundle, layout),
        Image::Dir(dir) => {
            let abs = std::path::absolute(dir).map_err(|err| io_err("--rootfs", err))?;
            if !abs.is_dir() {
                return Err(io_err(
                    "--rootfs",
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("`{}` is not a folder", abs.display()),
                    ),
                ));
            }
            (abs, Vec::new())
        }
        Image::Host => host(bundle, uid, gid)?,
    };
    Ok(Assembled {
        root,
        mounts,
        skipped: Vec::new(),
    })
}

/// Unpack `layout` into the bundle's `rootfs/` (mode 755: the program may run as another
/// user than root).
fn unpack(bundle: &Path, layout: &Layout) -> Result<Assembled, RunError> {
    use std::os::unix::fs::PermissionsExt as _;
    let root = bundle.join("rootfs");
    std::fs::create_dir(&root).map_err(|e| io_err("rootfs", e))?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io_err("rootfs", e))?;
    let out = layout.unpack(&root).map_err(|err| RunError::Image {
        layout: layout.dir.display().to_string(),
        err,
    })?;
    Ok(Assembled {
        root,
        mounts: Vec::new(),
        skipped: out.skipped,
    })
}

fn host(bundle: &Path, uid: u32, gid: u32) -> Result<(PathBuf, Vec<Value>), RunError> {
    let root = bundle.join("rootfs");
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc).map_err(|e| io_err("rootfs/etc", e))?;
    let mut mounts = Vec::new();
    for name in SYSTEM_DIRS {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&host).map_err(|e| io_err(name, e))?;
                std::os::unix::fs::symlink(target, root.join(name)).map_err(|e| io_err(name, e))?;
            }
            Ok(m) if m.is_dir() => mounts.push(ro_bind(&host, true)),
            _ => {}
        }
    }
    for name in ETC_FILES {
        copy_etc(&Path::new("/etc").join(name), &etc.join(name))?;
    }
    for name in ETC_DIRS {
        let host = Path::new("/etc").join(name);
        if host.is_dir() {
            mounts.push(ro_bind(&host, false));
        }
    }
    let (users, groups) = passwd(uid, gid);
    write(&etc.join("passwd"), &users)?;
    write(&etc.join("group"), &groups)?;
    write(&etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n")?;
    write(&etc.join("hostname"), "policyc\n")?;
    // The mount point for a resolver stub, when an egress supervisor provides one.
    write(&etc.join("resolv.conf"), "")?;
    Ok((root, mounts))
}

/// For [`Image::Host`]: make in `root` the folders the spec's mounts are mounted on, as
/// runc would before mounting them (it finds them there and skips that work: 1 to 2 ms of
/// a run, measured on a busy 2-core machine). Only plain folders, each with mode 755 as
/// runc makes them, and only where nothing else could be meant: a mount beneath another mount (`/dev/pts` beneath `/dev`), a bind
/// mount of anything but a folder, and a destination that passes through anything but a
/// real folder of `root` (a symbolic link such as `/bin -> usr/bin` is never followed) are
/// left to runc, as is every folder that cannot be made here; runc stays the one that
/// checks and mounts.
pub fn make_mount_points(root: &Path, config: &Value) {
    let mounts = config
        .get("mounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    fn dest(m: &Value) -> Option<&str> {
        m.get("destination").and_then(Value::as_str)
    }
    let dests: Vec<&str> = mounts.iter().filter_map(dest).collect();
    for m in mounts {
        let Some(d) = dest(m) else { continue };
        let nested = dests.iter().any(|outer| {
            d.strip_prefix(outer)
                .is_some_and(|rest| *outer != "/" && rest.starts_with('/'))
        });
        let folder_source = m.get("type").and_then(Value::as_str) != Some("bind")
            || m.get("source")
                .and_then(Value::as_str)
                .is_some_and(|s| Path::new(s).is_dir());
        if !nested && folder_source {
            make_folders_within(root, d);
        }
    }
}

/// `root` joined with `dest`, one real folder at a time (mode 755); stops at the first
/// component that is not a plain name, exists as anything but a folder, or cannot be made.
fn make_folders_within(root: &Path, dest: &str) {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut at = root.to_path_buf();
    for c in Path::new(dest).components() {
        match c {
            std::path::Component::RootDir => continue,
            std::path::Component::Normal(name) => at.push(name),
            _ => return,
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::DirBuilder::new().mode(0o755).create(&at).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// A read-only bind mount of a host folder at the same path; `exec` keeps programs in it
/// runnable.
pub fn ro_bind(host: &Path, exec: bool) -> Value {
    let mut options = vec!["rbind", "rprivate", "ro", "rro", "nosuid", "nodev"];
    if !exec {
        options.extend(["noexec", "rnoexec"]);
    }
    json!({
        "destination": host.display().to_string(),
        "type": "bind",
        "source": host.display().to_string(),
        "options": options,
    })
}

/// A read-only bind mount of one host file at `dest`.
pub fn ro_bind_file(host: &Path, dest: &str) -> Value {
    json!({
        "destination": dest,
        "type": "bind",
        "source": host.display().to_string(),
        "options": ["bind", "rprivate", "ro", "nosuid", "nodev", "noexec"],
    })
}

/// Where TLS clients on Debian-family systems (OpenSSL, curl, python, node with
/// `--use-openssl-ca`) find the CA certificates they trust.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The files the egress supervisor hands the container, as read-only bind mounts to add
/// after the image's own: its stub `resolv.conf`, and its session CA bundle (the system's
/// certificates plus the session CA that signs the token-injecting endpoints) over
/// [`CA_BUNDLE`], as the process view binds it, so that a client in the container trusts
/// the endpoints that carry its tokens over HTTPS.
pub fn egress_files(resolv_conf: &Path, ca_bundle: Option<&Path>) -> Vec<Value> {
    let mut v = vec![ro_bind_file(resolv_conf, "/etc/resolv.conf")];
    v.extend(ca_bundle.map(|b| ro_bind_file(b, CA_BUNDLE)));
    v
}

/// Copy an `/etc` file (a symlink stays a symlink: `localtime` points into `/usr`).
fn copy_etc(host: &Path, dest: &Path) -> Result<(), RunError> {
    let what = host.display().to_string();
    match std::fs::symlink_metadata(host) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(host).map_err(|e| io_err(&what, e))?;
            std::os::unix::fs::symlink(target, dest).map_err(|e| io_err(&what, e))
        }
        Ok(m) if m.is_file() => std::fs::copy(host, dest)
            .map(|_| ())
            .map_err(|e| io_err(&what, e)),
        _ => Ok(()),
    }
}

fn write(path: &Path, text: &str) -> Result<(), RunError> {
    std::fs::write(path, text).map_err(|e| io_err(&path.display().to_string(), e))
}

fn io_err(what: &str, err: std::io::Error) -> RunError {
    RunError::Bundle {
        what: what.to_string(),
        err,
    }
}

/// Whether runc must be told `--no-pivot`: `pivot_root` does not work when the host's own
/// root is the initial ramfs (`rootfs` or `ramfs`), as in some minimal VMs.
pub fn needs_no_pivot() -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|l| {
        let mut halves = l.split(" - ");
        let before: Vec<&str> = halves.next().unwrap_or_default().split(' ').collect();
        let fstype = halves.next().and_then(|a| a.split(' ').next());
        before.get(4) == Some(&"/") && matches!(fstype, Some("rootfs" | "ramfs"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn mount_points_are_plain_folders_never_through_a_link_nor_beneath_a_mount() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir();
        assert!(dir.is_ok(), "{dir:?}");
        let Ok(dir) = dir else { return };
        let (root, outside) = (dir.path().join("rootfs"), dir.path().join("outside"));
        assert!(std::fs::create_dir_all(root.join("etc")).is_ok());
        assert!(std::fs::create_dir(&outside).is_ok());
        assert!(std::os::unix::fs::symlink(&outside, root.join("lib")).is_ok());
        assert!(std::fs::write(root.join("etc/resolv.conf"), "").is_ok());
        let config = json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/usr", "type": "bind", "source": "/usr"},
            {"destination": "/mnt/docs", "type": "bind", "source": dir.path()},
            {"destination": "/lib/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/etc/resolv.conf/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts"},
            {"destination": "/a/../b", "type": "tmpfs", "source": "tmpfs"},
        ]});
        make_mount_points(&root, &config);
        for made in ["proc", "dev", "usr", "mnt", "mnt/docs", "a"] {
            let m = std::fs::symlink_metadata(root.join(made));
            assert!(m.as_ref().is_ok_and(|m| m.is_dir()), "{made}: {m:?}");
            let mode = m.map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode, Some(0o755), "{made}");
        }
        for left in ["dev/pts", "etc/hosts", "b"] {
            assert!(!root.join(left).exists(), "{left}");
        }
        assert!(root.join("etc/resolv.conf").is_file());
        assert!(!outside.join("x").exists(), "a symbolic link was followed");
    }

    #[test]
    fn users_name_only_root_nobody_and_the_program() {
        let (u, g) = passwd(1000, 1000);
        assert_eq!(u.lines().count(), 3);
        assert!(u.contains("user:x:1000:1000:"));
        assert!(g.contains("user:x:1000:"));
        let (u, _) = passwd(0, 0);
        assert_eq!(u.lines().count(), 2);
    }

    #[test]
    fn host_image_folders_are_read_only() {
        let m = ro_bind(Path::new("/usr"), true);
        let opts = m.get("options").and_then(Value::as_array).cloned();
        let opts: Vec<Value> = opts.unwrap_or_default();
        assert!(opts.contains(&json!("rro")));
        assert!(!opts.contains(&json!("noexec")));
        let m = ro_bind(Path::new("/etc/ssl"), false);
        assert!(m.to_string().contains("rnoexec"));
    }

    #[test]
    fn the_session_ca_bundle_is_bound_over_the_system_bundle_when_there_is_one() {
        let dest = |v: &[Value]| -> Vec<String> {
            v.iter()
                .map(|m| m["destination"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        let resolv = Path::new("/tmp/resolv.conf");
        assert_eq!(dest(&egress_files(resolv, None)), ["/etc/resolv.conf"]);
        let both = egress_files(resolv, Some(Path::new("/tmp/bundle.pem")));
        assert_eq!(dest(&both), ["/etc/resolv.conf", CA_BUNDLE]);
        assert_eq!(both[1]["source"], "/tmp/bundle.pem");
        assert!(both[1].to_string().contains("\"ro\""));
    }
}
