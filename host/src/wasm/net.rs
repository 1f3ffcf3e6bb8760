//! The network a component gets: the egress supervisor's namespace, its address book, and
//! the ports it listens on.

use crate::egress::names::Names;
use crate::egress::{ChildNet, Supervisor};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The egress supervisor's network as a component sees it (see the module documentation).
#[derive(Debug, Clone)]
pub struct Network {
    child: ChildNet,
    names: Arc<Names>,
    ports: BTreeSet<u16>,
}

impl Network {
    /// The network of a prepared supervisor (which must serve while the component runs).
    pub fn of(s: &Supervisor) -> Network {
        Network {
            child: s.child(),
            names: s.names(),
            ports: s.listener_ports().into_iter().collect(),
        }
    }

    /// Join the supervisor's namespace on this thread.
    pub fn enter(&self) -> std::io::Result<()> {
        self.child.enter_network()
    }

    /// The address book name lookups answer from.
    pub fn names(&self) -> &Arc<Names> {
        &self.names
    }

    /// The ports the supervisor listens on.
    pub fn ports(&self) -> &BTreeSet<u16> {
        &self.ports
    }

    /// Whether `ip` is an address the supervisor gave out for a name.
    pub fn known(&self, ip: Ipv4Addr) -> bool {
        self.names.name_for(ip).is_some()
    }
}
