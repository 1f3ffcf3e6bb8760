//! Adversarial path spellings for the targets' soundness suites, built on the product's own
//! adversary ([`policyc_verify::adversary`]): every spelling `policyc test` probes a policy
//! with, and around every path the policy names its parent, the path one character short,
//! what lies beneath each deny, each deny as seen through the bind mounts that hold it, and
//! the kernel interfaces and runtime files the targets guard.

use crate::stdlib::HOME;
use policyc_compiler::ast::Access;
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_verify::adversary;
use std::collections::BTreeSet;

/// Paths every suite probes as written, besides the adversary's [`adversary::sensitive`]
/// ones: kernel interfaces, runtime sockets and devices, and home paths spelled out.
pub const FIXED: &[&str] = &[
    "/",
    "/bin/sh",
    "/dev/mqueue/q",
    "/dev/null",
    "/dev/pts/0",
    "/dev/sda",
    "/dev/shm/x",
    "/etc/passwd",
    "/home/user/.ssh/id_rsa",
    "/home/user/Documents/Finance/a.csv",
    "/home/user/Documents/a.txt",
    "/proc/1/attr/apparmor/exec",
    "/proc/1/root/etc/shadow",
    "/proc/kcore",
    "/proc/self/attr/current",
    "/proc/self/fd/3",
    "/proc/self/mem",
    "/proc/sys/kernel/core_pattern",
    "/proc/sysrq-trigger",
    "/run/user/1000/bus",
    "/sys/firmware/efi",
    "/sys/kernel/security/apparmor/policy/.load",
    "/sys/kernel/x",
    "/tmp/x",
    "/var/run/docker.sock",
    "~",
    "~/.bashrc",
    "~/.ssh/id_ed25519",
    "~/Documents",
];

/// The accesses every path is tried with.
pub const ACCESSES: [Access; 3] = [Access::Read, Access::Write, Access::Exec];

/// The spellings worth trying around one path (see [`adversary::spellings`]).
pub fn around(p: &str, out: &mut BTreeSet<String>) {
    adversary::spellings(p, out);
}

/// Every path spelling aimed at `policy`, with `~` resolving to [`HOME`]: the adversary's
/// pool; around every mount's guest and host path (and the host's home spelled out), every
/// deny, and every deny seen through each bind mount whose source holds it; beneath every
/// deny; and [`FIXED`].
pub fn paths(policy: &Policy) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = adversary::pools(policy, Some(HOME))
        .paths
        .into_iter()
        .collect();
    for base in bases(policy) {
        around(&base, &mut out);
        if let Some(rest) = base.strip_prefix('~') {
            around(&format!("{HOME}{rest}"), &mut out);
        }
    }
    for d in &policy.fs.denies {
        out.insert(format!("{}/sub/file", d.path));
    }
    out.extend(FIXED.iter().map(|p| p.to_string()));
    out
}

/// The paths a policy names: mount guests and hosts, denies, and each deny at the guest path
/// of every bind mount whose source holds it.
fn bases(policy: &Policy) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in &policy.fs.mounts {
        out.insert(m.guest.to_string());
        if let Some(host) = m.host() {
            out.insert(host.to_string());
        }
    }
    for d in &policy.fs.denies {
        out.insert(d.path.to_string());
        for m in &policy.fs.mounts {
            if let Some(rest) = m.host().and_then(|h| d.path.strip_prefix(h)) {
                out.insert(m.guest.join(rest).to_string());
            }
        }
    }
    out
}

/// A file-system request for a path as a program would write it, if it canonicalises.
pub fn fs(access: Access, raw: &str) -> Option<Request> {
    CanonPath::parse_request(raw)
        .ok()
        .map(|path| Request::Fs { access, path })
}

/// Every path of [`paths`] with every access of [`ACCESSES`], sorted by path.
pub fn fs_requests(policy: &Policy) -> Vec<Request> {
    let mut out = Vec::new();
    for p in &paths(policy) {
        for a in ACCESSES {
            out.extend(fs(a, p));
        }
    }
    out
}

/// Hosts in every spelling: the rules' hosts and their neighbours, IPv4 in every
/// `inet_aton` form, mapped IPv6, IDN. Its order is part of what saved proptest cases
/// decode to: add new spellings at the end.
pub const HOSTS: &[&str] = &[
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
