//! The checked, canonical IR: what a policy means, with every name resolved, every path and
//! host normalised, and every collection in a deterministic order. Spans survive so targets
//! can blame a source line. Serialises to JSON (spans omitted) for `policyc check --emit-ir`
//! and for snapshots.

use crate::ast::Access;
use crate::hosts::HostPattern;
use crate::paths::CanonPath;
use crate::request::Request;
use crate::span::Span;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The program's environment (absent from the JSON when the policy has no `env` block).
    #[serde(default, skip_serializing_if = "Env::is_empty")]
    pub env: Env,
    pub tests: Vec<Test>,
    #[serde(skip)]
    pub span: Span,
    /// The home-relative host paths of the fs rules, with their literals' spans, for
    /// length checks once the home directory is known. Like spans, ignored by equality.
    #[serde(skip)]
    pub home_paths: HomePaths,
}

/// Home-relative paths and the spans of their literals ([`Policy::home_paths`]).
#[derive(Debug, Clone, Default)]
pub struct HomePaths(pub Vec<(CanonPath, Span)>);

impl PartialEq for HomePaths {
    /// Source positions, not meaning: two policies are equal whatever these are.
    fn eq(&self, _: &HomePaths) -> bool {
        true
    }
}

impl Eq for HomePaths {}

/// What the program's environment holds besides what the launcher provides (`HOME`, `PATH`):
/// nothing the policy does not name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Env {
    /// Copied from the caller's environment when set there.
    pub pass: BTreeSet<String>,
    /// Set to these values.
    pub set: BTreeMap<String, String>,
}

impl Env {
    /// True when the policy names no variable.
    pub fn is_empty(&self) -> bool {
        self.pass.is_empty() && self.set.is_empty()
    }
}

macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $( $variant:ident = $kw:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fs {
    pub mounts: Vec<Mount>,
    pub denies: Vec<FsDeny>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Where the program sees it.
    pub guest: CanonPath,
    pub kind: MountKind,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    /// True for `egress none` (and for a policy that says nothing about egress).
    pub egress_none: bool,
    /// Deny rules first, then allow rules; each group sorted.
    pub rules: Vec<EgressRule>,
    pub dns: crate::ast::DnsMode,
    /// Where `egress none` or the `dns` statement was written (or the first net rule): what a
    /// decision by the block's defaults cites.
    #[serde(skip)]
    pub span: Span,
    /// The first `net` block (the policy's name when it has none): what a refusal that no
    /// rule matched is traced to.
    #[serde(skip)]
    pub block: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub audience: String,
    pub scopes: Vec<String>,
    pub ttl_ms: u64,
    pub approval: bool,
    #[serde(skip)]
    pub span: Span,
}

/// The syscall filter: an allow-list with a default action; deny always wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Syscalls {
    pub default: DenyAction,
    pub rules: BTreeMap<String, SyscallRule>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "SyscallRuleJson")]
pub struct SyscallRule {
    /// Alternatives; the call is allowed when any alternative holds (an empty alternative
    /// always holds).
    pub allow: Vec<Vec<ArgCond>>,
    /// Denies, each with the conditions under which it applies (none: always); the first
    /// that holds decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<DenyWhen>,
    /// Where the first allow was written; set exactly when `allow` is not empty.
    #[serde(skip)]
    pub allow_span: Option<Span>,
}

/// A [`SyscallRule`] as its JSON holds it (without spans).
#[derive(Deserialize)]
struct SyscallRuleJson {
    allow: Vec<Vec<ArgCond>>,
    #[serde(default)]
    deny: Vec<DenyWhen>,
}

impl From<SyscallRuleJson> for SyscallRule {
    /// A rule read back has allows written at an unknown place, a default span.
    fn from(j: SyscallRuleJson) -> SyscallRule {
        SyscallRule {
            allow_span: (!j.allow.is_empty()).then(Span::default),
            allow: j.allow,
            deny: j.deny,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DenyWhen {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<ArgCond>,
    pub action: DenyAction,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    Errno(u32),
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Test {
    pub name: String,
    pub cases: Vec<TestCase>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub expect_allow: bool,
    pub request: Request,
    /// The policy's own statement that no layer of its stack enforces this deny, and why
    /// that is acceptable (`deny ... unenforced "why"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unenforced: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

// How rules read in reports, diagnostics and artifact comments: as the policy writes them.
// The alternate form (`{:#}`) escapes each path as `str::escape_debug` does, so the text
// stays on one line and its quotes balance whatever the path holds.

/// A path in double quotes, escaped when `escape` is set.
struct Quoted<'a> {
    path: &'a CanonPath,
    escape: bool,
}

impl<'a> Quoted<'a> {
    fn new(path: &'a CanonPath, f: &fmt::Formatter<'_>) -> Self {
        Quoted {
            path,
            escape: f.alternate(),
        }
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.escape {
            write!(f, "\"{}\"", self.path.as_str().escape_debug())
        } else {
            write!(f, "\"{}\"", self.path)
        }
    }
}

/// A set of accesses as words, in order: `read, exec`.
#[derive(Debug, Clone, Copy)]
pub struct Accesses<'a>(pub &'a BTreeSet<Access>);

impl fmt::Display for Accesses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(a.keyword())?;
        }
        Ok(())
    }
}

