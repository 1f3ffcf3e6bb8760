//! `policyc exec` for container policies: the emitted bundle run by runc with one command.
//!
//! - [`Bundle`]: a private temporary directory (in memory, [`MEMORY_DIR`], unless an image
//!   layout is unpacked into it) holding `config.json` and the root file
//!   system ([`rootfs`]: the host's `/usr`, `/lib*`, `/bin`, `/sbin` and the `/etc`
//!   essentials, read-only, a folder the user gives, or an OCI image layout unpacked by
//!   [`image`]), removed on drop.
//! - [`Spec`]: the launcher's edits to the emitted `config.json` (the command, its working
//!   directory and environment, the image mounts, the egress supervisor's network
//!   namespace, AppArmor left out when the host does not enforce it).
//! - [`Runtime::run`]: `runc run` with a unique container id and a private state directory;
//!   signals sent to policyc reach the container ([`signals`]), and the container is
//!   deleted however the run ends. runc's own failures (read from its JSON log) are told
//!   apart from the program's exit status ([`RunError`]).
//! - [`apparmor`]: whether the host enforces AppArmor, and loading the profile.

pub mod apparmor;
pub mod image;
pub mod rootfs;
mod signals;
mod spec;

pub use rootfs::Image;
pub use spec::{guest_cwd, Spec};

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a container did not run the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The bundle could not be written.
    #[error("cannot write the bundle ({what}): {err}")]
    Bundle {
        what: String,
        #[source]
        err: io::Error,
    },
    /// runc could not be started.
    #[error("cannot start `{runc}`: {err}")]
    Spawn {
        runc: String,
        #[source]
        err: io::Error,
    },
    /// runc did not find the command in the container.
    #[error("{0}")]
    NotFound(String),
    /// runc found the command but could not execute it.
    #[error("{0}")]
    CannotExecute(String),
    /// `--rootfs LAYOUT`: the image layout was refused.
    #[error("--rootfs `{layout}`: {err}")]
    Image {
        layout: String,
        #[source]
        err: image::ImageError,
    },
    /// runc failed for another reason (its own message).
    #[error("runc failed: {0}")]
    Runtime(String),
}

/// runc, when this host can run bundles with it.
#[derive(Debug, Clone)]
pub struct Runtime {
    runc: PathBuf,
}

impl Runtime {
    /// runc from the `PATH` or the usual system directories, or why containers cannot run
    /// here (runc missing, or policyc not root: runc runs rootful bundles).
    pub fn find() -> Result<Runtime, String> {
        if crate::sys::euid() != 0 {
            return Err("runc runs the bundle as root, and policyc is not root".to_string());
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
            .map(|d| d.join("runc"))
            .find(|p| p.is_file())
            .map(|runc| Runtime { runc })
            .ok_or_else(|| "runc is not installed (apt-get install runc)".to_string())
    }

    /// Run the bundle to completion with policyc's standard input, output and error: the
    /// program's wait status (runc reports a program killed by signal N as 128 + N), or
    /// why runc did not run it. A signal sent to policyc is passed on (see [`signals`]).
    /// The container is deleted before this returns.
    pub fn run(&self, bundle: &Bundle) -> Result<ExitStatus, RunError> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "policyc-exec-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let state = bundle.dir.path().join("state");
        let log = bundle.dir.path().join("runc.log");
        let container = Container {
            runc: &self.runc,
            state: &state,
            id: &id,
        };
        let mut cmd = Command::new(&self.runc);
        cmd.arg("--root")
            .arg(&state)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "run"]);
        if rootfs::needs_no_pivot() {
            cmd.arg("--no-pivot");
        }
        cmd.arg("--bundle").arg(bundle.path()).arg(&id);
        let kill = || container.kill();
        let status = signals::run_forwarding(&mut cmd, kill).map_err(|err| RunError::Spawn {
            runc: self.runc.display().to_string(),
            err,
        })?;
        drop(container);
        match runc_errors(&log) {
            errors if errors.is_empty() => Ok(status),
            errors => Err(classify(errors.join("; "))),
        }
    }
}

/// The error messages runc wrote to its JSON log (one object per line).
fn runc_errors(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            matches!(
                v.get("level").and_then(|l| l.as_str()),
                Some("error" | "fatal" | "panic")
            )
        })
        .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
        .collect()
}

/// Which of runc's failures this message is: the command not found or not executable in
/// the container, or anything else.
fn classify(msg: String) -> RunError {
    let exec = msg.contains("exec: ");
    if exec
        && (msg.contains("executable file not found") || msg.contains("no such file or directory"))
    {
        RunError::NotFound(msg)
    } else if exec && (msg.contains("permission denied") || msg.contains("exec format error")) {
        RunError::CannotExecute(msg)
    } else {
        RunError::Runtime(msg)
    }
}

/// A container deleted on drop, whether or not it ran.
struct Container<'a> {
    runc: &'a Path,
    state: &'a Path,
    id: &'a str,
}

