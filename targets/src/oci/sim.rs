//! The simulator: answers requests by reading the emitted `oci/config.json` back, never the
//! IR.
//!
//! - **Guest paths** resolve through the spec's mount table as a runtime builds it: the
//!   mount with the longest destination prefix, a later mount shadowing an earlier one at the
//!   same destination; `linux.maskedPaths` (mounted last) hide everything at and beneath
//!   them; `linux.readonlyPaths` make what lies beneath them read-only unless a deeper mount
//!   covers the path. A bind or tmpfs decides by its flags: reading is allowed (except a
//!   mode-000 tmpfs when the process holds no DAC capability), writing needs no `ro` (and,
//!   for a recursive bind, `rro` so that submounts are read-only too), executing needs no
//!   `noexec` (likewise `rnoexec`).
//! - The runtime's own file systems (`/proc`, `/sys`, `/dev` and what lies beneath) and the
//!   image (the rootfs, outside every mount) are not the policy's: what the spec denies there
//!   is `Deny` (a read-only rootfs or `/sys`, a `noexec` `/dev/shm`, a masked path), what it
//!   allows is not mediated (the reference semantics denies it; AppArmor must).
//! - **Home paths** (`~/...`) are host objects: the `dev.policyc.home` annotation gives the
//!   home directory; the object is reached through every bind mount whose source holds it,
//!   at the guest path no other mount or mask hides, and allowed when one such path is. The
//!   image is assumed not to lie inside the home directory.
//! - **Network**: with a fresh network namespace, no hooks, and `dev.policyc.network` set to
//!   `none` (nothing adds an interface: only `lo`), connecting to any non-loopback host and
//!   resolving any name but `localhost` is denied; loopback stays inside the container and
//!   is not mediated. With egress rules the launcher wires the namespace to the proxy, and
//!   the spec decides nothing.
//! - **Syscalls** are the embedded seccomp section's, which the seccomp target simulates: not
//!   mediated here.
//!
//! A missing file is not mediated; one that does not parse denies everything (the runtime
//! refuses to start).

use super::check::in_system;
use super::{ANNOTATION_HOME, ANNOTATION_NETWORK};
use crate::common::ReadBack;
use crate::Verdict;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use std::net::IpAddr;

/// The artifact this target emits.
pub const FILE: &str = "oci/config.json";

/// Decide a request against a parsed spec.
pub fn simulate_spec(spec: &Spec, request: &Request) -> Verdict {
    decide(spec, &Table::new(spec), request)
}

fn decide(spec: &Spec, table: &Table, request: &Request) -> Verdict {
    match request {
        Request::Fs { access, path } if path.is_home() => table.host_object(*access, path),
        Request::Fs { access, path } => table.guest(*access, path),
        // A read-only mount (and the read-only root) refuses metadata changes with EROFS,
        // exactly where it refuses writes.
        Request::Meta { path, .. } if path.is_home() => table.host_object(Access::Write, path),
        Request::Meta { path, .. } => table.guest(Access::Write, path),
        Request::Connect { host, .. } => network(spec, host, true),
        Request::Resolve { host } => network(spec, host, false),
        Request::Syscall { .. } => Verdict::NotMediated,
    }
}

/// One mount of the spec.
#[derive(Debug)]
struct Entry {
    dest: CanonPath,
    typ: String,
    source: Option<CanonPath>,
    options: Vec<String>,
}

impl Entry {
    fn has(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }

    fn recursive(&self) -> bool {
        self.typ == "bind" && self.has("rbind")
    }

    /// The last of two opposite flags written, if either is.
    fn last_of(&self, on: &str, off: &str) -> Option<bool> {
        self.options
            .iter()
            .rev()
            .find_map(|o| (o == on).then_some(true).or((o == off).then_some(false)))
    }

