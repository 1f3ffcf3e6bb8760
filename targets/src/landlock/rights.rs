//! Landlock's access rights, ABI 1 to 7, and what each policy access maps to.
//!
//! | ABI | Linux | adds |
//! |---|---|---|
//! | 1 | 5.13 | the thirteen filesystem rights (`execute` ... `make_sym`) |
//! | 2 | 5.19 | `refer` (link or rename a file into another directory) |
//! | 3 | 6.2 | `truncate` |
//! | 4 | 6.7 | TCP `bind_tcp`, `connect_tcp` |
//! | 5 | 6.10 | `ioctl_dev` (ioctl on character and block devices) |
//! | 6 | 6.12 | scopes: `abstract_unix_socket`, `signal` |
//! | 7 | 6.15 | audit-logging flags for `landlock_restrict_self` (no new rights) |
//!
//! Later ABIs (pathname UNIX socket connects, UDP) are not emitted: policyc's rulesets stay
//! within what it tests against, and the build report names those gaps instead.

use policyc_compiler::ast::Access;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The highest Landlock ABI whose rights policyc emits.
pub const MAX_EMITTED_ABI: u32 = 6;

/// The highest Landlock ABI this table describes.
pub const MAX_KNOWN_ABI: u32 = 7;

/// The first Linux release with each ABI, index 0 for ABI 1.
const LINUX: [&str; 7] = ["5.13", "5.19", "6.2", "6.7", "6.10", "6.12", "6.15"];

/// The Linux release that introduced `abi` (`?` when unknown).
pub fn linux_release(abi: u32) -> &'static str {
    usize::try_from(abi)
        .ok()
        .and_then(|a| a.checked_sub(1))
        .and_then(|i| LINUX.get(i))
        .copied()
        .unwrap_or("?")
}

/// A filesystem access right, in the kernel's bit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsRight {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    Refer,
    Truncate,
    IoctlDev,
}

impl FsRight {
    /// Every filesystem right up to [`MAX_EMITTED_ABI`], in bit order.
    pub const ALL: [FsRight; 16] = [
        FsRight::Execute,
        FsRight::WriteFile,
        FsRight::ReadFile,
        FsRight::ReadDir,
        FsRight::RemoveDir,
        FsRight::RemoveFile,
        FsRight::MakeChar,
        FsRight::MakeDir,
        FsRight::MakeReg,
        FsRight::MakeSock,
        FsRight::MakeFifo,
        FsRight::MakeBlock,
        FsRight::MakeSym,
        FsRight::Refer,
        FsRight::Truncate,
        FsRight::IoctlDev,
    ];

    /// The ABI that introduced this right.
    pub fn abi(self) -> u32 {
        match self {
            FsRight::Refer => 2,
            FsRight::Truncate => 3,
            FsRight::IoctlDev => 5,
            _ => 1,
        }
    }

    /// True for rights that apply to a regular file (or device) itself; the others apply
    /// only to directories, and the kernel rejects them on a rule for a non-directory.
    pub fn applies_to_files(self) -> bool {
        matches!(
            self,
            FsRight::Execute
                | FsRight::WriteFile
                | FsRight::ReadFile
                | FsRight::Truncate
                | FsRight::IoctlDev
        )
    }

    /// The name used in `landlock.json`.
    pub fn name(self) -> &'static str {
        match self {
            FsRight::Execute => "execute",
            FsRight::WriteFile => "write_file",
            FsRight::ReadFile => "read_file",
            FsRight::ReadDir => "read_dir",
            FsRight::RemoveDir => "remove_dir",
            FsRight::RemoveFile => "remove_file",
            FsRight::MakeChar => "make_char",
            FsRight::MakeDir => "make_dir",
            FsRight::MakeReg => "make_reg",
            FsRight::MakeSock => "make_sock",
            FsRight::MakeFifo => "make_fifo",
            FsRight::MakeBlock => "make_block",
            FsRight::MakeSym => "make_sym",
            FsRight::Refer => "refer",
            FsRight::Truncate => "truncate",
            FsRight::IoctlDev => "ioctl_dev",
        }
    }

    /// The right a request needs: reading a file, writing it, executing it.
    pub fn for_request(access: Access) -> FsRight {
        match access {
            Access::Read => FsRight::ReadFile,
            Access::Write => FsRight::WriteFile,
            Access::Exec => FsRight::Execute,
        }
    }
}

