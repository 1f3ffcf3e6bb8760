//! Applying a parsed ruleset to the calling thread with the `landlock` crate.
//!
//! Fail closed: without `best_effort` every handled right must be supported by the running
//! kernel (the crate's hard requirement), or nothing is restricted and an error returns.
//! With it, the kernel enforces what it can and the report lists exactly what it could not.
//!
//! Rule paths are opened here, not by the crate's `path_beneath_rules` (which silently skips
//! paths it cannot open): each is opened with `O_PATH | O_NOFOLLOW`, so a missing path is an
//! error, a symlink at the path is an error, and a path whose resolution went through a
//! symlink (the kernel's name for the opened descriptor differs) is an error, since a rule
//! attaches to the inode it finally names and would grant more than the path says. The
//! descriptor that was checked is the one handed to the kernel, so a path swapped after the
//! check does not change the rule.
//!
//! Directory-only rights on a path that is not a directory are dropped for that rule (the
//! kernel would refuse the rule); the report lists each such rule.
//!
//! Landlock restricts the calling thread and its future children: call [`apply`] in a
//! single-threaded child between fork and exec. On error nothing was restricted; the caller
//! must not run the program.

use landlock as ll;
use ll::{Compatible as _, RulesetAttr as _, RulesetCreatedAttr as _};
use policyc_targets::landlock::{
    unenforced_at, Error, FsRight, Gap, NetRight, Ruleset, ScopeRight, MAX_EMITTED_ABI,
};
use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// What the kernel ended up enforcing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Full,
    /// Best effort on an older kernel: some rights are not enforced (see the gaps).
    Partial,
    /// Best effort on a kernel without Landlock: nothing is enforced.
    None,
}

/// A rule on a path that is not a directory, which lost its directory-only rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRule {
    pub path: String,
    pub dropped: Vec<&'static str>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub enforcement: Enforcement,
    /// The kernel's ABI as far as policyc's rights go (capped at 6).
    pub kernel_abi: u32,
    /// The ABI the ruleset needs.
    pub required_abi: u32,
    /// Rights not enforced (best effort on an older kernel).
    pub not_enforced: Vec<Gap>,
    pub file_rules: Vec<FileRule>,
}

/// The rights of `rs` that the running kernel cannot enforce (empty: all of them).
pub fn unenforced(rs: &Ruleset) -> Vec<Gap> {
    unenforced_at(rs, kernel_abi())
}

/// Whether the running kernel supports the rights of ABI `abi` (without restricting).
fn supports(abi: u32) -> bool {
    let r = ll::Ruleset::default().set_compatibility(ll::CompatLevel::HardRequirement);
    let probed = match abi {
        1 => r.handle_access(ll::AccessFs::Execute),
        2 => r.handle_access(ll::AccessFs::Refer),
        3 => r.handle_access(ll::AccessFs::Truncate),
        4 => r.handle_access(ll::AccessNet::BindTcp),
        5 => r.handle_access(ll::AccessFs::IoctlDev),
        6 => r.scope(ll::Scope::Signal),
        _ => return false,
    };
    probed.is_ok()
}

/// The running kernel's Landlock ABI, as far as policyc's rights go: 0 without Landlock,
/// at most [`MAX_EMITTED_ABI`]. Probes the kernel without restricting anything.
pub fn kernel_abi() -> u32 {
    (1..=MAX_EMITTED_ABI)
        .take_while(|abi| supports(*abi))
        .last()
        .unwrap_or(0)
}

/// The crate's flags for a set of policyc's rights, each right mapped by `flag`.
fn flags<R, A: ll::Access>(rights: &BTreeSet<R>, flag: fn(&R) -> A) -> ll::BitFlags<A> {
    rights.iter().map(flag).collect()
}

fn fs_access(r: &FsRight) -> ll::AccessFs {
    match r {
        FsRight::Execute => ll::AccessFs::Execute,
        FsRight::WriteFile => ll::AccessFs::WriteFile,
        FsRight::ReadFile => ll::AccessFs::ReadFile,
        FsRight::ReadDir => ll::AccessFs::ReadDir,
        FsRight::RemoveDir => ll::AccessFs::RemoveDir,
        FsRight::RemoveFile => ll::AccessFs::RemoveFile,
        FsRight::MakeChar => ll::AccessFs::MakeChar,
        FsRight::MakeDir => ll::AccessFs::MakeDir,
        FsRight::MakeReg => ll::AccessFs::MakeReg,
        FsRight::MakeSock => ll::AccessFs::MakeSock,
        FsRight::MakeFifo => ll::AccessFs::MakeFifo,
        FsRight::MakeBlock => ll::AccessFs::MakeBlock,
        FsRight::MakeSym => ll::AccessFs::MakeSym,
        FsRight::Refer => ll::AccessFs::Refer,
        FsRight::Truncate => ll::AccessFs::Truncate,
        FsRight::IoctlDev => ll::AccessFs::IoctlDev,
    }
}

