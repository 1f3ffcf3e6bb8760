//! Path lengths once `~` is the home directory. The checker keeps `~` symbolic, so a
//! `~/...` path within `PATH_MAX` as written can be too long once a target substitutes the
//! home; [`check_home_lengths`] checks that when the home is known (`policyc check` and
//! `build` know it), on the path's own literal, before any target emits it.

use super::Scope;
use crate::ast::{DenyTarget, FsRule};
use crate::diag::{clip, Code, Diagnostic, Diagnostics};
use crate::ir::{HomePaths, Policy};
use crate::paths::{CanonPath, MAX_PATH_BYTES};
use crate::span::Spanned;

/// Record every home-relative host path of `rules` (mounts, denies, and the paths of the
/// lists denies name) with its literal's span.
pub(super) fn collect(rules: &[FsRule], scope: &Scope<'_>, out: &mut HomePaths) {
    let mut add = |raw: &Spanned<String>| {
        if let Ok(p) = CanonPath::parse(&raw.node) {
            if p.is_home() {
                out.0.push((p, raw.span));
            }
        }
    };
    for rule in rules {
        match rule {
            FsRule::Mount { host, .. } => add(host),
            FsRule::Deny {
                target: DenyTarget::Path(p),
                ..
            } => add(p),
            FsRule::Deny {
                target: DenyTarget::List(name),
                ..
            } => {
                if let Some(list) = scope.paths.get(name.node.as_str()) {
                    list.paths.iter().for_each(&mut add);
                }
            }
            FsRule::Scratch { .. } | FsRule::Tmpfs { .. } => {}
        }
    }
}

/// An error (P0204) for every home-relative path of `policy` longer than `PATH_MAX` once
/// `~` is `home`, on the path's own literal.
pub fn check_home_lengths(policy: &Policy, home: &str) -> Diagnostics {
    let home = home.trim_end_matches('/');
    let mut out = Diagnostics::default();
    for (path, span) in &policy.home_paths.0 {
        let rest = path.as_str().strip_prefix('~').unwrap_or_default();
        let len = home.len() + rest.len();
        if len <= MAX_PATH_BYTES {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::PathTooLong,
                *span,
                format!(
                    "path `{}` is {len} bytes once `~` is the home directory `{}`, longer than {MAX_PATH_BYTES}",
                    clip(path.as_str()),
                    clip(home)
                ),
            )
            .with_hint(format!(
                "shorten the path by at least {} bytes; the home directory counts toward the 4095 bytes a path may have",
                len - MAX_PATH_BYTES
            )),
        );
    }
    out.sort();
    out
}
