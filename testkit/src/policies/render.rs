//! [`PolicyModel`] to `.policy` source text.
//!
//! Rendering always produces text the grammar accepts (strings are escaped, names are
//! identifiers), so a syntax error in rendered text is a finding. Lists are capped so one
//! input cannot make a huge policy; the caps are applied here, not in the model.

use super::model::*;
use policyc_compiler::syscalls::{self, Arch};
use std::fmt::Write as _;

/// Most rules of one kind rendered (mounts and denies, egress rules per block, syscall
/// rules, test expectations).
pub const MAX_RULES: usize = 16;
/// Most components of a path, labels of a host, names in a syscall list, conditions.
const MAX_PARTS: usize = 6;
/// Longest raw string rendered, in characters.
const MAX_RAW: usize = 64;

impl PolicyModel {
    /// The model's source text: its `use` lines and the policy.
    pub fn source(&self) -> String {
        render(self)
    }
}

fn render(m: &PolicyModel) -> String {
    let mut out = String::new();
    for module in modules(m) {
        out.push_str(&format!("use {module}\n"));
    }
    let _ = writeln!(out, "\npolicy {} {{", m.name);
    out.push_str(&format!("    isolation {}\n", isolation(m.isolation)));
    if !m.threats.is_empty() {
        let names: Vec<&str> = m
            .threats
            .iter()
            .take(MAX_PARTS)
            .map(|t| threat(*t))
            .collect();
        out.push_str(&format!("    threats {}\n", names.join(", ")));
    }
    if !m.fs.is_empty() {
        out.push_str("    fs {\n");
        for r in m.fs.iter().take(MAX_RULES) {
            out.push_str(&format!("        {}\n", fs_rule(r)));
        }
        out.push_str("    }\n");
    }
    net(&m.net, &mut out);
    for (i, t) in m.tokens.iter().take(4).enumerate() {
        out.push_str(&format!("    {}\n", token(i, t)));
    }
    if m.include_guards {
        out.push_str("    include runtime_guards\n");
    }
    if let Some(s) = &m.syscalls {
        out.push_str("    syscalls {\n");
        if let Some(a) = s.default {
            out.push_str(&format!("        default {}\n", action(a)));
        }
        for r in s.rules.iter().take(MAX_RULES) {
            if let Some(line) = sys_rule(r) {
                out.push_str(&format!("        {line}\n"));
            }
        }
        out.push_str("    }\n");
    }
    if !m.limits.is_empty() {
        let lines: Vec<String> = m.limits.iter().take(6).map(|l| limit(*l)).collect();
        out.push_str(&format!("    limits {{ {} }}\n", lines.join("; ")));
    }
    if !m.tests.is_empty() {
        out.push_str("    test \"fuzzed\" {\n");
        for e in m.tests.iter().take(MAX_RULES) {
            out.push_str(&format!("        {}\n", expectation(e)));
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    out
}

/// The stdlib modules a model needs: `std::secrets` for its lists, a runtime module for
/// each set it names, `std::runtime::base` for `runtime_guards`.
fn modules(m: &PolicyModel) -> Vec<&'static str> {
    let mut out = Vec::new();
    let lists = m.fs.iter().take(MAX_RULES).any(|r| {
        matches!(
            r,
            FsRuleModel::Deny {
                target: DenyTargetModel::Secrets
                    | DenyTargetModel::Persistence
                    | DenyTargetModel::List(_),
                ..
            }
        )
    });
    if m.use_secrets || lists {
        out.push("std::secrets");
    }
    let mut names: Vec<SysNameModel> = Vec::new();
    if let Some(s) = &m.syscalls {
        for r in s.rules.iter().take(MAX_RULES) {
            match r {
                SysRuleModel::Allow(ts) => names.extend(ts.iter().take(MAX_PARTS).map(|t| t.name)),
                SysRuleModel::Deny { names: ns, .. } => names.extend(ns.iter().take(MAX_PARTS)),
            }
        }
    }
    if m.include_guards {
        out.push("std::runtime::base");
    }
    for n in names {
        let set = match n {
            SysNameModel::Set(i) => word(SYSCALL_SETS, usize::from(i)),
            SysNameModel::Named(name) if SYSCALL_SETS.contains(&name) => name,
            _ => continue,
        };
        let module = match set {
            "python" => "std::runtime::python",
            "node" => "std::runtime::node",
            "static_binary" => "std::runtime::static",
            _ => "std::runtime::base",
        };
        if !out.contains(&module) {
            out.push(module);
        }
    }
    out
}

fn isolation(i: IsolationModel) -> &'static str {
    match i {
        IsolationModel::Process => "process",
        IsolationModel::Container => "container",
        IsolationModel::Wasm => "wasm",
        IsolationModel::Other(n) => word(BAD_ISOLATION, usize::from(n)),
    }
}

