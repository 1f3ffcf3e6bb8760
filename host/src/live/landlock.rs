//! The Landlock layer: the emitted `landlock.json` applied by this kernel in a forked child
//! (see `landlock_child`), which opens, executes and connects.
//!
//! - Paths: `~` paths are fixture objects; other paths are host paths. The policy's scratch
//!   areas and tmpfs get a private tmpfs in the child's own mount namespace (as `policyc
//!   exec` mounts them), and the files requests name there are made before the ruleset
//!   applies. Host paths outside the fixture are only opened when they exist: a read opens
//!   them, a write opens an existing regular file without truncating it, and nothing is
//!   executed or created there; anything else is unverifiable.
//! - Read: `open(O_RDONLY)`. Write: `open(O_WRONLY)` on a file, creating a new file in a
//!   directory. Exec: `execve` of a fixture file the kernel cannot execute: `ENOEXEC` means
//!   Landlock allowed it, `EACCES` that it refused.
//! - Connect: `connect()` to 127.0.0.1 on the request's port, in a fresh network namespace:
//!   `EACCES` is Landlock's refusal; any other outcome means Landlock let the port through,
//!   and since it cannot see the host that is not mediated.
//! - Rule paths that cannot be attached here (missing, or through a symlink) are left out
//!   of the ruleset (which only narrows it) and named in the notes; requests beneath them
//!   are unverifiable.

use super::fixture::Fixture;
use super::landlock_child::{self as child, Attempt, Raw, Setup};
use super::{errno, LayerStatus, LiveLayer, LiveRun, Seen};
use crate::landlock as kernel_landlock;
use crate::sys;
use policyc_compiler::ast::Access;
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_targets::landlock::{self, Ruleset};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// What the parent plans for one request.
enum Step {
    Known(Seen),
    Probe(Attempt),
}

/// What planning needs.
struct Ctx<'a> {
    fixture: &'a Fixture,
    /// Private tmpfs areas (empty without isolation).
    areas: Vec<PathBuf>,
    /// Rule paths left out, and why.
    dropped: Vec<(PathBuf, String)>,
    /// Every host path a filesystem request names.
    named: Vec<PathBuf>,
}

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let bytes = match layer.artifact(landlock::FILE) {
        Ok(b) => b,
        Err(failed) => return failed,
    };
    let rs = match landlock::parse(bytes) {
        Ok(rs) => rs,
        Err(e) => return layer.not_run(LayerStatus::Failed(e.to_string())),
    };
    if kernel_landlock::kernel_abi() == 0 {
        return layer.not_run(LayerStatus::Unavailable(
            "this kernel has no Landlock".to_string(),
        ));
    }
    let gaps: Vec<String> = kernel_landlock::unenforced(&rs)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !gaps.is_empty() {
        let why = format!("this kernel cannot enforce {}", gaps.join("; "));
        return layer.not_run(LayerStatus::Unavailable(why));
    }
    let isolate = sys::euid() == 0;
    let areas = if isolate {
        areas(layer.policy)
    } else {
        Vec::new()
    };
    let (ruleset, dropped) = attachable(rs, &areas, layer.fixture);
    let ctx = Ctx {
        fixture: layer.fixture,
        areas,
        dropped,
        named: named(layer.fixture, layer.requests),
    };
    let mut notes: Vec<String> = ctx.dropped.iter().map(|(_, why)| why.clone()).collect();
    if !isolate {
        notes.push("not root: no private namespaces, so scratch areas and tmpfs are not mounted and connects go to this host's loopback".to_string());
    }
    probe_all(layer, &ctx, ruleset, isolate, notes)
}

