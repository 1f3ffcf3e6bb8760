//! Provenance of built artifacts: which policy rule each part of an artifact comes from, and
//! the header and `file:line` comments `policyc build` writes into artifacts whose format
//! allows comments.
//!
//! Origins are found by reading the emitted bytes back and matching what they name (paths,
//! hosts, syscalls, tokens) against the rules of the policy, so no emitter has to thread
//! spans through; an entry that names nothing a rule names (a default of the target, such as
//! `/proc` in an OCI bundle) has no origin. Everything here is deterministic: the same
//! policy and bytes give the same origins and the same stamped text.

mod json;
mod text;

use crate::common::resolve_home;
use crate::seccomp::bpf;
use crate::seccomp::codegen::{self, Part};
use policyc_compiler::ir::{MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::syscalls::Arch;
use policyc_compiler::Span;

/// The version of policyc that emits artifacts, as headers and manifests name it.
pub const POLICYC_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where an artifact's policy came from, as its header names it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The policy's name.
    pub policy: &'a str,
    /// The policy file as the build names it (its file name, never an absolute path of the
    /// building machine).
    pub file: &'a str,
    /// The sha256 of the policy file's text, in hex.
    pub sha256: &'a str,
}

/// One part of an artifact and the rule it comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The part's 1-based first and last line in the artifact, when the artifact is text
    /// (JSON included, when it is laid out as policyc pretty-prints it).
    pub lines: Option<(usize, usize)>,
    /// For a JSON artifact, the JSON pointer (RFC 6901) of the entry: the array element
    /// that holds the matching value, or the value itself when no array element does.
    pub pointer: Option<String>,
    /// For a BPF program, the part's first and last instruction (0-based) and what it is
    /// (`ioctl: deny 1`, `ioctl: allow`).
    pub instructions: Option<(usize, usize, String)>,
    /// The rule in the policy.
    pub span: Span,
}

/// What a rule names, as artifacts spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// A path: `~` paths as written, so `${home}/x`, `@{HOME}/x` and the resolved home
    /// all match them.
    Path(String),
    /// A host pattern as written (`api.example.com`, `*.example.com`) and its port.
    Host(String, Option<u16>),
    /// A syscall name (only in syscall filters).
    Syscall(String),
    /// A token name (only as an object key).
    Token(String),
}

/// The keys of one policy, each with the rule's span.
#[derive(Debug, Default)]
struct Keys {
    keys: Vec<(Key, Span)>,
    home: Option<String>,
    syscalls: bool,
}

impl Keys {
    fn new(policy: &Policy, home: Option<&str>, syscalls: bool) -> Keys {
        let home_path = home.and_then(|h| CanonPath::parse(h).ok());
        let mut keys = Vec::new();
        let path = |p: &CanonPath, span: Span, keys: &mut Vec<(Key, Span)>| {
            keys.push((Key::Path(p.as_str().to_string()), span));
            if let Some(r) = resolve_home(home_path.as_ref(), p).filter(|_| p.is_home()) {
                keys.push((Key::Path(r.as_str().to_string()), span));
            }
        };
        for m in &policy.fs.mounts {
            path(&m.guest, m.span, &mut keys);
            if let MountKind::Bind { host, .. } = &m.kind {
                path(host, m.span, &mut keys);
            }
        }
        for d in &policy.fs.denies {
            path(&d.path, d.span, &mut keys);
        }
        for r in &policy.net.rules {
            keys.push((Key::Host(r.host.to_string(), r.port), r.span));
        }
        for (name, rule) in &policy.syscalls.rules {
            let span = rule
                .allow_span
                .or_else(|| rule.deny.first().map(|d| d.span));
            if let Some(span) = span {
                keys.push((Key::Syscall(name.clone()), span));
            }
        }
        for (name, token) in &policy.tokens {
            keys.push((Key::Token(name.clone()), token.span));
        }
        Keys {
            keys,
            home: home.map(|h| h.trim_end_matches('/').to_string()),
            syscalls,
        }
    }

    /// The rules a string value in an artifact names. `port` is the port given beside it
    /// (a `port` field of the same object), which picks among rules for one host.
    fn value(&self, s: &str, port: Option<u16>) -> Vec<Span> {
        let path = self.as_path(s);
        let mut out: Vec<Span> = self
            .keys
            .iter()
            .filter(|(k, _)| match k {
                Key::Path(p) => path.as_deref() == Some(p.as_str()),
                Key::Host(h, p) => h == s && (port.is_none() || p.is_none() || *p == port),
                Key::Syscall(n) => self.syscalls && n == s,
                Key::Token(_) => false,
            })
            .map(|(_, span)| *span)
            .collect();
        dedup_spans(&mut out);
        out
    }

