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
//! adapter, or a WASI preview 2 component, run through its `p2` host; [`kind`] tells them
//! apart by the file's header):
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
//! - **Network**: none unless [`Options::network`] names the egress supervisor's namespace
//!   ([`Network`]). A preview 1 module has no sockets at all. A component's store runs on a
//!   thread that has joined the supervisor's network namespace (whose only interface is
//!   `lo`), with its own tokio runtime started from that thread, so every socket it makes
//!   lives there. The socket check ([`socket_allowed`]) admits only a TCP connect to a
//!   synthetic address the supervisor handed out for an allowed name, on a port it listens
//!   on, where the broker decides on host and port again; the implicit wildcard bind a
//!   connect makes is allowed, and explicit binds, listening, accepting and UDP never are.
//!   `wasi:sockets/ip-name-lookup` is policyc's own: it answers from the supervisor's
//!   address book (a synthetic address for a name the policy allows, `name-unresolvable`
//!   for any other name) and never asks the host's resolver; an IP literal comes back as
//!   itself (and the socket check refuses it).
//! - **Memory**: `limits.memory` caps each linear memory.
//! - **Stdio**: stdin is closed; stdout and stderr are captured (up to
//!   [`Options::capture_limit`] bytes each), inherited or discarded.
//!
//! The runtime is behind policyc-host's default `wasm` feature (wasmtime is a large build); without
//! it, [`run`] returns [`Error::RuntimeUnavailable`] and only the pure parts remain.

#[cfg(feature = "wasm")]
mod component;
#[cfg(feature = "wasm")]
mod lookup;
mod net;
#[cfg(feature = "wasm")]
mod runtime;

pub use net::Network;

pub use policyc_targets::wasi::{parse, Manifest, Perms, Preopen, Source};

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
    /// The egress supervisor's namespace and address book; `None`: no network.
    pub network: Option<Network>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: Vec::new(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            capture_limit: 1 << 20,
            network: None,
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

/// Whether the socket check admits `addr` for `use_`: a TCP connect to an address `known`
/// recognises (a synthetic address the supervisor gave for an allowed name) on one of
/// `ports` (the supervisor's listeners), and the implicit wildcard bind a connect makes.
pub fn socket_allowed(
    known: impl Fn(Ipv4Addr) -> bool,
    ports: &BTreeSet<u16>,
    addr: SocketAddr,
    use_: SocketUse,
) -> bool {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match use_ {
        SocketUse::TcpBind => ip.is_unspecified() && addr.port() == 0,
        SocketUse::TcpListen | SocketUse::TcpAccept | SocketUse::Udp => false,
        SocketUse::TcpConnect => match ip {
            IpAddr::V4(v4) => ports.contains(&addr.port()) && known(v4),
            IpAddr::V6(_) => false,
        },
    }
}

/// What a wasm file holds, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A core module (WASI preview 1).
    Module,
    /// A component (WASI preview 2).
    Component,
}

/// Whether `bytes` is a core module or a component; `None` for anything else (which the
/// runtime then refuses as a module).
pub fn kind(bytes: &[u8]) -> Option<Kind> {
    match bytes.get(..8)? {
        [0, b'a', b's', b'm', 1, 0, 0, 0] => Some(Kind::Module),
        [0, b'a', b's', b'm', 0x0d, 0, 1, 0] => Some(Kind::Component),
        _ => None,
    }
}

/// Run `module` (a binary core module or component) with exactly what `m` grants.
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
    match kind(module) {
        Some(Kind::Component) => component::run(m, prepared, module, opts),
        _ => runtime::run(m, prepared, module, opts),
    }
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

/// Whether this build can run modules and components.
pub const RUNTIME: bool = cfg!(feature = "wasm");

#[cfg(test)]
mod tests;
