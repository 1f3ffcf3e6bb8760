//! From the policy's mounts and denies to the bundle's mount table and masks.
//!
//! Under container isolation a deny names a host object, which reaches the program only
//! through the bind mounts whose source holds it (never a scratch area or tmpfs), and only
//! where no other mount hides it. So, per bind mount:
//!
//! - a deny at or above the source takes its accesses from the whole mount: no write makes
//!   it read-only, no exec makes it `noexec`, no read replaces the bind by an empty,
//!   read-only, mode-000 tmpfs (a mask the process, which holds no capability, cannot even
//!   list);
//! - a deny strictly beneath the source that removes an access the mount grants masks the
//!   guest path it appears at (`linux.maskedPaths`: runc puts an empty read-only tmpfs over a
//!   directory, `/dev/null` over a file). The mask hides the object for every access, so a
//!   deny of exec alone beneath an `exec` mount also hides reading it (reported). Masks only
//!   sit beneath read-only binds: beneath a writable one the program could rename a parent of
//!   the masked path and re-create it, so that fails the build (`P1008`).

use crate::common::{mount_access, resolve_home};
use policyc_compiler::ast::Access;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::ir::{FsDeny, Mount, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic};
use std::collections::BTreeSet;

/// What one policy mount becomes in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planned {
    /// A recursive bind of a host folder.
    Bind {
        source: CanonPath,
        write: bool,
        exec: bool,
    },
    /// A scratch area or tmpfs: writable, never executable.
    Tmpfs { size: u64 },
    /// A bind whose source may not be read: an empty, read-only, mode-000 tmpfs instead.
    Mask,
}

/// One policy mount and what the bundle makes of it.
#[derive(Debug)]
pub(crate) struct PlannedMount<'p> {
    pub mount: &'p Mount,
    pub kind: Planned,
    /// What the mount grants in the policy.
    pub written: BTreeSet<Access>,
    /// Denies covering the whole source that took accesses away.
    pub narrowed_by: Vec<&'p FsDeny>,
}

impl PlannedMount<'_> {
    /// What the mount grants in the bundle.
    pub fn granted(&self) -> BTreeSet<Access> {
        match &self.kind {
            Planned::Bind { write, exec, .. } => [
                Some(Access::Read),
                write.then_some(Access::Write),
                exec.then_some(Access::Exec),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Planned::Tmpfs { .. } => [Access::Read, Access::Write].into_iter().collect(),
            Planned::Mask => BTreeSet::new(),
        }
    }
}

/// A guest path masked because a deny lies beneath a read-only bind mount.
#[derive(Debug)]
pub(crate) struct MaskedPath<'p> {
    pub guest: CanonPath,
    pub deny: &'p FsDeny,
    pub mount: &'p Mount,
    /// Accesses the policy allows there that the mask takes away too.
    pub also_hides: BTreeSet<Access>,
    /// Policy mounts beneath the masked path, which the mask hides as well.
    pub hides_mounts: Vec<&'p Mount>,
}

/// The bundle's view of the policy's file system.
#[derive(Debug)]
pub(crate) struct Plan<'p> {
    pub home: Option<CanonPath>,
    pub mounts: Vec<PlannedMount<'p>>,
    pub masks: Vec<MaskedPath<'p>>,
}

/// Plan every mount: narrow, mask, or fail with `P1008`.
pub(crate) fn plan<'p>(
    policy: &'p Policy,
    home: Option<&CanonPath>,
) -> Result<Plan<'p>, Vec<Diagnostic>> {
    let denies: Vec<(&FsDeny, CanonPath)> = policy
        .fs
        .denies
        .iter()
        .filter_map(|d| resolve_home(home, &d.path).map(|p| (d, p)))
        .collect();
    let mut mounts = Vec::new();
    for m in &policy.fs.mounts {
        let written = mount_access(m);
        let kind = match &m.kind {
            MountKind::Scratch { size } | MountKind::Tmpfs { size } => {
                Planned::Tmpfs { size: *size }
            }
            MountKind::Bind { host, .. } => {
                let Some(source) = resolve_home(home, host) else {
                    continue;
                };
                let mut granted = written.clone();
                let mut narrowed_by = Vec::new();
                for (d, path) in &denies {
                    let before = granted.len();
                    if source.starts_with(path) {
                        granted.retain(|a| !d.access.contains(a));
                    }
                    if granted.len() != before {
                        narrowed_by.push(*d);
                    }
                }
                let kind = if granted.contains(&Access::Read) {
                    Planned::Bind {
                        source,
                        write: granted.contains(&Access::Write),
                        exec: granted.contains(&Access::Exec),
                    }
                } else {
                    Planned::Mask
                };
                mounts.push(PlannedMount {
                    mount: m,
                    kind,
                    written,
                    narrowed_by,
                });
                continue;
            }
        };
        mounts.push(PlannedMount {
            mount: m,
            kind,
            written,
            narrowed_by: Vec::new(),
        });
    }
    let (masks, errors) = nested(policy, &mounts, &denies);
    if errors.is_empty() {
        Ok(Plan {
            home: home.cloned(),
            mounts,
            masks,
        })
    } else {
        Err(errors)
    }
}

/// Masks for denies strictly beneath bind sources, and `P1008` where a mask cannot hold.
fn nested<'p>(
    policy: &'p Policy,
    mounts: &[PlannedMount<'p>],
    denies: &[(&'p FsDeny, CanonPath)],
) -> (Vec<MaskedPath<'p>>, Vec<Diagnostic>) {
    let mut masks: Vec<MaskedPath<'p>> = Vec::new();
    let mut errors = Vec::new();
    for (d, path) in denies {
        for pm in mounts {
            let Planned::Bind { source, write, .. } = &pm.kind else {
                continue;
            };
            let Some(rest) = path.strip_prefix(source).filter(|r| !r.is_empty()) else {
                continue;
            };
            let guest = pm.mount.guest.join(rest);
            // Only where this mount is the one the guest path resolves through.
            if resolve_mount(policy, &guest).map(|r| &r.guest) != Some(&pm.mount.guest) {
                continue;
            }
            let granted = pm.granted();
            if granted.intersection(&d.access).next().is_none() {
                continue;
            }
            if *write {
                errors.push(
                    Diagnostic::new(
                        Code::OciDenyInWritableMount,
                        d.span,
                        format!(
                            "target `oci`: {} lies beneath the writable bind mount `{}`; masking `{guest}` cannot keep the host object out of reach, since the program can rename a parent folder and re-create the path",
                            d.cited(),
                            pm.mount
                        ),
                    )
                    .with_hint("make the mount read-only, or mount narrower folders that leave the denied object out"),
                );
                continue;
            }
            if masks.iter().any(|k| k.guest == guest) {
                continue;
            }
            let also_hides: BTreeSet<Access> = granted.difference(&d.access).copied().collect();
            let hides_mounts: Vec<&Mount> = policy
                .fs
                .mounts
                .iter()
                .filter(|m| m.guest != guest && m.guest.starts_with(&guest))
                .collect();
            masks.push(MaskedPath {
                guest,
                deny: d,
                mount: pm.mount,
                also_hides,
                hides_mounts,
            });
        }
    }
    masks.sort_by(|a, b| a.guest.cmp(&b.guest));
    (masks, errors)
}