fn net_access(r: &NetRight) -> ll::AccessNet {
    match r {
        NetRight::BindTcp => ll::AccessNet::BindTcp,
        NetRight::ConnectTcp => ll::AccessNet::ConnectTcp,
    }
}

fn scope(r: &ScopeRight) -> ll::Scope {
    match r {
        ScopeRight::AbstractUnixSocket => ll::Scope::AbstractUnixSocket,
        ScopeRight::Signal => ll::Scope::Signal,
    }
}

fn kernel_err(e: impl fmt::Display) -> Error {
    Error::Kernel(e.to_string())
}

/// Open a rule path exactly as written: no symlink at it or on the way to it.
pub fn open_rule_path(path: &Path) -> Result<File, Error> {
    let shown = || path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => Error::MissingPath(shown()),
            _ => Error::Open(shown(), err),
        })?;
    let meta = file.metadata().map_err(|e| Error::Open(shown(), e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink {
            path: shown(),
            resolved: None,
        });
    }
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    let seen = std::fs::read_link(&proc).map_err(|e| Error::Open(shown(), e))?;
    if seen != path {
        return Err(Error::Symlink {
            path: shown(),
            resolved: Some(seen.display().to_string()),
        });
    }
    Ok(file)
}

/// Restrict the calling thread (and what it executes) with `rs`.
pub fn apply(rs: &Ruleset, best_effort: bool) -> Result<ApplyReport, Error> {
    let level = if best_effort {
        ll::CompatLevel::BestEffort
    } else {
        ll::CompatLevel::HardRequirement
    };
    let mut builder = ll::Ruleset::default().set_compatibility(level);
    if !rs.handled_fs.is_empty() {
        builder = builder
            .handle_access(flags(&rs.handled_fs, fs_access))
            .map_err(kernel_err)?;
    }
    if !rs.handled_net.is_empty() {
        builder = builder
            .handle_access(flags(&rs.handled_net, net_access))
            .map_err(kernel_err)?;
    }
    if !rs.scoped.is_empty() {
        builder = builder
            .scope(flags(&rs.scoped, scope))
            .map_err(kernel_err)?;
    }
    let mut created = builder.create().map_err(kernel_err)?;
    let mut file_rules = Vec::new();
    for rule in &rs.paths {
        let fd = open_rule_path(Path::new(rule.path.as_str()))?;
        let is_dir = fd
            .metadata()
            .map_err(|e| Error::Open(rule.path.to_string(), e))?
            .is_dir();
        let (kept, dropped): (BTreeSet<FsRight>, BTreeSet<FsRight>) = rule
            .allowed
            .iter()
            .partition(|r| is_dir || r.applies_to_files());
        if !dropped.is_empty() {
            file_rules.push(FileRule {
                path: rule.path.to_string(),
                dropped: dropped.iter().map(|r| r.name()).collect(),
            });
        }
        if !kept.is_empty() {
            let beneath = ll::PathBeneath::new(fd, flags(&kept, fs_access));
            created = created.add_rule(beneath).map_err(kernel_err)?;
        }
    }
    for rule in &rs.ports {
        let port = ll::NetPort::new(rule.port, flags(&rule.allowed, net_access));
        created = created.add_rule(port).map_err(kernel_err)?;
    }
    let status = created.restrict_self().map_err(kernel_err)?;
    finish(rs, best_effort, &status, file_rules)
}

/// Turn the crate's status into a report; without best effort, anything short of full
/// enforcement is an error (it cannot happen after a hard requirement, but fail closed).
fn finish(
    rs: &Ruleset,
    best_effort: bool,
    status: &ll::RestrictionStatus,
    file_rules: Vec<FileRule>,
) -> Result<ApplyReport, Error> {
    let kernel_abi = match status.landlock {
        ll::LandlockStatus::Available { .. } => kernel_abi(),
        _ => 0,
    };
    let enforcement = match status.ruleset {
        ll::RulesetStatus::FullyEnforced => Enforcement::Full,
        ll::RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        ll::RulesetStatus::NotEnforced => Enforcement::None,
    };
    if enforcement != Enforcement::Full && !best_effort {
        return Err(Error::Kernel(
            "the kernel did not enforce the whole ruleset".to_string(),
        ));
    }
    Ok(ApplyReport {
        enforcement,
        kernel_abi,
        required_abi: rs.abi,
        not_enforced: unenforced_at(rs, kernel_abi),
        file_rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_symlinked_rule_paths_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(open_rule_path(&real).is_ok());
        let missing = open_rule_path(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(missing, Error::MissingPath(_)), "{missing}");
        let at_link = open_rule_path(&link).unwrap_err();
        assert!(
            matches!(at_link, Error::Symlink { resolved: None, .. }),
            "{at_link}"
        );
        let through = open_rule_path(&link.join(".")).unwrap_err();
        assert!(matches!(through, Error::Symlink { .. }), "{through}");
    }
}
