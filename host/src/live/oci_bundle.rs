//! Running an emitted bundle under runc: finding runc and a static busybox, building the
//! bundle directory (a busybox rootfs plus the objects the probes need in the image), and
//! running the container to completion with a private state directory.

use super::fixture::PROBE_CONTENT;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The busybox applets the probe script uses.
const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "mkdir", "chmod", "stat", "nc", "nslookup", "timeout", "printf", "echo",
];

/// Where the probe script lives in the image.
pub const SCRIPT: &str = "/.policyc-probe.sh";

/// How long a container may run.
const TIMEOUT: Duration = Duration::from_secs(180);

/// The programs the layer runs.
#[derive(Debug)]
pub struct Tools {
    pub runc: PathBuf,
    pub busybox: PathBuf,
}

impl Tools {
    /// runc and a static busybox, or why they cannot be used.
    pub fn find() -> Result<Tools, String> {
        if crate::sys::euid() != 0 {
            return Err("runc runs the bundle as root, and policyc is not root".to_string());
        }
        let runc = find_program("runc").ok_or("runc is not installed (apt-get install runc)")?;
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .map(PathBuf::from)
            .into_iter()
            .find(|p| is_static_elf(p))
            .ok_or("no static busybox (apt-get install busybox-static)")?;
        Ok(Tools { runc, busybox })
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A 64-bit ELF file without a program interpreter (statically linked).
fn is_static_elf(p: &Path) -> bool {
    let Ok(b) = std::fs::read(p) else {
        return false;
    };
    let at = |o: usize, n: usize| b.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| {
        at(o, 2)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(u16::from_le_bytes)
    };
    let u64_at = |o: usize| {
        at(o, 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_le_bytes)
    };
    if at(0, 5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(size), Some(n)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(n)).all(|i| {
        let o = i
            .checked_mul(usize::from(size))
            .and_then(|x| x.checked_add(phoff));
        // PT_INTERP (3) names the dynamic loader.
        o.and_then(|o| at(o, 4))
            .is_some_and(|t| t != 3u32.to_le_bytes())
    })
}

/// An object the probes need in the image, at a guest path.
#[derive(Debug, Clone)]
pub struct ImageObject {
    pub guest: String,
    pub dir: bool,
}

/// A bundle directory, removed on drop.
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
    /// The image objects that were made (guest paths).
    pub made: Vec<String>,
}

impl Bundle {
    /// A busybox rootfs with the script and the image objects, and `config` as
    /// `config.json` (already edited by the caller).
    pub fn new(
        tools: &Tools,
        config: &serde_json::Value,
        script: &str,
        objects: &[ImageObject],
    ) -> io::Result<Bundle> {
        let dir = tempfile::Builder::new()
            .prefix("policyc-live-bundle-")
            .tempdir()?;
        let rootfs = dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin)?;
        std::fs::copy(&tools.busybox, bin.join("busybox"))?;
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a))?;
        }
        std::fs::write(rootfs.join(SCRIPT.trim_start_matches('/')), script)?;
        let made = objects
            .iter()
            .filter(|o| make_image_object(&rootfs, o))
            .map(|o| o.guest.clone())
            .collect();
        let bytes = serde_json::to_vec_pretty(config).map_err(io::Error::other)?;
        std::fs::write(dir.path().join("config.json"), bytes)?;
        Ok(Bundle { dir, made })
    }

    /// Run the container to completion: its stdout, or why it did not run.
    pub fn run(&self, tools: &Tools) -> Result<String, String> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "policyc-live-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let state = tempfile::Builder::new()
            .prefix("policyc-live-state-")
            .tempdir()
            .map_err(|e| format!("state directory: {e}"))?;
        let container = Container {
            runc: &tools.runc,
            state: state.path(),
            id: &id,
        };
        container.run(self.dir.path())
    }
}

/// Make an object in the image unless something is there already; true when made.
fn make_image_object(rootfs: &Path, o: &ImageObject) -> bool {
    let rel = o.guest.trim_start_matches('/');
    if rel.is_empty() {
        return false;
    }
    let p = rootfs.join(rel);
    if std::fs::symlink_metadata(&p).is_ok() {
        return false;
    }
    if o.dir {
        return std::fs::create_dir_all(&p).is_ok();
    }
    let parent_ok = p
        .parent()
        .is_some_and(|d| std::fs::create_dir_all(d).is_ok());
    parent_ok
        && std::fs::write(&p, PROBE_CONTENT).is_ok()
        && std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).is_ok()
}

/// A container that is deleted however the run ends.
struct Container<'a> {
    runc: &'a Path,
    state: &'a Path,
    id: &'a str,
}

impl Container<'_> {
    fn run(&self, bundle: &Path) -> Result<String, String> {
        let out_path = bundle.join("stdout");
        let err_path = bundle.join("stderr");
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{e}"));
        let mut child = Command::new(self.runc)
            .arg("--root")
            .arg(self.state)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(self.id)
            .stdin(Stdio::null())
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| format!("cannot start runc: {e}"))?;
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status {
            Some(_) if stdout.contains("\nDONE") || stdout.starts_with("DONE") => Ok(stdout),
            Some(s) => Err(format!(
                "the container did not run its probes ({s}): {}",
                stderr.trim()
            )),
            None => Err("the container did not finish in time".to_string()),
        }
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = Command::new(self.runc)
            .arg("--root")
            .arg(self.state)
            .args(["delete", "-f", self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// True when AppArmor is enabled and this profile is loaded (runc refuses to start a
/// bundle naming a profile that is not).
pub fn apparmor_profile_loaded(name: &str) -> bool {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    enabled
        && std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
            .is_ok_and(|p| p.lines().any(|l| l.split(' ').next() == Some(name)))
}
