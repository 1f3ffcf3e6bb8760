//! Reading errnos: their names, which of them are refusals, and the errno behind a message
//! that busybox printed with `strerror`.

/// `EACCES`, `EPERM` or `EROFS`: the kernel refused the access.
pub fn is_refusal(e: i32) -> bool {
    matches!(e, libc::EACCES | libc::EPERM | libc::EROFS)
}

/// The errno's name (`EACCES`), or its number when it has none.
pub fn name(e: i32) -> String {
    u32::try_from(e)
        .ok()
        .and_then(policyc_compiler::syscalls::errno_name)
        .map_or_else(|| format!("errno {e}"), str::to_string)
}

/// The `strerror` texts busybox prints, and their errnos.
const MESSAGES: &[(&str, i32)] = &[
    ("Permission denied", libc::EACCES),
    ("Operation not permitted", libc::EPERM),
    ("Read-only file system", libc::EROFS),
    ("No such file or directory", libc::ENOENT),
    // busybox `sh`'s own words for a failed redirection and a missing command
    ("no such file", libc::ENOENT),
    ("nonexistent directory", libc::ENOENT),
    ("not found", libc::ENOENT),
    ("Is a directory", libc::EISDIR),
    ("Not a directory", libc::ENOTDIR),
    ("Exec format error", libc::ENOEXEC),
    ("Network is unreachable", libc::ENETUNREACH),
    ("Connection refused", libc::ECONNREFUSED),
    ("Connection timed out", libc::ETIMEDOUT),
    ("No route to host", libc::EHOSTUNREACH),
];

/// The errno a busybox error message names, if any.
pub fn from_message(message: &str) -> Option<i32> {
    MESSAGES
        .iter()
        .find(|(text, _)| message.contains(text))
        .map(|(_, e)| *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages() {
        assert_eq!(name(libc::EACCES), "EACCES");
        assert_eq!(name(100_000), "errno 100000");
        assert_eq!(
            from_message("sh: can't create /mnt/docs/x: Read-only file system"),
            Some(libc::EROFS)
        );
        assert_eq!(from_message("all good"), None);
        assert!(is_refusal(libc::EPERM) && !is_refusal(libc::ENOENT));
    }
}
