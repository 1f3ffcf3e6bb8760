//! The `fs` statements of a policy to IR: paths canonicalised, mounts checked against the
//! isolation level, path lists expanded into denies.

use super::Scope;
use crate::ast::{Access, DenyTarget, FsRule};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir::{self, Isolation, MountKind};
use crate::paths::{CanonPath, PathError};
use crate::span::{Span, Spanned};
use std::collections::BTreeSet;

/// The canonical form of a path the policy writes; `None` (and a diagnostic) when it has none.
pub(super) fn canon(raw: &Spanned<String>, diags: &mut Diagnostics) -> Option<CanonPath> {
    path_or_diag(CanonPath::parse(&raw.node), raw, diags)
}

/// The parsed path, or the diagnostic its error deserves.
pub(super) fn path_or_diag(
    parsed: Result<CanonPath, PathError>,
    raw: &Spanned<String>,
    diags: &mut Diagnostics,
) -> Option<CanonPath> {
    match parsed {
        Ok(p) => Some(p),
        Err(e) => {
            let (code, hint) = match e {
                PathError::Relative(_) => (
                    Code::RelativePath,
                    "start the path with `/`, or with `~/` for the home directory",
                ),
                PathError::Escapes(_) => (
                    Code::PathEscapes,
                    "remove the `..` that climbs above `/` or `~`",
                ),
                PathError::ControlChar(_) => (
                    Code::PathControlChar,
                    "paths may not contain NUL, newlines or other control characters",
                ),
                PathError::TooLong(_) => (
                    Code::PathTooLong,
                    "paths are at most 4095 bytes with components of at most 255",
                ),
                PathError::Glob(_) => (
                    Code::PathGlob,
                    "name the directory instead; denies and grants cover everything beneath a path",
                ),
            };
            diags.push(Diagnostic::new(code, raw.span, e.to_string()).with_hint(hint));
            None
        }
    }
}

fn guest_path(raw: &Spanned<String>, diags: &mut Diagnostics) -> Option<CanonPath> {
    let p = canon(raw, diags)?;
    if p.is_home() {
        diags.push(
            Diagnostic::new(
                Code::GuestPathNotAbsolute,
                raw.span,
                format!("guest path `{p}` is not absolute"),
            )
            .with_hint("guest paths are where the program sees a mount; write them from `/`"),
        );
        return None;
    }
    Some(p)
}

/// The rules of the `fs` blocks, into the policy's mounts and denies (sorted later by
/// [`sort_mounts`] and the caller).
pub(super) fn to_ir(
    rules: &[FsRule],
    isolation: Isolation,
    scope: &Scope<'_>,
    fs: &mut ir::Fs,
    diags: &mut Diagnostics,
) {
    for rule in rules {
        match rule {
            FsRule::Mount {
                access,
                host,
                guest,
                span,
            } => {
                if let Some(m) = bind_mount(*access, host, guest.as_ref(), isolation, *span, diags)
                {
                    fs.mounts.push(m);
                }
            }
            FsRule::Scratch { path, size, span } | FsRule::Tmpfs { path, size, span } => {
                let (Some(guest), Some(size)) =
                    (guest_path(path, diags), sized(size.as_ref(), *span, diags))
                else {
                    continue;
                };
                let kind = if matches!(rule, FsRule::Scratch { .. }) {
                    MountKind::Scratch { size }
                } else {
                    MountKind::Tmpfs { size }
                };
                fs.mounts.push(ir::Mount {
                    guest,
                    kind,
                    span: *span,
                });
            }
            FsRule::Deny {
                access,
                target,
                span,
            } => {
                let access: BTreeSet<Access> = match access {
                    Some(a) => [*a].into(),
                    None => [Access::Read, Access::Write, Access::Exec].into(),
                };
                match target {
                    DenyTarget::Path(p) => {
                        if let Some(path) = canon(p, diags) {
                            fs.denies.push(ir::FsDeny {
                                path,
                                access,
                                list: None,
                                span: *span,
                            });
                        }
                    }
                    DenyTarget::List(name) => deny_list(name, &access, *span, scope, fs, diags),
                }
            }
        }
    }
}

