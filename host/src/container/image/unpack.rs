//! One layer's tar stream applied over the tree the earlier layers made.
//!
//! - Every entry's path is taken relative to the root: an absolute path or a `..`
//!   component is refused, as is a hard link whose target is.
//! - No symbolic link is followed while unpacking: every folder on the way to an entry must
//!   be a real folder (`lstat`), so a layer holding `a -> /etc` and then `a/x` (or a later
//!   layer writing `a/x`) is refused; an entry replaces whatever was at its path (a
//!   symbolic link is replaced, never written through); files are created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`. The tree is a private folder only policyc writes to,
//!   so nothing changes it between the check and the use.
//! - Whiteouts: `.wh.NAME` removes `NAME` as the lower layers left it; `.wh..wh..opq`
//!   removes everything the lower layers left in its folder. What the same layer creates
//!   stays.
//! - Device nodes and FIFOs are not created; they are reported. Other entry types (sparse
//!   files, unknown types) are refused.
//! - Modes are kept without the set-user-ID and set-group-ID bits (folders also get the
//!   owner's `rwx`, so later layers can write into them); when policyc runs as root, owners
//!   are kept too.

use super::ImageError;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

/// The whiteout prefix and the opaque-folder marker.
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Apply every entry of `archive` over `root`; `layer` names the layer in errors.
pub(super) fn layer<R: Read>(
    archive: &mut tar::Archive<R>,
    root: &Path,
    layer: &str,
    skipped: &mut Vec<String>,
) -> Result<(), ImageError> {
    let mut state = Layer {
        root,
        name: layer,
        created: HashSet::new(),
    };
    let entries = archive.entries().map_err(|e| state.read_err(e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| state.read_err(e))?;
        let raw = entry.path().map_err(|e| state.read_err(e))?.into_owned();
        let rel = state.clean(&raw)?;
        if let Some(skip) = state.entry(&mut entry, &rel)? {
            skipped.push(skip);
        }
    }
    Ok(())
}

/// One layer being applied: the paths it created (which its own whiteouts leave alone).
struct Layer<'a> {
    root: &'a Path,
    name: &'a str,
    created: HashSet<PathBuf>,
}