fn probe_all(
    layer: &LiveLayer<'_>,
    ctx: &Ctx<'_>,
    ruleset: Ruleset,
    isolate: bool,
    notes: Vec<String>,
) -> LiveRun {
    let mut setup = Setup {
        isolate,
        areas: ctx.areas.iter().filter_map(|a| cstring(a)).collect(),
        dirs: Vec::new(),
        files: Vec::new(),
        ruleset,
    };
    let steps: Vec<Step> = layer
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| plan(ctx, &mut setup, i, r))
        .collect();
    let probes: Vec<(usize, Attempt)> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Step::Probe(p) => Some((i, p.clone())),
            Step::Known(_) => None,
        })
        .collect();
    let ran = if probes.is_empty() {
        Ok(Default::default())
    } else {
        child::run(&setup, &probes)
    };
    let results = match ran {
        Ok(r) => r,
        Err(why) => {
            let why = layer.fixture.hide(&why);
            return layer.not_run(LayerStatus::Failed(why));
        }
    };
    let seen = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| match s {
            Step::Known(seen) => seen,
            Step::Probe(p) => interpret(&p, results.get(&i)),
        })
        .collect();
    LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, notes)
}

/// Scratch areas and tmpfs at absolute paths that exist here (a private tmpfs goes on
/// each).
fn areas(policy: &Policy) -> Vec<PathBuf> {
    policy
        .fs
        .mounts
        .iter()
        .filter(|m| m.host().is_none() && !m.guest.is_home())
        .map(|m| PathBuf::from(m.guest.as_str()))
        .filter(|p| p.is_dir())
        .collect()
}

/// The ruleset without the rules whose paths cannot be attached here.
fn attachable(
    mut rs: Ruleset,
    areas: &[PathBuf],
    fixture: &Fixture,
) -> (Ruleset, Vec<(PathBuf, String)>) {
    let mut dropped = Vec::new();
    rs.paths.retain(|rule| {
        let p = PathBuf::from(rule.path.as_str());
        if areas.contains(&p) {
            return true;
        }
        match kernel_landlock::open_rule_path(&p) {
            Ok(_) => true,
            Err(e) => {
                let why = format!("rule path `{}` left out: {}", rule.path, e);
                dropped.push((p, fixture.hide(&why)));
                false
            }
        }
    });
    (rs, dropped)
}

fn named(fixture: &Fixture, requests: &[Request]) -> Vec<PathBuf> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::Fs { path, .. } => Some(host_path(fixture, path)),
            _ => None,
        })
        .collect()
}

fn host_path(fixture: &Fixture, path: &CanonPath) -> PathBuf {
    fixture
        .host(path)
        .unwrap_or_else(|| PathBuf::from(path.as_str()))
}

