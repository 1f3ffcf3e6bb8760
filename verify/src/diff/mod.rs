//! The effective-permission diff: what a policy lets the agent do after a change that it
//! could not do before, and what it no longer can.
//!
//! The diff never compares text. Each dimension asks the reference semantics
//! ([`policyc_compiler::decide`]) the same questions of both versions of a policy (paths
//! around every mount and deny, every endpoint and name the rules mention, syscalls with
//! arguments around every condition) or compares the checked IR (tokens, limits,
//! isolation, threats, audit). A refactor that moves rules between fragments, renames a
//! paths list or reorders blocks therefore shows no entry: "no change in effect".
//!
//! - [`fs`], [`net`], [`syscalls`], [`tokens`], [`scalars`]: one dimension each;
//! - [`risk`]: the threat notes attached to widening entries;
//! - [`render`]: text, markdown, JSON and SARIF.

pub mod fs;
pub mod net;
pub mod render;
pub mod risk;
pub mod scalars;
pub mod syscalls;
pub mod tokens;

mod pair;

use policyc_compiler::ir::{Policy, Threat};
use policyc_compiler::{SourceMap, Span};
use serde::Serialize;

pub use pair::{diff, Input};

/// Which way an entry moves the agent's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The agent can do something it could not before.
    Widens,
    /// The agent can no longer do something it could.
    Narrows,
    /// A change that grants and removes nothing (a deny's errno, a data class).
    Neutral,
}

impl Class {
    /// The word printed for it.
    pub fn word(self) -> &'static str {
        match self {
            Class::Widens => "widens",
            Class::Narrows => "narrows",
            Class::Neutral => "neutral",
        }
    }
}

/// The part of a policy an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Policy,
    Isolation,
    Fs,
    Egress,
    Dns,
    Syscalls,
    Tokens,
    Limits,
    Threats,
    Audit,
    Data,
}

/// A note on a widening entry that touches something the policy defends against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// The declared threat it works against; `None` when the policy declares no threat
    /// this entry touches (the note is then advice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threat: Option<Threat>,
    pub note: String,
}

/// Where a rule is written: a file (the policy's own or a `std` module) and a line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    /// True when the file is a `use`d module rather than the policy's own file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub module: bool,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One side's view of an entry: the rule that decides there, in words and by place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideNote {
    /// What this side says, as the reference semantics words it.
    pub reason: String,
    /// The deciding rule; `None` for a built-in default (no rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Loc>,
}

/// One change in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub area: Area,
    pub class: Class,
    /// The change as a reviewer reads it: `+ write ~/Documents/**`, `- read /etc/ssl`.
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    pub old: SideNote,
    pub new: SideNote,
}

impl Entry {
    /// True when the entry widens and its risk names a threat the policy declares.
    pub fn violates_threat(&self) -> bool {
        self.class == Class::Widens && self.risk.as_ref().is_some_and(|r| r.threat.is_some())
    }
}

/// The diff of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    pub policy: String,
    /// The policy's own file on each side (`None` where the policy does not exist).
    pub old_file: Option<String>,
    pub new_file: Option<String>,
    /// Where the policy is declared, for results about the policy as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Loc>,
    /// Widening entries first, then narrowing, then neutral; each group in a stable order.
    pub entries: Vec<Entry>,
}

impl PolicyDiff {
    /// How many entries of this class.
    pub fn count(&self, class: Class) -> usize {
        self.entries.iter().filter(|e| e.class == class).count()
    }

    /// How many entries violate a declared threat.
    pub fn threats(&self) -> usize {
        self.entries.iter().filter(|e| e.violates_threat()).count()
    }
}

/// The diff of every policy on either side, sorted by policy name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub policies: Vec<PolicyDiff>,
}

impl Report {
    /// True when some entry widens.
    pub fn widens(&self) -> bool {
        self.policies.iter().any(|p| p.count(Class::Widens) > 0)
    }

    /// True when some widening entry violates a declared threat.
    pub fn violates_threat(&self) -> bool {
        self.policies.iter().any(|p| p.threats() > 0)
    }

    /// True when nothing changes in effect.
    pub fn unchanged(&self) -> bool {
        self.policies.iter().all(|p| p.entries.is_empty())
    }
}

/// One version of a policy with the sources its spans point into.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub policy: &'a Policy,
    pub sources: &'a SourceMap,
}

impl Side<'_> {
    /// Where a span is written.
    pub fn loc(&self, span: Span) -> Option<Loc> {
        let f = self.sources.get(span.file)?;
        let (line, _) = f.line_col(span.start);
        Some(Loc {
            file: f.name.clone(),
            line,
            module: span.file != self.policy.span.file,
        })
    }

    /// A side note from a reason and an optional span.
    pub fn note(&self, reason: impl Into<String>, span: Option<Span>) -> SideNote {
        SideNote {
            reason: reason.into(),
            at: span.and_then(|s| self.loc(s)),
        }
    }

    /// The policy's own file name.
    pub fn file(&self) -> Option<String> {
        self.sources
            .get(self.policy.span.file)
            .map(|f| f.name.clone())
    }
}

/// Both versions of one policy.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub old: Side<'a>,
    pub new: Side<'a>,
}

impl Pair<'_> {
    /// True when the new version declares this threat.
    pub fn declares(&self, t: Threat) -> bool {
        self.new.policy.threats.contains(&t)
    }

    /// The first of these threats the new version declares.
    pub fn declared(&self, ts: &[Threat]) -> Option<Threat> {
        ts.iter().copied().find(|t| self.declares(*t))
    }
}

/// Sort entries: widening first (those against a declared threat leading), then narrowing,
/// then neutral; by area and change within.
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        let key = |e: &Entry| (e.class, !e.violates_threat(), e.area, e.change.clone());
        key(a).cmp(&key(b))
    });
}

#[cfg(test)]
mod tests;
