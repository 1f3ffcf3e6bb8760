//! Syscall arguments the kernel ABI declares signed and gives negative values a meaning.
//!
//! Hand-maintained from the parameter types of the kernel's `SYSCALL_DEFINEn` definitions
//! (not produced by `gen-tables.sh`). An argument is listed when its type is a signed
//! integer and the kernel acts on negative values rather than refusing them all: a
//! directory descriptor's `AT_FDCWD` (-100), `kill`'s and `wait4`'s -1 and -pgid, a
//! timeout's -1 (wait forever), `setpriority`'s negative nice values, `lseek`'s negative
//! offsets, the negative clock ids of per-process CPU clocks, the negative special keyrings.
//! Signed arguments whose negative values the kernel always refuses (`EBADF` for a plain
//! descriptor, `EINVAL` for `socket`'s family or a flags word) are left out: letting those
//! through an allow, or past a deny, changes nothing. `int` and the types defined as `int`
//! (`pid_t`, `clockid_t`, `key_t`, `key_serial_t`) are [`Width::Int`]; `long`, `off_t` and
//! `loff_t` are [`Width::Long`]. Syscalls that exist only on 32-bit architectures are left
//! out: names are checked against x86_64 and aarch64.
//!
//! seccomp compares the 64-bit argument registers as unsigned numbers, so a negative value
//! of a listed argument compares above every positive bound. The tests below check that
//! every name is a known syscall and that the list stays sorted.

/// How wide a signed argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// A 32-bit `int`: the kernel reads the low 32 bits; the upper half of the register
    /// may be the sign extension or zero, depending on how the caller passed it.
    Int,
    /// A 64-bit `long`, `off_t` or `loff_t`.
    Long,
}

use Width::{Int as I, Long as L};

/// `(syscall, [(argument index, width)])`, sorted by name (byte order).
pub(crate) static SIGNED: &[(&str, &[(u8, Width)])] = &[
    ("clock_adjtime", &[(0, I)]),
    ("clock_getres", &[(0, I)]),
    ("clock_gettime", &[(0, I)]),
    ("clock_nanosleep", &[(0, I)]),
    ("clock_settime", &[(0, I)]),
    ("epoll_pwait", &[(3, I)]),
    ("epoll_wait", &[(3, I)]),
    ("execveat", &[(0, I)]),
    ("exit", &[(0, I)]),
    ("exit_group", &[(0, I)]),
    ("faccessat", &[(0, I)]),
    ("faccessat2", &[(0, I)]),
    ("fanotify_mark", &[(3, I)]),
    ("fchmodat", &[(0, I)]),
    ("fchmodat2", &[(0, I)]),
    ("fchownat", &[(0, I)]),
    ("fspick", &[(0, I)]),
    ("futimesat", &[(0, I)]),
    ("getrusage", &[(0, I)]),
    ("kill", &[(0, I)]),
    ("linkat", &[(0, I), (2, I)]),
    ("lseek", &[(1, L)]),
    ("mkdirat", &[(0, I)]),
    ("mknodat", &[(0, I)]),
    ("mount_setattr", &[(0, I)]),
    ("move_mount", &[(0, I), (2, I)]),
    ("msgget", &[(0, I)]),
    ("msgrcv", &[(3, L)]),
    ("name_to_handle_at", &[(0, I)]),
    ("newfstatat", &[(0, I)]),
    ("open", &[(1, I)]),
    ("open_by_handle_at", &[(0, I)]),
    ("open_tree", &[(0, I)]),
    ("openat", &[(0, I), (2, I)]),
    ("openat2", &[(0, I)]),
    ("perf_event_open", &[(1, I), (2, I), (3, I)]),
    ("pkey_mprotect", &[(3, I)]),
    ("poll", &[(2, I)]),
    ("readlinkat", &[(0, I)]),
    ("reboot", &[(0, I), (1, I)]),
    ("renameat", &[(0, I), (2, I)]),
    ("renameat2", &[(0, I), (2, I)]),
    ("request_key", &[(3, I)]),
    ("semget", &[(0, I)]),
    ("setpriority", &[(2, I)]),
    ("shmget", &[(0, I)]),
    ("signalfd", &[(0, I)]),
    ("signalfd4", &[(0, I)]),
    ("statx", &[(0, I)]),
    ("symlinkat", &[(1, I)]),
    ("timer_create", &[(0, I)]),
    ("unlinkat", &[(0, I)]),
    ("utimensat", &[(0, I)]),
    ("wait4", &[(0, I)]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_known_and_in_range() {
        assert!(
            SIGNED.windows(2).all(|w| w[0].0 < w[1].0),
            "SIGNED must be sorted and free of duplicates"
        );
        for (name, args) in SIGNED {
            assert!(
                super::super::is_known(name),
                "{name} is not a known syscall"
            );
            assert!(
                !args.is_empty() && args.iter().all(|(i, _)| *i <= 5),
                "{name}"
            );
            assert!(args.windows(2).all(|w| w[0].0 < w[1].0), "{name}");
        }
    }
}
