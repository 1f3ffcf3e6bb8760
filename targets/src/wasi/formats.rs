//! Host formats besides `wasi.json`, emitted only where they express the manifest exactly.
//!
//! - **`extism.json`**, an Extism manifest: `allowed_paths` maps host directories to guest
//!   paths, `allowed_hosts` lists the hosts Extism's HTTP host function may reach. Extism
//!   marks a read-only directory by prefixing its host path with `ro:`, but that is not
//!   read-only for every open flag: the runtime's read-only wrapper (`readonly_dir.rs`)
//!   refuses only opens that ask for write rights and passes `O_CREAT` and `O_TRUNC` through
//!   to wasi-common, whose `open_file` makes any `O_CREAT` open writable (so a module creates
//!   files, and with `O_CREAT|O_TRUNC` empties existing ones); and a directory opened beneath
//!   the preopen comes back unwrapped, fully writable. So policyc never writes `ro:`: a
//!   manifest with a read-only preopen gets no `extism.json`. Nor does one with scratch or
//!   tmpfs areas (made per run, so no path exists to name) or with any egress (Extism checks
//!   host names only, with no ports and no proxy, and connects directly). `"wasm": []` is
//!   left for the deployer to fill in; `allowed_hosts: []` denies every HTTP request (an
//!   absent list does too).
//! - **`wasmtime-run.json`**, `{"argv": [...]}`: a `wasmtime run` command line to which the
//!   module and its arguments are appended. `--dir HOST::GUEST` always preopens read-write
//!   (wasmtime-cli 48 passes `FsPerms::ReadWrite`), and `--dir HOST::GUEST::ro` silently
//!   drops the `::ro` (the argument is split at `::` and the third part ignored), so the
//!   same conditions apply, plus: no path may contain `::`. Memory is limited with
//!   `-W max-memory-size=BYTES`.
//!
//! Each format that is not emitted gets one `P1106` warning in the build report, naming
//! every reason and pointing at the first rule that blocks it.

use super::emit::{Planned, TARGET};
use super::manifest::{Manifest, Perms, Source};
use policyc_compiler::ir::Policy;
use policyc_compiler::{Code, Diagnostic, Span};
use serde::Serialize;
use std::collections::BTreeMap;

/// The Extism manifest.
pub const EXTISM_FILE: &str = "extism.json";
/// The `wasmtime run` argument vector.
pub const WASMTIME_FILE: &str = "wasmtime-run.json";

/// Bytes per WebAssembly page.
const WASM_PAGE: u64 = 65_536;

#[derive(Serialize)]
struct ExtismManifest {
    wasm: Vec<()>,
    allowed_paths: BTreeMap<String, String>,
    allowed_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<ExtismMemory>,
}

#[derive(Serialize)]
struct ExtismMemory {
    max_pages: u64,
}

#[derive(Serialize)]
struct WasmtimeRun {
    argv: Vec<String>,
}

/// One reason a format cannot express the manifest, and the rule it comes from.
struct Blocker {
    span: Span,
    why: String,
}

