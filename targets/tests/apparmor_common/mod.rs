//! Helpers the AppArmor suites share: policies written for them (a process policy, path
//! components that try to break out of a profile) and building a profile. Compiling with
//! the standard library comes from `policyc_testkit`; running `apparmor_parser` is
//! policyc-host's (`policyc_host::apparmor`).

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub use policyc_testkit::stdlib::{compile_text, ctx, policies as stdlib, render, HOME};

use policyc_compiler::ir::Policy;
use policyc_compiler::SourceMap;
use policyc_targets::apparmor::AppArmor;
use policyc_targets::{Emitted, Target};

/// A process-isolation policy: nesting, a grant inside a deny, denies inside grants.
pub const PROCESS_POLICY: &str = r#"use std::secrets
policy local_agent {
    isolation process
    fs {
        read "~/Documents"
        write "~/Documents/out"
        read "~/.aws/config"
        exec "/usr"
        scratch "/var/tmp/agent" size 64MiB
        deny secrets
        deny write persistence
        deny write "~/Documents/taxes"
        deny write "/usr/local"
    }
    net {
        egress direct {
            allow "api.example.com":443
        }
        dns allow-listed-only
    }
    test "documents" {
        allow read "~/Documents/a.txt"
        deny write "~/Documents/a.txt"
        allow write "~/Documents/out/r.csv"
        deny write "~/Documents/taxes/2024.pdf"
        deny read "~/.aws/config"
        deny read "~/.ssh/id_ed25519"
        allow exec "/usr/bin/python3"
        deny write "/usr/local/bin/x"
        deny exec "/var/tmp/agent/x"
        allow connect "api.example.com":443
    }
}
"#;

/// Path components that try to break out of a quoted profile string or change its meaning.
pub const HOSTILE: &[&str] = &[
    "quo\"te",
    "back\\slash",
    "trailing\\",
    "\\\"",
    "com,ma",
    "{alt,ernation}",
    "[class]",
    "^caret",
    "@{HOME}",
    "@{HOMEDIRS}x",
    "#include <abstractions/base>",
    "# comment",
    "x\" rwix,\\n  \"/",
    "x\" rwix, / rwix, \"",
    "sp ace",
    "tab-less\u{2028}line-separator",
    "ünïcødé 日本",
    "$var ${bool}",
    "star-less ( ) + | . $",
    "}",
    "{",
    ",",
];

/// A container policy mounting a hostile host path at a hostile guest path, with a deny
/// beneath it.
pub fn hostile_container(c: &str) -> String {
    let q = c.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "policy hostile {{ isolation container\n fs {{ read \"/host/{q}\" at \"/mnt/{q}\"\n deny \"/host/{q}/secret\" }} }}"
    )
}

/// A process policy granting a hostile home path, with a deny beneath it.
pub fn hostile_process(c: &str) -> String {
    let q = c.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "policy hostile {{ isolation process\n fs {{ write \"~/{q}\"\n deny \"~/{q}/secret\" }} }}"
    )
}

/// Emit, panicking with the rendered errors.
pub fn emit(sources: &SourceMap, policy: &Policy) -> Emitted {
    AppArmor
        .emit(policy, &ctx())
        .unwrap_or_else(|d| panic!("{}: {}", policy.name, render(sources, &d)))
}

/// Compile `text` (as `p.policy`) and emit its profile, panicking with the rendered errors.
pub fn build(text: &str) -> (Policy, Emitted) {
    let (sources, policies) = compile_text("p.policy", text);
    let policy = policies.into_iter().next().unwrap();
    let e = emit(&sources, &policy);
    (policy, e)
}

/// The emitted profile's text.
pub fn profile_text(e: &Emitted) -> String {
    String::from_utf8(e.artifacts[policyc_targets::apparmor::FILE].clone()).unwrap()
}
