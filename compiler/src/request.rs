//! The request vocabulary every test, simulator and fuzz case speaks: what the sandboxed
//! program would do, in the paths it sees.
//!
//! A path that starts with `~` names a host object; the question is then whether the program
//! can reach that object through any path it can use.

use crate::ast::{Access, MetaOp};
use crate::hosts::Host;
use crate::paths::CanonPath;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Open `path` for reading, writing, or execute it.
    Fs { access: Access, path: CanonPath },
    /// Change `path`'s mode, owner, times or extended attributes (decided as a write).
    Meta { change: MetaOp, path: CanonPath },
    /// Open a TCP connection.
    Connect { host: Host, port: u16 },
    /// Resolve a name.
    Resolve { host: Host },
    /// Make a syscall (by name; the targets map names to numbers per architecture).
    /// Arguments not given are zero.
    Syscall { name: String, args: [u64; 6] },
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Fs { access, path } => {
                write!(
                    f,
                    "{} \"{}\"",
                    access.keyword(),
                    path.as_str().escape_debug()
                )
            }
            Request::Meta { change, path } => {
                write!(
                    f,
                    "{} \"{}\"",
                    change.keyword(),
                    path.as_str().escape_debug()
                )
            }
            Request::Connect { host, port } => write!(f, "connect \"{host}\":{port}"),
            Request::Resolve { host } => write!(f, "resolve \"{host}\""),
            Request::Syscall { name, args } => {
                write!(f, "syscall {name}")?;
                let used = args.iter().rposition(|a| *a != 0).map_or(0, |i| i + 1);
                if used > 0 {
                    let shown: Vec<String> = args
                        .iter()
                        .take(used)
                        .map(|a| crate::fmt::lit::number(*a))
                        .collect();
                    write!(f, "({})", shown.join(", "))?;
                }
                Ok(())
            }
        }
    }
}