    /// Whether a flag holds everywhere beneath the mount: `Some(true)` when it does
    /// (submounts of a recursive bind included, through its recursive form), `Some(false)`
    /// when it holds nowhere, `None` when it holds on top but submounts may lack it.
    fn everywhere(&self, on: &str, off: &str, recursive_on: &str) -> Option<bool> {
        if self.has(recursive_on) {
            return Some(true);
        }
        match self.last_of(on, off) {
            Some(true) if self.recursive() => None,
            Some(true) => Some(true),
            _ => Some(false),
        }
    }

    fn read_only(&self) -> Option<bool> {
        self.everywhere("ro", "rw", "rro")
    }

    fn no_exec(&self) -> Option<bool> {
        self.everywhere("noexec", "exec", "rnoexec")
    }

    /// The tmpfs root mode, when the options give one.
    fn mode(&self) -> Option<u32> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix("mode="))
            .and_then(|m| u32::from_str_radix(m, 8).ok())
    }

    /// Mounts the policy cannot ask for: the runtime's own file systems.
    fn is_runtime(&self) -> bool {
        !matches!(self.typ.as_str(), "bind" | "tmpfs") || in_system(&self.dest)
    }
}

/// Where a guest path resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Masked,
    Mount { index: usize, readonly_path: bool },
    Root { readonly_path: bool },
}

/// The spec's file system, as the runtime builds it.
#[derive(Debug)]
pub(crate) struct Table {
    entries: Vec<Entry>,
    masked: Vec<CanonPath>,
    readonly: Vec<CanonPath>,
    root_readonly: bool,
    /// The process may bypass file permissions (a DAC capability in any set).
    dac_bypass: bool,
    home: Option<CanonPath>,
}

fn canon(p: &std::path::Path) -> Option<CanonPath> {
    p.to_str().and_then(|s| CanonPath::parse(s).ok())
}

