//! Requests the property asks besides the verifier's own samples: paths around every path
//! the policy model names (traversal, encodings, case, Unicode look-alikes, sibling
//! prefixes, the longest component), hosts in every spelling, syscalls with arguments
//! around every condition the model writes, and raw numbers under every ABI.

use super::fs;
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::syscalls::{self, Arch, X32_SYSCALL_BIT};
use policyc_compiler::Request;
use policyc_testkit::policies::strategy::{self, AREAS, DENIES, GUESTS, HOSTS, SYSCALL_NAMES};
use policyc_testkit::stdlib::HOME;
use policyc_verify::probe::Probe;
use proptest::prelude::*;

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
        strategy::access().prop_map(Access::from),
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
        proptest::sample::select(policyc_testkit::spelling::HOSTS),
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
