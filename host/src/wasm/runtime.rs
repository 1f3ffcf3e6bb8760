//! The wasmtime side: an engine, a preview 1 linker, and a store holding the WASI context
//! built from the manifest.

use super::{socket_allowed, Error, ExitStatus, Options, Output, Prepared, SocketUse, Stdio};
use policyc_compiler::ast::DnsMode;
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

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(e.to_string())
}

fn socket_use(u: SocketAddrUse) -> SocketUse {
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

    let net = m.clone();
    let proxy = opts.proxy;
    b.socket_addr_check(move |addr, u| {
        let ok = socket_allowed(&net, proxy, addr, socket_use(u));
        Box::pin(async move { ok })
    });
    b.allow_tcp(m.network.egress);
    b.allow_udp(false);
    b.allow_ip_name_lookup(m.network.egress && m.network.dns == DnsMode::Any);

    let mut limits = StoreLimitsBuilder::new();
    if let Some(bytes) = m.limits.memory {
        limits = limits.memory_size(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    let host = Host {
        wasi: b.build_p1(),
        limits: limits.build(),
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
                Err(e) => match e.downcast_ref::<I32Exit>() {
                    Some(exit) => ExitStatus::Exited(exit.0),
                    None => ExitStatus::Trapped(format!("{e:#}")),
                },
            }
        }
    };
    let take = |p: Option<MemoryOutputPipe>| p.map(|p| p.contents().to_vec()).unwrap_or_default();
    Ok(Output {
        status,
        stdout: take(stdout),
        stderr: take(stderr),
    })
}
