//! The audit log's format: one JSON object per line, each chained to the line before it.
//!
//! Every line starts with the same five keys, in this order:
//!
//! - `seq`: the line's number in the file, from 0, one more on each line;
//! - `prev`: the SHA-256 of the previous line's bytes (without its newline), written
//!   `sha256:<hex>`; [`GENESIS`] on the file's first line;
//! - `session`: the id of the `policyc exec` run that wrote the line;
//! - `policy_hash`: the SHA-256 of the policy's source the run enforced;
//! - `time`: milliseconds since the Unix epoch (a real clock: the log is not a build
//!   artifact).
//!
//! then `kind` and the event's own fields. A session begins with a [`START`] record (with
//! [`FORMAT`] and [`VERSION`]) and ends with an [`END`] record whose `count` is the number
//! of events between them and whose last key, `seal`, is the SHA-256 of the record without
//! it, so an edit of the last line is detected too. Sessions follow one another in a file,
//! each start chained to the end before it.
//!
//! [`Chain`] writes lines; [`verify`] checks a whole log and names the first line that is
//! not intact; [`records`] reads lines for display. See the book's Audit chapter for what
//! the chain can and cannot detect.

mod chain;
mod check;
pub mod ocsf;
#[cfg(test)]
mod tests;

pub use chain::{Chain, ResumeError};
pub use check::{records, verify, Anchor, Broken, Summary};

use sha2::{Digest as _, Sha256};

/// The value of a session-start record's `format` key.
pub const FORMAT: &str = "policyc-audit";
/// The format version [`Chain`] writes and [`verify`] reads.
pub const VERSION: u64 = 1;
/// The `prev` of a file's first line.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// The `kind` of the record that opens a session.
pub const START: &str = "session-start";
/// The `kind` of the record that closes a session.
pub const END: &str = "session-end";
/// The keys every line starts with, in order; an event cannot set them.
pub const HEADER: [&str; 5] = ["seq", "prev", "session", "policy_hash", "time"];

/// `sha256:<lower-case hex>` of `bytes`.
pub fn hash(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `,"seal":"` that precedes an end record's seal.
const SEAL_KEY: &str = ",\"seal\":\"";
