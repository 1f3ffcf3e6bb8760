//! `audit { writes }`: every file and folder the sandboxed program creates, modifies,
//! deletes or renames under its write grants, seen with fanotify.
//!
//! Before the fork, the launcher creates a fanotify group that reports folder handles and
//! names, and marks the whole file system of each write grant ([`Watcher::new`]). A mark
//! on a file system sees every process's writes, so each event is attributed by the
//! process that caused it: the program itself (its pid, which cannot be reused before the
//! launcher reaps it), or a process whose mount namespace is the sandbox's (every process
//! the program starts stays in it; the sandbox has no capability to leave it). Writes by
//! any other process, in the same folders, are not the program's and are left out; an
//! event whose process ended before the launcher read it cannot be attributed and is only
//! counted ([`Summary::unattributed`]).
//!
//! Events are coalesced: one [`Write`] per (path, kind), with how many events the kernel
//! reported (it merges repeats of an event still queued).

use crate::sys::fanotify::{self, Event, Handle, Role};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Create,
    Modify,
    Rename,
    Delete,
}

impl Kind {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Modify => "modify",
            Kind::Rename => "rename",
            Kind::Delete => "delete",
        }
    }
}

/// One path's writes of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub kind: Kind,
    /// The path written (for a rename, the new path).
    pub path: PathBuf,
    /// A rename's old path.
    pub from: Option<PathBuf>,
    /// A folder, not a file.
    pub folder: bool,
    /// How many events were reported.
    pub count: u64,
}

/// Everything the program wrote under the watched paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sorted by path, then kind.
    pub writes: Vec<Write>,
    /// Events under the watched paths whose process had ended, unseen, before they were read.
    pub unattributed: u64,
    /// The kernel's queue overflowed: events were lost.
    pub overflowed: bool,
}

/// A fanotify group with its marks, before the program starts.
#[derive(Debug)]
pub struct Watcher {
    group: OwnedFd,
    roots: Vec<PathBuf>,
    /// A reference into each marked file system, by fanotify's id for it.
    mounts: Vec<([i32; 2], OwnedFd)>,
}

impl Watcher {
    /// Mark the file system of each of `roots` (the write grants). `EPERM` without
    /// `CAP_SYS_ADMIN`.
    pub fn new(roots: &[PathBuf]) -> io::Result<Watcher> {
        let group = fanotify::init()?;
        let mut mounts: Vec<([i32; 2], OwnedFd)> = Vec::new();
        for root in roots {
            let c = CString::new(root.as_os_str().as_bytes())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let fd = fanotify::open_path(&c)?;
            let id = fanotify::fsid(&fd)?;
            if mounts.iter().all(|(m, _)| *m != id) {
                fanotify::mark_filesystem(&group, &c, fanotify::WRITE_EVENTS)?;
                mounts.push((id, fd));
            }
        }
        Ok(Watcher {
            group,
            roots: roots.to_vec(),
            mounts,
        })
    }

    /// Start reading events for the program `pid` (already started; its earlier events
    /// wait in the queue).
    pub fn attach(self, pid: u32) -> io::Result<Watching> {
        // A program that already exited has no namespace left; its own events are still
        // its own.
        // A sandbox sharing the launcher's namespace would make every host process its own:
        // then only the program's pid counts.
        let own = mount_ns(std::process::id()).ok();
        let sandbox = mount_ns(pid).ok().filter(|ns| Some(ns) != own.as_ref());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        // Closing the write end wakes the reading thread as soon as the program ended.
        let (wake, waker) = crate::sys::pipe()?;
        let thread = std::thread::Builder::new()
            .name("policyc-writes".into())
            .spawn(move || {
                let mut state = State {
                    watcher: self,
                    pid,
                    sandbox,
                    seen: BTreeMap::new(),
                    summary: Summary::default(),
                };
                state.run(&flag, &wake);
                state.finish()
            })?;
        Ok(Watching {
            stop,
            waker: Some(waker),
            thread: Some(thread),
        })
    }
}

/// The reading thread.
#[derive(Debug)]
pub struct Watching {
    stop: Arc<AtomicBool>,
    /// Dropped to wake the reading thread.
    waker: Option<OwnedFd>,
    thread: Option<JoinHandle<Summary>>,
}

