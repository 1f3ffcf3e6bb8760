//! Syscalls considered dangerous for a sandboxed agent.
//!
//! Hand-maintained (not produced by `gen-tables.sh`). Every name here exists
//! in at least one of the tables in `tables.rs`; the tests below check that,
//! and that the list stays sorted and free of duplicates.

/// Sorted (byte order, for `binary_search`) names of syscalls a sandboxed
/// agent should not be allowed to make. A name may be missing on some
/// architectures (e.g. `vm86` is i386-only); look it up per arch.
///
/// Each entry is tagged with its group; the groups and the reasons are:
///
/// - `[cross-process]` `ptrace`, `process_vm_readv`, `process_vm_writev`,
///   `kcmp`, `pidfd_getfd`: read or write another process's memory, steal
///   its file descriptors or probe its kernel objects, which escapes the
///   sandbox through any process it can reach.
/// - `[fs-escape]` `open_by_handle_at`, `name_to_handle_at`, `chroot`:
///   file handles open files by inode without path checks (the "shocker"
///   container escape); `chroot` changes the root and enables chroot
///   break-outs.
/// - `[mount-namespace]` `mount`, `umount`, `umount2`, `pivot_root`,
///   `fsopen`, `fsconfig`, `fsmount`, `fspick`, `move_mount`, `open_tree`,
///   `mount_setattr`, `unshare`, `setns`: change the mount table or enter or
///   create namespaces, the classic namespace escape route; new user
///   namespaces also expose much more kernel code to an unprivileged caller.
/// - `[io_uring]` `io_uring_setup`, `io_uring_enter`, `io_uring_register`:
///   operations submitted through an `io_uring` ring are executed by the
///   kernel without passing through seccomp, so they bypass the syscall
///   filter entirely; `io_uring` is also a large source of kernel bugs.
/// - `[kernel-surface]` `bpf`, `perf_event_open`, `userfaultfd`, `keyctl`,
///   `add_key`, `request_key`, `personality`, `modify_ldt`, `vm86`,
///   `vm86old`, `lookup_dcookie`, `fanotify_init`, `uselib`, `nfsservctl`:
///   large or rarely used kernel attack surface with a history of privilege
///   escalation bugs (`userfaultfd` is a favourite tool for winning kernel
///   races; the keyring is not namespaced; `personality` can turn off ASLR).
/// - `[host-admin]` `kexec_load`, `kexec_file_load`, `init_module`,
///   `finit_module`, `delete_module`, `reboot`, `swapon`, `swapoff`,
///   `syslog`, `acct`, `quotactl`, `quotactl_fd`: load kernel code, replace
///   or stop the kernel, or administer host-wide state; `syslog` leaks kernel
///   addresses from the kernel log.
/// - `[hardware]` `iopl`, `ioperm`: raw x86 I/O port access.
/// - `[clock]` `clock_settime`, `clock_settime64`, `settimeofday`, `stime`,
///   `adjtimex`, `clock_adjtime`, `clock_adjtime64`: the realtime clock is
///   host-wide (time namespaces do not cover it); the `64` variants are the
///   32-bit (i386/arm) time64 spellings and `stime` the old i386 one, listed
///   so that denying the group cannot be bypassed through them.
pub(crate) static DANGEROUS: &[&str] = &[
    "acct",              // [host-admin]
    "add_key",           // [kernel-surface]
    "adjtimex",          // [clock]
    "bpf",               // [kernel-surface]
    "chroot",            // [fs-escape]
    "clock_adjtime",     // [clock]
    "clock_adjtime64",   // [clock]
    "clock_settime",     // [clock]
    "clock_settime64",   // [clock]
    "delete_module",     // [host-admin]
    "fanotify_init",     // [kernel-surface]
    "finit_module",      // [host-admin]
    "fsconfig",          // [mount-namespace]
    "fsmount",           // [mount-namespace]
    "fsopen",            // [mount-namespace]
    "fspick",            // [mount-namespace]
    "init_module",       // [host-admin]
    "io_uring_enter",    // [io_uring]
    "io_uring_register", // [io_uring]
    "io_uring_setup",    // [io_uring]
    "ioperm",            // [hardware]
    "iopl",              // [hardware]
    "kcmp",              // [cross-process]
    "kexec_file_load",   // [host-admin]
    "kexec_load",        // [host-admin]
    "keyctl",            // [kernel-surface]
    "lookup_dcookie",    // [kernel-surface]
    "modify_ldt",        // [kernel-surface]
    "mount",             // [mount-namespace]
    "mount_setattr",     // [mount-namespace]
    "move_mount",        // [mount-namespace]
    "name_to_handle_at", // [fs-escape]
    "nfsservctl",        // [kernel-surface]
    "open_by_handle_at", // [fs-escape]
    "open_tree",         // [mount-namespace]
    "perf_event_open",   // [kernel-surface]
    "personality",       // [kernel-surface]
    "pidfd_getfd",       // [cross-process]
    "pivot_root",        // [mount-namespace]
    "process_vm_readv",  // [cross-process]
    "process_vm_writev", // [cross-process]
    "ptrace",            // [cross-process]
    "quotactl",          // [host-admin]
    "quotactl_fd",       // [host-admin]
    "reboot",            // [host-admin]
    "request_key",       // [kernel-surface]
    "setns",             // [mount-namespace]
    "settimeofday",      // [clock]
    "stime",             // [clock]
    "swapoff",           // [host-admin]
    "swapon",            // [host-admin]
    "syslog",            // [host-admin]
    "umount",            // [mount-namespace]
    "umount2",           // [mount-namespace]
    "unshare",           // [mount-namespace]
    "uselib",            // [kernel-surface]
    "userfaultfd",       // [kernel-surface]
    "vm86",              // [kernel-surface]
    "vm86old",           // [kernel-surface]
];

#[cfg(test)]
mod tests {
    use super::super::tables::{AARCH64, ARM, I386, X32, X86_64};
    use super::DANGEROUS;

    #[test]
    fn sorted_and_unique() {
        assert!(DANGEROUS
            .iter()
            .zip(DANGEROUS.iter().skip(1))
            .all(|(a, b)| a < b));
    }

    #[test]
    fn every_name_exists_on_some_arch() {
        for name in DANGEROUS {
            let known = [X86_64, X32, I386, AARCH64, ARM]
                .iter()
                .any(|table| table.binary_search_by(|entry| entry.0.cmp(name)).is_ok());
            assert!(known, "{name} is in no syscall table");
        }
    }
}
