//! Run a WebAssembly module under wasmtime-wasi with exactly what a policyc `wasi.json`
//! grants, and nothing else.
//!
//! ```no_run
//! # fn main() -> Result<(), policyc_host::wasm::Error> {
//! use policyc_host::wasm::{run_json, Options};
//! let manifest = std::fs::read("out/wasi.json").unwrap_or_default();
//! let module = std::fs::read("agent.wasm").unwrap_or_default();
//! let outcome = run_json(&manifest, &module, &Options::with_args(["agent.wasm", "--fast"]))?;
//! assert!(outcome.status.success());
//! # Ok(()) }
//! ```
//!
//! What the module gets (a WASI preview 1 core module, run through wasmtime-wasi's `p1`
//! adapter):
//! - **Preopens**: exactly the manifest's, in its order (guest-path order), so the module
//!   sees them as descriptors 3, 4, ... Host directories are opened with
//!   `FsPerms::ReadOnly` or `FsPerms::ReadWrite` as the manifest says; wasmtime-wasi carries
//!   the permission to every directory and file opened beneath them, and cap-std refuses
//!   `..`, absolute paths and symlinks that leave the preopen. A host directory must exist,
//!   be a directory, and be its own canonical path (no symlink anywhere on it), or the run
//!   is refused; the check runs just before wasmtime-wasi opens the path, so whoever can
//!   swap the path's parents in between is trusted. `scratch` and `tmpfs` preopens are fresh directories made for the run
//!   (`tmpfs` under `/dev/shm` when it exists) and deleted after it.
//! - **Environment**: the manifest's `env` (empty from policyc). Arguments: [`Options::args`].
//! - **Network**: none unless granted. A preview 1 module has no sockets at all, so this
//!   matters only for hosts that also run preview 2 components with the same context: the
//!   socket check ([`socket_allowed`]) admits a TCP connect to the egress proxy
//!   ([`Options::proxy`]) when some allow rule goes through it, and direct connects only to
//!   IP literals that a `direct` allow rule names (host names cannot be checked at the
//!   socket level); the implicit wildcard bind a connect makes is allowed, and explicit binds,
//!   listening, accepting and UDP never are. Name lookup is on only for `dns any`.
//! - **Memory**: `limits.memory` caps each linear memory.
//! - **Stdio**: stdin is closed; stdout and stderr are captured (up to
//!   [`Options::capture_limit`] bytes each), inherited or discarded.
//!
//! The runtime is behind policyc-host's default `wasm` feature (wasmtime is a large build); without
//! it, [`run`] returns [`Error::RuntimeUnavailable`] and only the pure parts remain.

#[cfg(feature = "wasm")]
mod runtime;

pub use policyc_targets::wasi::{parse, Manifest, Perms, Preopen, Source};

use policyc_compiler::ast::EgressVia;
use policyc_compiler::hosts::Host;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Why a module could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] policyc_targets::wasi::Error),
    #[error("preopen host directory `{path}`: {why}")]
    HostDir { path: String, why: String },
    #[error("cannot make a fresh directory for `{guest}`: {source}")]
    FreshDir {
        guest: String,
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the module cannot be loaded: {0}")]
    Module(String),
    #[error("the WASI host could not be set up: {0}")]
    Setup(String),
    #[error("policyc was built without the `wasm` feature (wasmtime)")]
    RuntimeUnavailable,
}

/// Where the module's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// Kept in memory and returned in [`Output`].
    #[default]
    Capture,
    /// The host process's own stream.
    Inherit,
    /// Nowhere.
    Discard,
}

/// How to run the module.
#[derive(Debug, Clone)]
pub struct Options {
    /// The module's arguments, `argv[0]` included.
    pub args: Vec<String>,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// Bytes kept of each captured stream.
    pub capture_limit: usize,
    /// The egress proxy's address, the one place `proxy` rules let the module connect to.
    pub proxy: Option<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: Vec::new(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            capture_limit: 1 << 20,
            proxy: None,
        }
    }
}

impl Options {
    /// Default options with these arguments.
    pub fn with_args<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Self {
        Options {
            args: args.into_iter().map(Into::into).collect(),
            ..Options::default()
        }
    }
}

/// How the module ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// `_start` returned (0) or the module called `proc_exit`.
    Exited(i32),
    /// A trap or a host error ended it.
    Trapped(String),
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }
}

/// What a run produced: how the module ended and what it wrote (as `std::process::Output`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: ExitStatus,
    /// Captured stdout (empty unless [`Stdio::Capture`]).
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A preopen ready to hand to the runtime.
#[derive(Debug)]
pub struct ReadyPreopen {
    pub host: PathBuf,
    pub guest: String,
    pub perms: Perms,
}

/// The manifest's preopens with their host directories checked and fresh ones made. The
/// fresh directories are deleted when this is dropped.
#[derive(Debug)]
pub struct Prepared {
    pub preopens: Vec<ReadyPreopen>,
    _fresh: Vec<tempfile::TempDir>,
}

