//! WASI preview 2 components: a `p2` linker (with policyc's own `ip-name-lookup`) and a
//! store on a thread of their own, which joins the egress supervisor's network namespace
//! before it makes anything, so every socket the component opens lives there.

use super::runtime::{context, exit_status, output, setup, Context};
use super::{lookup, Error, ExitStatus, Options, Output, Prepared};
use crate::egress::names::Names;
use policyc_targets::wasi::Manifest;
use std::sync::Arc;
use wasmtime::component::{Component, ComponentExportIndex, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store's state: the WASI context, its resources, and the address book lookups
/// answer from.
pub(crate) struct State {
    ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    limits: StoreLimits,
    pub(crate) names: Option<Arc<Names>>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Run a component on a thread of its own (see the module documentation).
pub(crate) fn run(
    m: &Manifest,
    prepared: &Prepared,
    bytes: &[u8],
    opts: &Options,
) -> Result<Output, Error> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("policyc-wasi".into())
            .spawn_scoped(s, || on_this_thread(m, prepared, bytes, opts))
            .map_err(setup)?
            .join()
            .unwrap_or_else(|_| Err(Error::Setup("the WASI host thread panicked".into())))
    })
}

/// Join the namespace, start a tokio runtime from here (its threads inherit the
/// namespace, and wasmtime-wasi's sync bindings use the runtime they are entered in), and
/// run the component.
fn on_this_thread(
    m: &Manifest,
    prepared: &Prepared,
    bytes: &[u8],
    opts: &Options,
) -> Result<Output, Error> {
    if let Some(net) = &opts.network {
        net.enter().map_err(|e| {
            Error::Setup(format!(
                "cannot join the egress supervisor's namespace: {e}"
            ))
        })?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("policyc-wasi-io")
        .enable_all()
        .build()
        .map_err(setup)?;
    let _entered = rt.enter();
    let engine = Engine::default();
    let component = Component::new(&engine, bytes).map_err(|e| Error::Module(e.to_string()))?;
    let run = run_export(&engine, &component).ok_or_else(|| {
        Error::Module("the component exports no `wasi:cli/run@0.2.x` interface".into())
    })?;
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup)?;
    lookup::shadow(&mut linker).map_err(setup)?;
    let Context {
        mut builder,
        stdout,
        stderr,
        limits,
    } = context(m, prepared, opts)?;
    let state = State {
        ctx: builder.build(),
        table: ResourceTable::new(),
        limits,
        names: opts.network.as_ref().map(|n| Arc::clone(n.names())),
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.limits);
    let status = match linker.instantiate(&mut store, &component) {
        Err(e) => ExitStatus::Trapped(format!("{e:#}")),
        Ok(instance) => {
            let f = instance
                .get_typed_func::<(), (Result<(), ()>,)>(&mut store, &run)
                .map_err(|e| Error::Module(e.to_string()))?;
            match f.call(&mut store, ()) {
                Ok((Ok(()),)) => ExitStatus::Exited(0),
                Ok((Err(()),)) => ExitStatus::Exited(1),
                Err(e) => exit_status(&e),
            }
        }
    };
    drop(store);
    Ok(output(stdout, stderr, status))
}

/// The `run` function of the component's `wasi:cli/run@0.2.x` export.
fn run_export(engine: &Engine, component: &Component) -> Option<ComponentExportIndex> {
    let ty = component.component_type();
    let name = ty
        .exports(engine)
        .map(|(n, _)| n)
        .find(|n| n.starts_with("wasi:cli/run@0.2."))?;
    let (_, instance) = component.get_export(None, name)?;
    component.get_export_index(Some(&instance), "run")
}