impl Table {
    fn new(spec: &Spec) -> Table {
        let entries = spec
            .mounts()
            .iter()
            .flatten()
            .filter_map(|m| {
                Some(Entry {
                    dest: canon(m.destination())?,
                    typ: m.typ().clone().unwrap_or_default(),
                    source: m.source().as_deref().and_then(canon),
                    options: m.options().clone().unwrap_or_default(),
                })
            })
            .collect();
        let linux = spec.linux().as_ref();
        let paths = |v: Option<&Vec<String>>| -> Vec<CanonPath> {
            v.into_iter()
                .flatten()
                .filter_map(|p| CanonPath::parse(p).ok())
                .collect()
        };
        let dac = [Capability::DacOverride, Capability::DacReadSearch];
        let dac_bypass = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref())
            .is_none_or(|c| {
                [
                    c.bounding(),
                    c.effective(),
                    c.permitted(),
                    c.inheritable(),
                    c.ambient(),
                ]
                .into_iter()
                .flatten()
                .any(|set| dac.iter().any(|d| set.contains(d)))
            });
        Table {
            entries,
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            root_readonly: spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
            dac_bypass,
            home: spec
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_HOME))
                .and_then(|h| CanonPath::parse(h).ok())
                .filter(|h| !h.is_home()),
        }
    }

    fn resolve(&self, guest: &CanonPath) -> Resolved {
        if self.masked.iter().any(|m| guest.starts_with(m)) {
            return Resolved::Masked;
        }
        // The longest destination; at equal depth the later mount (`max_by_key` keeps the
        // last maximum).
        let mount = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| guest.starts_with(&e.dest))
            .max_by_key(|(_, e)| e.dest.depth());
        // A read-only path applies unless a mount lies strictly deeper than it.
        let readonly_path = self.readonly.iter().any(|r| {
            guest.starts_with(r) && mount.is_none_or(|(_, e)| e.dest.depth() <= r.depth())
        });
        match mount {
            Some((index, _)) => Resolved::Mount {
                index,
                readonly_path,
            },
            None => Resolved::Root { readonly_path },
        }
    }

    fn guest(&self, access: Access, guest: &CanonPath) -> Verdict {
        match self.resolve(guest) {
            Resolved::Masked => Verdict::Deny,
            Resolved::Root { readonly_path } => match access {
                Access::Write if self.root_readonly || readonly_path => Verdict::Deny,
                _ => Verdict::NotMediated,
            },
            Resolved::Mount {
                index,
                readonly_path,
            } => {
                let Some(e) = self.entries.get(index) else {
                    return Verdict::Deny;
                };
                let v = self.mount_verdict(e, access, readonly_path);
                if v == Verdict::Allow && e.is_runtime() {
                    Verdict::NotMediated
                } else {
                    v
                }
            }
        }
    }

    fn mount_verdict(&self, e: &Entry, access: Access, readonly_path: bool) -> Verdict {
        let flag = |f: Option<bool>| match f {
            Some(true) => Verdict::Deny,
            Some(false) => Verdict::Allow,
            None => Verdict::NotMediated,
        };
        let locked =
            e.typ == "tmpfs" && !self.dac_bypass && e.mode().is_some_and(|m| m & 0o700 == 0);
        match access {
            Access::Read if locked => Verdict::Deny,
            Access::Read => Verdict::Allow,
            Access::Write if readonly_path || locked => Verdict::Deny,
            Access::Write => flag(e.read_only()),
            Access::Exec if locked => Verdict::Deny,
            Access::Exec => flag(e.no_exec()),
        }
    }

    /// A host object (a `~` path): through every bind mount whose source holds it.
    fn host_object(&self, access: Access, object: &CanonPath) -> Verdict {
        let Some(object) = crate::common::resolve_home(self.home.as_ref(), object) else {
            return Verdict::NotMediated;
        };
        let mut verdict = Verdict::Deny;
        for (i, e) in self.entries.iter().enumerate() {
            if e.typ != "bind" {
                continue;
            }
            let Some(rest) = e.source.as_ref().and_then(|s| object.strip_prefix(s)) else {
                continue;
            };
            let guest = e.dest.join(rest);
            let here = match self.resolve(&guest) {
                Resolved::Masked => Verdict::Deny,
                Resolved::Mount { index, .. } if index == i => self.guest(access, &guest),
                // Another mount hides the object at this guest path.
                _ => continue,
            };
            match here {
                Verdict::Allow => return Verdict::Allow,
                Verdict::NotMediated => verdict = Verdict::NotMediated,
                Verdict::Deny => {}
            }
        }
        verdict
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Domain(d) => d == "localhost" || d.ends_with(".localhost"),
        Host::Ip(IpAddr::V4(a)) => a.is_loopback() || a.is_unspecified(),
        Host::Ip(IpAddr::V6(a)) => a.is_loopback() || a.is_unspecified(),
    }
}

/// Connections and name resolution: denied only in a fresh, unwired network namespace.
fn network(spec: &Spec, host: &Host, connect: bool) -> Verdict {
    let fresh_netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        });
    let unwired = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_NETWORK))
        .is_some_and(|v| v == "none");
    if !(fresh_netns && unwired && spec.hooks().is_none()) {
        return Verdict::NotMediated;
    }
    let local = if connect {
        is_loopback(host)
    } else {
        matches!(host, Host::Domain(d) if d == "localhost" || d.ends_with(".localhost"))
            || matches!(host, Host::Ip(_))
    };
    crate::common::deny_unless_left(local)
}

/// How the simulator reads the spec back, with its mount table (see
/// [`crate::Target::simulator`]).
pub(crate) const READ_BACK: ReadBack<(Spec, Table)> = ReadBack {
    file: FILE,
    read: |bytes| {
        let spec = serde_json::from_slice::<Spec>(bytes).ok()?;
        let table = Table::new(&spec);
        Some((spec, table))
    },
    decide: |(spec, table), request| decide(spec, table, request),
    raw: Verdict::NotMediated,
};
