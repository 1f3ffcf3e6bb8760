//! Requests near a policy's own rules.
//!
//! A [`RequestModel`] names its target relative to a compiled policy (the n-th mount's guest
//! path, the n-th deny, the n-th egress rule's host, the n-th syscall rule and one of its
//! conditions) and then bends it: `..` and `.` components, sibling prefixes (`/data2`,
//! `/data-evil`), a dropped last character, `~` and `/home/user` spellings, host case and
//! trailing dots, extra or missing labels, every `inet_aton` spelling of an address, and
//! argument values on either side of a condition. [`adversarial`] adds a fixed set of such
//! requests for every rule, so each policy is probed even when the fuzzer's own requests
//! miss.

use arbitrary::Arbitrary;
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{ArgCond, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_testkit::policies::render;
use policyc_testkit::policies::{
    pick, word, AccessModel, HostModel, PathModel, SysNameModel, V4Addr, V4Form, ValueModel,
    LABELS, PATH_NAMES, PORTS, SYSCALLS,
};
use std::collections::BTreeSet;

/// The home directory every target is given.
pub use policyc_testkit::stdlib::HOME;

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum RequestModel {
    Fs {
        access: AccessModel,
        path: ReqPathModel,
    },
    Connect {
        host: ReqHostModel,
        port: ReqPortModel,
    },
    Resolve {
        host: ReqHostModel,
    },
    Syscall {
        name: ReqSysModel,
        args: [ReqArgModel; 6],
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReqPathModel {
    pub base: ReqPathBase,
    pub tweaks: Vec<PathTweak>,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum ReqPathBase {
    /// The guest path of the n-th mount.
    MountGuest(u8),
    /// The host path of the n-th bind mount.
    MountHost(u8),
    /// The path of the n-th deny.
    Deny(u8),
    /// A path of its own.
    Own(PathModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum PathTweak {
    /// Append a component from [`PATH_NAMES`].
    Child(u8),
    /// Append `..`.
    Up,
    /// Append `.`.
    Dot,
    /// Append `//`.
    DoubleSlash,
    /// Append a trailing `/`.
    TrailingSlash,
    /// Glue a suffix onto the last component: [`SIBLING_SUFFIXES`].
    Sibling(u8),
    /// Drop the last character.
    Truncate,
    /// `~/x` becomes `/home/user/x`.
    HomeToAbsolute,
    /// `/home/user/x` becomes `~/x`.
    AbsoluteToHome,
}

/// Suffixes that make a sibling whose name starts like the original.
pub const SIBLING_SUFFIXES: &[&str] = &["2", "-evil", ".bak", "x", " ", "/../x"];

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReqHostModel {
    pub base: ReqHostBase,
    pub tweaks: Vec<HostTweak>,
}

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum ReqHostBase {
    /// The host of the n-th egress rule (a wildcard's domain, without `*.`).
    Rule(u8),
    /// A host of its own.
    Own(HostModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum HostTweak {
    Upper,
    TrailingDot,
    /// Prepend a label from [`LABELS`].
    Label(u8),
    /// Drop the first label.
    DropLabel,
    /// `evil-` in front, no dot.
    Glue,
    /// `.evil.org` behind.
    Suffix,
    /// An IPv4 address in another spelling (no effect on names).
    Spell(V4Form),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ReqPortModel {
    /// The n-th egress rule's port (443 for `*`).
    Rule(u8),
    /// The n-th egress rule's port plus a small offset.
    Near(u8, i8),
    Common(u8),
    Any(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ReqSysModel {
    /// The n-th syscall the policy has a rule for.
    Rule(u8),
    /// One of [`SYSCALLS`].
    Common(u8),
    /// Any x86_64 syscall, by table index.
    Table(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ReqArgModel {
    Zero,
    /// A value derived from the n-th condition the syscall's rule has on this argument.
    Near(u8, ArgTweak),
    Value(ValueModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ArgTweak {
    Exact,
    Plus(u8),
    Minus(u8),
    /// The value with every bit outside the mask set.
    OutsideMask,
    /// The value with one bit flipped.
    Flip(u8),
    /// The value with the upper 32 bits set.
    HighHalf,
    /// Only the mask.
    Mask,
}

/// The request a model names for this policy, if its text is a valid request.
pub fn materialize(policy: &Policy, r: &RequestModel) -> Option<Request> {
    match r {
        RequestModel::Fs { access, path } => {
            let text = path_text(policy, path)?;
            fs(Access::from(*access), &text)
        }
        RequestModel::Connect { host, port } => Some(Request::Connect {
            host: Host::parse(&host_text(policy, host)?).ok()?,
            port: port_of(policy, *port),
        }),
        RequestModel::Resolve { host } => Some(Request::Resolve {
            host: Host::parse(&host_text(policy, host)?).ok()?,
        }),
        RequestModel::Syscall { name, args } => {
            let name = sys_name_of(policy, *name)?;
            let conds = conditions(policy, &name);
            let mut values = [0u64; 6];
            for (i, (slot, a)) in values.iter_mut().zip(args).enumerate() {
                *slot = arg_value(&conds, i, *a);
            }
            Some(Request::Syscall { name, args: values })
        }
    }
}

/// A filesystem request for `raw`, if it canonicalises.
pub fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

fn path_text(policy: &Policy, p: &ReqPathModel) -> Option<String> {
    let mounts = &policy.fs.mounts;
    let mut s = match &p.base {
        ReqPathBase::MountGuest(i) => pick(mounts, usize::from(*i))?.guest.to_string(),
        ReqPathBase::MountHost(i) => {
            let binds: Vec<&CanonPath> = mounts.iter().filter_map(|m| m.host()).collect();
            pick(&binds, usize::from(*i))?.to_string()
        }
        ReqPathBase::Deny(i) => pick(&policy.fs.denies, usize::from(*i))?.path.to_string(),
        ReqPathBase::Own(p) => render::path(p),
    };
    for t in p.tweaks.iter().take(6) {
        s = tweak_path(&s, *t);
    }
    Some(s)
}

fn tweak_path(s: &str, t: PathTweak) -> String {
    let join = |tail: &str| {
        if s.ends_with('/') {
            format!("{s}{tail}")
        } else {
            format!("{s}/{tail}")
        }
    };
    match t {
        PathTweak::Child(i) => join(word(PATH_NAMES, usize::from(i))),
        PathTweak::Up => join(".."),
        PathTweak::Dot => join("."),
        PathTweak::DoubleSlash => format!("{s}//"),
        PathTweak::TrailingSlash => format!("{s}/"),
        PathTweak::Sibling(i) => format!("{s}{}", word(SIBLING_SUFFIXES, usize::from(i))),
        PathTweak::Truncate => {
            let mut t = s.to_string();
            t.pop();
            t
        }
        PathTweak::HomeToAbsolute => match s.strip_prefix('~') {
            Some(rest) => format!("{HOME}{rest}"),
            None => s.to_string(),
        },
        PathTweak::AbsoluteToHome => match s.strip_prefix(HOME) {
            Some(rest) => format!("~{rest}"),
            None => s.to_string(),
        },
    }
}

fn host_text(policy: &Policy, h: &ReqHostModel) -> Option<String> {
    let mut s = match &h.base {
        ReqHostBase::Rule(i) => {
            let rule = pick(&policy.net.rules, usize::from(*i))?;
            let text = rule.host.to_string();
            match text.strip_prefix("*.") {
                Some(domain) => format!("a.{domain}"),
                None => text,
            }
        }
        ReqHostBase::Own(m) => render::host(m),
    };
    for t in h.tweaks.iter().take(4) {
        s = tweak_host(&s, *t);
    }
    Some(s)
}

fn tweak_host(s: &str, t: HostTweak) -> String {
    match t {
        HostTweak::Upper => s.to_uppercase(),
        HostTweak::TrailingDot => format!("{s}."),
        HostTweak::Label(i) => format!("{}.{s}", word(LABELS, usize::from(i))),
        HostTweak::DropLabel => s
            .split_once('.')
            .map_or(s.to_string(), |(_, r)| r.to_string()),
        HostTweak::Glue => format!("evil-{s}"),
        HostTweak::Suffix => format!("{s}.evil.org"),
        HostTweak::Spell(form) => match Host::parse(s) {
            Ok(Host::Ip(std::net::IpAddr::V4(a))) => render::host(&HostModel::V4 {
                addr: V4Addr::Any(u32::from(a)),
                form,
            }),
            _ => s.to_string(),
        },
    }
}

fn port_of(policy: &Policy, p: ReqPortModel) -> u16 {
    let rule_port = |i: u8| {
        pick(&policy.net.rules, usize::from(i))
            .and_then(|r| r.port)
            .unwrap_or(443)
    };
    match p {
        ReqPortModel::Rule(i) => rule_port(i),
        ReqPortModel::Near(i, d) => rule_port(i).wrapping_add_signed(i16::from(d)),
        ReqPortModel::Common(i) => pick(PORTS, usize::from(i))
            .and_then(|p| u16::try_from(*p).ok())
            .unwrap_or(443),
        ReqPortModel::Any(p) => p,
    }
}

fn sys_name_of(policy: &Policy, s: ReqSysModel) -> Option<String> {
    match s {
        ReqSysModel::Rule(i) => {
            let names: Vec<&String> = policy.syscalls.rules.keys().collect();
            pick(&names, usize::from(i)).map(|n| (*n).clone())
        }
        ReqSysModel::Common(i) => Some(word(SYSCALLS, usize::from(i)).to_string()),
        ReqSysModel::Table(i) => Some(render::sys_name(SysNameModel::Table(i)).to_string()),
    }
}

/// Every condition the policy's rule for `name` has, allow and deny alike.
fn conditions(policy: &Policy, name: &str) -> Vec<ArgCond> {
    policy
        .syscalls
        .rules
        .get(name)
        .map(|r| {
            r.allow
                .iter()
                .flatten()
                .chain(r.deny.iter().flat_map(|d| &d.when))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn arg_value(conds: &[ArgCond], arg: usize, a: ReqArgModel) -> u64 {
    match a {
        ReqArgModel::Zero => 0,
        ReqArgModel::Value(v) => v.value(),
        ReqArgModel::Near(i, t) => {
            let on_arg: Vec<&ArgCond> =
                conds.iter().filter(|c| usize::from(c.arg) == arg).collect();
            let Some(c) = pick(&on_arg, usize::from(i)) else {
                return 0;
            };
            near(c, t)
        }
    }
}

/// A value on one side or the other of a condition.
pub fn near(c: &ArgCond, t: ArgTweak) -> u64 {
    let mask = c.mask.unwrap_or(u64::MAX);
    match t {
        ArgTweak::Exact => c.value,
        ArgTweak::Plus(n) => c.value.wrapping_add(u64::from(n)),
        ArgTweak::Minus(n) => c.value.wrapping_sub(u64::from(n)),
        ArgTweak::OutsideMask => c.value | !mask,
        ArgTweak::Flip(b) => c.value ^ (1u64 << (b % 64)),
        ArgTweak::HighHalf => c.value | 0xffff_ffff_0000_0000,
        ArgTweak::Mask => mask,
    }
}

/// The spellings worth trying around one path (as the target soundness tests use).
fn around(p: &str, out: &mut Vec<String>) {
    let base = p.trim_end_matches('/');
    out.extend([
        base.to_string(),
        format!("{base}/x"),
        format!("{base}2"),
        format!("{base}-evil/x"),
        format!("{base}/.."),
        format!("{base}/../x"),
        format!("{base}/x/../../y"),
        format!("{base}//./x/"),
    ]);
    if let Some(rest) = base.strip_prefix('~') {
        out.push(format!("{HOME}{rest}/x"));
    }
    if let Some(rest) = base.strip_prefix(HOME) {
        out.push(format!("~{rest}/x"));
    }
}

/// Requests every policy is probed with: around every mount and deny path, around every
/// egress host, and every syscall rule at the edges of its conditions; at most `limit`
/// (half filesystem, a quarter network, a quarter syscalls).
pub fn adversarial(policy: &Policy, limit: usize) -> Vec<Request> {
    let mut paths = Vec::new();
    for m in &policy.fs.mounts {
        around(m.guest.as_str(), &mut paths);
        if let Some(h) = m.host() {
            around(h.as_str(), &mut paths);
        }
    }
    for extra in [
        "/",
        "~",
        "~/.ssh/id_ed25519",
        "/etc/passwd",
        "/proc/self/mem",
    ] {
        paths.push(extra.to_string());
    }
    for d in &policy.fs.denies {
        if paths.len() >= limit {
            break;
        }
        around(d.path.as_str(), &mut paths);
    }
    let mut seen = BTreeSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    let mut files = Vec::new();
    for p in &paths {
        for a in [Access::Read, Access::Write, Access::Exec] {
            files.extend(fs(a, p));
        }
    }
    let mut net = Vec::new();
    for r in &policy.net.rules {
        let text = r.host.to_string();
        let bare = text.trim_start_matches("*.");
        let port = r.port.unwrap_or(443);
        for s in [
            bare.to_string(),
            bare.to_uppercase(),
            format!("{bare}."),
            format!("a.{bare}"),
            format!("evil-{bare}"),
        ] {
            if let Ok(host) = Host::parse(&s) {
                net.push(Request::Connect {
                    host: host.clone(),
                    port,
                });
                net.push(Request::Connect {
                    host: host.clone(),
                    port: port.wrapping_add(1),
                });
                net.push(Request::Resolve { host });
            }
        }
    }
    let mut calls = Vec::new();
    for (name, rule) in &policy.syscalls.rules {
        calls.push(Request::Syscall {
            name: name.clone(),
            args: [0; 6],
        });
        for c in rule
            .allow
            .iter()
            .flatten()
            .chain(rule.deny.iter().flat_map(|d| &d.when))
        {
            for t in [
                ArgTweak::Exact,
                ArgTweak::Plus(1),
                ArgTweak::Minus(1),
                ArgTweak::OutsideMask,
            ] {
                let mut args = [0u64; 6];
                if let Some(slot) = args.get_mut(usize::from(c.arg)) {
                    *slot = near(c, t);
                }
                calls.push(Request::Syscall {
                    name: name.clone(),
                    args,
                });
            }
        }
    }
    files.truncate(limit / 2);
    net.truncate(limit / 4);
    calls.truncate(limit / 4);
    files.into_iter().chain(net).chain(calls).collect()
}