impl Container<'_> {
    /// SIGKILL to every process of the container.
    fn kill(&self) {
        let _ = Command::new(self.runc)
            .arg("--root")
            .arg(self.state)
            .args(["kill", "--all", self.id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Container<'_> {
    /// `runc run` removes a container whose program ended; one that is still known to
    /// runc's state directory (a failed start, a killed runc) is deleted by force.
    fn drop(&mut self) {
        if !self.state.join(self.id).exists() {
            return;
        }
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

/// Where small bundles are made: a tmpfs on every Linux system with glibc's `shm_open`.
pub const MEMORY_DIR: &str = "/dev/shm";

/// Where a bundle for `image` is made: the temporary directory (`$TMPDIR`, else `/tmp`)
/// when the caller set `TMPDIR` or an image layout is unpacked into it (it can be large),
/// else [`MEMORY_DIR`] when it exists. There the bundle is only `config.json`, the mount
/// points, the `/etc` essentials and runc's state, and on a disk file system removing even
/// that costs tens of milliseconds (ext4 mounted with `discard` waits for the device on
/// every freed block), more than `runc run` itself takes.
pub fn bundle_parent(image: &Image, tmpdir_set: bool, memory_exists: bool) -> PathBuf {
    if matches!(image, Image::Layout(_)) || tmpdir_set || !memory_exists {
        std::env::temp_dir()
    } else {
        PathBuf::from(MEMORY_DIR)
    }
}

/// The bundle directory: `config.json`, `rootfs/`, runc's state and log; removed on drop.
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// An empty bundle for `image` in a private directory (mode 700) named
    /// `policyc-exec-bundle-PID-…`, where [`bundle_parent`] says.
    pub fn new(image: &Image) -> Result<Bundle, RunError> {
        use std::os::unix::fs::PermissionsExt as _;
        let parent = bundle_parent(
            image,
            std::env::var_os("TMPDIR")
                .filter(|t| !t.is_empty())
                .is_some(),
            Path::new(MEMORY_DIR).is_dir(),
        );
        let prefix = format!("policyc-exec-bundle-{}-", std::process::id());
        // tempfile makes folders with the default mode (0777 less the umask): the bundle
        // holds the program's environment in `config.json`, for policyc's eyes only.
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .map_err(|err| RunError::Bundle {
                what: "temporary directory".into(),
                err,
            })?;
        Ok(Bundle { dir })
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `config` as `config.json`.
    pub fn write_config(&self, config: &serde_json::Value) -> Result<(), RunError> {
        let err = |err| RunError::Bundle {
            what: "config.json".into(),
            err,
        };
        let bytes = serde_json::to_vec_pretty(config).map_err(|e| err(io::Error::other(e)))?;
        std::fs::write(self.dir.path().join("config.json"), bytes).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_failures_are_told_apart() {
        let nf = classify(
            "runc run failed: unable to start container process: exec: \"x\": executable file not found in $PATH".into(),
        );
        assert!(matches!(nf, RunError::NotFound(_)));
        let ce = classify(
            "runc run failed: unable to start container process: exec: \"/etc/x\": permission denied".into(),
        );
        assert!(matches!(ce, RunError::CannotExecute(_)));
        let rt = classify("runc run failed: cgroup: permission denied".into());
        assert!(matches!(rt, RunError::Runtime(_)));
    }

    #[test]
    fn small_bundles_are_in_memory_unless_tmpdir_is_set_and_layouts_on_disk() {
        let layout = Image::Layout(image::Layout {
            dir: "img".into(),
            tag: None,
        });
        let memory = PathBuf::from(MEMORY_DIR);
        assert_eq!(bundle_parent(&Image::Host, false, true), memory);
        assert_eq!(bundle_parent(&Image::Dir("r".into()), false, true), memory);
        assert_eq!(
            bundle_parent(&Image::Host, true, true),
            std::env::temp_dir()
        );
        assert_eq!(
            bundle_parent(&Image::Host, false, false),
            std::env::temp_dir()
        );
        assert_eq!(bundle_parent(&layout, false, true), std::env::temp_dir());
    }

    #[test]
    fn a_bundle_is_private_names_its_process_and_is_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let b = Bundle::new(&Image::Host);
        assert!(b.is_ok(), "{b:?}");
        let Ok(b) = b else { return };
        let mode = std::fs::metadata(b.path()).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700), "{}", b.path().display());
        let name = b
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let prefix = format!("policyc-exec-bundle-{}-", std::process::id());
        assert!(name.is_some_and(|n| n.starts_with(&prefix)));
        let path = b.path().to_path_buf();
        drop(b);
        assert!(!path.exists());
    }

    #[test]
    fn only_error_lines_of_the_log_count() {
        let dir = tempfile::tempdir();
        assert!(dir.is_ok(), "{dir:?}");
        let Ok(dir) = dir else { return };
        let log = dir.path().join("log");
        let lines = "{\"level\":\"warning\",\"msg\":\"w\"}\nnot json\n{\"level\":\"error\",\"msg\":\"boom\"}\n";
        assert!(std::fs::write(&log, lines).is_ok());
        assert_eq!(runc_errors(&log), ["boom"]);
        assert!(runc_errors(&dir.path().join("missing")).is_empty());
    }
}
