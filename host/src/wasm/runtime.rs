//! The wasmtime side: the WASI context built from the manifest (shared with components),
//! and a preview 1 linker and store for core modules.

use super::{socket_allowed, Error, ExitStatus, Options, Output, Prepared, SocketUse, Stdio};
use policyc_targets::wasi::{Manifest, Perms};
use wasmtime::{Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

struct Host {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

pub(crate) fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(e.to_string())
}

pub(crate) fn socket_use(u: SocketAddrUse) -> SocketUse {
    match u {
        SocketAddrUse::TcpBind => SocketUse::TcpBind,
        SocketAddrUse::TcpListen => SocketUse::TcpListen,
        SocketAddrUse::TcpAccept => SocketUse::TcpAccept,
        SocketAddrUse::TcpConnect => SocketUse::TcpConnect,
        _ => SocketUse::Udp,
    }
}

/// Where a stream goes, and the pipe to read back when it is captured.
fn stream(
    b: &mut WasiCtxBuilder,
    which: Stdio,
    limit: usize,
    stdout: bool,
) -> Option<MemoryOutputPipe> {
    match (which, stdout) {
        (Stdio::Capture, _) => {
            let pipe = MemoryOutputPipe::new(limit);
            if stdout {
                b.stdout(pipe.clone());
            } else {
                b.stderr(pipe.clone());
            }
            Some(pipe)
        }
        (Stdio::Inherit, true) => {
            b.inherit_stdout();
            None
        }
        (Stdio::Inherit, false) => {
            b.inherit_stderr();
            None
        }
        (Stdio::Discard, _) => None,
    }
}

/// The parts of a WASI context every run shares.
pub(crate) struct Context {
    pub builder: WasiCtxBuilder,
    pub stdout: Option<MemoryOutputPipe>,
    pub stderr: Option<MemoryOutputPipe>,
    pub limits: StoreLimits,
}

/// What was captured, with how the run ended.
pub(crate) fn output(
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
    status: ExitStatus,
) -> Output {
    let take = |p: Option<MemoryOutputPipe>| p.map(|p| p.contents().to_vec()).unwrap_or_default();
    Output {
        status,
        stdout: take(stdout),
        stderr: take(stderr),
    }
}

/// The WASI context `m` grants: arguments, environment, preopens, stdio, the socket check
/// for [`Options::network`], and the memory limit.
pub(crate) fn context(m: &Manifest, prepared: &Prepared, opts: &Options) -> Result<Context, Error> {
    let mut b = WasiCtxBuilder::new();
    b.args(&opts.args);
    for (k, v) in &m.env {
        b.env(k, v);
    }
    for p in &prepared.preopens {
        let perms = match p.perms {
            Perms::ReadOnly => FsPerms::ReadOnly,
            Perms::ReadWrite => FsPerms::ReadWrite,
        };
        b.preopened_dir(&p.host, &p.guest, perms)
            .map_err(|e| Error::HostDir {
                path: p.host.display().to_string(),
                why: e.to_string(),
            })?;
    }
    let stdout = stream(&mut b, opts.stdout, opts.capture_limit, true);
    let stderr = stream(&mut b, opts.stderr, opts.capture_limit, false);

    let net = opts.network.clone();
    b.socket_addr_check(move |addr, u| {
        let ok = net
            .as_ref()
            .is_some_and(|n| socket_allowed(|ip| n.known(ip), n.ports(), addr, socket_use(u)));
        Box::pin(async move { ok })
    });
    b.allow_tcp(opts.network.is_some());
    b.allow_udp(false);
    // Name lookups are answered by policyc's own `ip-name-lookup` (see `lookup`), never
    // by wasmtime-wasi's, which asks the host's resolver.
    b.allow_ip_name_lookup(false);

    let mut limits = StoreLimitsBuilder::new();
    if let Some(bytes) = m.limits.memory {
        limits = limits.memory_size(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    Ok(Context {
        builder: b,
        stdout,
        stderr,
        limits: limits.build(),
    })
}

/// Run a core module.
pub(crate) fn run(
    m: &Manifest,
    prepared: &Prepared,
    module: &[u8],
    opts: &Options,
) -> Result<Output, Error> {
    let engine = Engine::default();
    let module = Module::new(&engine, module).map_err(|e| Error::Module(e.to_string()))?;
    let mut linker: Linker<Host> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| &mut h.wasi)
        .map_err(setup)?;
    let Context {
        mut builder,
        stdout,
        stderr,
        limits,
    } = context(m, prepared, opts)?;
    let host = Host {
        wasi: builder.build_p1(),
        limits,
    };
    let mut store = Store::new(&engine, host);
    store.limiter(|h| &mut h.limits);

    let status = match linker.instantiate(&mut store, &module) {
        Err(e) => ExitStatus::Trapped(format!("{e:#}")),
        Ok(instance) => {
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .map_err(|e| Error::Module(e.to_string()))?;
            match start.call(&mut store, ()) {
                Ok(()) => ExitStatus::Exited(0),
                Err(e) => exit_status(&e),
            }
        }
    };
    Ok(output(stdout, stderr, status))
}

/// How a run that returned `e` ended: `proc_exit` / `wasi:cli/exit`, or a trap.
pub(crate) fn exit_status(e: &wasmtime::Error) -> ExitStatus {
    match e.downcast_ref::<I32Exit>() {
        Some(exit) => ExitStatus::Exited(exit.0),
        None => ExitStatus::Trapped(format!("{e:#}")),
    }
}
