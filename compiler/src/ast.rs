//! The syntax tree of a `.policy` file, as written (before name resolution and checks).
//!
//! Every node that a diagnostic can point at carries a [`Span`]; spans do not take part in
//! equality. Literals are already typed (sizes in bytes, durations in milliseconds) but not yet
//! validated (a path may still be relative; a syscall name may be unknown).

use crate::span::{Span, Spanned};
use serde::{Deserialize, Serialize};

pub type Name = Spanned<String>;

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// `#` comments, kept for the formatter; not part of equality-relevant structure
    /// beyond their text and order.
    pub comments: Vec<Comment>,
}

/// A `#` comment and where it stood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text after `#`, without the newline.
    pub text: String,
    pub span: Span,
    /// True when code precedes the comment on its line.
    pub trailing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Use(Use),
    Paths(PathsDecl),
    SyscallSet(SyscallSetDecl),
    Fragment(Block),
    Policy(Block),
    Token(TokenDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Paths(p) => p.span,
            Item::SyscallSet(s) => s.span,
            Item::Fragment(b) | Item::Policy(b) => b.span,
            Item::Token(t) => t.span,
        }
    }
}

/// `use std::secrets`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub path: Vec<Name>,
    pub span: Span,
}

/// `paths secrets { "~/.ssh", "~/.gnupg" }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathsDecl {
    pub docs: Vec<String>,
    pub name: Name,
    pub paths: Vec<Spanned<String>>,
    pub span: Span,
}

/// `syscalls python { read, write, openat }` (members may name other sets)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallSetDecl {
    pub docs: Vec<String>,
    pub name: Name,
    pub members: Vec<Name>,
    pub span: Span,
}

/// A `policy` or `fragment`: a name and statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub docs: Vec<String>,
    pub name: Name,
    pub stmts: Vec<Stmt>,
    /// The block's `allow warning` suppressions, at any depth, in source order.
    pub suppressions: Vec<Suppression>,
    pub span: Span,
}

/// `allow warning P0502 "why"`: silences the warning with that code on the statement or
/// rule that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The code as written (`P0502`); the checker says whether it is one.
    pub code: Name,
    /// Why the warning does not apply; required by the checker.
    pub reason: Option<Spanned<String>>,
    /// The `allow warning ...` text.
    pub span: Span,
    /// The statement or rule it applies to.
    pub target: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Isolation(Name),
    Threats(Vec<Name>, Span),
    Data(Vec<Name>, Span),
    Include(Name),
    Fs(Vec<FsRule>, Span),
    Net(Vec<NetRule>, Span),
    Token(TokenDecl),
    Syscalls(Vec<SysRule>, Span),
    Limits(Vec<Limit>, Span),
    Audit(Vec<Name>, Span),
    Env(Vec<EnvRule>, Span),
    Test(TestBlock),
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Isolation(n) | Stmt::Include(n) => n.span,
            Stmt::Threats(_, s)
            | Stmt::Data(_, s)
            | Stmt::Fs(_, s)
            | Stmt::Net(_, s)
            | Stmt::Syscalls(_, s)
            | Stmt::Limits(_, s)
            | Stmt::Audit(_, s)
            | Stmt::Env(_, s) => *s,
            Stmt::Token(t) => t.span,
            Stmt::Test(t) => t.span,
        }
    }
}

/// A rule of an `env { ... }` block: which variables the program's environment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvRule {
    /// `pass LANG, TERM`: copy these from the caller's environment, when set there.
    Pass(Vec<Name>, Span),
    /// `set PYTHONDONTWRITEBYTECODE "1"`
    Set {
        name: Name,
        value: Spanned<String>,
        span: Span,
    },
}

impl EnvRule {
    pub fn span(&self) -> Span {
        match self {
            EnvRule::Pass(_, s) | EnvRule::Set { span: s, .. } => *s,
        }
    }
}

/// A change to a file's metadata: what `chmod`, `chown`, `utime` and the `setxattr`
/// family do. The reference semantics treats each as a write to the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetaOp {
    Chmod,
    Chown,
    Utime,
    Xattr,
}

impl MetaOp {
    /// Every operation, in declaration order.
    pub const ALL: [MetaOp; 4] = [MetaOp::Chmod, MetaOp::Chown, MetaOp::Utime, MetaOp::Xattr];

    pub fn keyword(self) -> &'static str {
        match self {
            MetaOp::Chmod => "chmod",
            MetaOp::Chown => "chown",
            MetaOp::Utime => "utime",
            MetaOp::Xattr => "xattr",
        }
    }

    pub fn from_keyword(s: &str) -> Option<MetaOp> {
        MetaOp::ALL.into_iter().find(|m| m.keyword() == s)
    }
}

/// What a mount grants, or what a deny takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Exec,
}

