//! The `fs` and `net` blocks the sandbox-runtime and landrun importers write: mounts,
//! denies and proxy egress, with paths checked and normalised the way the policy language
//! reads them.

use super::render::{comment, format_policy};
use super::{ImportError, Imported};
use std::collections::{BTreeMap, BTreeSet};

/// What a mount grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mount {
    /// `read`: read only.
    Read,
    /// `exec`: read and execute.
    Exec,
    /// `write`: read and write.
    Write,
}

impl Mount {
    fn keyword(self) -> &'static str {
        match self {
            Mount::Read => "read",
            Mount::Exec => "exec",
            Mount::Write => "write",
        }
    }
}

/// An `fs` and a `net` block being built.
#[derive(Debug, Default)]
pub struct FsNet {
    /// Mounts by host path (process isolation: the guest path is the host path).
    pub mounts: BTreeMap<String, Mount>,
    /// `deny "PATH"` (read, write and exec).
    pub deny_all: BTreeSet<String>,
    /// `deny write "PATH"`.
    pub deny_write: BTreeSet<String>,
    /// Hosts allowed through the proxy on every port.
    pub allow_hosts: BTreeSet<String>,
    /// Hosts denied on every port.
    pub deny_hosts: BTreeSet<String>,
    /// Notes for the header comment: what was left out, and why.
    pub notes: Vec<String>,
}

/// A path as the policy language takes it: absolute or `~`-relative, normalised lexically
/// (`.`, `..`, repeated and trailing slashes). `base` resolves a relative path (`None`:
/// a relative path is an error). Globs and characters a policy string cannot hold are
/// errors naming `place`.
pub fn path(raw: &str, base: Option<&str>, place: &str) -> Result<String, ImportError> {
    if raw.is_empty() {
        return Err(ImportError::invalid(place, "an empty path"));
    }
    if raw.contains(['*', '?', '[', ']']) {
        return Err(ImportError::inexact(
            place,
            format!("`{raw}` is a glob pattern; a policy names paths, not patterns"),
        )
        .with_hint("list the paths the pattern should cover"));
    }
    if raw.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(ImportError::inexact(
            place,
            format!(
                "`{}` holds a quote, a backslash or a control character",
                raw.escape_debug()
            ),
        ));
    }
    let (root, rest) = if raw == "~" || raw.starts_with("~/") {
        ("~", raw.trim_start_matches('~'))
    } else if raw.starts_with('/') {
        ("", raw)
    } else {
        let Some(base) = base else {
            return Err(ImportError::inexact(
                place,
                format!("`{raw}` is relative to a working directory the input does not name"),
            )
            .with_hint("give the directory the tool runs in with `--cwd DIR`"));
        };
        let joined = format!("{base}/{raw}");
        return path(&joined, None, place);
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() && root == "~" {
                    return Err(ImportError::inexact(
                        place,
                        format!("`{raw}` leaves the home directory"),
                    ));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(match (root, parts.is_empty()) {
        ("~", true) => "~".to_string(),
        ("~", false) => format!("~/{}", parts.join("/")),
        (_, true) => "/".to_string(),
        _ => format!("/{}", parts.join("/")),
    })
}

/// Is `inner` the path `outer` or beneath it?
pub fn within(inner: &str, outer: &str) -> bool {
    inner == outer
        || outer == "/" && inner.starts_with('/')
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl FsNet {
    /// The policy text, formatted: a header comment, then `policy NAME` with `isolation
    /// process` and the two blocks.
    pub fn render(&self, name: &str, header: &str) -> Result<Imported, ImportError> {
        let mut out = String::new();
        comment(&mut out, "", header);
        for n in &self.notes {
            out.push_str("#\n");
            comment(&mut out, "", n);
        }
        out.push_str(&format!("policy {name} {{\n    isolation process\n"));
        out.push_str("    fs {\n");
        for (p, m) in &self.mounts {
            out.push_str(&format!("        {} \"{p}\"\n", m.keyword()));
        }
        for p in &self.deny_all {
            out.push_str(&format!("        deny \"{p}\"\n"));
        }
        for p in &self.deny_write {
            out.push_str(&format!("        deny write \"{p}\"\n"));
        }
        out.push_str("    }\n    net {\n");
        if self.allow_hosts.is_empty() {
            out.push_str("        egress none\n");
        } else {
            out.push_str("        egress via proxy {\n");
            for h in &self.allow_hosts {
                out.push_str(&format!("            allow \"{h}\":*\n"));
            }
            for h in &self.deny_hosts {
                out.push_str(&format!("            deny \"{h}\"\n"));
            }
            out.push_str("        }\n");
        }
        out.push_str("    }\n}\n");
        Ok(Imported {
            text: format_policy(&out)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_or_fail_with_the_place() {
        assert_eq!(path("/a//b/./c/../d/", None, "x").unwrap(), "/a/b/d");
        assert_eq!(path("~/.ssh", None, "x").unwrap(), "~/.ssh");
        assert_eq!(path("~", None, "x").unwrap(), "~");
        assert_eq!(path("src/", Some("/work/p"), "x").unwrap(), "/work/p/src");
        assert_eq!(path(".", Some("~/p"), "x").unwrap(), "~/p");
        assert_eq!(path("/..", None, "x").unwrap(), "/");
        let e = path("src", None, "filesystem.allowWrite[1]").unwrap_err();
        assert_eq!(e.place, "filesystem.allowWrite[1]");
        assert!(path("~/../etc", None, "x").is_err());
        assert!(path("src/**/*.ts", Some("/p"), "x").is_err());
        assert!(path("/a\"b", None, "x").is_err());
        assert!(path("", None, "x").is_err());
    }

    #[test]
    fn within_is_by_component() {
        assert!(within("/a/b", "/a"));
        assert!(within("/a", "/a"));
        assert!(within("/a", "/"));
        assert!(!within("/ab", "/a"));
        assert!(!within("~/a", "/"));
    }
}
