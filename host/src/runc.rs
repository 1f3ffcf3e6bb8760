//! Running an OCI bundle under runc: finding runc and a static busybox, building a bundle
//! directory (a busybox rootfs and a `config.json`), and running the container to
//! completion with a private state directory, deleting it however the run ends.
//!
//! The live engine's OCI layer and the OCI live tests both run their bundles here.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// runc and the static busybox a bundle's rootfs is made of.
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

/// A program in the `PATH` or the usual system directories.
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

/// A bundle directory, removed on drop: `rootfs/` and, once written, `config.json`.
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle whose rootfs holds busybox as `/bin/busybox`, with each of `applets`
    /// linked to it in `/bin`.
    pub fn new(tools: &Tools, applets: &[&str]) -> io::Result<Bundle> {
        let dir = tempfile::Builder::new()
            .prefix("policyc-live-bundle-")
            .tempdir()?;
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin)?;
        std::fs::copy(&tools.busybox, bin.join("busybox"))?;
        for a in applets {
            std::os::unix::fs::symlink("busybox", bin.join(a))?;
        }
        Ok(Bundle { dir })
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs, where the caller puts what else the image needs.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Write `config` as the bundle's `config.json`.
    pub fn write_config(&self, config: &serde_json::Value) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(config).map_err(io::Error::other)?;
        std::fs::write(self.dir.path().join("config.json"), bytes)
    }

    /// Run the container to completion, or until `timeout` (then it is killed): how it
    /// ended and what it printed, or why runc could not be started.
    pub fn run(&self, tools: &Tools, timeout: Duration) -> Result<Run, String> {
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
        container.run(self.dir.path(), timeout)
    }
}

/// How a container run ended.
#[derive(Debug)]
pub struct Run {
    /// runc's exit status; `None` when it was killed for the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// A container that is deleted however the run ends.
struct Container<'a> {
    runc: &'a Path,
    state: &'a Path,
    id: &'a str,
}

impl Container<'_> {
    fn run(&self, bundle: &Path, timeout: Duration) -> Result<Run, String> {
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
        let deadline = Instant::now() + timeout;
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
        Ok(Run {
            status,
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        })
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
