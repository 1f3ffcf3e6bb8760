//! The synthetic address book: every name the sandbox may reach gets its own loopback
//! address, so a connection to that address tells the broker which name the program meant.
//!
//! Addresses come from `127.80.0.0/12` (`127.80.0.1` to `127.95.255.254`), which holds
//! neither `127.0.0.1` nor the resolver's `127.0.0.53`. The exact names a policy allows are
//! numbered first, in sorted order, so the same policy always maps the same name to the same
//! address; names a `*.domain` rule allows get the next free address when first asked for.
//! An address, once given, keeps its name for the life of the book.

use policyc_compiler::ast::DnsMode;
use policyc_compiler::hosts::Host;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The first synthetic address (`127.80.0.1`).
pub const FIRST: Ipv4Addr = Ipv4Addr::new(127, 80, 0, 1);
/// The last synthetic address (`127.95.255.254`).
pub const LAST: Ipv4Addr = Ipv4Addr::new(127, 95, 255, 254);
/// The most names one book holds: a sandbox that asks for ever new names under a
/// `*.domain` rule runs out here (and gets no answer) instead of exhausting memory.
pub const MAX_NAMES: usize = 65_536;

/// Whether a policy lets the sandbox resolve a name, and the rule that decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameDecision {
    /// True when the name may be answered.
    pub allow: bool,
    /// The deciding allow rule, as the policy writes it (or its `file:line`), when known.
    pub rule: Option<String>,
}

impl NameDecision {
    /// A denial no rule names (nothing allows the name).
    pub fn unlisted() -> NameDecision {
        NameDecision {
            allow: false,
            rule: None,
        }
    }
}

/// The part of an egress policy the address book and the resolver enforce.
///
/// The egress artifact implements it; tests implement it with a small list.
pub trait NamePolicy: Send + Sync + fmt::Debug {
    /// The policy's `dns` mode.
    fn dns_mode(&self) -> DnsMode;
    /// Whether an allow rule names `host` (and no deny rule for every port does): the names
    /// the resolver answers from the policy alone, without asking anyone upstream.
    fn listed(&self, host: &Host) -> NameDecision;
    /// The exact names the allow rules list (numbered first, in sorted order).
    fn exact_names(&self) -> Vec<Host>;
}

/// The address book, shared by the broker and the resolver (it locks internally).
#[derive(Debug)]
pub struct Names {
    policy: Arc<dyn NamePolicy>,
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    by_name: BTreeMap<Host, Ipv4Addr>,
    by_addr: BTreeMap<Ipv4Addr, Host>,
}

impl Book {
    /// The next free address, or `None` when the book is full.
    fn next(&self) -> Option<Ipv4Addr> {
        if self.by_addr.len() >= MAX_NAMES {
            return None;
        }
        let n = u32::try_from(self.by_addr.len()).ok()?;
        let addr = u32::from(FIRST).checked_add(n)?;
        (addr <= u32::from(LAST)).then(|| Ipv4Addr::from(addr))
    }

    fn insert(&mut self, host: &Host) -> Option<Ipv4Addr> {
        if let Some(a) = self.by_name.get(host) {
            return Some(*a);
        }
        let addr = self.next()?;
        self.by_name.insert(host.clone(), addr);
        self.by_addr.insert(addr, host.clone());
        Some(addr)
    }
}

impl Names {
    /// A book for `policy`, with its exact domain names numbered in sorted order.
    pub fn new(policy: Arc<dyn NamePolicy>) -> Names {
        let mut exact: Vec<Host> = policy
            .exact_names()
            .into_iter()
            .filter(|h| matches!(h, Host::Domain(_)))
            .collect();
        exact.sort();
        exact.dedup();
        let mut book = Book::default();
        for h in &exact {
            if policy.listed(h).allow {
                book.insert(h);
            }
        }
        Names {
            policy,
            book: Mutex::new(book),
        }
    }

    /// The policy this book answers for.
    pub fn policy(&self) -> &Arc<dyn NamePolicy> {
        &self.policy
    }

    /// The synthetic address of `host`, numbering it now if the policy lists it (or, under
    /// `dns any`, for any domain name). `None` for an address literal, a name the policy does
    /// not allow, or a full book.
    pub fn address_for(&self, host: &Host) -> Option<Ipv4Addr> {
        if !matches!(host, Host::Domain(_)) {
            return None;
        }
        if let Some(a) = self.lock().by_name.get(host) {
            return Some(*a);
        }
        let allowed = self.policy.dns_mode() == DnsMode::Any || self.policy.listed(host).allow;
        if !allowed {
            return None;
        }
        self.lock().insert(host)
    }

    /// The name behind a synthetic address, if this book gave it out.
    pub fn name_for(&self, addr: Ipv4Addr) -> Option<Host> {
        self.lock().by_addr.get(&addr).cloned()
    }

