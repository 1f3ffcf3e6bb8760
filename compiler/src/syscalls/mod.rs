//! Syscall and errno tables, per architecture, generated from libseccomp (see
//! `gen-tables.sh`), and the list of syscalls no sandboxed agent should make.

mod dangerous;
mod errno;
mod signed;
mod tables;

pub use signed::Width;

use serde::Serialize;

/// An architecture a seccomp filter can see in `seccomp_data.arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    /// The x32 ABI: x86_64's arch value, numbers with bit 30 set.
    X32,
    /// i386, reachable from x86_64 through `int 0x80`.
    X86,
    Aarch64,
    /// 32-bit ARM EABI, reachable from some aarch64 systems.
    Arm,
}

impl Arch {
    pub const ALL: [Arch; 5] = [Arch::X86_64, Arch::X32, Arch::X86, Arch::Aarch64, Arch::Arm];

    /// The architectures a policy's syscall names are checked against.
    pub const NATIVE: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X32 => "x32",
            Arch::X86 => "x86",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
        }
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => tables::X86_64,
            Arch::X32 => tables::X32,
            Arch::X86 => tables::I386,
            Arch::Aarch64 => tables::AARCH64,
            Arch::Arm => tables::ARM,
        }
    }
}

/// The x32 marker bit in `seccomp_data.nr`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The syscall number of `name` on `arch` (for x32, without [`X32_SYSCALL_BIT`]).
pub fn number(arch: Arch, name: &str) -> Option<u32> {
    let t = arch.table();
    t.binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .and_then(|i| t.get(i))
        .map(|(_, nr)| *nr)
}

/// The name of syscall `nr` on `arch`.
pub fn name(arch: Arch, nr: u32) -> Option<&'static str> {
    arch.table()
        .iter()
        .find(|(_, n)| *n == nr)
        .map(|(name, _)| *name)
}

/// Every syscall name of `arch`, sorted.
pub fn names(arch: Arch) -> impl Iterator<Item = &'static str> + Clone {
    arch.table().iter().map(|(n, _)| *n)
}

/// True when `name` is a syscall on at least one native architecture.
pub fn is_known(name: &str) -> bool {
    Arch::NATIVE.iter().any(|a| number(*a, name).is_some())
}

/// The number of an errno name (`EPERM` is 1).
pub fn errno(name: &str) -> Option<u32> {
    errno::ERRNOS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .and_then(|i| errno::ERRNOS.get(i))
        .map(|(_, v)| *v)
}

/// The canonical name of an errno number (the first name in the table order that is not an
/// alias).
pub fn errno_name(value: u32) -> Option<&'static str> {
    errno::ERRNOS
        .iter()
        .filter(|(n, v)| *v == value && *n != "EWOULDBLOCK" && *n != "EDEADLOCK")
        .map(|(n, _)| *n)
        .next()
}

/// Every errno name, sorted.
pub fn errno_names() -> impl Iterator<Item = &'static str> + Clone {
    errno::ERRNOS.iter().map(|(n, _)| *n)
}

/// True for syscalls that a sandboxed agent should never make (see `dangerous.rs`).
pub fn is_dangerous(name: &str) -> bool {
    dangerous::DANGEROUS.binary_search(&name).is_ok()
}

/// The width of argument `arg` of syscall `name` when the kernel ABI declares it signed;
/// `None` for unsigned and pointer arguments (see `signed.rs`).
pub fn signed_arg(name: &str, arg: u8) -> Option<Width> {
    let i = signed::SIGNED
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()?;
    let (_, args) = signed::SIGNED.get(i)?;
    args.iter().find(|(a, _)| *a == arg).map(|(_, w)| *w)
}

/// The dangerous syscalls, sorted.
pub fn dangerous() -> &'static [&'static str] {
    dangerous::DANGEROUS
}

#[cfg(test)]
mod api_tests {
    use super::*;

    #[test]
    fn looks_up_both_ways() {
        assert_eq!(number(Arch::X86_64, "read"), Some(0));
        assert_eq!(number(Arch::Aarch64, "openat"), Some(56));
        assert_eq!(number(Arch::Aarch64, "open"), None);
        assert_eq!(name(Arch::X86_64, 101), Some("ptrace"));
        assert!(is_known("open"));
        assert!(!is_known("opne"));
        assert_eq!(errno("EPERM"), Some(1));
        assert_eq!(errno_name(11), Some("EAGAIN"));
        assert!(is_dangerous("ptrace"));
        assert!(!is_dangerous("read"));
    }
}
