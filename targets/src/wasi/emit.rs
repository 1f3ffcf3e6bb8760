//! From the checked IR to a [`Manifest`]: which preopens, with which permissions, and the
//! rules WASI preopens cannot express (which fail the build).
//!
//! A preopen grants a whole directory tree, read-only or read-write, and nothing else:
//! - a deny that covers a bind mount's whole host directory narrows the preopen (read-write
//!   becomes read-only when writes are denied; a preopen whose reads are denied is left
//!   out, since WASI cannot express write-only); reported as `P1104`;
//! - a deny strictly beneath a preopen's host directory that removes a right the preopen
//!   gives cannot be expressed (`P1101`); one that removes only rights the preopen does not
//!   give (`deny write` under a read-only preopen, any `deny exec`) is already enforced;
//! - a mount whose guest path lies inside another preopen cannot be expressed (`P1102`):
//!   wasi-libc resolves paths by longest prefix, but the module can always open the hidden
//!   part of the outer tree through the outer preopen's descriptor;
//! - `exec` grants become read-only (WASI cannot execute anything), reported as `P1104`.
//!
//! Denies are compared with mount sources after `~` is resolved with the build's home
//! directory, so a deny written `~/x` also reaches a mount written with the absolute path.

use super::manifest::{Limits, Manifest, NetRule, Network, Perms, Preopen, Source};
use crate::common::{mount_access, once, resolve_home, HomeFindings};
use policyc_compiler::ast::{Access, DnsMode};
use policyc_compiler::ir::{Accesses, FsDeny, Mount, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeSet;

/// The target's name, for messages.
pub(crate) const TARGET: &str = "wasi";

/// The findings about the home directory (`P1103`).
const HOME: HomeFindings = HomeFindings {
    target: TARGET,
    code: Code::WasiHomeUnknown,
    bad_hint: "pass an absolute home directory (default $HOME)",
    missing_hint: "wasi.json names host directories; pass the home directory (default $HOME)",
};

/// One mount as a preopen, before and after denies.
#[derive(Debug)]
pub(crate) struct Planned<'p> {
    pub mount: &'p Mount,
    /// The host directory of a bind mount, `~` resolved.
    pub host: Option<CanonPath>,
    /// What the mount grants.
    pub written: BTreeSet<Access>,
    /// What the preopen grants: read, or read and write (never exec).
    pub rights: BTreeSet<Access>,
    /// The denies covering the whole host directory that took rights away.
    pub narrowed_by: Vec<&'p FsDeny>,
}

impl Planned<'_> {
    /// The preopen's permissions, or `None` when it is left out (no read right).
    pub fn perms(&self) -> Option<Perms> {
        match (
            self.rights.contains(&Access::Read),
            self.rights.contains(&Access::Write),
        ) {
            (true, true) => Some(Perms::ReadWrite),
            (true, false) => Some(Perms::ReadOnly),
            (false, _) => None,
        }
    }
}

/// The home directory: checked when given, required when a rule names a `~` path.
pub(crate) fn home(
    policy: &Policy,
    home: Option<&str>,
) -> Result<Option<CanonPath>, Vec<Diagnostic>> {
    let home = HOME.given(policy, home)?;
    if home.is_some() {
        return Ok(home);
    }
    let errors = HOME.missing(policy, Mount::host);
    if errors.is_empty() {
        Ok(None)
    } else {
        Err(errors)
    }
}

/// Every mount as a planned preopen, checked and narrowed, or the diagnostics for what
/// WASI cannot express.
pub(crate) fn plan<'p>(
    policy: &'p Policy,
    home: Option<&CanonPath>,
) -> Result<Vec<Planned<'p>>, Vec<Diagnostic>> {
    let mut planned: Vec<Planned<'p>> = policy
        .fs
        .mounts
        .iter()
        .map(|m| {
            let written = mount_access(m);
            let mut rights = written.clone();
            rights.remove(&Access::Exec);
            Planned {
                mount: m,
                host: m.host().and_then(|h| resolve_home(home, h)),
                written,
                rights,
                narrowed_by: Vec::new(),
            }
        })
        .collect();
    let denies: Vec<(CanonPath, &FsDeny)> = policy
        .fs
        .denies
        .iter()
        .filter_map(|d| resolve_home(home, &d.path).map(|p| (p, d)))
        .collect();
    narrow(&mut planned, &denies);
    let mut errors = nested_preopens(&planned);
    errors.extend(nested_denies(&planned, &denies));
    errors.extend(home_spelled_out(&planned, home));
    once(&mut errors);
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(errors)
    }
}