fn threat(t: ThreatModel) -> &'static str {
    match t {
        ThreatModel::Exfiltration => "exfiltration",
        ThreatModel::Tampering => "tampering",
        ThreatModel::Persistence => "persistence",
        ThreatModel::PrivilegeEscalation => "privilege_escalation",
        ThreatModel::CredentialTheft => "credential_theft",
        ThreatModel::DenialOfService => "denial_of_service",
        ThreatModel::Bogus => "espionage",
    }
}

/// A string literal: quotes, backslashes and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn raw(s: &str) -> String {
    s.chars().take(MAX_RAW).collect()
}

/// A path's text (unquoted).
pub fn path(p: &PathModel) -> String {
    let mut s = match &p.root {
        PathRoot::Known(i) => word(PATH_ROOTS, usize::from(*i)).to_string(),
        PathRoot::Home => "~".to_string(),
        PathRoot::Raw(r) => raw(r),
        PathRoot::Exact(e) => e.clone(),
    };
    for part in p.parts.iter().take(MAX_PARTS) {
        if s != "/" {
            s.push('/');
        }
        match part {
            PathPart::Name(i) => s.push_str(word(PATH_NAMES, usize::from(*i))),
            PathPart::Up => s.push_str(".."),
            PathPart::Dot => s.push('.'),
            PathPart::Empty => {}
        }
    }
    s
}

fn size(s: SizeModel) -> String {
    match s {
        SizeModel::Units(n, unit) => format!("{n}{}", unit.keyword()),
        SizeModel::Bytes(n) => format!("{n}B"),
    }
}

fn sized(keyword: &str, p: &PathModel, s: Option<SizeModel>) -> String {
    match s {
        Some(s) => format!("{keyword} {} size {}", quote(&path(p)), size(s)),
        None => format!("{keyword} {}", quote(&path(p))),
    }
}

fn fs_rule(r: &FsRuleModel) -> String {
    match r {
        FsRuleModel::Mount { access, host, at } => {
            let mut s = format!("{} {}", access.keyword(), quote(&path(host)));
            if let Some(at) = at {
                s.push_str(&format!(" at {}", quote(&path(at))));
            }
            s
        }
        FsRuleModel::Scratch { path, size } => sized("scratch", path, *size),
        FsRuleModel::Tmpfs { path, size } => sized("tmpfs", path, *size),
        FsRuleModel::Deny { access, target } => {
            let target = match target {
                DenyTargetModel::Path(p) => quote(&path(p)),
                DenyTargetModel::Secrets => "secrets".to_string(),
                DenyTargetModel::Persistence => "persistence".to_string(),
                DenyTargetModel::List(i) => word(PATH_LISTS, usize::from(*i)).to_string(),
            };
            match access {
                Some(a) => format!("deny {} {target}", a.keyword()),
                None => format!("deny {target}"),
            }
        }
    }
}