fn bind_mount(
    access: Access,
    host: &Spanned<String>,
    guest: Option<&Spanned<String>>,
    isolation: Isolation,
    span: Span,
    diags: &mut Diagnostics,
) -> Option<ir::Mount> {
    let host_path = canon(host, diags)?;
    let guest_path = match guest {
        Some(g) => {
            let gp = guest_path(g, diags)?;
            if isolation == Isolation::Process && gp != host_path {
                diags.push(
                    Diagnostic::new(
                        Code::ProcessRemap,
                        g.span,
                        format!("process isolation cannot show `{host_path}` at `{gp}`"),
                    )
                    .with_hint("drop `at`, or use container isolation to remap paths"),
                );
                return None;
            }
            gp
        }
        None if host_path.is_home() && isolation != Isolation::Process => {
            diags.push(
                Diagnostic::new(
                    Code::MissingGuestPath,
                    host.span,
                    format!(
                        "`{host_path}` needs a guest path under {} isolation",
                        isolation.keyword()
                    ),
                )
                .with_hint(format!(
                    "add `at \"/mnt/...\"` to say where the program sees `{host_path}`"
                )),
            );
            return None;
        }
        None => host_path.clone(),
    };
    Some(ir::Mount {
        guest: guest_path,
        kind: MountKind::Bind {
            host: host_path,
            access,
        },
        span,
    })
}

/// Sort mounts by guest path, keeping the first of any that share one (the sort is stable,
/// so "first" is source order) and reporting the rest.
pub(super) fn sort_mounts(fs: &mut ir::Fs, diags: &mut Diagnostics) {
    fs.mounts.sort_by(|a, b| a.guest.cmp(&b.guest));
    let mut kept: Vec<ir::Mount> = Vec::with_capacity(fs.mounts.len());
    for m in std::mem::take(&mut fs.mounts) {
        if kept.last().is_some_and(|prev| prev.guest == m.guest) {
            diags.push(
                Diagnostic::new(
                    Code::GuestPathCollision,
                    m.span,
                    format!("another mount is already at `{}`", m.guest),
                )
                .with_hint("give each mount its own guest path"),
            );
        } else {
            kept.push(m);
        }
    }
    fs.mounts = kept;
}

fn sized(size: Option<&Spanned<u64>>, span: Span, diags: &mut Diagnostics) -> Option<u64> {
    match size {
        Some(s) if s.node > 0 => Some(s.node),
        Some(s) => {
            diags.push(
                Diagnostic::new(Code::BadSize, s.span, "size is zero")
                    .with_hint("give a size such as `64MiB`"),
            );
            None
        }
        None => {
            diags.push(Diagnostic::new(Code::BadSize, span, "no size given").with_hint("add `size 64MiB` (or the size the task needs): unsized writable areas can fill the disk"));
            None
        }
    }
}

fn deny_list(
    name: &Spanned<String>,
    access: &BTreeSet<Access>,
    span: Span,
    scope: &Scope<'_>,
    fs: &mut ir::Fs,
    diags: &mut Diagnostics,
) {
    let Some(list) = scope.paths.get(name.node.as_str()) else {
        let hint = did_you_mean(&name.node, scope.paths.keys().copied()).map_or_else(
            || {
                if scope.std.has(super::stdlib::SECRETS) {
                    "define it with `paths NAME { ... }`, or import one with `use std::secrets`"
                        .to_string()
                } else {
                    "define it with `paths NAME { ... }`".to_string()
                }
            },
            |s| format!("did you mean `{s}`?"),
        );
        diags.push(
            Diagnostic::new(
                Code::UnknownPathList,
                name.span,
                format!("no path list `{}`", crate::diag::clip(&name.node)),
            )
            .with_hint(hint),
        );
        return;
    };
    for raw in &list.paths {
        if let Some(path) = canon(raw, diags) {
            fs.denies.push(ir::FsDeny {
                path,
                access: access.clone(),
                list: Some(name.node.clone()),
                span,
            });
        }
    }
}

/// Add, for every deny whose path is spelled differently in the other Unicode
/// normalisation form (NFC `é` against NFD `e` + U+0301), a deny of that spelling with the
/// same accesses, list and span, unless the policy already has one.
///
/// A Linux file name is bytes: `~/Café` typed on one system and `~/Café` written by another
/// (macOS file names, a zip archive, a sync tool) can be two spellings of one name, and a
/// deny of one does not match a file spelled the other way. Denying both is always safe (a
/// deny only takes rights away); grants are not widened, and request paths are never
/// normalised, since the file system does not normalise them either.
pub(super) fn cover_spellings(fs: &mut ir::Fs) {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    let nfd = icu_normalizer::DecomposingNormalizerBorrowed::new_nfd();
    let mut have: BTreeSet<(CanonPath, BTreeSet<Access>)> = fs
        .denies
        .iter()
        .map(|d| (d.path.clone(), d.access.clone()))
        .collect();
    let mut added = Vec::new();
    for d in fs.denies.iter().filter(|d| !d.path.as_str().is_ascii()) {
        let raw = d.path.as_str();
        for other in [nfc.normalize(raw), nfd.normalize(raw)] {
            let Ok(path) = CanonPath::parse(&other) else {
                continue;
            };
            if have.insert((path.clone(), d.access.clone())) {
                added.push(ir::FsDeny { path, ..d.clone() });
            }
        }
    }
    fs.denies.extend(added);
}
