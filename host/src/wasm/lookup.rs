//! `wasi:sockets/ip-name-lookup` answered from the egress supervisor's address book, in
//! place of wasmtime-wasi's (which asks the host's resolver).

use super::component::State;
use crate::egress::names::Names;
use policyc_compiler::hosts::Host;
use std::net::IpAddr;
use std::sync::Arc;
use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable};

/// The interface this replaces, as wasmtime-wasi 48 names it (the linker matches every
/// `0.2.x` import to it).
pub(crate) const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// The answers to one lookup, handed out one at a time.
pub(crate) struct Addresses(std::vec::IntoIter<IpAddr>);

#[wasmtime_wasi::async_trait]
impl Pollable for Addresses {
    /// The answers are known when the stream is made.
    async fn ready(&mut self) {}
}

/// What `name` resolves to: an IP literal to itself; a domain name to the synthetic address
/// `names` gives it when the policy allows it; without a network, no name resolves.
pub(crate) fn resolve(names: Option<&Names>, name: &str) -> Result<Vec<IpAddr>, ErrorCode> {
    match (Host::parse(name), names) {
        (Ok(Host::Ip(ip)), _) => Ok(vec![ip]),
        (Err(_), _) => Err(ErrorCode::InvalidArgument),
        (Ok(_), None) => Err(ErrorCode::PermanentResolverFailure),
        (Ok(host), Some(names)) => names
            .address_for(&host)
            .map(|a| vec![IpAddr::V4(a)])
            .ok_or(ErrorCode::NameUnresolvable),
    }
}

/// Replace wasmtime-wasi's `ip-name-lookup` in `linker` (which must already hold it).
pub(crate) fn shadow(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut inst = linker.instance(INTERFACE)?;
    inst.resource(
        "resolve-address-stream",
        ResourceType::host::<Addresses>(),
        |mut store, rep| {
            store
                .data_mut()
                .table
                .delete(Resource::<Addresses>::new_own(rep))?;
            Ok(())
        },
    )?;
    inst.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| {
            let state: &mut State = store.data_mut();
            state.table.get(&network)?;
            let names: Option<Arc<Names>> = state.names.clone();
            let answer = match resolve(names.as_deref(), &name) {
                Ok(addrs) => Ok(state.table.push(Addresses(addrs.into_iter()))?),
                Err(e) => Err(e),
            };
            Ok((answer,))
        },
    )?;
    inst.func_wrap(
        "[method]resolve-address-stream.resolve-next-address",
        |mut store, (stream,): (Resource<Addresses>,)| {
            let s = store.data_mut().table.get_mut(&stream)?;
            let next: Result<Option<IpAddress>, ErrorCode> = Ok(s.0.next().map(Into::into));
            Ok((next,))
        },
    )?;
    inst.func_wrap(
        "[method]resolve-address-stream.subscribe",
        |mut store, (stream,): (Resource<Addresses>,)| {
            let p: Resource<DynPollable> =
                wasmtime_wasi::p2::subscribe(&mut store.data_mut().table, stream)?;
            Ok((p,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