/// Take away from each bind preopen what the denies covering its whole host directory deny.
fn narrow<'p>(planned: &mut [Planned<'p>], denies: &[(CanonPath, &'p FsDeny)]) {
    for p in planned.iter_mut() {
        let Some(host) = p.host.clone() else { continue };
        for (path, d) in denies {
            if !host.starts_with(path) {
                continue;
            }
            let before = p.rights.len();
            p.rights.retain(|a| !d.access.contains(a));
            if p.rights.len() != before {
                p.narrowed_by.push(d);
            }
        }
    }
}

/// `P1101`: a deny strictly beneath a preopen's host directory that removes a right the
/// preopen gives.
fn nested_denies(planned: &[Planned<'_>], denies: &[(CanonPath, &FsDeny)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (path, d) in denies {
        for p in planned {
            let Some(host) = &p.host else { continue };
            if p.perms().is_none() || path == host || !path.starts_with(host) {
                continue;
            }
            let lost: BTreeSet<Access> = p.rights.intersection(&d.access).copied().collect();
            if lost.is_empty() {
                continue;
            }
            let msg = format!(
                "{TARGET}: {} lies beneath the preopen `{}` (host directory `{host}`), which gives {} there; a WASI preopen grants its whole tree and cannot take a right away beneath it",
                d.cited(),
                p.mount,
                Accesses(&lost),
            );
            out.push(Diagnostic::new(Code::WasiNestedDeny, d.span, msg).with_hint(format!(
                "mount a directory that leaves `{path}` out, make the mount read-only if only writes are denied, or drop the deny"
            )));
        }
    }
    out
}

/// `P1102`: a mount whose guest path lies inside another preopen's guest path.
fn nested_preopens(planned: &[Planned<'_>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, inner) in planned.iter().enumerate() {
        for (j, outer) in planned.iter().enumerate() {
            if i == j
                || outer.perms().is_none()
                || inner.mount.guest == outer.mount.guest
                || !inner.mount.guest.starts_with(&outer.mount.guest)
            {
                continue;
            }
            let msg = format!(
                "{TARGET}: `{}` lies inside the preopen `{}`; the module can reach what it hides through the outer preopen's descriptor, so WASI cannot express the nesting",
                inner.mount,
                outer.mount,
            );
            out.push(
                Diagnostic::new(Code::WasiNestedPreopen, inner.mount.span, msg).with_hint(
                    "give each mount a guest path outside every other mount's guest path",
                ),
            );
        }
    }
    out
}

/// `P1108`: a host directory written as an absolute path that is, holds or lies inside the
/// home directory. The policy's `~` denies and host-object requests name the home by `~`;
/// through such a preopen the module would reach those objects by another spelling that no
/// deny and no reference decision matches.
fn home_spelled_out(planned: &[Planned<'_>], home: Option<&CanonPath>) -> Vec<Diagnostic> {
    let Some(home) = home else {
        return Vec::new();
    };
    planned
        .iter()
        .filter(|p| p.mount.host().is_some_and(|h| !h.is_home()))
        .filter_map(|p| {
            let host = p.host.as_ref()?;
            if !(home.starts_with(host) || host.starts_with(home)) {
                return None;
            }
            let how = if host.starts_with(home) {
                "lies inside"
            } else {
                "is or holds"
            };
            Some(
                Diagnostic::new(
                    Code::WasiHomeSpelledOut,
                    p.mount.span,
                    format!(
                        "{TARGET}: the host directory `{host}` of `{}` {how} the home directory `{home}` but is not written with `~`, so the policy's `~` denies and requests would not match what the module reaches through it",
                        p.mount
                    ),
                )
                .with_hint("write home paths with `~` (`read \"~/Documents\"`), and mount only folders inside the home directory, never the folder that holds it"),
            )
        })
        .collect()
}

/// The manifest for checked, planned preopens.
pub(crate) fn manifest(
    policy: &Policy,
    home: Option<&CanonPath>,
    planned: &[Planned<'_>],
) -> Manifest {
    let mut preopens: Vec<Preopen> = planned
        .iter()
        .filter_map(|p| {
            let perms = p.perms()?;
            let source = match (&p.mount.kind, &p.host) {
                (MountKind::Bind { .. }, Some(h)) => Source::Host(h.clone()),
                (MountKind::Bind { .. }, None) => return None,
                (MountKind::Scratch { size }, _) => Source::Scratch { size: *size },
                (MountKind::Tmpfs { size }, _) => Source::Tmpfs { size: *size },
            };
            Some(Preopen {
                guest: p.mount.guest.clone(),
                source,
                perms,
            })
        })
        .collect();
    preopens.sort_by(|a, b| a.guest.cmp(&b.guest));
    Manifest {
        policy: policy.name.clone(),
        home: home.cloned(),
        preopens,
        env: policy.env.set.clone(),
        network: network(policy),
        limits: Limits {
            memory: policy.limits.memory,
        },
    }
}

fn network(policy: &Policy) -> Network {
    let net = &policy.net;
    if net.egress_none {
        return Network {
            egress: false,
            rules: Vec::new(),
            dns: DnsMode::None,
        };
    }
    Network {
        egress: true,
        rules: net
            .rules
            .iter()
            .map(|r| NetRule {
                allow: r.allow,
                host: r.host.clone(),
                port: r.port,
                via: r.via,
            })
            .collect(),
        dns: net.dns,
    }
}
