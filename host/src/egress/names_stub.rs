//! A fixed address book of the exact names the policy allows (127.80.0.1 upward, in sorted
//! order), until the resolver's own book is wired in.

use policyc_compiler::hosts::Host;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Names and their synthetic addresses.
#[derive(Debug, Default)]
pub struct Names {
    by_name: BTreeMap<Host, Ipv4Addr>,
    by_addr: BTreeMap<Ipv4Addr, Host>,
}

impl Names {
    /// Number `names` from 127.80.0.1.
    pub fn new(names: Vec<Host>) -> Names {
        let mut book = Names::default();
        for (i, h) in (1u32..).zip(names) {
            let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 80, 0, 0)) + i);
            book.by_addr.insert(addr, h.clone());
            book.by_name.insert(h, addr);
        }
        book
    }

    /// The address of an allowed name.
    pub fn address_for(&self, host: &Host) -> Option<Ipv4Addr> {
        self.by_name.get(host).copied()
    }

    /// The name behind a synthetic address.
    pub fn name_for(&self, addr: Ipv4Addr) -> Option<Host> {
        self.by_addr.get(&addr).cloned()
    }
}