fn cstring(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

fn plan(ctx: &Ctx<'_>, setup: &mut Setup, i: usize, r: &Request) -> Step {
    match r {
        Request::Fs { access, path } => plan_fs(ctx, setup, i, *access, path),
        Request::Connect { port, .. } => Step::Probe(Attempt::Connect { port: *port }),
        Request::Resolve { .. } => Step::Known(Seen::not_mediated(
            "Landlock does not see name resolution (UDP)",
        )),
        Request::Syscall { .. } => {
            Step::Known(Seen::not_mediated("Landlock does not see syscalls"))
        }
        Request::Meta { .. } => Step::Known(Seen::unverifiable(
            "Landlock does not mediate metadata; the read-only mounts of `policyc exec` do, which its live tests check",
        )),
    }
}

fn plan_fs(ctx: &Ctx<'_>, setup: &mut Setup, i: usize, access: Access, path: &CanonPath) -> Step {
    let host = host_path(ctx.fixture, path);
    if let Some((_, why)) = ctx.dropped.iter().find(|(p, _)| host.starts_with(p)) {
        return Step::Known(Seen::unverifiable(why.clone()));
    }
    let in_area = ctx.areas.iter().any(|a| host.starts_with(a));
    let ours = if in_area {
        let dir = ctx.areas.contains(&host)
            || ctx.named.iter().any(|n| n != &host && n.starts_with(&host));
        if dir {
            setup.dirs.push(host.clone());
        } else {
            setup.files.push(host.clone());
        }
        Some(dir)
    } else if ctx.fixture.contains(&host) {
        ctx.fixture.object(&host).map(|o| o.dir)
    } else {
        None
    };
    match ours {
        Some(dir) => ours_step(access, host, dir, i),
        None => outside_step(access, host, path),
    }
}

/// A fixture object or a file in a private area.
fn ours_step(access: Access, host: PathBuf, dir: bool, i: usize) -> Step {
    match (access, dir) {
        (Access::Read, _) => Step::Probe(Attempt::Open {
            path: host,
            write: false,
        }),
        (Access::Write, false) => Step::Probe(Attempt::Open {
            path: host,
            write: true,
        }),
        (Access::Write, true) => Step::Probe(Attempt::Create {
            path: host.join(format!(".policyc-probe-{i}")),
        }),
        (Access::Exec, true) => Step::Known(Seen::unverifiable("a directory cannot be executed")),
        (Access::Exec, false) => match cstring(&host) {
            Some(path) => Step::Probe(Attempt::Exec { path }),
            None => Step::Known(Seen::unverifiable("the path holds a NUL byte")),
        },
    }
}

/// A host path outside the fixture: opened only when it exists, never created or executed.
fn outside_step(access: Access, host: PathBuf, path: &CanonPath) -> Step {
    // The kernel checks the object a path resolves to; policies, the reference semantics
    // and the simulators read paths lexically (`/bin` is not `/usr/bin` to them, even where
    // it is a symbolic link to it). Such a path says nothing about the ruleset.
    if let Some(link) = through_symlink(&host) {
        return Step::Known(Seen::unverifiable(format!(
            "`{path}` passes through the symbolic link `{}`; policies name paths lexically, the kernel checks what they resolve to",
            link.display()
        )));
    }
    let Ok(meta) = std::fs::metadata(&host) else {
        return Step::Known(Seen::unverifiable(format!(
            "`{path}` does not exist here, and probes create files only in the fixture"
        )));
    };
    let kind = (meta.is_dir(), meta.is_file());
    match (access, kind) {
        (_, (false, false)) => Step::Known(Seen::unverifiable(format!(
            "`{path}` is not a regular file or directory; it is not opened"
        ))),
        (Access::Read, _) => Step::Probe(Attempt::Open {
            path: host,
            write: false,
        }),
        (Access::Write, (false, true)) => Step::Probe(Attempt::Open {
            path: host,
            write: true,
        }),
        (Access::Write, _) => Step::Known(Seen::unverifiable(format!(
            "`{path}` is a directory outside the fixture: probing a write would create a file in it"
        ))),
        (Access::Exec, _) => Step::Known(Seen::unverifiable(format!(
            "`{path}` is outside the fixture: only fixture files are executed"
        ))),
    }
}

/// The first component of `host` (itself included) that is a symbolic link.
fn through_symlink(host: &std::path::Path) -> Option<PathBuf> {
    host.ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|a| std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()))
        .map(std::path::Path::to_path_buf)
}

fn interpret(p: &Attempt, raw: Option<&Raw>) -> Seen {
    let Some(raw) = raw else {
        return Seen::unverifiable("the probe gave no answer");
    };
    match (p, raw) {
        (Attempt::Connect { port }, Raw::Err(libc::EACCES)) => {
            Seen::deny(format!("connect to port {port}: EACCES"))
        }
        (Attempt::Connect { port }, Raw::Err(e)) => Seen::not_mediated(format!(
            "Landlock let the connect to port {port} through ({}); it cannot see the host",
            errno::name(*e)
        )),
        (Attempt::Connect { port }, _) => Seen::not_mediated(format!(
            "Landlock let the connect to port {port} through (it connected); it cannot see the host"
        )),
        (Attempt::Exec { .. }, Raw::Err(libc::ENOEXEC)) => {
            Seen::allow("execve failed with ENOEXEC: the kernel let it execute")
        }
        (Attempt::Exec { .. }, Raw::Ran) => {
            Seen::unverifiable("the file ran: it was not the fixture's")
        }
        (Attempt::Create { .. }, Raw::Ok) => Seen::allow("created a file in it"),
        (_, Raw::Ok) => Seen::allow("opened"),
        (_, Raw::Err(e)) if errno::is_refusal(*e) => Seen::deny(errno::name(*e)),
        (_, Raw::Err(e)) => {
            Seen::unverifiable(format!("{}: neither allowed nor refused", errno::name(*e)))
        }
        (_, Raw::Ran) => Seen::unverifiable("unexpected probe result"),
    }
}