    /// The rules an object key names (token names).
    fn key(&self, s: &str) -> Vec<Span> {
        self.keys
            .iter()
            .filter(|(k, _)| matches!(k, Key::Token(t) if t == s))
            .map(|(_, span)| *span)
            .collect()
    }

    /// A string as the path a rule would spell: the home variables of Landlock and
    /// AppArmor as `~`, and a trailing `/` or `/**` dropped.
    fn as_path(&self, s: &str) -> Option<String> {
        if !(s.starts_with('/') || s.starts_with('~') || s.starts_with("${") || s.starts_with("@{"))
        {
            return None;
        }
        let s = s.trim_end_matches("/**");
        let s = if s.len() > 1 {
            s.trim_end_matches('/')
        } else {
            s
        };
        for var in ["${home}", "@{HOME}"] {
            if let Some(rest) = s.strip_prefix(var) {
                return Some(format!("~{rest}"));
            }
        }
        match &self.home {
            Some(h) if !h.is_empty() && s == h => Some("~".to_string()),
            Some(h) if !h.is_empty() => Some(
                s.strip_prefix(h.as_str())
                    .filter(|rest| rest.starts_with('/'))
                    .map_or_else(|| s.to_string(), |rest| format!("~{rest}")),
            ),
            _ => Some(s.to_string()),
        }
    }
}

/// Spans sorted by position and without repeats.
fn dedup_spans(spans: &mut Vec<Span>) {
    spans.sort_by_key(|s| s.key());
    spans.dedup_by_key(|s| s.key());
}

/// Where the parts of one artifact come from, in the order they appear. `target` is the
/// target that emitted it (only a syscall filter's artifacts are searched for syscall
/// names); `home` the home directory the build resolved `~` against. Binary artifacts and
/// text that names no rule have no origins.
pub fn origins(
    policy: &Policy,
    target: &str,
    path: &str,
    bytes: &[u8],
    home: Option<&str>,
) -> Vec<Origin> {
    if target == "seccomp" {
        if let Some(arch) = Arch::NATIVE
            .into_iter()
            .find(|a| crate::seccomp::bpf_artifact(*a) == path)
        {
            return bpf_origins(policy, arch, bytes);
        }
    }
    let keys = Keys::new(policy, home, target == "seccomp");
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    if path.ends_with(".json") {
        json::origins(&keys, text)
    } else if is_text(text) {
        text::origins(&keys, text)
    } else {
        Vec::new()
    }
}

/// The origins of a BPF program: the program is generated again from the policy with the
/// instruction ranges of each syscall's denies and allows, and they are the origins only
/// when that program is these very bytes (a program edited by hand has none).
fn bpf_origins(policy: &Policy, arch: Arch, bytes: &[u8]) -> Vec<Origin> {
    let Ok((insns, regions)) = codegen::generate_mapped(&policy.syscalls, arch) else {
        return Vec::new();
    };
    if bpf::encode(&insns) != bytes {
        return Vec::new();
    }
    regions
        .into_iter()
        .filter_map(|r| {
            let rule = policy.syscalls.rules.get(&r.syscall)?;
            let (span, what) = match r.part {
                Part::Deny(i) => (rule.deny.get(i)?.span, format!("deny {}", i + 1)),
                Part::Allow => (rule.allow_span?, "allow".to_string()),
            };
            Some(Origin {
                lines: None,
                pointer: None,
                instructions: Some((r.first, r.last, format!("{}: {what}", r.syscall))),
                span,
            })
        })
        .collect()
}

/// True when the bytes read as text (no control characters but tabs and newlines).
fn is_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
}

/// The header line of an artifact whose comments start with `leader`.
pub fn header(leader: &str, source: &Source<'_>) -> String {
    format!(
        "{leader} policyc {POLICYC_VERSION}: policy `{}` from `{}` (sha256 {}); a `{leader} FILE:LINE` comment names the rule the lines below it come from.",
        source.policy, source.file, source.sha256
    )
}

/// A text artifact with provenance: the [`header`] first, and before each run of lines
/// that come from the same rules a comment naming them (`locate` turns a span into
/// `file:line`), indented as the lines are. Comment lines of the artifact are left alone.
pub fn stamp(
    policy: &Policy,
    target: &str,
    text: &str,
    leader: &str,
    source: &Source<'_>,
    home: Option<&str>,
    locate: &dyn Fn(Span) -> String,
) -> String {
    let keys = Keys::new(policy, home, target == "seccomp");
    text::stamp(&keys, text, leader, &header(leader, source), locate)
}

#[cfg(test)]
mod tests;