impl Layer<'_> {
    /// Apply one entry at `rel`; the entry's description when it is skipped.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
    ) -> Result<Option<String>, ImageError> {
        let Some(file_name) = rel.file_name() else {
            // The root itself (`./`): nothing to create.
            return Ok(None);
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        if let Some(hidden) = file_name.as_bytes().strip_prefix(WHITEOUT.as_bytes()) {
            self.real_folders(parent, false)?;
            if file_name.as_bytes() == OPAQUE.as_bytes() {
                return self.opaque(parent).map(|()| None);
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(self.refuse(rel, "a whiteout that names no entry"));
            }
            let target = parent.join(OsStr::from_bytes(hidden));
            if !self.created.contains(&target) {
                remove(&self.root.join(&target)).map_err(|e| self.io(rel, e))?;
            }
            return Ok(None);
        }
        let kind = entry.header().entry_type();
        let skipped = match kind {
            EntryType::Char => Some("character device"),
            EntryType::Block => Some("block device"),
            EntryType::Fifo => Some("FIFO"),
            _ => None,
        };
        if let Some(what) = skipped {
            return Ok(Some(format!("/{} ({what})", rel.display())));
        }
        self.real_folders(parent, true)?;
        let full = self.root.join(rel);
        // Read only for folders and files: a link's mode means nothing, and tar writers
        // may leave it empty.
        let mode = |e: &tar::Entry<'_, R>| e.header().mode().map(|m| m & 0o1777);
        match kind {
            EntryType::Directory => {
                if !is_real_dir(&full) {
                    remove(&full).map_err(|e| self.io(rel, e))?;
                    fs::create_dir(&full).map_err(|e| self.io(rel, e))?;
                }
                let mode = mode(entry).map_err(|e| self.io(rel, e))?;
                fs::set_permissions(&full, Permissions::from_mode(mode | 0o700))
                    .map_err(|e| self.io(rel, e))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let mode = mode(entry).map_err(|e| self.io(rel, e))?;
                remove(&full).map_err(|e| self.io(rel, e))?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(|e| self.io(rel, e))?;
                io::copy(entry, &mut file).map_err(|e| self.read_err(e))?;
                file.set_permissions(Permissions::from_mode(mode))
                    .map_err(|e| self.io(rel, e))?;
            }
            EntryType::Symlink => {
                let target = self.link_name(entry, rel)?;
                remove(&full).map_err(|e| self.io(rel, e))?;
                std::os::unix::fs::symlink(&target, &full).map_err(|e| self.io(rel, e))?;
            }
            EntryType::Link => {
                let target = self.link_name(entry, rel)?;
                let target = self.clean(&target)?;
                self.real_folders(target.parent().unwrap_or(Path::new("")), false)?;
                remove(&full).map_err(|e| self.io(rel, e))?;
                fs::hard_link(self.root.join(&target), &full).map_err(|e| self.io(rel, e))?;
            }
            other => {
                return Err(self.refuse(rel, &format!("unsupported entry type {other:?}")));
            }
        }
        if kind != EntryType::Link {
            self.chown(entry, &full, rel)?;
        }
        self.created.insert(rel.to_path_buf());
        Ok(None)
    }

    /// `path` relative to the root, or a refusal when it is absolute or climbs out.
    fn clean(&self, path: &Path) -> Result<PathBuf, ImageError> {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(part) => out.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.refuse(path, "a `..` component escapes the root"))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.refuse(path, "an absolute path escapes the root"))
                }
            }
        }
        Ok(out)
    }

    /// Check that each folder from the root down to `dir` is a real folder, never a
    /// symbolic link; with `create`, make the missing ones (mode 755).
    fn real_folders(&mut self, dir: &Path, create: bool) -> Result<(), ImageError> {
        let mut at = PathBuf::new();
        for part in dir.components() {
            at.push(part);
            let full = self.root.join(&at);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(
                        dir,
                        &format!(
                            "`/{}` is a symbolic link, and unpacking never follows one",
                            at.display()
                        ),
                    ))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.refuse(dir, &format!("`/{}` is not a folder", at.display())))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&full).map_err(|e| self.io(&at, e))?;
                    fs::set_permissions(&full, Permissions::from_mode(0o755))
                        .map_err(|e| self.io(&at, e))?;
                    self.created.insert(at.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(self.io(&at, e)),
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `dir`: remove what the lower layers left in it (recursively
    /// inside folders this layer also made).
    fn opaque(&self, dir: &Path) -> Result<(), ImageError> {
        let full = self.root.join(dir);
        if !is_real_dir(&full) {
            return Ok(());
        }
        let children = fs::read_dir(&full).map_err(|e| self.io(dir, e))?;
        for child in children {
            let child = child.map_err(|e| self.io(dir, e))?;
            let rel = dir.join(child.file_name());
            if !self.created.contains(&rel) {
                remove(&child.path()).map_err(|e| self.io(&rel, e))?;
            } else if is_real_dir(&child.path()) {
                self.opaque(&rel)?;
            }
        }
        Ok(())
    }

    /// A link entry's target.
    fn link_name<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        rel: &Path,
    ) -> Result<PathBuf, ImageError> {
        match entry.link_name() {
            Ok(Some(target)) => Ok(target.into_owned()),
            Ok(None) => Err(self.refuse(rel, "a link without a target")),
            Err(e) => Err(self.read_err(e)),
        }
    }

    /// Keep the entry's owner when policyc is root (it cannot give files away otherwise).
    fn chown<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        full: &Path,
        rel: &Path,
    ) -> Result<(), ImageError> {
        if crate::sys::euid() != 0 {
            return Ok(());
        }
        let h = entry.header();
        let id = |v: io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok());
        let (uid, gid) = (id(h.uid()), id(h.gid()));
        std::os::unix::fs::lchown(full, uid, gid).map_err(|e| self.io(rel, e))
    }

    fn refuse(&self, entry: &Path, why: &str) -> ImageError {
        ImageError::Entry {
            layer: self.name.to_string(),
            entry: entry.display().to_string(),
            why: why.to_string(),
        }
    }

    fn io(&self, entry: &Path, err: io::Error) -> ImageError {
        self.refuse(entry, &err.to_string())
    }

    fn read_err(&self, err: io::Error) -> ImageError {
        ImageError::Blob {
            digest: self.name.to_string(),
            why: format!("not a readable tar stream: {err}"),
        }
    }
}

/// Whether `path` is a folder itself (not a symbolic link to one).
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Remove whatever is at `path` (a folder with its content; a symbolic link, not what it
/// points to); nothing there is fine.
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
