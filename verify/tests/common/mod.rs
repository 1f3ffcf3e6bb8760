//! Shared by the verifier's property, fault-injection and adversarial tests: the stdlib
//! loader, a small model of well-formed policies written out as source text, request
//! generators, and the property itself (every target's simulator against the reference
//! semantics), parameterised by the targets it checks so a faulty target can be put in.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_compiler::ast::Access;
use policyc_compiler::diag::render_human;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_compiler::{compile, Code, Request, SourceMap};
use policyc_targets::{EmitContext, Emitted, Target, Verdict};
use policyc_verify::probe::{self, Probe};
use policyc_verify::rng::Rng;
use policyc_verify::{adversary, emit_layers, Layer};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The home directory every artifact here is emitted for, and the reference is told about.
pub const HOME: &str = "/home/user";

/// Serves `use std::...` from the standard library.
pub use policyc_stdlib::Loader as Stdlib;

pub fn ctx() -> EmitContext {
    EmitContext {
        home: Some(HOME.to_string()),
    }
}

/// Compile one file; the first policy, or the rendered errors.
pub fn compile_policy(text: &str) -> Result<Policy, String> {
    let mut sources = SourceMap::new();
    let id = sources.add("generated.policy", text);
    let out = compile(&mut sources, id, &Stdlib);
    if out.diagnostics.has_errors() {
        let errors: String = out
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| render_human(d, &sources))
            .collect();
        return Err(errors);
    }
    out.policies
        .into_iter()
        .next()
        .ok_or_else(|| "no policy".to_string())
}

/// Compile one file that must compile.
pub fn policy(text: &str) -> Policy {
    compile_policy(text).unwrap_or_else(|e| panic!("does not compile:\n{e}\n{text}"))
}

/// The error codes compiling `text` reports (empty when it compiles).
pub fn compile_errors(text: &str) -> Vec<Code> {
    let mut sources = SourceMap::new();
    let id = sources.add("generated.policy", text);
    let out = compile(&mut sources, id, &Stdlib);
    out.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect()
}

/// A filesystem request, when the path is one a program could open.
pub fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

/// The reference decision for `p`, asked as the verifier asks it.
pub fn reference_allows(policy: &Policy, p: &Probe) -> bool {
    probe::reference(policy, &probe::for_reference(policy, Some(HOME), p)).allow
}

// ------------------------------------------------------------------------------ the model

/// Host folders a bind mount may name, each with the guest path it is seen at when the
/// isolation level needs one. No absolute path lies in the home directory, so `~` and its
/// absolute spelling never both appear in a policy.
pub const HOSTS: &[(&str, &str)] = &[
    ("~/Documents", "/mnt/docs"),
    ("/srv/data", "/data"),
    ("~/Projects", "/work"),
    ("/opt/tools", "/opt/tools"),
    ("~/Documents/work", "/mnt/docs/work"),
    ("/srv/data/sub", "/data/sub"),
    ("/usr", "/usr"),
    ("~/.aws", "/mnt/aws"),
    ("/srv", "/srv"),
    ("~", "/home/agent"),
];

/// Guest paths a mount may be put at explicitly (container and wasm only).
pub const GUESTS: &[&str] = &["/mnt/in", "/data", "/work", "/mnt/docs/sub", "/srv/data"];

/// Where scratch areas and tmpfs go.
pub const AREAS: &[&str] = &[
    "/out",
    "/tmp",
    "/mnt/scratch",
    "/var/tmp/agent",
    "/work/tmp",
];

/// Paths denies name.
pub const DENIES: &[&str] = &[
    "~/Documents/private",
    "/srv/data/private",
    "~/.ssh",
    "~/Projects",
    "/opt/tools/bad",
    "~/Documents",
    "/mnt/docs/private",
    "/tmp/cache",
    "~/Documents/work",
    "~/.aws/config",
    "/usr/local",
    "/srv",
];

/// Path lists of `std::secrets` a deny may name.
pub const LISTS: &[&str] = &["secrets", "persistence", "cloud_credentials"];

/// Hosts egress rules name, in the spellings a policy author might use.
pub const RULE_HOSTS: &[&str] = &[
    "api.example.com",
    "*.cdn.example.net",
    "192.0.2.10",
    "[2001:db8::1]",
    "Example.COM.",
    "0x7f.0.0.1",
    "bücher.example",
    "evil.cdn.example.net",
];

