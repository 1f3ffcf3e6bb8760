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
//! ELF (one with a `PT_INTERP` header), or a `#!` script whose interpreter is one, the
//! calls glibc's loader cannot start without. A container's program and its interpreter
//! are read inside its root file system ([`Files::Root`]), never through the image's
//! symbolic links onto the host. A
//! program that starts and later meets a denied syscall gets the policy's errno and exits
//! with its own status; the launcher cannot tell that apart from any other failure.

use policyc_compiler::syscalls::{self, Arch};
use policyc_host::sys::inroot::Root;
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{Artifacts, Target as _, Verdict};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

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

/// The syscalls (one name per missing group) the filter denies that `program` (opened by
/// [`Files::find`]) needs to start; empty when it can start.
pub fn missing(seccomp: &Artifacts, files: &Files, program: File) -> Vec<&'static str> {
    let mut needed: Vec<&[&str]> = EVERY_PROGRAM.to_vec();
    if is_dynamic(files, program, 0) {
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

/// How many `#!` interpreters the kernel follows before it gives up (`ELOOP`).
const MAX_INTERPRETERS: usize = 4;

/// The most of a program read: its ELF header and program headers are at its start.
const HEAD: u64 = 1 << 20;

/// Whether `program` is an ELF file with an interpreter, or a `#!` script whose
/// interpreter (looked up where the program was) is one. A script whose interpreter
/// cannot be read counts as dynamic, as most are.
fn is_dynamic(files: &Files, program: File, depth: usize) -> bool {
    let mut bytes = Vec::new();
    if program.take(HEAD).read_to_end(&mut bytes).is_err() {
        return false;
    }
    if let Some(line) = bytes.strip_prefix(b"#!") {
        if depth >= MAX_INTERPRETERS {
            return true;
        }
        return interpreter(line)
            .and_then(|path| files.open(&path))
            .is_none_or(|file| is_dynamic(files, file, depth + 1));
    }
    elf_has_interp(&bytes).unwrap_or(false)
}

/// The interpreter a `#!` line names (its first word, within the kernel's 256 bytes).
fn interpreter(line: &[u8]) -> Option<PathBuf> {
    let line = line.get(..254).unwrap_or(line);
    let line = line.split(|b| *b == b'\n').next()?;
    let word = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(word)))
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

/// Where the pre-flight reads programs: the host's file system (process policies, and
/// container policies on the host's system folders), or a root file system folder, every
/// path and every symbolic link on the way resolved inside it by the kernel
/// (`openat2(RESOLVE_IN_ROOT)`), so an image's `/usr/bin/tool -> /etc/shadow` or
/// `bin -> /` never opens a host file.
pub enum Files {
    /// Paths are the host's.
    Host,
    /// Paths are the root folder's.
    Root(Root),
}

impl Files {
    /// The regular file at `path`, opened for reading; `None` when there is none.
    fn open(&self, path: &Path) -> Option<File> {
        match self {
            Files::Host => {
                use std::os::unix::fs::OpenOptionsExt as _;
                // Non-blocking: a FIFO named like the program never holds the launcher.
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(path)
                    .ok()
                    .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
            }
            Files::Root(root) => root.open_file(path).ok(),
        }
    }

    /// The program the launcher runs for `cmd`, opened: `cmd` itself when it holds a
    /// `/`, else the first regular file named `cmd` in a folder of `path`.
    pub fn find(&self, cmd: &str, path: Option<&OsStr>) -> Option<File> {
        if cmd.contains('/') {
            return self.open(Path::new(cmd));
        }
        std::env::split_paths(path?).find_map(|d| self.open(&d.join(cmd)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn dynamic_at(files: &Files, path: &str) -> bool {
        is_dynamic(files, files.open(Path::new(path)).unwrap(), 0)
    }

    #[test]
    fn system_programs_are_recognised_as_dynamic_or_static() {
        if Path::new("/bin/true").exists() {
            assert!(dynamic_at(&Files::Host, "/bin/true"));
        }
        if Path::new("/bin/busybox").exists() {
            let b = std::fs::read("/bin/busybox").unwrap();
            assert_eq!(elf_has_interp(&b), Some(false), "busybox-static");
        }
        assert_eq!(elf_has_interp(b"not an elf"), None);
        assert_eq!(elf_has_interp(b"\x7fELF\x02\x01"), None, "truncated");
    }

    /// A 64-bit little-endian ELF header with one program header of type `kind`.
    fn elf(kind: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&kind.to_le_bytes());
        b
    }

    #[test]
    fn programs_and_interpreters_are_read_inside_the_root() {
        let (dynamic, fixed) = (elf(3), elf(1));
        assert_eq!(elf_has_interp(&dynamic), Some(true));
        assert_eq!(elf_has_interp(&fixed), Some(false));
        // On the host: a dynamic program and a script for it.
        let host = tempfile::tempdir().unwrap();
        let host_dyn = host.path().join("dyn");
        std::fs::write(&host_dyn, &dynamic).unwrap();
        // In the root, the same path holds a static program.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let inside = root.join(host_dyn.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::write(&inside, &fixed).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::os::unix::fs::symlink(&host_dyn, root.join("bin/tool")).unwrap();
        let script = format!("#!{} -x\necho\n", host_dyn.display());
        std::fs::write(root.join("bin/script"), &script).unwrap();
        std::fs::write(host.path().join("script"), &script).unwrap();

        let files = Files::Root(Root::open(root).unwrap());
        assert!(
            !dynamic_at(&files, "/bin/tool"),
            "the root's file, not the host's"
        );
        assert!(
            !dynamic_at(&files, "/bin/script"),
            "its interpreter in the root"
        );
        let found = files
            .find("tool", Some(OsStr::new("/nowhere:/bin")))
            .unwrap();
        assert!(!is_dynamic(&files, found, 0));
        assert!(files.find("tool", Some(OsStr::new("/nowhere"))).is_none());

        let host_script = host.path().join("script");
        assert!(dynamic_at(&Files::Host, host_dyn.to_str().unwrap()));
        assert!(dynamic_at(&Files::Host, host_script.to_str().unwrap()));

        // Without the root's copy the link leads nowhere (the host's file is not opened),
        // and a script whose interpreter is missing counts as dynamic.
        std::fs::remove_file(&inside).unwrap();
        assert!(files.open(Path::new("/bin/tool")).is_none());
        assert!(dynamic_at(&files, "/bin/script"));
    }

    #[test]
    fn the_interpreter_is_the_first_word_of_the_first_line() {
        let i = |s: &[u8]| interpreter(s).map(|p| p.display().to_string());
        assert_eq!(i(b"/bin/sh\nx").as_deref(), Some("/bin/sh"));
        assert_eq!(
            i(b" \t/usr/bin/env python3\n").as_deref(),
            Some("/usr/bin/env")
        );
        assert_eq!(i(b"\n/bin/sh"), None);
        assert_eq!(i(b""), None);
    }
}
