//! Adversarial requests aimed at one policy: traversal and odd spellings around every grant
//! and deny, sibling prefixes, the `~` and absolute spellings of home paths, well-known
//! secrets and kernel interfaces, hosts in every case, trailing-dot, sub- and sibling-domain
//! and IP-literal spelling around each egress rule, ports around each rule, syscalls with
//! arguments around every condition, and raw numbers under foreign ABIs, x32 and beyond the
//! tables.
//!
//! [`Pools`] holds the raw material; [`exhaustive`] combines it deterministically (the
//! stack check of `policyc test`), [`sample`] draws random combinations with extra
//! mutations (`policyc fuzz`).

use crate::probe::Probe;
use crate::rng::Rng;
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::Request;
use std::collections::BTreeSet;

/// Paths every policy is probed with.
const SENSITIVE: &[&str] = &[
    "/",
    "~",
    "~/.ssh/id_ed25519",
    "~/.aws/credentials",
    "~/.gnupg/private-keys-v1.d/k.key",
    "~/.bashrc",
    "~/.config/autostart/agent.desktop",
    "~/.local/bin/ls",
    "/etc/shadow",
    "/etc/passwd",
    "/etc/cron.d/job",
    "/proc/self/mem",
    "/proc/self/fd/3",
    "/proc/1/root/etc/shadow",
    "/proc/kcore",
    "/proc/sysrq-trigger",
    "/proc/self/attr/current",
    "/sys/kernel/debug/x",
    "/var/run/docker.sock",
    "/run/user/1000/bus",
    "/dev/sda",
    "/tmp/x",
    "/usr/bin/sh",
];

/// Hosts every policy is probed with.
const HOSTS: &[&str] = &[
    "example.com",
    "attacker.example",
    "localhost",
    "127.0.0.1",
    "169.254.169.254",
    "[::1]",
    "10.0.0.1",
    "0x7f.0.0.1",
    "2130706433",
];

/// Syscalls every policy is probed with, besides its own and the dangerous set.
const SYSCALLS: &[&str] = &[
    "read",
    "write",
    "openat",
    "execve",
    "socket",
    "connect",
    "clone",
    "clone3",
    "ioctl",
    "io_uring_setup",
    "mount",
    "prctl",
    "seccomp",
    "mprotect",
];

/// The raw material for requests aimed at one policy.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    /// Path spellings as a program would write them (not yet canonical).
    pub paths: Vec<String>,
    pub hosts: Vec<String>,
    pub ports: Vec<u16>,
    /// Syscall names with argument vectors worth trying.
    pub syscalls: Vec<(String, Vec<[u64; 6]>)>,
    /// Raw `(abi, number)` pairs.
    pub raw: Vec<(Arch, u32)>,
}

/// Build the pools for a policy; `home` is the directory `~` resolves to, if known.
pub fn pools(policy: &Policy, home: Option<&str>) -> Pools {
    Pools {
        paths: paths(policy, home),
        hosts: hosts(policy),
        ports: ports(policy),
        syscalls: syscall_samples(policy),
        raw: raw_numbers(policy),
    }
}

fn paths(policy: &Policy, home: Option<&str>) -> Vec<String> {
    let mut bases: BTreeSet<String> = SENSITIVE.iter().map(|s| s.to_string()).collect();
    for m in &policy.fs.mounts {
        bases.insert(m.guest.to_string());
        if let Some(h) = m.host() {
            bases.insert(h.to_string());
        }
    }
    for d in &policy.fs.denies {
        bases.insert(d.path.to_string());
    }
    let mut out = BTreeSet::new();
    // Test paths are tried as written; the spellings go around the rules and secrets.
    for t in &policy.tests {
        for c in &t.cases {
            if let Request::Fs { path, .. } = &c.request {
                out.insert(path.to_string());
            }
        }
    }
    for b in &bases {
        around(b, &mut out);
        if let Some(h) = home {
            if let Some(rest) = b.strip_prefix('~') {
                around(&format!("{}{rest}", h.trim_end_matches('/')), &mut out);
            }
        }
    }
    out.into_iter().collect()
}