/// A TCP right (ABI 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetRight {
    BindTcp,
    ConnectTcp,
}

impl NetRight {
    pub const ALL: [NetRight; 2] = [NetRight::BindTcp, NetRight::ConnectTcp];

    pub fn abi(self) -> u32 {
        4
    }

    pub fn name(self) -> &'static str {
        match self {
            NetRight::BindTcp => "bind_tcp",
            NetRight::ConnectTcp => "connect_tcp",
        }
    }
}

/// An IPC scope (ABI 6): the sandbox cannot reach these outside its own domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRight {
    AbstractUnixSocket,
    Signal,
}

impl ScopeRight {
    pub const ALL: [ScopeRight; 2] = [ScopeRight::AbstractUnixSocket, ScopeRight::Signal];

    pub fn abi(self) -> u32 {
        6
    }

    pub fn name(self) -> &'static str {
        match self {
            ScopeRight::AbstractUnixSocket => "abstract_unix_socket",
            ScopeRight::Signal => "signal",
        }
    }
}

/// The filesystem rights that reading a tree grants.
const READ: [FsRight; 2] = [FsRight::ReadFile, FsRight::ReadDir];

/// The filesystem rights that writing a tree grants, besides reading it. Not granted:
/// `refer` (cross-directory renames and links; see the module docs of `landlock`),
/// `make_char` and `make_block` (device nodes: no agent needs them).
const WRITE: [FsRight; 10] = [
    FsRight::WriteFile,
    FsRight::RemoveDir,
    FsRight::RemoveFile,
    FsRight::MakeDir,
    FsRight::MakeReg,
    FsRight::MakeSock,
    FsRight::MakeFifo,
    FsRight::MakeSym,
    FsRight::Truncate,
    FsRight::IoctlDev,
];

/// The Landlock rights for a set of policy accesses (`read`, `write`, `exec`).
pub fn rights_for(access: &BTreeSet<Access>) -> BTreeSet<FsRight> {
    let mut out = BTreeSet::new();
    if access.contains(&Access::Read) {
        out.extend(READ);
    }
    if access.contains(&Access::Write) {
        out.extend(WRITE);
    }
    if access.contains(&Access::Exec) {
        out.insert(FsRight::Execute);
    }
    out
}

/// What a kernel without `abi` leaves unrestricted, in words, for reports and gap lists.
pub fn consequence(abi: u32) -> &'static str {
    match abi {
        1 => "no filesystem access is restricted at all",
        2 => "nothing is lost: without ABI 2 the kernel refuses every cross-directory rename and link",
        3 => "truncate(2) and O_TRUNC are not restricted, so files the policy keeps read-only can be emptied",
        4 => "TCP connect and bind are not restricted by Landlock",
        5 => "ioctl on device files is not restricted",
        6 => "abstract UNIX sockets and signals reach processes outside the sandbox",
        _ => "nothing policyc emits",
    }
}

/// The ABI a set of rights needs (the highest ABI among them; 0 for none).
pub fn needed_abi<T: Copy>(rights: &BTreeSet<T>, abi_of: fn(T) -> u32) -> u32 {
    rights.iter().map(|r| abi_of(*r)).max().unwrap_or(0)
}

/// A right the running kernel does not enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub right: &'static str,
    /// The ABI that introduced it.
    pub abi: u32,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (Landlock ABI {}, Linux {}): {}",
            self.right,
            self.abi,
            linux_release(self.abi),
            consequence(self.abi)
        )
    }
}

/// The rights of `rs` that a kernel with ABI `abi` cannot enforce.
pub fn unenforced_at(rs: &super::json::Ruleset, abi: u32) -> Vec<Gap> {
    let fs = rs.handled_fs.iter().map(|r| (r.name(), r.abi()));
    let net = rs.handled_net.iter().map(|r| (r.name(), r.abi()));
    let scoped = rs.scoped.iter().map(|r| (r.name(), r.abi()));
    fs.chain(net)
        .chain(scoped)
        .filter(|(_, a)| *a > abi)
        .map(|(right, abi)| Gap { right, abi })
        .collect()
}
