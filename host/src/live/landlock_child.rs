//! The Landlock layer's probe process: in a forked child, optionally in fresh mount and
//! network namespaces with a private tmpfs on each scratch area and tmpfs of the policy,
//! create the files the requests name inside those, apply the ruleset, then probe. One line
//! per probe goes back through a pipe:
//!
//! ```text
//! P <index> ok | P <index> err <errno> | P <index> ran
//! S <why setup failed>
//! ```

use super::fixture::PROBE_CONTENT;
use crate::landlock as kernel_landlock;
use crate::sys::{self, kernel, Exec, Fork};
use policyc_targets::landlock::Ruleset;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One thing the child attempts under the ruleset.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Open for reading (`O_RDONLY`) or for writing (`O_WRONLY`, never creating or
    /// truncating); nothing is read or written.
    Open { path: PathBuf, write: bool },
    /// Create a new file (`O_CREAT | O_EXCL`) inside the fixture or a private tmpfs.
    Create { path: PathBuf },
    /// `execve` a fixture file the kernel cannot execute.
    Exec { path: CString },
    /// A TCP connect to 127.0.0.1 on this port.
    Connect { port: u16 },
}

/// What the child does before restricting itself.
#[derive(Debug)]
pub struct Setup {
    /// Unshare the mount and network namespaces (and mount the areas).
    pub isolate: bool,
    /// Scratch areas and tmpfs to mount a private tmpfs on.
    pub areas: Vec<CString>,
    /// Directories and files to make inside those areas.
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
    pub ruleset: Ruleset,
}

/// A probe's raw result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    Ok,
    Err(i32),
    /// An exec probe's file actually ran.
    Ran,
}

/// The private tmpfs on each area: no suid, no devices, small.
const AREA_FLAGS: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;
const AREA_OPTIONS: &std::ffi::CStr = c"size=4m,mode=0755";

/// How long the whole child may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Run the probes in a restricted child; each result by probe index.
pub fn run(setup: &Setup, probes: &[(usize, Attempt)]) -> Result<BTreeMap<usize, Raw>, String> {
    let (r, w) = sys::pipe().map_err(|e| format!("pipe: {e}"))?;
    match sys::fork().map_err(|e| format!("fork: {e}"))? {
        Fork::Child => {
            sys::die_with_parent();
            drop(r);
            let mut out = std::fs::File::from(w);
            in_child(setup, probes, &mut out);
            sys::exit_now(0)
        }
        Fork::Parent(pid) => {
            drop(w);
            let deadline = Instant::now() + TIMEOUT;
            let bytes = sys::read_to_end_until(r, deadline);
            let (end, timed_out) = sys::wait_until(pid, deadline);
            if timed_out {
                return Err("the probe process did not finish in time".to_string());
            }
            let text = String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
            parse(&text, end)
        }
    }
}

fn parse(text: &str, end: Option<sys::Ended>) -> Result<BTreeMap<usize, Raw>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(why) = line.strip_prefix("S ") {
            return Err(why.to_string());
        }
        let mut parts = line.split(' ').skip(1);
        let (Some(i), Some(what)) = (parts.next().and_then(|i| i.parse().ok()), parts.next())
        else {
            continue;
        };
        let raw = match (what, parts.next().and_then(|e| e.parse().ok())) {
            ("ok", _) => Raw::Ok,
            ("ran", _) => Raw::Ran,
            ("err", Some(e)) => Raw::Err(e),
            _ => continue,
        };
        out.insert(i, raw);
    }
    if end != Some(sys::Ended::Exited(0)) && out.is_empty() {
        return Err(format!("the probe process ended early: {end:?}"));
    }
    Ok(out)
}

/// The child: set up, restrict, probe. Reports through `out`; never panics.
fn in_child(setup: &Setup, probes: &[(usize, Attempt)], out: &mut std::fs::File) {
    if let Err(why) = prepare(setup) {
        let _ = writeln!(out, "S {why}");
        return;
    }
    if let Err(e) = kernel_landlock::apply(&setup.ruleset, false) {
        let _ = writeln!(out, "S the ruleset cannot be applied: {e}");
        return;
    }
    for (i, p) in probes {
        let line = match probe(p) {
            Raw::Ok => format!("P {i} ok"),
            Raw::Ran => format!("P {i} ran"),
            Raw::Err(e) => format!("P {i} err {e}"),
        };
        let _ = writeln!(out, "{line}");
    }
}

fn prepare(setup: &Setup) -> Result<(), String> {
    if setup.isolate {
        let why = |what: &str, e: std::io::Error| {
            format!(
                "{what}: {}",
                super::errno::name(e.raw_os_error().unwrap_or(0))
            )
        };
        kernel::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET).map_err(|e| why("unshare", e))?;
        kernel::make_mounts_private().map_err(|e| why("private mounts", e))?;
        for a in &setup.areas {
            kernel::mount_tmpfs(a, AREA_FLAGS, AREA_OPTIONS)
                .map_err(|e| why("mount a private tmpfs", e))?;
        }
    }
    // Files the requests name inside the private areas; a failure shows as a missing file.
    for d in &setup.dirs {
        let _ = std::fs::create_dir_all(d);
    }
    for f in &setup.files {
        if let Some(parent) = f.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if std::fs::write(f, PROBE_CONTENT).is_ok() {
            let _ = std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755));
        }
    }
    Ok(())
}

fn probe(p: &Attempt) -> Raw {
    let raw = |r: std::io::Result<()>| match r {
        Ok(()) => Raw::Ok,
        Err(e) => Raw::Err(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    match p {
        Attempt::Open { path, write } => raw(std::fs::OpenOptions::new()
            .read(!write)
            .write(*write)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map(drop)),
        Attempt::Create { path } => raw(std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map(drop)),
        Attempt::Exec { path } => match sys::exec_probe(path) {
            Ok(Exec::Failed(e)) => Raw::Err(e),
            Ok(Exec::Ran) => Raw::Ran,
            Err(e) => Raw::Err(e.raw_os_error().unwrap_or(libc::EIO)),
        },
        Attempt::Connect { port } => {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
            raw(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop))
        }
    }
}
