//! Generated policies of a chosen size, for the scaling benchmark and the tests that need a
//! long run: `n` read-only mounts and `n` egress rules, with the runtime guards and a
//! runtime's syscalls so that every layer of the stack has something to emit.

use policyc_compiler::ir::Isolation;
use std::fmt::Write as _;

/// A policy named `scaled_<n>` with `n` read-only mounts of `~/data/d<i>` (under `container`
/// isolation seen at `/mnt/d<i>`) and `n` proxy rules `allow "h<i>.example.com":443`, with
/// `dns allow-listed-only`. It compiles without errors or warnings for every `n >= 1`.
pub fn policy(n: usize, isolation: Isolation) -> String {
    let iso = isolation.keyword();
    let mut s = String::with_capacity(n * 80 + 512);
    s.push_str("use std::runtime::python\n\n");
    let _ = writeln!(s, "policy scaled_{n} {{");
    let _ = writeln!(s, "    isolation {iso}");
    s.push_str("    threats exfiltration\n    fs {\n");
    for i in 0..n {
        match isolation {
            Isolation::Process => {
                let _ = writeln!(s, "        read \"~/data/d{i}\"");
            }
            Isolation::Container | Isolation::Wasm => {
                let _ = writeln!(s, "        read \"~/data/d{i}\" at \"/mnt/d{i}\"");
            }
        }
    }
    s.push_str("    }\n");
    if isolation != Isolation::Wasm {
        s.push_str("    include runtime_guards\n    syscalls { allow python }\n");
    }
    s.push_str("    net {\n        egress via proxy {\n");
    for i in 0..n {
        let _ = writeln!(s, "            allow \"h{i}.example.com\":443");
    }
    s.push_str("        }\n        dns allow-listed-only\n    }\n}\n");
    s
}