/// Spellings around one path.
fn around(p: &str, out: &mut BTreeSet<String>) {
    let base = if p == "/" {
        ""
    } else {
        p.trim_end_matches('/')
    };
    let name = base.rsplit('/').next().unwrap_or_default();
    for s in [
        format!("{base}/"),
        format!("{base}/x"),
        format!("{base}/a/b.txt"),
        format!("{base}2"),
        format!("{base}-evil/x"),
        format!("{base}/.."),
        format!("{base}/../x"),
        format!("{base}/x/../../y"),
        format!("{base}/../../../etc/passwd"),
        format!("{base}//./x/"),
        format!("{base}/%2e%2e/x"),
        format!("{base}/.../x"),
        format!("{base}/\u{2215}x"),
        format!("{base}/{}", name.to_uppercase()),
    ] {
        out.insert(s);
    }
    if !base.is_empty() {
        out.insert(base.to_string());
        out.insert(base.to_uppercase());
    }
}

/// The paths [`pools`] probes every policy with, besides the policy's own.
pub fn sensitive() -> &'static [&'static str] {
    SENSITIVE
}

/// Every spelling [`pools`] tries around one path (itself, upper-cased, its children, sibling
/// prefixes, `..` and `//./` forms, an encoded and a look-alike separator), and two more for
/// suites that check a target path by path: the parent, and the path one character short (a
/// prefix that is not a parent). [`pools`] leaves those two out: `policyc test` and
/// `policyc fuzz` reach parents through `..`.
pub fn spellings(p: &str, out: &mut BTreeSet<String>) {
    around(p, out);
    let base = p.trim_end_matches('/');
    if let Some((parent, _)) = base.rsplit_once('/') {
        out.insert(if parent.is_empty() { "/" } else { parent }.to_string());
    }
    let chars = base.chars().count();
    if chars > 2 {
        out.insert(base.chars().take(chars - 1).collect());
    }
}

fn hosts(policy: &Policy) -> Vec<String> {
    let mut out: BTreeSet<String> = HOSTS.iter().map(|s| s.to_string()).collect();
    for r in &policy.net.rules {
        match &r.host {
            HostPattern::Exact(Host::Domain(d)) => domain_spellings(d, &mut out),
            HostPattern::Exact(Host::Ip(ip)) => {
                let s = ip.to_string();
                out.insert(s.clone());
                if let std::net::IpAddr::V4(v4) = ip {
                    let [a, b, c, d] = v4.octets();
                    out.insert(format!("{:#x}.{b}.{c}.{d}", a));
                    out.insert(format!("0{a:o}.{b}.{c}.{d}"));
                    out.insert(u32::from(*v4).to_string());
                    out.insert(format!("[::ffff:{s}]"));
                    out.insert(format!("{a}.{b}.{c}.{}", d.wrapping_add(1)));
                } else {
                    out.insert(format!("[{s}]"));
                }
            }
            HostPattern::Subdomains(d) => {
                domain_spellings(d, &mut out);
                out.insert(format!("a.{d}"));
                out.insert(format!("a.b.{d}"));
                out.insert(format!("evil{d}"));
            }
        }
    }
    out.into_iter().collect()
}

fn domain_spellings(d: &str, out: &mut BTreeSet<String>) {
    out.insert(d.to_string());
    out.insert(d.to_uppercase());
    out.insert(format!("{d}."));
    out.insert(format!("evil.{d}"));
    out.insert(format!("{d}.evil.example"));
    out.insert(format!("evil-{d}"));
    if let Some((_, parent)) = d.split_once('.') {
        if parent.contains('.') {
            out.insert(parent.to_string());
        }
    }
}

fn ports(policy: &Policy) -> Vec<u16> {
    let mut out: BTreeSet<u16> = [22, 25, 53, 80, 443, 8080].into_iter().collect();
    for r in &policy.net.rules {
        if let Some(p) = r.port {
            out.extend([p, p.wrapping_add(1), p.wrapping_sub(1)]);
        }
    }
    out.into_iter().collect()
}