/// An IPv4 address in one of its spellings.
fn v4(addr: u32, form: V4Form) -> String {
    let [a, b, c, d] = addr.to_be_bytes();
    match form {
        V4Form::Dotted => format!("{a}.{b}.{c}.{d}"),
        V4Form::Decimal => format!("{addr}"),
        V4Form::Hex => format!("0x{addr:x}"),
        V4Form::Octal => format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        V4Form::Three => format!("{a}.{b}.{}", u32::from(c) << 8 | u32::from(d)),
        V4Form::Two => format!("{a}.{}", addr & 0x00ff_ffff),
        V4Form::Mapped => format!("[::ffff:{a}.{b}.{c}.{d}]"),
        V4Form::MappedHex => format!("::ffff:{:x}:{:x}", addr >> 16, addr & 0xffff),
    }
}

/// A host's text (unquoted).
pub fn host(h: &HostModel) -> String {
    match h {
        HostModel::Name {
            labels,
            base,
            wildcard,
            upper,
            trailing_dot,
        } => {
            let mut s = String::new();
            if *wildcard {
                s.push_str("*.");
            }
            for l in labels.iter().take(3) {
                s.push_str(word(LABELS, usize::from(*l)));
                s.push('.');
            }
            s.push_str(word(DOMAINS, usize::from(*base)));
            if *upper {
                s = s.to_uppercase();
            }
            if *trailing_dot {
                s.push('.');
            }
            s
        }
        HostModel::V4 { addr, form } => {
            let a = match addr {
                V4Addr::Known(i) => pick(V4_ADDRS, usize::from(*i)).copied().unwrap_or(0),
                V4Addr::Any(a) => *a,
            };
            v4(a, *form)
        }
        HostModel::V6 { addr, bracketed } => {
            let a = match addr {
                V6Addr::Known(i) => word(V6_ADDRS, usize::from(*i)).to_string(),
                V6Addr::Any(seg) => std::net::Ipv6Addr::from(*seg).to_string(),
            };
            if *bracketed {
                format!("[{a}]")
            } else {
                a
            }
        }
        HostModel::Raw(r) => raw(r),
    }
}

fn port(p: PortModel) -> String {
    match p {
        PortModel::Absent => String::new(),
        PortModel::Any => ":*".to_string(),
        PortModel::Common(i) => format!(":{}", pick(PORTS, usize::from(i)).copied().unwrap_or(443)),
        PortModel::Number(n) => format!(":{n}"),
    }
}

fn endpoint(h: &HostModel, p: PortModel) -> String {
    format!("{}{}", quote(&host(h)), port(p))
}

fn net(n: &NetModel, out: &mut String) {
    match n {
        NetModel::Absent => {}
        NetModel::None(dns) => {
            out.push_str("    net {\n        egress none\n");
            if let Some(d) = dns {
                out.push_str(&format!("        dns {}\n", d.keyword()));
            }
            out.push_str("    }\n");
        }
        NetModel::Egress { blocks, dns } => {
            out.push_str("    net {\n");
            for b in blocks.iter().take(3) {
                let via = if b.proxy { "via proxy" } else { "direct" };
                out.push_str(&format!("        egress {via} {{\n"));
                for r in b.rules.iter().take(MAX_RULES / 2) {
                    out.push_str(&format!("            {}\n", egress_rule(r)));
                }
                out.push_str("        }\n");
            }
            if let Some(d) = dns {
                out.push_str(&format!("        dns {}\n", d.keyword()));
            }
            out.push_str("    }\n");
        }
    }
}

fn egress_rule(r: &EgressRuleModel) -> String {
    let verb = if r.allow { "allow" } else { "deny" };
    let mut s = format!("{verb} {}", endpoint(&r.host, r.port));
    if let (true, Some(t)) = (r.allow, r.token) {
        s.push_str(&format!(" with token t{}", t % 4));
    }
    s
}

/// Scopes a token may carry.
const SCOPES: &[&str] = &["read", "mail:send", "formula:evaluate", "", "a b"];