/// Check every host directory and make the fresh ones, in the manifest's order.
pub fn prepare(m: &Manifest) -> Result<Prepared, Error> {
    let mut preopens = Vec::new();
    let mut fresh = Vec::new();
    for p in &m.preopens {
        let host = match &p.source {
            Source::Host(h) => checked_host_dir(Path::new(h.as_str()))?,
            Source::Scratch { .. } | Source::Tmpfs { .. } => {
                let dir =
                    fresh_dir(matches!(p.source, Source::Tmpfs { .. })).map_err(|source| {
                        Error::FreshDir {
                            guest: p.guest.to_string(),
                            source,
                        }
                    })?;
                let path = dir.path().to_path_buf();
                fresh.push(dir);
                path
            }
        };
        preopens.push(ReadyPreopen {
            host,
            guest: p.guest.to_string(),
            perms: p.perms,
        });
    }
    Ok(Prepared {
        preopens,
        _fresh: fresh,
    })
}

fn checked_host_dir(path: &Path) -> Result<PathBuf, Error> {
    let fail = |why: String| Error::HostDir {
        path: path.display().to_string(),
        why,
    };
    let real = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
    if real != path {
        return Err(fail(format!(
            "it is or passes through a symlink (it resolves to `{}`); write the real path in the policy",
            real.display()
        )));
    }
    if !real.is_dir() {
        return Err(fail("not a directory".to_string()));
    }
    Ok(real)
}

fn fresh_dir(tmpfs: bool) -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let b = {
        let mut b = tempfile::Builder::new();
        b.prefix("policyc-wasi-");
        b
    };
    if tmpfs && shm.is_dir() {
        if let Ok(d) = b.tempdir_in(shm) {
            return Ok(d);
        }
    }
    b.tempdir()
}

/// What a socket address is used for (wasmtime-wasi's `SocketAddrUse`, without the
/// runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketUse {
    TcpBind,
    TcpListen,
    TcpAccept,
    TcpConnect,
    Udp,
}

/// Whether the socket check admits `addr` for `use_`: see the crate documentation.
pub fn socket_allowed(
    m: &Manifest,
    proxy: Option<SocketAddr>,
    addr: SocketAddr,
    use_: SocketUse,
) -> bool {
    let net = &m.network;
    if !net.egress {
        return false;
    }
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match use_ {
        // The wildcard bind a connect makes implicitly.
        SocketUse::TcpBind => ip.is_unspecified() && addr.port() == 0,
        SocketUse::TcpListen | SocketUse::TcpAccept | SocketUse::Udp => false,
        SocketUse::TcpConnect => {
            let via_proxy = net
                .rules
                .iter()
                .any(|r| r.allow && r.via == EgressVia::Proxy);
            if via_proxy && proxy.is_some_and(|p| p == addr) {
                return true;
            }
            // Direct connections only where a `direct` allow rule names the address (an IP
            // literal: host names cannot be checked here); deny rules of any kind still win.
            let host = Host::Ip(ip);
            let port_ok = |p: Option<u16>| p.is_none_or(|p| p == addr.port());
            let hit =
                |r: &&policyc_targets::wasi::NetRule| r.host.matches(&host) && port_ok(r.port);
            let denied = net.rules.iter().filter(hit).any(|r| !r.allow);
            let allowed = net
                .rules
                .iter()
                .filter(hit)
                .any(|r| r.allow && r.via == EgressVia::Direct);
            allowed && !denied
        }
    }
}

/// Run `module` (binary wasm) with exactly what `m` grants.
pub fn run(m: &Manifest, module: &[u8], opts: &Options) -> Result<Output, Error> {
    let prepared = prepare(m)?;
    run_prepared(m, &prepared, module, opts)
}

/// Run with a `wasi.json`'s bytes.
pub fn run_json(manifest: &[u8], module: &[u8], opts: &Options) -> Result<Output, Error> {
    run(&parse(manifest)?, module, opts)
}

/// Run with a `wasi.json` and a module read from files.
pub fn run_files(manifest: &Path, module: &Path, opts: &Options) -> Result<Output, Error> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| Error::Read {
            path: p.display().to_string(),
            source,
        })
    };
    run_json(&read(manifest)?, &read(module)?, opts)
}

#[cfg(feature = "wasm")]
fn run_prepared(
    m: &Manifest,
    prepared: &Prepared,
    module: &[u8],
    opts: &Options,
) -> Result<Output, Error> {
    runtime::run(m, prepared, module, opts)
}

#[cfg(not(feature = "wasm"))]
fn run_prepared(
    _m: &Manifest,
    _prepared: &Prepared,
    _module: &[u8],
    _opts: &Options,
) -> Result<Output, Error> {
    Err(Error::RuntimeUnavailable)
}

/// Whether this build can run modules.
pub const RUNTIME: bool = cfg!(feature = "wasm");

#[cfg(test)]
mod tests;
