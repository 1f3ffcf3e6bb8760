//! The checked, canonical IR: what a policy means, with every name resolved, every path and
//! host normalised, and every collection in a deterministic order. Spans survive so targets
//! can blame a source line. Serialises to JSON (spans omitted) for `policyc check --emit-ir`
//! and for snapshots.

use crate::ast::Access;
use crate::hosts::HostPattern;
use crate::paths::CanonPath;
use crate::request::Request;
use crate::span::Span;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub name: String,
    pub docs: Vec<String>,
    pub isolation: Isolation,
    pub threats: BTreeSet<Threat>,
    pub data: BTreeSet<DataClass>,
    pub fs: Fs,
    pub net: Net,
    pub tokens: BTreeMap<String, Token>,
    pub syscalls: Syscalls,
    pub limits: Limits,
    pub audit: BTreeSet<AuditItem>,
    pub tests: Vec<Test>,
    #[serde(skip)]
    pub span: Span,
}

macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $( $variant:ident = $kw:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum $name { $( #[serde(rename = $kw)] $variant, )* }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            pub fn keyword(self) -> &'static str {
                match self { $( $name::$variant => $kw, )* }
            }

            pub fn from_keyword(s: &str) -> Option<$name> {
                match s { $( $kw => Some($name::$variant), )* _ => None }
            }
        }
    };
}

keyword_enum!(
    /// How the agent is isolated; chooses the stack of targets.
    Isolation { Process = "process", Container = "container", Wasm = "wasm" }
);
keyword_enum!(
    /// What a policy defends against; drives threat-aware checks.
    Threat {
        Exfiltration = "exfiltration",
        Tampering = "tampering",
        Persistence = "persistence",
        PrivilegeEscalation = "privilege_escalation",
        CredentialTheft = "credential_theft",
        DenialOfService = "denial_of_service",
    }
);
keyword_enum!(
    /// What kinds of data the agent handles.
    DataClass {
        Pii = "pii",
        Confidential = "confidential",
        Financial = "financial",
        Health = "health",
        Credentials = "credentials",
        Public = "public",
    }
);
keyword_enum!(
    /// What the audit log records.
    AuditItem {
        Reads = "reads",
        Writes = "writes",
        Exec = "exec",
        Egress = "egress",
        Dns = "dns",
        Denials = "denials",
        Tokens = "tokens",
    }
);

/// The filesystem view: mounts sorted by guest path, denies sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Fs {
    pub mounts: Vec<Mount>,
    pub denies: Vec<FsDeny>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Where the program sees it.
    pub guest: CanonPath,
    pub kind: MountKind,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MountKind {
    /// A host tree, read-only (`read`), read-write (`write`) or read-execute (`exec`).
    Bind { host: CanonPath, access: Access },
    /// Writable, ephemeral, no exec; wiped after the task.
    Scratch { size: u64 },
    /// Writable memory file system, no exec.
    Tmpfs { size: u64 },
}

impl Mount {
    /// What this mount lets the program do.
    pub fn allows(&self, access: Access) -> bool {
        match &self.kind {
            MountKind::Bind {
                access: Access::Read,
                ..
            } => access == Access::Read,
            MountKind::Bind {
                access: Access::Write,
                ..
            } => access != Access::Exec,
            MountKind::Bind {
                access: Access::Exec,
                ..
            } => access != Access::Write,
            MountKind::Scratch { .. } | MountKind::Tmpfs { .. } => access != Access::Exec,
        }
    }

    pub fn host(&self) -> Option<&CanonPath> {
        match &self.kind {
            MountKind::Bind { host, .. } => Some(host),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsDeny {
    pub path: CanonPath,
    /// The accesses denied (all three for a plain `deny`).
    pub access: BTreeSet<Access>,
    /// The path list it came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Net {
    /// True for `egress none` (and for a policy that says nothing about egress).
    pub egress_none: bool,
    /// Deny rules first, then allow rules; each group sorted.
    pub rules: Vec<EgressRule>,
    pub dns: crate::ast::DnsMode,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressRule {
    pub allow: bool,
    pub via: crate::ast::EgressVia,
    pub host: HostPattern,
    /// `None` is every port.
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub audience: String,
    pub scopes: Vec<String>,
    pub ttl_ms: u64,
    pub approval: bool,
    #[serde(skip)]
    pub span: Span,
}

/// The syscall filter: an allow-list with a default action; deny always wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Syscalls {
    pub default: DenyAction,
    pub rules: BTreeMap<String, SyscallRule>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SyscallRule {
    /// Alternatives; the call is allowed when any alternative holds (an empty alternative
    /// always holds).
    pub allow: Vec<Vec<ArgCond>>,
    /// Denies, each with the conditions under which it applies (none: always); the first
    /// that holds decides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<DenyWhen>,
    #[serde(skip)]
    pub allow_span: Option<Span>,
}

impl SyscallRule {
    /// True when some allow alternative has no condition.
    pub fn unconditional(&self) -> bool {
        self.allow.iter().any(Vec::is_empty)
    }

    /// True when the syscall is denied whatever its arguments.
    pub fn always_denied(&self) -> bool {
        self.deny.iter().any(|d| d.when.is_empty())
    }

    /// The deny rule that applies to these arguments, if any.
    pub fn deny_rule_for(&self, args: &[u64; 6]) -> Option<&DenyWhen> {
        self.deny
            .iter()
            .find(|d| d.when.iter().all(|c| c.holds(args)))
    }

    /// What a deny does to a call with these arguments, if one applies.
    pub fn deny_for(&self, args: &[u64; 6]) -> Option<DenyAction> {
        self.deny_rule_for(args).map(|d| d.action)
    }
}

/// A deny, conditional when `when` is not empty (all conditions must hold).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DenyWhen {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<ArgCond>,
    pub action: DenyAction,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ArgCond {
    pub arg: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<u64>,
    pub op: crate::ast::CmpOp,
    pub value: u64,
}

impl ArgCond {
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        use crate::ast::CmpOp::*;
        let raw = args.get(usize::from(self.arg)).copied().unwrap_or(0);
        let v = self.mask.map_or(raw, |m| raw & m);
        match self.op {
            Eq => v == self.value,
            Ne => v != self.value,
            Lt => v < self.value,
            Le => v <= self.value,
            Gt => v > self.value,
            Ge => v >= self.value,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    Errno(u32),
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// Thousandths of a CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub millicpus: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Test {
    pub name: String,
    pub cases: Vec<TestCase>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestCase {
    pub expect_allow: bool,
    pub request: Request,
    #[serde(skip)]
    pub span: Span,
}
