//! policyc's exit statuses (`policyc exec` exits with its command's own; see
//! `cmd::exec::exit`).

/// policyc's exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything checked, formatted or passed.
    Ok = 0,
    /// A policy has errors, is not formatted, or a test failed.
    Failed = 1,
    /// Bad command line, or a file could not be read or written.
    Usage = 2,
}

impl Status {
    /// The worse of two statuses.
    pub fn max(self, other: Status) -> Status {
        if (other as u8) > (self as u8) {
            other
        } else {
            self
        }
    }
}