/// Syscalls an explicit allow list draws from.
pub const SYSCALL_NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "close",
    "mmap",
    "exit_group",
    "futex",
    "clone",
    "socket",
    "kill",
    "ioctl",
    "mprotect",
    "getrandom",
    "open",
    "ptrace",
    "prctl",
];

/// Conditional allows (one syscall each).
pub const COND_ALLOWS: &[&str] = &[
    "allow kill if arg1 == 0",
    "allow socket if arg0 == 1",
    "allow socket if arg0 == 2 and arg1 & 0xff == 1",
    "allow mprotect if arg2 & 0x4 == 0",
    "allow prctl if arg0 > 20 and arg0 <= 40",
    "allow lseek if arg1 >= 0x100000000 and arg2 <= 2",
];

/// Denies, conditional and not, with and without actions.
pub const SYS_DENIES: &[&str] = &[
    "deny clone if arg0 & 0x7e020000 != 0 errno EPERM",
    "deny ptrace, bpf errno EPERM",
    "deny clone3 errno ENOSYS",
    "deny ioctl if arg1 & 0xffffffff == 0x5412",
    "deny keyctl kill",
    "deny write if arg0 > 2 errno EBADF",
    "deny unshare, setns, mount",
    "deny socket if arg1 & 0x80000 == 0x80000 errno EACCES",
];

pub const DEFAULTS: &[&str] = &[
    "default errno EPERM",
    "default kill",
    "default errno EACCES",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iso {
    Process,
    Container,
    Wasm,
}

impl Iso {
    pub fn keyword(self) -> &'static str {
        match self {
            Iso::Process => "process",
            Iso::Container => "container",
            Iso::Wasm => "wasm",
        }
    }
}

