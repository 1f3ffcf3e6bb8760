//! The simulator: answers requests by reading the emitted `apparmor.profile` back (with
//! [`super::parse`]), never the IR.
//!
//! - **Files.** A request needs one permission: `r` to read, `w` to write, `x` to execute.
//!   The kernel names a directory with a trailing `/` and a file without, and the profile
//!   text alone does not say which a path is, so a read or write is decided for both forms
//!   (`/data/x` and `/data/x/`): `Allow` when both are allowed, `Deny` when both are denied,
//!   and not mediated when they differ (policyc's profiles always name both forms alike, so
//!   this never happens for them). An execute is decided for the file form. A form is
//!   allowed when some allow rule matches it with the permission and no deny rule does
//!   (deny always wins, whatever the specificity).
//! - **Home.** A `~` path is resolved through the profile's `@{HOME}`; without one (container
//!   isolation, where a `~` path names a host object that the mount table decides about)
//!   it is not mediated.
//! - **Network.** AppArmor sees address families and socket types, not hosts or ports. A TCP
//!   connect is denied when neither `inet` nor `inet6` allows `stream` sockets (an IPv4
//!   address is reachable through either, IPv4-mapped); otherwise it is not mediated.
//!   A name resolution is denied when neither `inet` nor `inet6` allows any socket type
//!   policyc writes; otherwise it is not mediated.
//! - **Syscalls** are seccomp's: not mediated.
//!
//! A profile that does not read back (not one policyc writes) denies everything: the
//! deployment must refuse to load it.

use super::parse::parse;
use super::profile::{Family, FileRule, Profile, Rule, SockType};
use crate::common::{deny_unless_left, ReadBack};
use crate::Verdict;
use policyc_compiler::ast::Access;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;

/// The artifact this target emits.
pub const FILE: &str = "apparmor.profile";

/// Decide a request against a parsed profile.
pub fn decide(profile: &Profile, request: &Request) -> Verdict {
    match request {
        Request::Fs { access, path } => decide_fs(profile, *access, path),
        Request::Connect { .. } => decide_connect(profile),
        Request::Resolve { .. } => decide_resolve(profile),
        // The profile's `w` covers chmod and chown but not every metadata call (times,
        // xattrs); the simulator claims none.
        Request::Syscall { .. } | Request::Meta { .. } => Verdict::NotMediated,
    }
}

/// The path as the kernel names it (`~` resolved), or `None` without a home.
fn resolve(profile: &Profile, path: &CanonPath) -> Option<String> {
    match path.as_str().strip_prefix('~') {
        None => Some(path.to_string()),
        Some(rest) => profile.home.as_ref().map(|h| format!("{h}{rest}")),
    }
}

fn decide_fs(profile: &Profile, access: Access, path: &CanonPath) -> Verdict {
    let Some(file) = resolve(profile, path) else {
        return Verdict::NotMediated;
    };
    let file_form = form(profile, access, file.as_bytes());
    if access == Access::Exec || file == "/" {
        return file_form;
    }
    let dir_form = form(profile, access, format!("{file}/").as_bytes());
    if file_form == dir_form {
        file_form
    } else {
        Verdict::NotMediated
    }
}

/// The verdict for one form of a path.
fn form(profile: &Profile, access: Access, path: &[u8]) -> Verdict {
    let home = profile.home.as_deref();
    let hits = |deny: bool| {
        profile.rules.iter().any(|r| match r {
            Rule::File(f) => f.deny == deny && grants(f, access) && f.pattern.matches(home, path),
            _ => false,
        })
    };
    if hits(true) {
        Verdict::Deny
    } else if hits(false) {
        Verdict::Allow
    } else {
        Verdict::Deny
    }
}

/// True when the rule's permissions cover the access.
fn grants(f: &FileRule, access: Access) -> bool {
    match access {
        Access::Read => f.perms.read,
        Access::Write => f.perms.write,
        Access::Exec => f.perms.exec,
    }
}

/// True when sockets of this family and type may be created.
pub fn socket_allowed(profile: &Profile, family: Family, kind: SockType) -> bool {
    let rules = || {
        profile.rules.iter().filter_map(|r| match r {
            Rule::Network(n) if n.covers(family, kind) => Some(n),
            _ => None,
        })
    };
    rules().any(|n| !n.deny) && !rules().any(|n| n.deny)
}

fn decide_connect(profile: &Profile) -> Verdict {
    // An IPv4 address is reachable through an `inet6` socket too (IPv4-mapped addresses),
    // so every host is tried with both families.
    deny_unless_left(
        [Family::Inet, Family::Inet6]
            .into_iter()
            .any(|f| socket_allowed(profile, f, SockType::Stream)),
    )
}

fn decide_resolve(profile: &Profile) -> Verdict {
    let any = [Family::Inet, Family::Inet6].into_iter().any(|f| {
        SockType::ALL
            .into_iter()
            .any(|k| socket_allowed(profile, f, k))
    });
    deny_unless_left(any)
}

/// How the simulator reads the profile back (see [`crate::Target::simulator`]).
pub(crate) const READ_BACK: ReadBack<Profile> = ReadBack {
    file: FILE,
    read: |bytes| parse(std::str::from_utf8(bytes).ok()?).ok(),
    decide,
    raw: Verdict::NotMediated,
};
