//! Path canonicalisation, done once for every later stage.
//!
//! A canonical path is either absolute (`/a/b`) or home-relative (`~` or `~/a/b`, the home
//! directory kept symbolic until a target resolves it). `//`, `.` and trailing slashes are
//! removed and `..` is resolved lexically; a `..` that would climb above `/` or `~` is an
//! error, as are relative paths, control characters, glob characters and over-long paths.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Linux's `PATH_MAX` less the terminating NUL.
pub const MAX_PATH_BYTES: usize = 4095;
/// Linux's `NAME_MAX`.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// A canonical path. It serialises as its text, and deserialises only from text that
/// [`CanonPath::parse`] accepts (canonical text reads back unchanged).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CanonPath(String);

impl<'de> Deserialize<'de> for CanonPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CanonPath, D::Error> {
        let raw = String::deserialize(d)?;
        CanonPath::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Why a path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path `{0}` is relative")]
    Relative(String),
    #[error("path `{0}` climbs above its root with `..`")]
    Escapes(String),
    #[error("path `{0}` contains NUL or a control character")]
    ControlChar(String),
    #[error("path `{0}` is longer than {MAX_PATH_BYTES} bytes or has a component longer than {MAX_COMPONENT_BYTES}")]
    TooLong(String),
    #[error("path `{0}` contains a glob character (`*` or `?`)")]
    Glob(String),
}

impl CanonPath {
    /// Canonicalise a path written in a policy: a `..` above `/` or `~` is an error.
    pub fn parse(raw: &str) -> Result<CanonPath, PathError> {
        Self::parse_with(raw, false)
    }

    /// Canonicalise a path a program asks for: as the kernel does, `..` at `/` stays at
    /// `/` (so `/data/../../etc` is `/etc`). A `..` above `~` is still an error, since the
    /// home directory's parent is not known until a target resolves it.
    pub fn parse_request(raw: &str) -> Result<CanonPath, PathError> {
        Self::parse_with(raw, true)
    }