/// One `fs` rule, by index into the pools above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsRule {
    /// `read|write|exec HOST [at GUEST]`; the guest index is used only where `at` may
    /// move a folder (container and wasm).
    Mount {
        access: Access,
        host: usize,
        at: Option<usize>,
    },
    Scratch(usize),
    Tmpfs(usize),
    Deny {
        access: Option<Access>,
        path: usize,
    },
    DenyList {
        access: Option<Access>,
        list: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    pub allow: bool,
    pub host: usize,
    /// `None`: no port (a deny), or `*` (an allow, which needs one).
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSpec {
    /// No `net` block: no egress.
    Omitted,
    /// `net { egress none }`.
    None,
    Egress {
        proxy: bool,
        rules: Vec<EgressRule>,
        dns: Option<&'static str>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysRule {
    /// `allow python` (the stdlib's CPython set).
    Python,
    /// `allow a, b, ...`.
    Names(Vec<usize>),
    CondAllow(usize),
    Deny(usize),
    Default(usize),
    /// `include runtime_guards` (namespace clones, clone3, terminal injection).
    Guards,
}

/// A well-formed policy, as a few rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub iso: Iso,
    pub fs: Vec<FsRule>,
    pub net: NetSpec,
    pub sys: Vec<SysRule>,
}

fn access_word(a: Option<Access>) -> String {
    a.map_or(String::new(), |a| format!("{} ", a.keyword()))
}

impl PolicySpec {
    /// How many rules it has: fs rules, egress rules (and an explicit `egress none` or
    /// `dns`), syscall statements.
    pub fn rules(&self) -> usize {
        let net = match &self.net {
            NetSpec::Omitted => 0,
            NetSpec::None => 1,
            NetSpec::Egress { rules, dns, .. } => rules.len() + usize::from(dns.is_some()),
        };
        self.fs.len() + net + self.sys.len()
    }

    /// The policy's source text. Mounts at a guest path already taken are left out (two
    /// mounts may not share one), so almost every spec compiles.
    pub fn source(&self) -> String {
        let mut s = String::from("use std::secrets\nuse std::runtime::python\n\npolicy p {\n");
        let _ = writeln!(s, "    isolation {}", self.iso.keyword());
        if self.sys.contains(&SysRule::Guards) {
            s.push_str("    include runtime_guards\n");
        }
        if !self.fs.is_empty() {
            s.push_str("    fs {\n");
            let mut guests = Vec::new();
            for r in &self.fs {
                let line = self.fs_line(r, &mut guests);
                if let Some(line) = line {
                    let _ = writeln!(s, "        {line}");
                }
            }
            s.push_str("    }\n");
        }
        match &self.net {
            NetSpec::Omitted => {}
            NetSpec::None => s.push_str("    net { egress none }\n"),
            NetSpec::Egress { proxy, rules, dns } => {
                let how = if *proxy { "via proxy" } else { "direct" };
                let _ = writeln!(s, "    net {{\n        egress {how} {{");
                for r in rules {
                    let host = RULE_HOSTS[r.host % RULE_HOSTS.len()];
                    let port = match (r.allow, r.port) {
                        (_, Some(p)) => format!(":{p}"),
                        (true, None) => ":*".to_string(),
                        (false, None) => String::new(),
                    };
                    let verb = if r.allow { "allow" } else { "deny" };
                    let _ = writeln!(s, "            {verb} \"{host}\"{port}");
                }
                s.push_str("        }\n");
                if let Some(d) = dns {
                    let _ = writeln!(s, "        dns {d}");
                }
                s.push_str("    }\n");
            }
        }
        // `default` may be said once: the first one stands.
        let first_default = self
            .sys
            .iter()
            .position(|r| matches!(r, SysRule::Default(_)));
        let body: Vec<String> = self
            .sys
            .iter()
            .enumerate()
            .filter(|(i, r)| !matches!(r, SysRule::Default(_)) || Some(*i) == first_default)
            .filter_map(|(_, r)| sys_line(r))
            .collect();
        if !body.is_empty() {
            s.push_str("    syscalls {\n");
            for b in body {
                let _ = writeln!(s, "        {b}");
            }
            s.push_str("    }\n");
        }
        s.push_str("}\n");
        s
    }

    fn fs_line(&self, r: &FsRule, guests: &mut Vec<String>) -> Option<String> {
        let mut take = |g: &str| {
            if guests.iter().any(|x| x == g) {
                false
            } else {
                guests.push(g.to_string());
                true
            }
        };
        match r {
            FsRule::Mount { access, host, at } => {
                let (h, default_guest) = HOSTS[host % HOSTS.len()];
                let guest = match (self.iso, at) {
                    (Iso::Process, _) => None,
                    (_, Some(g)) => Some(GUESTS[g % GUESTS.len()]),
                    (_, None) if h.starts_with('~') => Some(default_guest),
                    (_, None) => None,
                };
                if !take(guest.unwrap_or(h)) {
                    return None;
                }
                let at = guest.map_or(String::new(), |g| format!(" at \"{g}\""));
                Some(format!("{} \"{h}\"{at}", access.keyword()))
            }
            FsRule::Scratch(i) | FsRule::Tmpfs(i) => {
                let g = AREAS[i % AREAS.len()];
                if !take(g) {
                    return None;
                }
                let kind = if matches!(r, FsRule::Scratch(_)) {
                    "scratch"
                } else {
                    "tmpfs"
                };
                Some(format!("{kind} \"{g}\" size 1MiB"))
            }
            FsRule::Deny { access, path } => Some(format!(
                "deny {}\"{}\"",
                access_word(*access),
                DENIES[path % DENIES.len()]
            )),
            FsRule::DenyList { access, list } => Some(format!(
                "deny {}{}",
                access_word(*access),
                LISTS[list % LISTS.len()]
            )),
        }
    }
}

fn sys_line(r: &SysRule) -> Option<String> {
    Some(match r {
        SysRule::Python => "allow python".to_string(),
        SysRule::Names(ns) if ns.is_empty() => return None,
        SysRule::Names(ns) => {
            let names: Vec<&str> = ns
                .iter()
                .map(|i| SYSCALL_NAMES[i % SYSCALL_NAMES.len()])
                .collect();
            format!("allow {}", names.join(", "))
        }
        SysRule::CondAllow(i) => COND_ALLOWS[i % COND_ALLOWS.len()].to_string(),
        SysRule::Deny(i) => SYS_DENIES[i % SYS_DENIES.len()].to_string(),
        SysRule::Default(i) => DEFAULTS[i % DEFAULTS.len()].to_string(),
        SysRule::Guards => return None,
    })
}

// ------------------------------------------------------------------------- strategies

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![Just(Access::Read), Just(Access::Write), Just(Access::Exec)]
}

