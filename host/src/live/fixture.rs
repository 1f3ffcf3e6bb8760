//! The fixture: a temporary home directory that stands for `~` in every layer's artifacts.
//!
//! It holds every `~` mount source (as a directory) and every host object a request names
//! (`~` paths, and for container and wasm policies the host objects that guest paths reach
//! through the policy's bind mounts), with their parents, so that a probe tells a refusal
//! from a missing file. Objects are directories when they hold another object or are a
//! mount source, and otherwise files of mode 0755 whose content the kernel cannot execute
//! ([`PROBE_CONTENT`]). Each object's device and inode are recorded, so that a probe can tell
//! the object from something else seen at the same path (a mask). Everything is removed
//! when the fixture is dropped.

use policyc_compiler::ir::{Isolation, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The status a shell exits with after running a fixture file as a script (which it does
/// when `execve` fails with `ENOEXEC`).
pub const PROBE_EXIT: i32 = 93;

/// The content of every fixture file: no `#!` line and no ELF header, so `execve` fails
/// with `ENOEXEC`; a shell that then reads it as a script only exits with [`PROBE_EXIT`].
pub const PROBE_CONTENT: &[u8] =
    b"# policyc live probe: not a program (no #! line, no ELF header)\nexit 93\n";

/// Identity of a fixture object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Object {
    pub dev: u64,
    pub ino: u64,
    pub dir: bool,
}

/// The temporary home and what it holds.
#[derive(Debug)]
pub struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    objects: BTreeMap<PathBuf, Object>,
}

impl Fixture {
    /// Lay out the home for a policy and its requests.
    pub fn new(policy: &Policy, requests: &[Request]) -> io::Result<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("policyc-live-")
            .tempdir_in(base_dir(policy))?;
        let root = std::fs::canonicalize(dir.path())?;
        let home = root.join("home");
        let (dirs, files) = layout(policy, requests);
        // The home exists even when nothing names a `~` path: the artifacts name it.
        std::fs::create_dir_all(&home)?;
        let mut objects = BTreeMap::new();
        for d in &dirs {
            let p = under(&home, d);
            std::fs::create_dir_all(&p)?;
            objects.insert(p, Object::default());
        }
        for f in &files {
            let p = under(&home, f);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&p, PROBE_CONTENT)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
            objects.insert(p, Object::default());
        }
        record(&home, &mut objects)?;
        Ok(Fixture {
            _dir: dir,
            root,
            home,
            objects,
        })
    }

    /// The home directory as the artifacts write it.
    pub fn home_str(&self) -> String {
        self.home.to_string_lossy().into_owned()
    }

    /// The host path a `~` path names (`None` for any other path).
    pub fn host(&self, path: &CanonPath) -> Option<PathBuf> {
        let rest = path.as_str().strip_prefix('~')?;
        Some(under_rest(&self.home, rest))
    }

    /// The fixture object at a host path, if the fixture made one there.
    pub fn object(&self, path: &Path) -> Option<Object> {
        self.objects.get(path).copied()
    }

    /// True when a host path lies inside the fixture.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }

    /// `text` with the fixture's location written as `~`, so reports do not depend on it.
    pub fn hide(&self, text: &str) -> String {
        text.replace(&self.home_str(), "~")
            .replace(&self.root.to_string_lossy().into_owned(), "<fixture>")
    }

    /// Where the fixture lives (for tests).
    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A `~` canonical path under `home`.
fn under(home: &Path, path: &CanonPath) -> PathBuf {
    under_rest(home, path.as_str().strip_prefix('~').unwrap_or_default())
}

fn under_rest(home: &Path, rest: &str) -> PathBuf {
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        home.to_path_buf()
    } else {
        home.join(rest)
    }
}

/// Fill in each object's identity, and add every directory between it and the home.
fn record(home: &Path, objects: &mut BTreeMap<PathBuf, Object>) -> io::Result<()> {
    let mut all: BTreeSet<PathBuf> = objects.keys().cloned().collect();
    for p in objects.keys() {
        all.extend(
            p.ancestors()
                .take_while(|a| a.starts_with(home))
                .map(Path::to_path_buf),
        );
    }
    all.insert(home.to_path_buf());
    objects.clear();
    for p in all {
        let m = std::fs::symlink_metadata(&p)?;
        let o = Object {
            dev: m.dev(),
            ino: m.ino(),
            dir: m.is_dir(),
        };
        objects.insert(p, o);
    }
    Ok(())
}

/// The `~` objects to make: directories and files.
fn layout(policy: &Policy, requests: &[Request]) -> (BTreeSet<CanonPath>, BTreeSet<CanonPath>) {
    // Bind sources, and under process isolation (where the guest path is the host path)
    // scratch areas and tmpfs in the home too.
    let mut dirs: BTreeSet<CanonPath> = policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| match m.host() {
            Some(h) => Some(h.clone()),
            None if policy.isolation == Isolation::Process => Some(m.guest.clone()),
            None => None,
        })
        .filter(CanonPath::is_home)
        .collect();
    let named: BTreeSet<CanonPath> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Fs { path, .. } => home_object(policy, path),
            _ => None,
        })
        .collect();
    for p in named.iter().chain(dirs.clone().iter()) {
        dirs.extend(p.ancestors().skip(1).filter(CanonPath::is_home));
    }
    let files = named.difference(&dirs).cloned().collect();
    (dirs, files)
}

/// The `~` object a request's path names, directly or through a bind mount of the policy.
fn home_object(policy: &Policy, path: &CanonPath) -> Option<CanonPath> {
    if path.is_home() {
        return Some(path.clone());
    }
    if policy.isolation == Isolation::Process {
        return None;
    }
    let m = policyc_compiler::eval::resolve_mount(policy, path)?;
    let MountKind::Bind { host, .. } = &m.kind else {
        return None;
    };
    let rest = path.strip_prefix(&m.guest)?;
    Some(host.join(rest)).filter(CanonPath::is_home)
}

/// Where to put the fixture: the first temporary directory that no scratch area or tmpfs
/// of a process policy covers (the Landlock layer mounts those privately, which would hide
/// a fixture beneath them).
fn base_dir(policy: &Policy) -> PathBuf {
    let areas: Vec<PathBuf> = policy
        .fs
        .mounts
        .iter()
        .filter(|m| policy.isolation == Isolation::Process && m.host().is_none())
        .filter(|m| !m.guest.is_home())
        .map(|m| PathBuf::from(m.guest.as_str()))
        .collect();
    let candidates = [
        std::env::temp_dir(),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
    ];
    candidates
        .iter()
        .filter_map(|c| std::fs::canonicalize(c).ok())
        .find(|c| c.is_dir() && !areas.iter().any(|a| c.starts_with(a)))
        .unwrap_or_else(std::env::temp_dir)
}
