//! Before the fork: can the command start at all under the policy's seccomp filter?
//!
//! The filter is installed just before `execve`, so a policy without `execve` or
//! `exit_group` makes the launcher's own child fail or crash (once 139), and one without the
//! dynamic loader's start-up calls makes `ld.so` give up with 127, the shell's "command not
//! found". Neither is the program's status. The filter's own bytes are asked (the simulator
//! that runs the emitted BPF for this machine), and a policy too narrow for the program to
//! start is a policyc error naming the missing syscalls, with status 126.
//!
//! What is checked: `execve` and `exit_group` for every program; for a dynamically linked
//! ELF (one with a `PT_INTERP` header), the calls glibc's loader cannot start without. A
//! program that starts and later meets a denied syscall gets the policy's errno and exits
//! with its own status; the launcher cannot tell that apart from any other failure.

use policyc_compiler::syscalls::{self, Arch};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{Artifacts, Target as _, Verdict};
use std::path::Path;

/// Calls every program needs: to be started, and to end.
const EVERY_PROGRAM: &[&[&str]] = &[&["execve", "execveat"], &["exit_group"]];

/// Calls glibc's dynamic loader makes before `main` (each inner list: one of them).
const DYNAMIC_LOADER: &[&[&str]] = &[
    &["brk"],
    &["mmap"],
    &["mprotect"],
    &["munmap"],
    &["openat", "open"],
    &["read"],
    &["close"],
    &["newfstatat", "fstat", "fstatat64", "statx"],
];

#[cfg(target_arch = "aarch64")]
const ARCH: Arch = Arch::Aarch64;
#[cfg(not(target_arch = "aarch64"))]
const ARCH: Arch = Arch::X86_64;

/// The syscalls (one name per missing group) the filter denies that `program` needs to
/// start; empty when it can start.
pub fn missing(seccomp: &Artifacts, program: &Path) -> Vec<&'static str> {
    let mut needed: Vec<&[&str]> = EVERY_PROGRAM.to_vec();
    if is_dynamic(program) {
        needed.extend_from_slice(DYNAMIC_LOADER);
    }
    needed
        .into_iter()
        .filter(|group| !group.iter().any(|name| allows(seccomp, name)))
        .filter_map(|group| group.first().copied())
        .collect()
}

/// Whether the filter allows `name` (with all arguments 0).
pub fn allows(seccomp: &Artifacts, name: &str) -> bool {
    syscalls::number(ARCH, name)
        .is_some_and(|nr| Seccomp.simulate_raw(seccomp, ARCH, nr, [0; 6]) == Verdict::Allow)
}

/// Whether `program` (looked up in `PATH` like the launcher does) is an ELF file with an
/// interpreter. Scripts (`#!`) count as dynamic: their interpreter usually is.
fn is_dynamic(program: &Path) -> bool {
    let Ok(bytes) = std::fs::read(program) else {
        return false;
    };
    if bytes.starts_with(b"#!") {
        return true;
    }
    elf_has_interp(&bytes).unwrap_or(false)
}

/// Reads the program headers of a 64-bit little-endian ELF file.
fn elf_has_interp(b: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if b.get(..4)? != b"\x7fELF" || *b.get(4)? != 2 || *b.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        if u32_at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// Where the launcher finds `cmd`: as given when it holds a `/`, else the first match in
/// `path`.
pub fn resolve(cmd: &str, path: Option<&std::ffi::OsStr>) -> Option<std::path::PathBuf> {
    if cmd.contains('/') {
        return Some(cmd.into());
    }
    std::env::split_paths(path?)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn system_programs_are_recognised_as_dynamic_or_static() {
        if Path::new("/bin/true").exists() {
            assert!(is_dynamic(Path::new("/bin/true")));
        }
        if Path::new("/bin/busybox").exists() {
            let b = std::fs::read("/bin/busybox").unwrap();
            assert_eq!(elf_has_interp(&b), Some(false), "busybox-static");
        }
        assert_eq!(elf_has_interp(b"not an elf"), None);
        assert_eq!(elf_has_interp(b"\x7fELF\x02\x01"), None, "truncated");
    }
}