/// The host formats that express the manifest exactly, and a `P1106` warning for each one
/// that does not.
pub(crate) fn emit(
    policy: &Policy,
    planned: &[Planned<'_>],
    m: &Manifest,
) -> (BTreeMap<String, Vec<u8>>, Vec<Diagnostic>) {
    let mut files = BTreeMap::new();
    let mut report = Vec::new();
    let extism = blockers(policy, planned, m, Format::Extism);
    match (extism.is_empty(), extism_json(m)) {
        (true, Some(bytes)) => {
            files.insert(EXTISM_FILE.to_string(), bytes);
        }
        _ => report.push(not_emitted(EXTISM_FILE, &extism, policy.span)),
    }
    let wasmtime = blockers(policy, planned, m, Format::WasmtimeCli);
    match (wasmtime.is_empty(), wasmtime_json(m)) {
        (true, Some(bytes)) => {
            files.insert(WASMTIME_FILE.to_string(), bytes);
        }
        _ => report.push(not_emitted(WASMTIME_FILE, &wasmtime, policy.span)),
    }
    (files, report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Extism,
    WasmtimeCli,
}

fn blockers(policy: &Policy, planned: &[Planned<'_>], m: &Manifest, f: Format) -> Vec<Blocker> {
    let span_of = |guest: &policyc_compiler::paths::CanonPath| {
        planned
            .iter()
            .find(|p| &p.mount.guest == guest)
            .map_or(policy.span, |p| p.mount.span)
    };
    let shown = |guest: &policyc_compiler::paths::CanonPath| {
        planned
            .iter()
            .find(|p| &p.mount.guest == guest)
            .map_or_else(|| guest.to_string(), |p| p.mount.to_string())
    };
    let mut out = Vec::new();
    for p in &m.preopens {
        let span = span_of(&p.guest);
        match (&p.source, p.perms) {
            (Source::Host(_), Perms::ReadOnly) => out.push(Blocker {
                span,
                why: match f {
                    Format::Extism => format!("`{}` is read-only, and Extism's `ro:` directories still let `O_CREAT` create and truncate files and hand out writable subdirectories", shown(&p.guest)),
                    Format::WasmtimeCli => format!("`{}` is read-only, and `wasmtime run --dir` always preopens read-write (a `::ro` suffix is silently ignored)", shown(&p.guest)),
                },
            }),
            (Source::Scratch { .. } | Source::Tmpfs { .. }, _) => out.push(Blocker {
                span,
                why: format!("`{}` is made fresh for each run, so there is no host directory to name", shown(&p.guest)),
            }),
            (Source::Host(h), Perms::ReadWrite) => {
                if f == Format::WasmtimeCli && (h.as_str().contains("::") || p.guest.as_str().contains("::")) {
                    out.push(Blocker {
                        span,
                        why: format!("`{}` has `::` in a path, which `--dir` splits at", shown(&p.guest)),
                    });
                }
            }
        }
    }
    if m.network.egress {
        out.push(Blocker {
            span: crate::common::net_span(policy),
            why: match f {
                Format::Extism => "the policy allows egress, and Extism's `allowed_hosts` filters by host name only (no ports, no proxy, direct connections)".to_string(),
                Format::WasmtimeCli => "the policy allows egress, and `wasmtime run` grants either every address (`-S inherit-network`) or none".to_string(),
            },
        });
    }
    if f == Format::Extism && m.limits.memory.is_some_and(|b| b < WASM_PAGE) {
        out.push(Blocker {
            span: policy.span,
            why: "the memory limit is below one WebAssembly page, which Extism's `max_pages` cannot express".to_string(),
        });
    }
    out
}

fn not_emitted(file: &str, blockers: &[Blocker], fallback: Span) -> Diagnostic {
    let span = blockers.first().map_or(fallback, |b| b.span);
    let whys: Vec<&str> = blockers.iter().map(|b| b.why.as_str()).collect();
    let msg = if whys.is_empty() {
        format!("{TARGET}: `{file}` could not be written")
    } else {
        format!("{TARGET}: no `{file}`: {}", whys.join("; "))
    };
    Diagnostic::new(Code::WasiFormatNotEmitted, span, msg).with_hint(
        "run the module with `policyc exec`, which applies `wasi.json` and expresses the policy exactly",
    )
}

fn pretty<T: Serialize>(v: &T) -> Option<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(v).ok()?;
    bytes.push(b'\n');
    Some(bytes)
}

fn extism_json(m: &Manifest) -> Option<Vec<u8>> {
    let allowed_paths = m
        .preopens
        .iter()
        .filter_map(|p| match &p.source {
            Source::Host(h) => Some((h.to_string(), p.guest.to_string())),
            _ => None,
        })
        .collect();
    pretty(&ExtismManifest {
        wasm: Vec::new(),
        allowed_paths,
        allowed_hosts: Vec::new(),
        memory: m.limits.memory.map(|b| ExtismMemory {
            max_pages: b / WASM_PAGE,
        }),
    })
}

fn wasmtime_json(m: &Manifest) -> Option<Vec<u8>> {
    let mut argv = vec!["wasmtime".to_string(), "run".to_string()];
    for p in &m.preopens {
        if let Source::Host(h) = &p.source {
            argv.push("--dir".to_string());
            argv.push(format!("{h}::{}", p.guest));
        }
    }
    if let Some(b) = m.limits.memory {
        argv.push("-W".to_string());
        argv.push(format!("max-memory-size={b}"));
    }
    pretty(&WasmtimeRun { argv })
}
