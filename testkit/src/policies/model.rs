//! The model of one `.policy` file.
//!
//! The model covers what a policy says (isolation, threats, mounts with and without `at`,
//! scratch and tmpfs areas, denies of paths and of the `std::secrets` lists, egress rules
//! with wildcards, IP literals and ports, DNS modes, tokens, syscall rules with conditions
//! and actions, limits and tests) with values drawn mostly from small vocabularies of
//! realistic and near-miss spellings, so most inputs get past the parser and many past the
//! checker. Each choice also has a way out of the vocabulary (a raw string, an arbitrary
//! number), so invalid policies are generated too. [`PolicyModel::source`] turns a model
//! into source text.
//!
//! **Decoding.** `arbitrary` decodes fuzzer bytes into a model field by field and picks an
//! enum variant by its index among the variants it may generate, so the saved fuzz inputs
//! (`fuzz/regressions/`) mean what they meant only while the fields, the decoded variants
//! and the vocabularies keep their order. What tests build by hand and fuzzer bytes never
//! make ([`PolicyModel::name`], [`PathRoot::Exact`], [`SysNameModel::Named`]) is therefore
//! left out of decoding (`#[arbitrary(value)]`, `#[arbitrary(skip)]`), and new fields go
//! first: the last field decodes the rest of the input.

use arbitrary::Arbitrary;