fn syscall_samples(policy: &Policy) -> Vec<(String, Vec<[u64; 6]>)> {
    let mut names: BTreeSet<String> = SYSCALLS.iter().map(|s| s.to_string()).collect();
    names.extend(syscalls::dangerous().iter().map(|s| s.to_string()));
    names.extend(policy.syscalls.rules.keys().cloned());
    names
        .into_iter()
        .filter(|n| syscalls::is_known(n))
        .map(|n| {
            let args = arg_samples(policy, &n);
            (n, args)
        })
        .collect()
}

/// Argument vectors around every condition on `name`.
fn arg_samples(policy: &Policy, name: &str) -> Vec<[u64; 6]> {
    let mut out = BTreeSet::new();
    out.insert([0u64; 6]);
    out.insert([u64::MAX; 6]);
    let Some(rule) = policy.syscalls.rules.get(name) else {
        return out.into_iter().collect();
    };
    let conds = rule
        .allow
        .iter()
        .flatten()
        .chain(rule.deny.iter().flat_map(|d| d.when.iter()));
    for c in conds {
        let v = c.value;
        let mask = c.mask.unwrap_or(u64::MAX);
        for x in [
            v,
            v.wrapping_add(1),
            v.wrapping_sub(1),
            v ^ 1,
            v | 0xffff_ffff_0000_0000,
            mask,
            !v,
            0,
        ] {
            let mut args = [0u64; 6];
            if let Some(slot) = args.get_mut(usize::from(c.arg)) {
                *slot = x;
            }
            out.insert(args);
        }
    }
    out.into_iter().collect()
}

fn raw_numbers(policy: &Policy) -> Vec<(Arch, u32)> {
    let mut out = BTreeSet::new();
    let mut names: BTreeSet<&str> = SYSCALLS.iter().copied().collect();
    names.extend(policy.syscalls.rules.keys().map(String::as_str));
    names.extend(syscalls::dangerous().iter().copied());
    for n in names {
        for abi in Arch::ALL {
            // x32 numbers are x86_64 numbers with the x32 bit; the table holds them bare.
            let table = if abi == Arch::X32 { Arch::X86_64 } else { abi };
            if let Some(nr) = syscalls::number(table, n) {
                out.insert((abi, nr));
            }
        }
    }
    for abi in Arch::NATIVE {
        let top = syscalls::names(abi)
            .filter_map(|n| syscalls::number(abi, n))
            .max()
            .unwrap_or(0);
        out.extend([top + 1, top + 2, 0x3ff, 0xffff, 0x3fff_ffff, u32::MAX].map(|nr| (abi, nr)));
    }
    out.into_iter().collect()
}

fn fs(access: Access, raw: &str) -> Option<Probe> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Probe::Request(Request::Fs { access, path }))
}

fn connect(host: &str, port: u16) -> Option<Probe> {
    Host::parse(host)
        .ok()
        .map(|host| Probe::Request(Request::Connect { host, port }))
}

fn resolve(host: &str) -> Option<Probe> {
    Host::parse(host)
        .ok()
        .map(|host| Probe::Request(Request::Resolve { host }))
}

const ACCESSES: [Access; 3] = [Access::Read, Access::Write, Access::Exec];

/// Every combination of the pools, deduplicated and sorted: each path with each access,
/// each host with each port and resolved, each syscall with each argument sample, each raw
/// number with zero arguments.
pub fn exhaustive(p: &Pools) -> Vec<Probe> {
    let mut out = BTreeSet::new();
    for path in &p.paths {
        for a in ACCESSES {
            out.extend(fs(a, path));
        }
    }
    for h in &p.hosts {
        out.extend(resolve(h));
        for port in &p.ports {
            out.extend(connect(h, *port));
        }
    }
    for (name, argss) in &p.syscalls {
        for args in argss {
            out.insert(Probe::Request(Request::Syscall {
                name: name.clone(),
                args: *args,
            }));
        }
    }
    for (abi, nr) in &p.raw {
        out.insert(Probe::Raw {
            abi: *abi,
            nr: *nr,
            args: [0; 6],
        });
    }
    out.into_iter().collect()
}