impl Access {
    pub fn keyword(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Exec => "exec",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsRule {
    /// `read "~/Documents" at "/mnt/docs"`
    Mount {
        access: Access,
        host: Spanned<String>,
        guest: Option<Spanned<String>>,
        span: Span,
    },
    /// `scratch "/mnt/scratch" size 256MiB`
    Scratch {
        path: Spanned<String>,
        size: Option<Spanned<u64>>,
        span: Span,
    },
    /// `tmpfs "/tmp" size 64MiB`
    Tmpfs {
        path: Spanned<String>,
        size: Option<Spanned<u64>>,
        span: Span,
    },
    /// `deny "~/.ssh"`, `deny write "~/.bashrc"`, `deny secrets`
    Deny {
        access: Option<Access>,
        target: DenyTarget,
        span: Span,
    },
}

impl FsRule {
    pub fn span(&self) -> Span {
        match self {
            FsRule::Mount { span, .. }
            | FsRule::Scratch { span, .. }
            | FsRule::Tmpfs { span, .. }
            | FsRule::Deny { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyTarget {
    Path(Spanned<String>),
    List(Name),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetRule {
    EgressNone(Span),
    Egress {
        via: EgressVia,
        rules: Vec<EgressRule>,
        span: Span,
    },
    Dns(Spanned<DnsMode>),
}

impl NetRule {
    pub fn span(&self) -> Span {
        match self {
            NetRule::EgressNone(s) | NetRule::Egress { span: s, .. } => *s,
            NetRule::Dns(m) => m.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EgressVia {
    Proxy,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsMode {
    None,
    AllowListedOnly,
    Any,
}

impl DnsMode {
    pub fn keyword(self) -> &'static str {
        match self {
            DnsMode::None => "none",
            DnsMode::AllowListedOnly => "allow-listed-only",
            DnsMode::Any => "any",
        }
    }
}

/// A host (or host pattern) and an optional port (`None` = any port, written `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Spanned<String>,
    pub port: Option<Spanned<PortSpec>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    Any,
    /// The number as written; may be out of range (checked later).
    Number(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressRule {
    Allow {
        endpoint: Endpoint,
        token: Option<Name>,
        span: Span,
    },
    Deny {
        endpoint: Endpoint,
        span: Span,
    },
}

impl EgressRule {
    pub fn span(&self) -> Span {
        match self {
            EgressRule::Allow { span, .. } | EgressRule::Deny { span, .. } => *span,
        }
    }
}

/// `token formula_api { audience "..."; scope "a", "b"; ttl 5m; approval required }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDecl {
    pub docs: Vec<String>,
    pub name: Name,
    pub fields: Vec<TokenField>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenField {
    Audience(Spanned<String>),
    Scope(Vec<Spanned<String>>, Span),
    /// Milliseconds.
    Ttl(Spanned<u64>),
    Approval(Spanned<bool>),
}

impl TokenField {
    pub fn span(&self) -> Span {
        match self {
            TokenField::Audience(s) => s.span,
            TokenField::Scope(_, s) => *s,
            TokenField::Ttl(t) => t.span,
            TokenField::Approval(a) => a.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysRule {
    Default(Spanned<Action>),
    Allow(Vec<SysTarget>, Span),
    /// `deny ptrace, bpf errno EPERM`; with a condition, the deny applies only when it
    /// holds (`deny clone if arg0 & 0x7e020000 != 0`).
    Deny {
        names: Vec<Name>,
        condition: Vec<ArgCmp>,
        action: Option<Spanned<Action>>,
        span: Span,
    },
}

impl SysRule {
    pub fn span(&self) -> Span {
        match self {
            SysRule::Default(a) => a.span,
            SysRule::Allow(_, s) => *s,
            SysRule::Deny { span, .. } => *span,
        }
    }
}

/// A syscall (or set) name with an optional argument condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysTarget {
    pub name: Name,
    pub condition: Vec<ArgCmp>,
    pub span: Span,
}

/// `arg1 & 0xff == 2`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgCmp {
    pub arg: u8,
    pub mask: Option<u64>,
    pub op: CmpOp,
    pub value: u64,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// Every comparison, in declaration order.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// What happens to a denied syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `errno EPERM` (name) or `errno 1` (number); resolved by the checker.
    Errno(ErrnoSpec),
    Kill,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrnoSpec {
    Name(String),
    Number(u64),
}

/// `memory 512MiB`, `pids 64`, `cpus 1.5`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub name: Name,
    pub value: Spanned<LimitValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitValue {
    /// Bytes.
    Size(u64),
    /// A decimal number as written (`1`, `0.5`).
    Number(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBlock {
    pub name: Spanned<String>,
    pub expectations: Vec<Expectation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub allow: bool,
    pub request: RequestSyntax,
    /// `unenforced "why"`: the policy states that no layer of its stack enforces this deny.
    pub unenforced: Option<Spanned<String>>,
    pub span: Span,
}

/// A request as written in a test; the checker turns it into a [`crate::request::Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSyntax {
    Fs(Access, Spanned<String>),
    Meta(MetaOp, Spanned<String>),
    Connect(Endpoint),
    Resolve(Spanned<String>),
    Syscall(Name, Option<Vec<u64>>),
}