/// A policy file: the `use` lines it needs, and one policy.
#[derive(Debug, Clone, Arbitrary)]
pub struct PolicyModel {
    /// The policy's name (decoded models are all named `fuzzed`).
    #[arbitrary(value = String::from("fuzzed"))]
    pub name: String,
    pub isolation: IsolationModel,
    pub threats: Vec<ThreatModel>,
    /// Import `std::secrets` even when no deny names its lists.
    pub use_secrets: bool,
    pub fs: Vec<FsRuleModel>,
    pub net: NetModel,
    pub tokens: Vec<TokenModel>,
    pub syscalls: Option<SyscallsModel>,
    /// `include runtime_guards` (from `std::runtime::base`).
    pub include_guards: bool,
    pub limits: Vec<LimitModel>,
    pub tests: Vec<ExpectModel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum IsolationModel {
    Process,
    Container,
    Wasm,
    /// A word from [`BAD_ISOLATION`].
    Other(u8),
}

/// Isolation words that are not levels (or are reserved).
pub const BAD_ISOLATION: &[&str] = &["microvm", "proces", "none", "Process", "vm"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ThreatModel {
    Exfiltration,
    Tampering,
    Persistence,
    PrivilegeEscalation,
    CredentialTheft,
    DenialOfService,
    /// Not a threat.
    Bogus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum AccessModel {
    Read,
    Write,
    Exec,
}

impl AccessModel {
    pub fn keyword(self) -> &'static str {
        match self {
            AccessModel::Read => "read",
            AccessModel::Write => "write",
            AccessModel::Exec => "exec",
        }
    }
}

/// A path: a root and components from [`PATH_ROOTS`] and [`PATH_NAMES`], or a raw string.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct PathModel {
    pub root: PathRoot,
    pub parts: Vec<PathPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum PathRoot {
    /// One of [`PATH_ROOTS`].
    Known(u8),
    /// `~`
    Home,
    /// Anything at all (escaped when rendered, and cut short when long).
    Raw(String),
    /// A whole path a test gives (escaped when rendered, never cut short). Not decoded.
    #[arbitrary(skip)]
    Exact(String),
}

/// Where paths start: the home directory, the root, system trees, and the places policies
/// mount things.
pub const PATH_ROOTS: &[&str] = &[
    "~",
    "/",
    "/data",
    "/srv",
    "/mnt",
    "/mnt/docs",
    "/tmp",
    "/usr",
    "/etc",
    "/opt",
    "/var/tmp",
    "~/Documents",
    "~/.config",
    "/out",
    "/work",
    "/home/user",
    "/home",
    "/proc",
    "/dev",
    "/run/user",
    "relative",
    "~user",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum PathPart {
    /// One of [`PATH_NAMES`].
    Name(u8),
    /// `..`
    Up,
    /// `.`
    Dot,
    /// An empty component (`//`).
    Empty,
}

/// Path components: ordinary names, near-miss siblings, credential folders, and names with
/// characters that profile and JSON writers must quote (spaces, AppArmor pattern characters,
/// quotes, backslashes, `@{HOME}`).
pub const PATH_NAMES: &[&str] = &[
    "a",
    "b",
    "x",
    "docs",
    "Documents",
    "Finance",
    "data",
    "data2",
    "out",
    "in",
    "sub",
    "bin",
    "cache",
    "private",
    "shared",
    ".ssh",
    ".aws",
    ".config",
    ".bashrc",
    "id_ed25519",
    "credentials",
    "autostart",
    "user",
    "home",
    "etc",
    "passwd",
    "Bitwarden CLI",
    "bücher",
    "a*",
    "...",
    "-",
    "[ab]",
    "{a,b}",
    "@{HOME}",
    "^x",
    "a,b",
    "#c",
    "q\"q",
    "b\\s",
    "$x",
    "~",
    "**",
    "a b ",
];

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum FsRuleModel {
    /// `read|write|exec "HOST" [at "GUEST"]`
    Mount {
        access: AccessModel,
        host: PathModel,
        at: Option<PathModel>,
    },
    /// `scratch "GUEST" [size SIZE]`
    Scratch {
        path: PathModel,
        size: Option<SizeModel>,
    },
    /// `tmpfs "GUEST" [size SIZE]`
    Tmpfs {
        path: PathModel,
        size: Option<SizeModel>,
    },
    /// `deny [ACCESS] "PATH"` or `deny [ACCESS] LIST`
    Deny {
        access: Option<AccessModel>,
        target: DenyTargetModel,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum DenyTargetModel {
    Path(PathModel),
    /// `secrets` from `std::secrets`.
    Secrets,
    /// `persistence` from `std::secrets`.
    Persistence,
    /// A topical list of `std::secrets`, or an unknown one: [`PATH_LISTS`].
    List(u8),
}

/// Path list names: `std::secrets`' topical lists and two that do not exist.
pub const PATH_LISTS: &[&str] = &[
    "ssh_keys",
    "cloud_credentials",
    "shell_startup",
    "session_sockets",
    "system_secrets",
    "agent_config",
    "secret",
    "nope",
];

/// A size: a number and a unit, or a raw byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SizeModel {
    Units(u16, SizeUnit),
    Bytes(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SizeUnit {
    B,
    KiB,
    MiB,
    GiB,
    TiB,
}

impl SizeUnit {
    pub fn keyword(self) -> &'static str {
        match self {
            SizeUnit::B => "B",
            SizeUnit::KiB => "KiB",
            SizeUnit::MiB => "MiB",
            SizeUnit::GiB => "GiB",
            SizeUnit::TiB => "TiB",
        }
    }
}

/// The `net` block.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum NetModel {
    /// No `net` block.
    Absent,
    /// `egress none`, maybe with a DNS mode (an error unless `none`).
    None(Option<DnsModel>),
    /// `egress via proxy { ... }` and `egress direct { ... }` blocks, and a DNS mode.
    Egress {
        blocks: Vec<EgressBlockModel>,
        dns: Option<DnsModel>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum DnsModel {
    None,
    AllowListedOnly,
    Any,
}

impl DnsModel {
    pub fn keyword(self) -> &'static str {
        match self {
            DnsModel::None => "none",
            DnsModel::AllowListedOnly => "allow-listed-only",
            DnsModel::Any => "any",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct EgressBlockModel {
    pub proxy: bool,
    pub rules: Vec<EgressRuleModel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct EgressRuleModel {
    pub allow: bool,
    pub host: HostModel,
    pub port: PortModel,
    /// `with token tN` (allow rules only).
    pub token: Option<u8>,
}

/// A host as written in a policy or a test.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum HostModel {
    /// Labels in front of a base domain from [`DOMAINS`], maybe as a `*.` wildcard, in
    /// upper case or with a trailing dot.
    Name {
        labels: Vec<u8>,
        base: u8,
        wildcard: bool,
        upper: bool,
        trailing_dot: bool,
    },
    /// An IPv4 address from [`V4_ADDRS`] (or any), in one of its spellings.
    V4 { addr: V4Addr, form: V4Form },
    /// An IPv6 address from [`V6_ADDRS`] (or any), bracketed or not.
    V6 { addr: V6Addr, bracketed: bool },
    /// Anything at all.
    Raw(String),
}

/// Labels put in front of a base domain.
pub const LABELS: &[&str] = &[
    "a", "api", "www", "evil", "b", "x-y", "_dmarc", "debug", "*",
];

/// Base domains, including a single label, an IDN name and its punycode spelling.
pub const DOMAINS: &[&str] = &[
    "example.com",
    "api.example.com",
    "mail.example.org",
    "cdn.example.net",
    "formulas.example.com",
    "bücher.example",
    "xn--bcher-kva.example",
    "localhost",
    "com",
    "example.com.evil.org",
    "evil-example.com",
    "foo.123",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum V4Addr {
    Known(u8),
    Any(u32),
}

/// IPv4 addresses policies care about: loopback, private ranges, metadata, documentation.
pub const V4_ADDRS: &[u32] = &[
    0x7f00_0001,
    0x0a00_0001,
    0xc000_020a,
    0xa9fe_a9fe,
    0,
    0x5db8_d822,
    0xffff_ffff,
    0xc0a8_0101,
];

/// The `inet_aton` spellings of an IPv4 address, and its IPv4-mapped IPv6 forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum V4Form {
    Dotted,
    Decimal,
    Hex,
    Octal,
    /// `a.b.c` (last part 16 bits).
    Three,
    /// `a.b` (last part 24 bits).
    Two,
    /// `[::ffff:a.b.c.d]`
    Mapped,
    /// `::ffff:xxxx:xxxx`
    MappedHex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum V6Addr {
    Known(u8),
    Any([u16; 8]),
}

pub const V6_ADDRS: &[&str] = &["::1", "2001:db8::1", "fe80::1", "::", "::ffff:7f00:1"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum PortModel {
    /// No port.
    Absent,
    /// `*`
    Any,
    /// One of [`PORTS`].
    Common(u8),
    /// Any number, in range or not.
    Number(u32),
}

pub const PORTS: &[u32] = &[443, 80, 8080, 993, 22, 53, 65535, 1, 0, 65536];

/// A token declared in the policy as `tN`.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct TokenModel {
    pub audience: Option<HostModel>,
    pub scopes: Vec<u8>,
    pub ttl: Option<DurationModel>,
    pub approval: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct DurationModel {
    pub amount: u32,
    pub unit: DurationUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum DurationUnit {
    Ms,
    S,
    M,
    H,
    D,
}

impl DurationUnit {
    pub fn keyword(self) -> &'static str {
        match self {
            DurationUnit::Ms => "ms",
            DurationUnit::S => "s",
            DurationUnit::M => "m",
            DurationUnit::H => "h",
            DurationUnit::D => "d",
        }
    }
}

/// The `syscalls` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Arbitrary)]
pub struct SyscallsModel {
    pub default: Option<ActionModel>,
    pub rules: Vec<SysRuleModel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum SysRuleModel {
    /// `allow NAME [if COND], ...`
    Allow(Vec<SysTargetModel>),
    /// `deny NAME, ... [if COND] [ACTION]`
    Deny {
        names: Vec<SysNameModel>,
        condition: Vec<CondModel>,
        action: Option<ActionModel>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct SysTargetModel {
    pub name: SysNameModel,
    pub condition: Vec<CondModel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SysNameModel {
    /// One of [`SYSCALLS`]: the calls agents make and the ones policies deny.
    Common(u8),
    /// Any x86_64 syscall, by index into the table.
    Table(u16),
    /// A set from the stdlib: [`SYSCALL_SETS`].
    Set(u8),
    /// Not a syscall: [`BAD_SYSCALLS`].
    Bogus(u8),
    /// A syscall (or set) by name, as a test writes it. Not decoded.
    #[arbitrary(skip)]
    Named(&'static str),
}

pub const SYSCALLS: &[&str] = &[
    "read",
    "write",
    "openat",
    "close",
    "mmap",
    "mprotect",
    "socket",
    "connect",
    "ioctl",
    "clone",
    "clone3",
    "prctl",
    "fcntl",
    "lseek",
    "kill",
    "ptrace",
    "bpf",
    "unshare",
    "setns",
    "mount",
    "execve",
    "futex",
    "exit_group",
    "keyctl",
    "open",
    "personality",
    "arch_prctl",
    "renameat2",
];

/// The stdlib's syscall sets (the `std::runtime` modules are imported when one is named).
pub const SYSCALL_SETS: &[&str] = &["python", "node", "static_binary", "base", "base_net"];

pub const BAD_SYSCALLS: &[&str] = &["nosuchcall", "Read", "socketcall_", "kill_"];

/// `argN [& MASK] OP VALUE`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct CondModel {
    /// Rendered as `arg{arg % 7}`: `arg6` is out of range.
    pub arg: u8,
    pub mask: Option<ValueModel>,
    pub op: CmpOpModel,
    pub value: ValueModel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum CmpOpModel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOpModel {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOpModel::Eq => "==",
            CmpOpModel::Ne => "!=",
            CmpOpModel::Lt => "<",
            CmpOpModel::Le => "<=",
            CmpOpModel::Gt => ">",
            CmpOpModel::Ge => ">=",
        }
    }
}

/// A 64-bit value shaped like the ones filters compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ValueModel {
    Small(u8),
    /// `1 << (n % 64)`
    Bit(u8),
    /// `(1 << (n % 65)) - 1`
    LowOnes(u8),
    /// A 32-bit value.
    Word(u32),
    /// A value with the upper half set.
    High(u32),
    Full(u64),
}

impl ValueModel {
    pub fn value(self) -> u64 {
        match self {
            ValueModel::Small(n) => u64::from(n),
            ValueModel::Bit(n) => 1u64 << (n % 64),
            ValueModel::LowOnes(n) => match n % 65 {
                64 => u64::MAX,
                k => (1u64 << k) - 1,
            },
            ValueModel::Word(w) => u64::from(w),
            ValueModel::High(w) => (u64::from(w) << 32) | u64::from(w),
            ValueModel::Full(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ActionModel {
    /// `errno NAME`, from [`ERRNOS`].
    ErrnoName(u8),
    /// `errno N` (0 and values above 4095 are errors).
    ErrnoNumber(u16),
    Kill,
}

pub const ERRNOS: &[&str] = &[
    "EPERM",
    "EACCES",
    "ENOSYS",
    "EBADF",
    "EINVAL",
    "ENOENT",
    "EAGAIN",
    "EWOULDBLOCK",
    "ENOTSUP",
    "eperm",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum LimitModel {
    Memory(SizeModel),
    Pids(u32),
    /// Thousandths of a CPU, printed as a decimal (`1.5`).
    Cpus(u32),
    Files(u32),
    /// A limit of the wrong kind (`pids 64MiB`, `memory 512`) or an unknown one.
    Wrong(u8),
}

/// Limit lines that the checker refuses.
pub const WRONG_LIMITS: &[&str] = &[
    "pids 64MiB",
    "memory 512",
    "cpus 0",
    "files 0",
    "cpus 0.0001",
    "swap 1GiB",
];

/// One test expectation.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ExpectModel {
    pub allow: bool,
    pub request: TestRequestModel,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum TestRequestModel {
    Fs(AccessModel, PathModel),
    Connect(HostModel, PortModel),
    Resolve(HostModel),
    Syscall(SysNameModel, Vec<ValueModel>),
}

/// The element of `items` at `i`, wrapping around; `None` only when `items` is empty.
pub fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    items.get(i.checked_rem(items.len())?)
}

/// A vocabulary word by index, wrapping around.
pub fn word(vocab: &[&'static str], i: usize) -> &'static str {
    pick(vocab, i).copied().unwrap_or("")
}

/// The index of `text` in `vocab` (0 if absent).
pub fn index_of(vocab: &[&str], text: &str) -> u8 {
    let i = vocab.iter().position(|w| *w == text).unwrap_or(0);
    u8::try_from(i).unwrap_or(0)
}