/// The mount as written: `read "~/Documents" at "/mnt/docs"`, `write "/data"`,
/// `scratch "/mnt/out"`, `tmpfs "/tmp"` (no sizes).
///
/// ```
/// use policyc_compiler::ast::Access;
/// use policyc_compiler::ir::{Mount, MountKind};
/// use policyc_compiler::paths::CanonPath;
/// # fn main() -> Result<(), policyc_compiler::paths::PathError> {
/// let mount = Mount {
///     guest: CanonPath::parse("/mnt/\"q\"")?,
///     kind: MountKind::Bind { host: CanonPath::parse("~/q")?, access: Access::Read },
///     span: Default::default(),
/// };
/// assert_eq!(mount.to_string(), r#"read "~/q" at "/mnt/"q"""#);
/// assert_eq!(format!("{mount:#}"), r#"read "~/q" at "/mnt/\"q\"""#);
/// # Ok(()) }
/// ```
impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guest = Quoted::new(&self.guest, f);
        match &self.kind {
            MountKind::Bind { host, access } if host == &self.guest => {
                write!(f, "{} {guest}", access.keyword())
            }
            MountKind::Bind { host, access } => {
                let host = Quoted::new(host, f);
                write!(f, "{} {host} at {guest}", access.keyword())
            }
            MountKind::Scratch { .. } => write!(f, "scratch {guest}"),
            MountKind::Tmpfs { .. } => write!(f, "tmpfs {guest}"),
        }
    }
}

/// The deny with where it came from: `deny "~/.ssh" (from `secrets`)`, `deny write "~/x"`
/// (the accesses are named unless all three are denied). [`FsDeny::cited`] quotes the rule
/// alone.
impl fmt::Display for FsDeny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rule(f)?;
        self.write_origin(f)
    }
}

impl FsDeny {
    /// The deny for a message, the rule in backticks and its list after them:
    /// `` `deny write "~/x"` (from `persistence`) ``.
    ///
    /// ```
    /// use policyc_compiler::ast::Access;
    /// use policyc_compiler::ir::FsDeny;
    /// use policyc_compiler::paths::CanonPath;
    /// # fn main() -> Result<(), policyc_compiler::paths::PathError> {
    /// let deny = FsDeny {
    ///     path: CanonPath::parse("~/.bashrc")?,
    ///     access: [Access::Write].into(),
    ///     list: Some("persistence".to_string()),
    ///     span: Default::default(),
    /// };
    /// assert_eq!(deny.to_string(), r#"deny write "~/.bashrc" (from `persistence`)"#);
    /// assert_eq!(deny.cited().to_string(), r#"`deny write "~/.bashrc"` (from `persistence`)"#);
    /// # Ok(()) }
    /// ```
    pub fn cited(&self) -> Cited<'_> {
        Cited(self)
    }

    fn write_rule(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = Quoted::new(&self.path, f);
        if [Access::Read, Access::Write, Access::Exec]
            .iter()
            .all(|a| self.access.contains(a))
        {
            write!(f, "deny {path}")
        } else {
            write!(f, "deny {} {path}", Accesses(&self.access))
        }
    }

    fn write_origin(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.list {
            Some(list) => write!(f, " (from `{list}`)"),
            None => Ok(()),
        }
    }
}

/// A deny cited in a message; made by [`FsDeny::cited`].
#[derive(Debug, Clone, Copy)]
pub struct Cited<'a>(&'a FsDeny);

impl fmt::Display for Cited<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`")?;
        self.0.write_rule(f)?;
        f.write_str("`")?;
        self.0.write_origin(f)
    }
}

/// The rule as written in its `egress` block: `allow "api.example.com":443 with token t`,
/// `deny "*.example.com":*`.
///
/// ```
/// use policyc_compiler::ast::EgressVia;
/// use policyc_compiler::hosts::HostPattern;
/// use policyc_compiler::ir::EgressRule;
/// # fn main() -> Result<(), policyc_compiler::hosts::HostError> {
/// let rule = EgressRule {
///     allow: true,
///     via: EgressVia::Proxy,
///     host: HostPattern::parse("api.example.com")?,
///     port: Some(443),
///     token: Some("api".to_string()),
///     span: Default::default(),
/// };
/// assert_eq!(rule.to_string(), r#"allow "api.example.com":443 with token api"#);
/// # Ok(()) }
/// ```
impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        write!(f, "{verb} \"{}\":", self.host)?;
        match self.port {
            Some(port) => write!(f, "{port}")?,
            None => f.write_str("*")?,
        }
        match &self.token {
            Some(token) => write!(f, " with token {token}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "ir_tests.rs"]
mod tests;