    fn parse_with(raw: &str, clamp_at_root: bool) -> Result<CanonPath, PathError> {
        let shown = || crate::diag::clip(&raw.escape_debug().to_string());
        if raw.chars().any(char::is_control) {
            return Err(PathError::ControlChar(shown()));
        }
        if raw.contains(['*', '?']) {
            return Err(PathError::Glob(shown()));
        }
        let (root, rest) = if raw == "~" {
            ("~", "")
        } else if let Some(rest) = raw.strip_prefix("~/") {
            ("~", rest)
        } else if let Some(rest) = raw.strip_prefix('/') {
            ("", rest)
        } else {
            return Err(PathError::Relative(shown()));
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in rest.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() && !(clamp_at_root && root.is_empty()) {
                        return Err(PathError::Escapes(shown()));
                    }
                }
                c if c.len() > MAX_COMPONENT_BYTES => return Err(PathError::TooLong(shown())),
                c => parts.push(c),
            }
        }
        let mut out = root.to_string();
        for p in &parts {
            out.push('/');
            out.push_str(p);
        }
        if out.is_empty() {
            out.push('/');
        }
        if out.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(shown()));
        }
        Ok(CanonPath(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `~` and `~/...`.
    pub fn is_home(&self) -> bool {
        self.0.starts_with('~')
    }

    /// True when `self` is `other` or lies beneath it (component-wise: `/data2` is not
    /// beneath `/data`).
    pub fn starts_with(&self, other: &CanonPath) -> bool {
        self.strip_prefix(other).is_some()
    }

    /// The components of `self` below `prefix` (empty when equal), or `None`.
    pub fn strip_prefix(&self, prefix: &CanonPath) -> Option<&str> {
        let p = prefix.0.as_str();
        let s = self.0.as_str();
        if p == "/" {
            return s.strip_prefix('/');
        }
        let rest = s.strip_prefix(p)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// `self` with `rest` (already canonical components, possibly empty) appended.
    pub fn join(&self, rest: &str) -> CanonPath {
        if rest.is_empty() {
            self.clone()
        } else if self.0 == "/" {
            CanonPath(format!("/{rest}"))
        } else {
            CanonPath(format!("{}/{rest}", self.0))
        }
    }

    /// This path and each of its ancestors, longest first: `/a/b`, `/a`, `/`; `~/a`, `~`.
    pub fn ancestors(&self) -> impl Iterator<Item = CanonPath> + '_ {
        let s = self.0.as_str();
        let cuts = s.match_indices('/').map(|(i, _)| i).rev();
        std::iter::once(self.clone()).chain(cuts.filter_map(move |i| match (i, s.get(..i)) {
            (0, _) if s != "/" => Some(CanonPath("/".to_string())),
            (_, Some(prefix)) if !prefix.is_empty() => Some(CanonPath(prefix.to_string())),
            _ => None,
        }))
    }

    /// Number of components (`/` has none, `~` has one).
    pub fn depth(&self) -> usize {
        self.0.split('/').filter(|c| !c.is_empty()).count()
    }
}

impl fmt::Display for CanonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        CanonPath::parse(s)
            .map(|p| p.0)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn normalises() {
        assert_eq!(c("/"), "/");
        assert_eq!(c("//a//b/"), "/a/b");
        assert_eq!(c("/a/./b/../c"), "/a/c");
        assert_eq!(c("~"), "~");
        assert_eq!(c("~/"), "~");
        assert_eq!(c("~/Documents/../x"), "~/x");
        assert_eq!(c("/a/.."), "/");
    }

    #[test]
    fn rejects() {
        assert!(c("a/b").starts_with("ERR"));
        assert!(c("~user/x").starts_with("ERR"));
        assert!(c("").starts_with("ERR"));
        assert!(c("/..").starts_with("ERR"));
        assert!(c("~/../etc").starts_with("ERR"));
        assert!(c("/a\0b").starts_with("ERR"));
        assert!(c("/a\nb").starts_with("ERR"));
        assert!(c("/a/*").starts_with("ERR"));
        assert!(c(&format!("/{}", "a".repeat(256))).starts_with("ERR"));
        assert!(c(&"/abc".repeat(1100)).starts_with("ERR"));
    }

    #[test]
    fn requests_clamp_at_root_like_the_kernel() {
        let r = |s: &str| CanonPath::parse_request(s).map(|p| p.0);
        assert_eq!(r("/data/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(r("/..").unwrap(), "/");
        assert!(r("~/../../etc").is_err());
        assert!(r("relative").is_err());
    }

    #[test]
    fn ancestors_run_up_to_the_root() {
        let a = |s: &str| {
            CanonPath::parse(s)
                .unwrap()
                .ancestors()
                .map(|p| p.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(a("/a/b"), ["/a/b", "/a", "/"]);
        assert_eq!(a("/"), ["/"]);
        assert_eq!(a("~/x/y"), ["~/x/y", "~/x", "~"]);
        assert_eq!(a("~"), ["~"]);
    }

    #[test]
    fn prefixes_are_component_wise() {
        let data = CanonPath::parse("/data").unwrap();
        assert!(CanonPath::parse("/data/x").unwrap().starts_with(&data));
        assert!(CanonPath::parse("/data").unwrap().starts_with(&data));
        assert!(!CanonPath::parse("/data2").unwrap().starts_with(&data));
        let root = CanonPath::parse("/").unwrap();
        assert!(data.starts_with(&root));
        assert_eq!(data.strip_prefix(&root), Some("data"));
        let home = CanonPath::parse("~").unwrap();
        assert!(!data.starts_with(&home));
        assert_eq!(home.join("a/b").as_str(), "~/a/b");
        assert_eq!(root.join("a").as_str(), "/a");
    }
}