fn fs_rule() -> impl Strategy<Value = FsRule> {
    prop_oneof![
        4 => (access(), 0..HOSTS.len(), proptest::option::of(0..GUESTS.len()))
            .prop_map(|(access, host, at)| FsRule::Mount { access, host, at }),
        1 => (0..AREAS.len()).prop_map(FsRule::Scratch),
        1 => (0..AREAS.len()).prop_map(FsRule::Tmpfs),
        3 => (proptest::option::of(access()), 0..DENIES.len())
            .prop_map(|(access, path)| FsRule::Deny { access, path }),
        1 => (proptest::option::of(access()), 0..LISTS.len())
            .prop_map(|(access, list)| FsRule::DenyList { access, list }),
    ]
}

fn egress_rule() -> impl Strategy<Value = EgressRule> {
    let port = prop_oneof![
        Just(Some(443u16)),
        Just(None),
        Just(Some(80)),
        Just(Some(8080))
    ];
    (any::<bool>(), 0..RULE_HOSTS.len(), port).prop_map(|(deny, host, port)| EgressRule {
        allow: !deny,
        host,
        port,
    })
}

fn net_spec() -> impl Strategy<Value = NetSpec> {
    let dns = proptest::option::of(prop_oneof![
        Just("allow-listed-only"),
        Just("none"),
        Just("any")
    ]);
    prop_oneof![
        1 => Just(NetSpec::Omitted),
        1 => Just(NetSpec::None),
        3 => (any::<bool>(), proptest::collection::vec(egress_rule(), 1..4), dns)
            .prop_map(|(proxy, rules, dns)| NetSpec::Egress { proxy, rules, dns }),
    ]
}

fn sys_rule() -> impl Strategy<Value = SysRule> {
    prop_oneof![
        2 => Just(SysRule::Python),
        2 => proptest::collection::vec(0..SYSCALL_NAMES.len(), 1..5).prop_map(SysRule::Names),
        2 => (0..COND_ALLOWS.len()).prop_map(SysRule::CondAllow),
        3 => (0..SYS_DENIES.len()).prop_map(SysRule::Deny),
        1 => (0..DEFAULTS.len()).prop_map(SysRule::Default),
        1 => Just(SysRule::Guards),
    ]
}

pub fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    // Wasm policies have one target (WASI); the other two levels have several.
    let iso = prop_oneof![
        2 => Just(Iso::Process),
        2 => Just(Iso::Container),
        1 => Just(Iso::Wasm)
    ];
    (
        iso,
        proptest::collection::vec(fs_rule(), 0..6),
        net_spec(),
        proptest::collection::vec(sys_rule(), 0..4),
    )
        .prop_map(|(iso, fs, net, sys)| PolicySpec { iso, fs, net, sys })
}