fn token(i: usize, t: &TokenModel) -> String {
    let mut fields = Vec::new();
    if let Some(a) = &t.audience {
        fields.push(format!("audience {}", quote(&host(a))));
    }
    if !t.scopes.is_empty() {
        let scopes: Vec<String> = t
            .scopes
            .iter()
            .take(3)
            .map(|s| quote(word(SCOPES, usize::from(*s))))
            .collect();
        fields.push(format!("scope {}", scopes.join(", ")));
    }
    if let Some(d) = t.ttl {
        fields.push(format!("ttl {}{}", d.amount, d.unit.keyword()));
    }
    if let Some(a) = t.approval {
        fields.push(format!("approval {}", if a { "required" } else { "none" }));
    }
    format!("token t{i} {{ {} }}", fields.join("; "))
}

/// A syscall (or set) name.
pub fn sys_name(n: SysNameModel) -> &'static str {
    match n {
        SysNameModel::Common(i) => word(SYSCALLS, usize::from(i)),
        SysNameModel::Table(i) => {
            let all = syscalls::names(Arch::X86_64);
            let count = all.clone().count().max(1);
            all.clone().nth(usize::from(i) % count).unwrap_or("read")
        }
        SysNameModel::Set(i) => word(SYSCALL_SETS, usize::from(i)),
        SysNameModel::Bogus(i) => word(BAD_SYSCALLS, usize::from(i)),
        SysNameModel::Named(name) => name,
    }
}

fn condition(c: &[CondModel]) -> String {
    if c.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = c
        .iter()
        .take(3)
        .map(|c| {
            let mask = c
                .mask
                .map_or(String::new(), |m| format!(" & {:#x}", m.value()));
            format!(
                "arg{}{mask} {} {}",
                c.arg % 7,
                c.op.symbol(),
                c.value.value()
            )
        })
        .collect();
    format!(" if {}", parts.join(" and "))
}

fn action(a: ActionModel) -> String {
    match a {
        ActionModel::ErrnoName(i) => format!("errno {}", word(ERRNOS, usize::from(i))),
        ActionModel::ErrnoNumber(n) => format!("errno {n}"),
        ActionModel::Kill => "kill".to_string(),
    }
}

fn sys_rule(r: &SysRuleModel) -> Option<String> {
    match r {
        SysRuleModel::Allow(targets) if !targets.is_empty() => {
            let ts: Vec<String> = targets
                .iter()
                .take(MAX_PARTS)
                .map(|t| format!("{}{}", sys_name(t.name), condition(&t.condition)))
                .collect();
            Some(format!("allow {}", ts.join(", ")))
        }
        SysRuleModel::Deny {
            names,
            condition: c,
            action: a,
        } if !names.is_empty() => {
            let ns: Vec<&str> = names.iter().take(MAX_PARTS).map(|n| sys_name(*n)).collect();
            let mut s = format!("deny {}{}", ns.join(", "), condition(c));
            if let Some(a) = a {
                s.push(' ');
                s.push_str(&action(*a));
            }
            Some(s)
        }
        _ => None,
    }
}

fn limit(l: LimitModel) -> String {
    match l {
        LimitModel::Memory(s) => format!("memory {}", size(s)),
        LimitModel::Pids(n) => format!("pids {n}"),
        LimitModel::Cpus(m) => format!("cpus {}.{:03}", m / 1000, m % 1000),
        LimitModel::Files(n) => format!("files {n}"),
        LimitModel::Wrong(i) => word(WRONG_LIMITS, usize::from(i)).to_string(),
    }
}

fn expectation(e: &ExpectModel) -> String {
    let verdict = if e.allow { "allow" } else { "deny" };
    let request = match &e.request {
        TestRequestModel::Fs(a, p) => format!("{} {}", a.keyword(), quote(&path(p))),
        TestRequestModel::Connect(h, p) => format!("connect {}", endpoint(h, *p)),
        TestRequestModel::Resolve(h) => format!("resolve {}", quote(&host(h))),
        TestRequestModel::Syscall(n, args) => {
            let name = sys_name(*n);
            if args.is_empty() {
                format!("syscall {name}")
            } else {
                let a: Vec<String> = args.iter().take(8).map(|v| v.value().to_string()).collect();
                format!("syscall {name}({})", a.join(", "))
            }
        }
    };
    format!("{verdict} {request}")
}