    /// Every name numbered so far with its address, sorted by address.
    pub fn entries(&self) -> Vec<(Ipv4Addr, Host)> {
        self.lock()
            .by_addr
            .iter()
            .map(|(a, h)| (*a, h.clone()))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // The book is consistent after every statement that changes it, so a panic in
        // another thread leaves nothing half-written.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// True for an address of the synthetic range.
pub fn is_synthetic(addr: Ipv4Addr) -> bool {
    (u32::from(FIRST)..=u32::from(LAST)).contains(&u32::from(addr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::egress::dns::testing::ListPolicy;

    fn host(s: &str) -> Host {
        Host::parse(s).unwrap()
    }

    fn book(mode: DnsMode) -> Names {
        Names::new(Arc::new(ListPolicy::new(
            mode,
            &[
                "zeta.example.com",
                "alpha.example.com",
                "*.cdn.example.net",
                "10.0.0.1",
            ],
            &["*.bad.cdn.example.net"],
        )))
    }

    #[test]
    fn exact_names_are_numbered_first_in_sorted_order() {
        let names = book(DnsMode::AllowListedOnly);
        let entries = names.entries();
        assert_eq!(
            entries,
            vec![
                (Ipv4Addr::new(127, 80, 0, 1), host("alpha.example.com")),
                (Ipv4Addr::new(127, 80, 0, 2), host("zeta.example.com")),
            ]
        );
        // The same policy gives the same addresses, whatever order its rules come in.
        assert_eq!(book(DnsMode::AllowListedOnly).entries(), entries);
    }

    #[test]
    fn a_name_and_its_address_map_both_ways() {
        let names = book(DnsMode::AllowListedOnly);
        let a = names.address_for(&host("zeta.example.com")).unwrap();
        assert_eq!(names.name_for(a), Some(host("zeta.example.com")));
        assert_eq!(names.address_for(&host("ZETA.example.com.")), Some(a));
        assert!(is_synthetic(a));
        assert_eq!(names.name_for(Ipv4Addr::new(127, 0, 0, 1)), None);
        assert_eq!(names.name_for(Ipv4Addr::new(127, 0, 0, 53)), None);
    }

    #[test]
    fn wildcard_names_are_numbered_on_demand_and_stay() {
        let names = book(DnsMode::AllowListedOnly);
        let a = names.address_for(&host("img.cdn.example.net")).unwrap();
        assert_eq!(a, Ipv4Addr::new(127, 80, 0, 3));
        let b = names.address_for(&host("js.cdn.example.net")).unwrap();
        assert_eq!(b, Ipv4Addr::new(127, 80, 0, 4));
        assert_eq!(names.address_for(&host("img.cdn.example.net")), Some(a));
        assert_eq!(names.name_for(b), Some(host("js.cdn.example.net")));
    }

    #[test]
    fn names_the_policy_does_not_allow_get_nothing() {
        let names = book(DnsMode::AllowListedOnly);
        for h in [
            "cdn.example.net",
            "x.bad.cdn.example.net",
            "sub.alpha.example.com",
            "localhost",
            "metadata.google.internal",
            "10.0.0.1",
        ] {
            assert_eq!(names.address_for(&host(h)), None, "{h}");
        }
        assert_eq!(names.entries().len(), 2);
    }

    #[test]
    fn dns_any_numbers_every_domain_name_but_no_address() {
        let names = book(DnsMode::Any);
        assert!(names.address_for(&host("anything.example.org")).is_some());
        assert_eq!(names.address_for(&host("169.254.169.254")), None);
    }

    #[test]
    fn the_book_is_bounded() {
        let names = book(DnsMode::Any);
        for i in 0..MAX_NAMES {
            let _ = names.address_for(&host(&format!("n{i}.example.org")));
        }
        assert_eq!(names.entries().len(), MAX_NAMES);
        assert_eq!(names.address_for(&host("one-more.example.org")), None);
        let last = names.entries().last().unwrap().0;
        assert!(is_synthetic(last));
        assert!(last < LAST);
    }

    #[test]
    fn the_range_holds_neither_localhost_nor_the_resolver() {
        assert!(!is_synthetic(Ipv4Addr::new(127, 0, 0, 1)));
        assert!(!is_synthetic(Ipv4Addr::new(127, 0, 0, 53)));
        assert!(is_synthetic(FIRST) && is_synthetic(LAST));
        assert!(!is_synthetic(Ipv4Addr::new(127, 96, 0, 0)));
    }

    #[test]
    fn the_book_is_shared_between_threads() {
        let names = Arc::new(book(DnsMode::AllowListedOnly));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let names = Arc::clone(&names);
                std::thread::spawn(move || {
                    (0..60)
                        .map(|i| {
                            let h = host(&format!("h{}.cdn.example.net", (i + t) % 60));
                            (names.address_for(&h).unwrap(), h)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (a, name) in h.join().unwrap() {
                assert_eq!(names.name_for(a), Some(name));
            }
        }
        assert_eq!(names.entries().len(), 2 + 60);
    }
}