/// One random probe: a pool entry, mutated. Draws that do not parse (a mutation may make a
/// path or host invalid) are retried a few times, then fall back to a plain pool entry.
pub fn sample(p: &Pools, rng: &mut Rng) -> Probe {
    for _ in 0..8 {
        let probe = match rng.below(10) {
            0..=4 => sample_fs(p, rng),
            5 | 6 => sample_net(p, rng),
            7 | 8 => Some(sample_syscall(p, rng)),
            _ => Some(sample_raw(p, rng)),
        };
        if let Some(probe) = probe {
            return probe;
        }
    }
    sample_syscall(p, rng)
}

fn sample_fs(p: &Pools, rng: &mut Rng) -> Option<Probe> {
    let mut path = rng.pick(&p.paths)?.clone();
    for _ in 0..rng.below(3) {
        path = mutate_path(&path, p, rng);
    }
    let access = *rng.pick(&ACCESSES)?;
    fs(access, &path)
}

fn mutate_path(path: &str, p: &Pools, rng: &mut Rng) -> String {
    let base = path.trim_end_matches('/');
    match rng.below(9) {
        0 => format!("{base}/.."),
        1 => format!("{base}/../{}", last(rng.pick(&p.paths).map_or("x", |s| s))),
        2 => format!("{base}/{}", last(rng.pick(&p.paths).map_or("x", |s| s))),
        3 => {
            let suffix = rng.pick(&["2", "-evil", ".bak", "~", " "]).copied();
            format!("{base}{}", suffix.unwrap_or("2"))
        }
        4 => format!("{base}//./"),
        5 => base
            .rsplit_once('/')
            .map_or("/".to_string(), |(h, _)| h.to_string()),
        6 => format!("{base}/x/../../{}", last(base)),
        7 => swap_case(base, rng),
        _ => format!("{base}/{}", rng.next_u64() % 1000),
    }
}

fn last(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or("x")
}

fn swap_case(s: &str, rng: &mut Rng) -> String {
    s.chars()
        .map(|c| {
            if rng.chance(1, 3) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn sample_net(p: &Pools, rng: &mut Rng) -> Option<Probe> {
    let mut host = rng.pick(&p.hosts)?.clone();
    match rng.below(4) {
        0 => host = swap_case(&host, rng),
        1 => host.push('.'),
        2 => host = format!("{}.{host}", rng.next_u64() % 100),
        _ => {}
    }
    if rng.chance(1, 5) {
        return resolve(&host);
    }
    let port = if rng.chance(4, 5) {
        *rng.pick(&p.ports)?
    } else {
        (rng.next_u64() & 0xffff) as u16
    };
    connect(&host, port)
}

fn sample_syscall(p: &Pools, rng: &mut Rng) -> Probe {
    let Some((name, argss)) = rng.pick(&p.syscalls) else {
        return Probe::Raw {
            abi: Arch::X86_64,
            nr: (rng.next_u64() & 0x3ff) as u32,
            args: [0; 6],
        };
    };
    let mut args = rng.pick(argss).copied().unwrap_or([0; 6]);
    if rng.chance(1, 4) {
        let i = rng.below(6);
        if let Some(slot) = args.get_mut(i) {
            *slot = match rng.below(3) {
                0 => rng.next_u64(),
                1 => rng.next_u64() & 0xffff_ffff,
                _ => *slot ^ (1 << rng.below(64)),
            };
        }
    }
    Probe::Request(Request::Syscall {
        name: name.clone(),
        args,
    })
}

fn sample_raw(p: &Pools, rng: &mut Rng) -> Probe {
    let (abi, nr) = match rng.pick(&p.raw) {
        Some(x) if rng.chance(3, 4) => *x,
        _ => {
            let abi = rng.pick(&Arch::ALL).copied().unwrap_or(Arch::X86_64);
            (abi, (rng.next_u64() & 0x7ff) as u32)
        }
    };
    let mut args = [0u64; 6];
    if rng.chance(1, 3) {
        let v = rng.next_u64();
        if let Some(slot) = args.get_mut(rng.below(6)) {
            *slot = v;
        }
    }
    Probe::Raw { abi, nr, args }
}