/// Path bases for generated requests: every path the model names, hosts and guests, the
/// home directory in both spellings, and a few sensitive places.
fn path_bases() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (h, g) in HOSTS {
        out.push(h.to_string());
        out.push(g.to_string());
    }
    out.extend(GUESTS.iter().map(|s| s.to_string()));
    out.extend(AREAS.iter().map(|s| s.to_string()));
    out.extend(DENIES.iter().map(|s| s.to_string()));
    let absolute_home: Vec<String> = out
        .iter()
        .filter_map(|p| p.strip_prefix('~').map(|rest| format!("{HOME}{rest}")))
        .collect();
    out.extend(absolute_home);
    for s in [
        "/",
        "~",
        HOME,
        "/home",
        "~/.ssh/id_ed25519",
        "/etc/shadow",
        "/proc/self/mem",
        "/proc/self/fd/3",
        "/var/run/docker.sock",
        "/tmp/.X11-unix/X0",
        "~/.bashrc",
        "~/.config/autostart/a.desktop",
    ] {
        out.push(s.to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// Components appended to a base: traversal, encodings, case, Unicode look-alikes and a
/// component of the longest length Linux allows.
fn tails() -> Vec<String> {
    let mut out: Vec<String> = [
        "x",
        "..",
        ".",
        "",
        "private",
        "a/b.txt",
        "%2e%2e",
        "...",
        "\u{2215}x",
        "X",
        "work",
        "sub",
        "secret",
        "config",
        "../..",
        "a b",
        "é",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.push("n".repeat(255));
    out
}

/// Suffixes glued to a base's last component: sibling prefixes.
const GLUE: &[&str] = &["", "", "", "2", "-evil", ".bak", "/"];

fn fs_probe() -> impl Strategy<Value = Option<Probe>> {
    let bases = path_bases();
    let tails = tails();
    (
        access(),
        proptest::sample::select(bases),
        proptest::sample::select(GLUE),
        proptest::collection::vec(proptest::sample::select(tails), 0..4),
        any::<bool>(),
    )
        .prop_map(|(access, base, glue, tail, trailing)| {
            let mut raw = format!("{}{glue}", base.trim_end_matches('/'));
            for t in &tail {
                raw.push('/');
                raw.push_str(t);
            }
            if trailing {
                raw.push('/');
            }
            if raw.is_empty() {
                raw.push('/');
            }
            fs(access, &raw).map(Probe::Request)
        })
}

/// Hosts in every spelling: the rules' hosts and their neighbours, IPv4 in every
/// `inet_aton` form, mapped IPv6, IDN.
pub const HOST_SPELLINGS: &[&str] = &[
    "api.example.com",
    "API.EXAMPLE.COM.",
    "api.example.com.",
    "evil-api.example.com",
    "api.example.com.evil.org",
    "example.com",
    "a.cdn.example.net",
    "A.B.CDN.EXAMPLE.NET",
    "cdn.example.net",
    "evilcdn.example.net",
    "evil.cdn.example.net",
    "192.0.2.10",
    "3221226122",
    "0xc0.0.2.10",
    "0300.0.02.012",
    "192.0.522",
    "[::ffff:192.0.2.10]",
    "::ffff:c000:20a",
    "192.0.2.11",
    "[2001:db8::1]",
    "[2001:DB8:0:0:0:0:0:1]",
    "127.0.0.1",
    "2130706433",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "127.1",
    "BÜCHER.example",
    "xn--bcher-kva.example",
    "bücher.example.",
    "localhost",
    "169.254.169.254",
];

fn net_probe() -> impl Strategy<Value = Option<Probe>> {
    let port = prop_oneof![
        Just(443u16),
        Just(80),
        Just(8080),
        Just(53),
        Just(444),
        any::<u16>()
    ];
    (
        proptest::sample::select(HOST_SPELLINGS),
        proptest::option::of(port),
    )
        .prop_map(|(h, port)| {
            let host = Host::parse(h).ok()?;
            Some(Probe::Request(match port {
                Some(port) => Request::Connect { host, port },
                None => Request::Resolve { host },
            }))
        })
}

/// Argument values around every condition the model writes.
const ARGS: &[u64] = &[
    0,
    1,
    2,
    3,
    17,
    21,
    40,
    41,
    0x4,
    0xff,
    0x801,
    0x80000,
    0x3d0f00,
    0x20000,
    0x1000_0000,
    0x4000_0000,
    0x7e02_0000,
    0x103d_0f00,
    0x5412,
    0x1_0000_5412,
    0x541c,
    0x1_0000_0000,
    0xffff_ffff,
    u64::MAX,
];

fn args() -> impl Strategy<Value = [u64; 6]> {
    proptest::collection::vec(proptest::sample::select(ARGS), 6).prop_map(|v| {
        let mut a = [0u64; 6];
        a.copy_from_slice(&v);
        a
    })
}

fn syscall_probe() -> impl Strategy<Value = Option<Probe>> {
    let mut names: Vec<&'static str> = SYSCALL_NAMES.to_vec();
    names.extend(syscalls::dangerous().iter().copied());
    names.extend(["clone3", "lseek", "setns", "mount", "keyctl", "socketcall"]);
    names.retain(|n| syscalls::is_known(n));
    names.sort_unstable();
    names.dedup();
    (proptest::sample::select(names), args()).prop_map(|(name, args)| {
        Some(Probe::Request(Request::Syscall {
            name: name.to_string(),
            args,
        }))
    })
}

/// Syscall numbers under every ABI: small numbers, numbers beyond the tables, and x86_64
/// numbers with the x32 bit set (which the x86_64 filter sees as they are).
fn raw_probe() -> impl Strategy<Value = Option<Probe>> {
    let nr = prop_oneof![
        4 => 0u32..600,
        1 => proptest::sample::select(vec![0x3ffu32, 0xffff, 0x3fff_ffff, u32::MAX, 1024, 463]),
        2 => (0u32..600).prop_map(|n| n | X32_SYSCALL_BIT),
    ];
    (proptest::sample::select(Arch::ALL.to_vec()), nr, args())
        .prop_map(|(abi, nr, args)| Some(Probe::Raw { abi, nr, args }))
}

pub fn extra_probe() -> impl Strategy<Value = Option<Probe>> {
    prop_oneof![
        4 => fs_probe(),
        2 => net_probe(),
        2 => syscall_probe(),
        1 => raw_probe(),
    ]
}

/// One property case: a policy, and the requests it is asked.
#[derive(Debug, Clone)]
pub struct Case {
    pub policy: PolicySpec,
    /// Seed for [`adversary::sample`] over the policy's pools.
    pub seed: u64,
    /// How many adversarial requests to draw from them.
    pub sampled: usize,
    /// Requests generated here (`None`: a spelling that does not parse).
    pub extra: Vec<Option<Probe>>,
}

/// The strategy for cases; `sampled` and `extra` bound how many requests each asks.
pub fn case(sampled: usize, extra: usize) -> impl Strategy<Value = Case> {
    (
        policy_spec(),
        any::<u64>(),
        0..=sampled,
        proptest::collection::vec(extra_probe(), 0..=extra),
    )
        .prop_map(|(policy, seed, sampled, extra)| Case {
            policy,
            seed,
            sampled,
            extra,
        })
}

// -------------------------------------------------------------------------- the property

/// What one run of the property checked, per target.
#[derive(Debug, Default)]
pub struct Tally {
    pub compiled: usize,
    pub rejected: usize,
    /// Target name to (soundness checks, exactness checks).
    pub checks: BTreeMap<&'static str, (usize, usize)>,
    /// Target name to the number of policies it could not emit.
    pub not_built: BTreeMap<&'static str, usize>,
}

/// Where a target claims to express the policy exactly, mirroring each target's own
/// soundness tests in `targets/tests/offline/`; read once per emitted layer.
#[derive(Debug, Clone)]
enum Claim {
    /// Every syscall, named or raw.
    Seccomp,
    /// The file system under process isolation.
    Landlock,
    /// The file system when nothing is narrowed beyond hard links and file locks, except
    /// `~` paths when the profile has no `@{HOME}`.
    AppArmor {
        home: bool,
    },
    /// The file system inside the policy's mounts (and `~` host objects) when no mount or
    /// mask is narrowed.
    Oci,
    /// Reads, writes, connects and name resolution under wasm isolation, except beneath
    /// the preopens the report says denies narrowed (guest paths, and host paths for `~`
    /// requests): a WASI preopen cannot withhold reading, so a write-only grant is left out.
    Wasi {
        narrowed: Vec<CanonPath>,
    },
    Nothing,
}

fn claim(policy: &Policy, layer: &Layer) -> Claim {
    let Ok(emitted) = &layer.emitted else {
        return Claim::Nothing;
    };
    let iso = policy.isolation;
    match layer.name() {
        "seccomp" => Claim::Seccomp,
        "landlock" if iso == Isolation::Process => Claim::Landlock,
        "apparmor" if iso != Isolation::Wasm && !apparmor_narrowed(emitted) => {
            let home = emitted
                .artifacts
                .get(policyc_targets::apparmor::FILE)
                .and_then(|b| policyc_targets::apparmor::parse(std::str::from_utf8(b).ok()?).ok())
                .is_some_and(|p| p.home.is_some());
            Claim::AppArmor { home }
        }
        "oci"
            if iso == Isolation::Container
                && !emitted.report.iter().any(|d| d.code == Code::OciNarrowed) =>
        {
            Claim::Oci
        }
        "wasi" if iso == Isolation::Wasm => Claim::Wasi {
            narrowed: wasi_narrowed(policy, emitted),
        },
        _ => Claim::Nothing,
    }
}

fn apparmor_narrowed(emitted: &Emitted) -> bool {
    emitted.report.iter().any(|d| {
        d.code == Code::AppArmorNarrowed
            && !d.message.contains("hard links")
            && !d.message.contains("file locks")
    })
}

/// The guest and host paths of the mounts a WASI report says denies narrowed.
fn wasi_narrowed(policy: &Policy, emitted: &Emitted) -> Vec<CanonPath> {
    let spans: Vec<_> = emitted
        .report
        .iter()
        .filter(|d| d.code == Code::WasiNarrowed && !d.message.contains("no way to execute"))
        .map(|d| d.span.key())
        .collect();
    policy
        .fs
        .mounts
        .iter()
        .filter(|m| spans.contains(&m.span.key()))
        .flat_map(|m| std::iter::once(m.guest.clone()).chain(m.host().cloned()))
        .collect()
}

/// True when the claim covers `p`.
fn covers(claim: &Claim, policy: &Policy, p: &Probe) -> bool {
    let Probe::Request(r) = p else {
        return matches!(claim, Claim::Seccomp);
    };
    match (claim, r) {
        (Claim::Seccomp, Request::Syscall { .. }) => true,
        (Claim::Landlock, Request::Fs { .. }) => true,
        (Claim::AppArmor { home }, Request::Fs { path, .. }) => *home || !path.is_home(),
        (Claim::Oci, Request::Fs { path, .. }) => {
            path.is_home() || resolve_mount(policy, path).is_some()
        }
        (Claim::Wasi { narrowed }, Request::Fs { access, path }) => {
            *access != Access::Exec && !narrowed.iter().any(|n| path.starts_with(n))
        }
        (Claim::Wasi { .. }, Request::Connect { .. } | Request::Resolve { .. }) => true,
        _ => false,
    }
}

/// Every probe of a case: drawn from the policy's adversarial pools, then generated.
pub fn probes(policy: &Policy, case: &Case) -> Vec<Probe> {
    let pools = adversary::pools(policy, Some(HOME));
    let mut rng = Rng::new(case.seed);
    let mut out: Vec<Probe> = (0..case.sampled)
        .map(|_| adversary::sample(&pools, &mut rng))
        .collect();
    out.extend(case.extra.iter().flatten().cloned());
    out
}

/// The property: compile the case's policy, emit it for every target, and check each
/// simulator on every probe. Soundness everywhere (a simulator's `Allow` implies the
/// reference allows); equality with the reference where the target claims it.
pub fn check(
    case: &Case,
    targets: &[&'static dyn Target],
    tally: &Mutex<Tally>,
) -> Result<(), TestCaseError> {
    let source = case.policy.source();
    let policy = match compile_policy(&source) {
        Ok(p) => p,
        Err(_) => {
            tally.lock().unwrap().rejected += 1;
            return Err(TestCaseError::reject("the policy does not compile"));
        }
    };
    let layers = emit_layers(&policy, targets, &ctx());
    let probes = probes(&policy, case);
    let references: Vec<_> = probes
        .iter()
        .map(|p| probe::reference(&policy, &probe::for_reference(&policy, Some(HOME), p)))
        .collect();
    let mut local: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for layer in &layers {
        if layer.emitted.is_err() {
            *tally
                .lock()
                .unwrap()
                .not_built
                .entry(layer.name())
                .or_default() += 1;
            continue;
        }
        let claim = claim(&policy, layer);
        let counts = local.entry(layer.name()).or_default();
        for (p, reference) in probes.iter().zip(&references) {
            let Some(v) = layer.verdict(p) else { continue };
            if v != Verdict::NotMediated {
                counts.0 += 1;
            }
            if v == Verdict::Allow && !reference.allow {
                return Err(TestCaseError::fail(format!(
                    "{} allows `{p}` but the reference denies it ({})\n{source}",
                    layer.name(),
                    reference.reason
                )));
            }
            if covers(&claim, &policy, p) {
                counts.1 += 1;
                let want = if reference.allow {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                if v != want {
                    return Err(TestCaseError::fail(format!(
                        "{} says {v:?} on `{p}` where it is exact, the reference says {want:?} ({})\n{source}",
                        layer.name(),
                        reference.reason
                    )));
                }
            }
        }
    }
    let mut t = tally.lock().unwrap();
    t.compiled += 1;
    for (name, (s, e)) in local {
        let slot = t.checks.entry(name).or_default();
        slot.0 += s;
        slot.1 += e;
    }
    Ok(())
}