impl Watching {
    /// Read what is still queued (call after the program exited, before reaping it), and
    /// return what was written.
    pub fn finish(mut self) -> Summary {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.waker.take());
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.waker.take());
    }
}

/// `/proc/PID/ns/mnt`'s target (`mnt:[N]`).
fn mount_ns(pid: u32) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
}

type Key = (PathBuf, Kind, Option<PathBuf>);

struct State {
    watcher: Watcher,
    pid: u32,
    sandbox: Option<PathBuf>,
    seen: BTreeMap<Key, (bool, u64)>,
    summary: Summary,
}

/// Whose event it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    Sandbox,
    Other,
    Gone,
}

impl State {
    /// Read events until `stop` is set (and `wake` closed) and the queue is empty.
    fn run(&mut self, stop: &AtomicBool, wake: &OwnedFd) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            let ready = crate::sys::poll_either(
                self.watcher.group.as_fd(),
                wake.as_fd(),
                Duration::from_millis(if stopping { 0 } else { 1000 }),
            );
            match ready {
                Ok((true, _)) => {}
                Ok((false, _)) if stopping => return,
                Ok((false, _)) => continue,
                Err(_) => return,
            }
            match fanotify::read(&self.watcher.group, &mut buf) {
                Ok(0) if stopping => return,
                Ok(n) => {
                    for e in fanotify::parse(buf.get(..n).unwrap_or_default()) {
                        self.event(&e);
                    }
                }
                Err(_) => return,
            }
        }
    }

    fn whose(&self, pid: i32) -> Whose {
        if u32::try_from(pid).is_ok_and(|p| p == self.pid) {
            return Whose::Sandbox;
        }
        match u32::try_from(pid).map(mount_ns) {
            Ok(Ok(ns)) if Some(&ns) == self.sandbox.as_ref() => Whose::Sandbox,
            Ok(Ok(_)) => Whose::Other,
            _ => Whose::Gone,
        }
    }

    fn event(&mut self, e: &Event) {
        if e.mask & libc::FAN_Q_OVERFLOW != 0 {
            self.summary.overflowed = true;
            return;
        }
        let whose = self.whose(e.pid);
        if whose == Whose::Other {
            return;
        }
        let folder = e.mask & libc::FAN_ONDIR != 0;
        let path_of = |role: Role| {
            e.names
                .iter()
                .find(|n| n.role == role)
                .and_then(|n| self.resolve(&n.dir).map(|d| d.join(&n.name)))
        };
        let mut found = Vec::new();
        if e.mask & libc::FAN_RENAME != 0 {
            if let (Some(from), Some(to)) = (path_of(Role::Old), path_of(Role::New)) {
                found.push((to, Kind::Rename, Some(from)));
            }
        }
        if let Some(p) = path_of(Role::Entry) {
            for (bit, kind) in [
                (libc::FAN_CREATE, Kind::Create),
                (libc::FAN_MODIFY, Kind::Modify),
                (libc::FAN_DELETE, Kind::Delete),
            ] {
                if e.mask & bit != 0 {
                    found.push((p.clone(), kind, None));
                }
            }
        }
        for (path, kind, from) in found {
            let watched = self.watched(&path) || from.as_deref().is_some_and(|f| self.watched(f));
            if !watched {
                continue;
            }
            if whose == Whose::Gone {
                self.summary.unattributed = self.summary.unattributed.saturating_add(1);
                continue;
            }
            let entry = self.seen.entry((path, kind, from)).or_insert((folder, 0));
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// Under a write grant.
    fn watched(&self, path: &Path) -> bool {
        self.watcher.roots.iter().any(|r| path.starts_with(r))
    }

    /// The folder a handle names, as this process sees it.
    fn resolve(&self, h: &Handle) -> Option<PathBuf> {
        let (_, mount) = self.watcher.mounts.iter().find(|(id, _)| *id == h.fsid)?;
        fanotify::path_of(mount, h).ok()
    }

    fn finish(self) -> Summary {
        let State {
            watcher,
            seen,
            mut summary,
            ..
        } = self;
        // The group's last close waits for the kernel to free its marks; the end of the
        // run must not.
        fanotify::close_in_background(watcher.group);
        summary.writes = seen
            .into_iter()
            .map(|((path, kind, from), (folder, count))| Write {
                kind,
                path,
                from,
                folder,
                count,
            })
            .collect();
        summary
    }
}
