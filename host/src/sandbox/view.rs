//! The file system a sandboxed process sees: a new root holding only what the policy grants,
//! at the same paths, so host objects outside every grant (an ssh-agent or D-Bus socket, a
//! container engine's socket, an X11 or Wayland socket) do not exist for it at all.
//!
//! The root is an empty tmpfs with:
//! - each granted path of the Landlock ruleset, bound from the host (a recursive copy of its
//!   mount tree), read-only unless the ruleset lets the program write there. Read-only
//!   mounts refuse metadata changes (chmod, chown, utime, xattr) with `EROFS` even for a
//!   file the program may open, which Landlock alone does not mediate;
//! - a private `/tmp` and `/run` (empty tmpfs), a minimal `/dev` (`null`, `zero`, `full`,
//!   `random`, `urandom`, `tty` bound read-only, a private `/dev/shm`) and the host's
//!   `/proc`, read-only (Landlock's ptrace scoping keeps other processes' `/proc/PID/root`
//!   out of reach);
//! - the host root's top-level symbolic links (`/bin -> usr/bin` on merged-`/usr` systems).
//!
//! Everything is computed before the fork; [`View::enter`] runs in the child, after the
//! mount namespace is created and made private.

use super::mounts;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// Devices bound into the private `/dev`.
const DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

#[derive(Debug, Clone)]
struct Bind {
    /// The host object bound.
    source: CString,
    /// Where the sandbox sees it.
    path: CString,
    /// Parent folders to create first, outermost first.
    parents: Vec<CString>,
    dir: bool,
    writable: bool,
}

/// The sandbox's root, ready to be built in the child.
#[derive(Debug, Clone)]
pub struct View {
    binds: Vec<Bind>,
    /// Folders to create (scratch and tmpfs mount points), parents first.
    dirs: Vec<CString>,
    links: Vec<(CString, CString)>,
    cwd: Option<CString>,
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` contains a NUL byte", p.display()),
        )
    })
}

/// `/a/b/c` -> [`/a`, `/a/b`].
fn parents(p: &Path) -> io::Result<Vec<CString>> {
    let mut out: Vec<CString> = p
        .ancestors()
        .skip(1)
        .filter(|a| a.parent().is_some())
        .map(cstring)
        .collect::<io::Result<_>>()?;
    out.reverse();
    Ok(out)
}

impl View {
    /// The view for these granted paths (`writable` when the program may write there) and
    /// these mount points of scratch areas and tmpfs. Paths that do not exist on the host
    /// are left out (Landlock grants nothing through them either).
    pub fn new(grants: &[(PathBuf, bool)], mount_points: &[PathBuf]) -> io::Result<View> {
        let mut all: Vec<(PathBuf, bool)> = grants.to_vec();
        all.extend(DEVICES.iter().map(|d| (PathBuf::from(d), false)));
        all.push((PathBuf::from("/proc"), false));
        all.sort();
        all.dedup_by(|b, a| a.0 == b.0);
        let mut binds = Vec::new();
        for (path, writable) in all {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if path == Path::new("/") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a grant of the whole root `/` cannot be bound into the sandbox's view; grant the folders the program needs",
                ));
            }
            binds.push(Bind {
                parents: parents(&path)?,
                source: cstring(&path)?,
                path: cstring(&path)?,
                dir: meta.is_dir(),
                writable,
            });
        }
        let mut dirs = Vec::new();
        for m in mount_points {
            dirs.extend(parents(m)?);
            dirs.push(cstring(m)?);
        }
        let mut links = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/") {
            for e in entries.flatten() {
                if let Ok(target) = std::fs::read_link(e.path()) {
                    links.push((cstring(&target)?, cstring(&e.path())?));
                }
            }
        }
        links.sort();
        let cwd = std::env::current_dir()
            .ok()
            .map(|c| cstring(&c))
            .transpose()?;
        Ok(View {
            binds,
            dirs,
            links,
            cwd,
        })
    }

    /// Also show the host file `source` at `guest`, read-only (for example the egress
    /// supervisor's stub `resolv.conf` at `/etc/resolv.conf`), in place of anything a grant
    /// binds there.
    pub fn bind_file(&mut self, source: &Path, guest: &Path) -> io::Result<()> {
        let path = cstring(guest)?;
        self.binds.retain(|b| b.path != path);
        self.binds.push(Bind {
            parents: parents(guest)?,
            source: cstring(source)?,
            path,
            dir: false,
            writable: false,
        });
        Ok(())
    }

    /// Build the view and make it the root (in the child, inside a private mount
    /// namespace); the working folder stays the same when the view holds it, else `/`.
    pub fn enter(&self) -> io::Result<()> {
        let mut trees = Vec::with_capacity(self.binds.len());
        for b in &self.binds {
            let tree = match mounts::clone_tree(&b.source) {
                Ok(t) => t,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(ctx(e, "copy a granted mount", &b.path)),
            };
            if !b.writable {
                mounts::set_read_only(&tree).map_err(|e| ctx(e, "make read-only", &b.path))?;
            }
            trees.push((b, tree));
        }
        let nosuid = libc::MS_NOSUID | libc::MS_NODEV;
        mounts::tmpfs(c"/tmp", nosuid, c"mode=0755")
            .map_err(|e| ctx(e, "mount the new root", c"/tmp"))?;
        mounts::chdir(c"/tmp")?;
        mounts::pivot_to_cwd().map_err(|e| io::Error::new(e.kind(), format!("pivot_root: {e}")))?;
        for (dir, mode, opts) in [
            (c"/tmp", 0o1777, c"mode=1777"),
            (c"/run", 0o755, c"mode=0755"),
            (c"/dev", 0o755, c"mode=0755"),
        ] {
            mounts::mkdir(dir, mode)?;
            mounts::tmpfs(dir, nosuid, opts).map_err(|e| ctx(e, "mount a private", dir))?;
        }
        mounts::mkdir(c"/dev/shm", 0o1777)?;
        mounts::tmpfs(c"/dev/shm", nosuid | libc::MS_NOEXEC, c"mode=1777")
            .map_err(|e| ctx(e, "mount a private", c"/dev/shm"))?;
        for (target, link) in [
            (c"/proc/self/fd", c"/dev/fd"),
            (c"/proc/self/fd/0", c"/dev/stdin"),
            (c"/proc/self/fd/1", c"/dev/stdout"),
            (c"/proc/self/fd/2", c"/dev/stderr"),
        ] {
            mounts::symlink(target, link)?;
        }
        for (b, tree) in &trees {
            for p in &b.parents {
                mounts::mkdir(p, 0o755).map_err(|e| ctx(e, "create", p))?;
            }
            if b.dir {
                mounts::mkdir(&b.path, 0o755)
            } else {
                mounts::touch(&b.path)
            }
            .map_err(|e| ctx(e, "create the mount point", &b.path))?;
            mounts::attach(tree, &b.path).map_err(|e| ctx(e, "bind", &b.path))?;
        }
        for d in &self.dirs {
            mounts::mkdir(d, 0o755).map_err(|e| ctx(e, "create", d))?;
        }
        for (target, link) in &self.links {
            mounts::symlink(target, link).map_err(|e| ctx(e, "link", link))?;
        }
        match &self.cwd {
            Some(c) if mounts::chdir(c).is_ok() => Ok(()),
            _ => mounts::chdir(c"/"),
        }
    }
}

fn ctx(e: io::Error, what: &str, path: &std::ffi::CStr) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} `{}`: {e}", path.to_string_lossy()),
    )
}
