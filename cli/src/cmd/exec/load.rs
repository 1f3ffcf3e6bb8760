//! What `policyc exec` runs, however it was given: a policy compiled now (`exec POLICY`),
//! whose artifacts are emitted when asked for, or a folder `policyc build` wrote (`exec
//! --from DIR`), whose artifacts are read and checked against its `manifest.json`. Past
//! this point both take the same path.

use super::exit::fail;
use super::plan::{self, Plan, Sites};
use crate::output::print_diagnostics;
use policyc_compiler::ir::Policy;
use policyc_compiler::syscalls::Arch;
use policyc_compiler::{Diagnostics, SourceMap};
use policyc_targets::provenance::POLICYC_VERSION;
use policyc_targets::seccomp::Seccomp;
use policyc_targets::{Artifacts, EmitContext, Target};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A policy ready to run.
pub struct Loaded {
    /// The checked IR.
    pub policy: Policy,
    /// The home directory `~` stands for.
    pub ctx: EmitContext,
    /// Where its rules were written.
    pub sites: Sites,
    store: Store,
}

/// Where the artifacts come from.
enum Store {
    /// Emitted from the policy when asked for; a target that cannot enforce the policy
    /// prints its diagnostics against these sources.
    Emit(SourceMap),
    /// Read from a built folder, each checked against its manifest entry.
    Folder(Folder),
}

/// A folder `policyc build` wrote, with its manifest's artifact list.
struct Folder {
    dir: PathBuf,
    /// Artifact path -> (target, sha256).
    entries: BTreeMap<String, (String, String)>,
}

/// The parts of `manifest.json` exec reads.
#[derive(Deserialize)]
struct Manifest {
    policyc: String,
    policy: String,
    artifacts: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    path: String,
    target: String,
    sha256: String,
}

/// The hint every refused folder ends with.
const REBUILD: &str = "rebuild it with `policyc build POLICY_FILE --out DIR` (this policyc, the same --home) and run `policyc exec --from DIR/NAME`";

impl Loaded {
    /// A policy compiled now; its artifacts are emitted when asked for.
    pub fn compiled(policy: Policy, ctx: EmitContext, sources: SourceMap) -> Loaded {
        Loaded {
            sites: Sites::new(&policy, &sources),
            policy,
            ctx,
            store: Store::Emit(sources),
        }
    }

    /// The policy of the folder `dir` that `policyc build` wrote, for the home `home`;
    /// refused (status 125) when the folder is incomplete, changed since it was built, or
    /// built by another policyc or for another home.
    pub fn folder(dir: &Path, home: &str) -> Result<Loaded, u8> {
        let manifest_path = dir.join("manifest.json");
        let bytes = std::fs::read(&manifest_path).map_err(|e| {
            fail(format!(
                "`{}` is not a folder `policyc build` wrote: cannot read `{}`: {e}; {REBUILD}",
                dir.display(),
                manifest_path.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            fail(format!(
                "`{}` is not a manifest this policyc reads: {e}; {REBUILD}",
                manifest_path.display()
            ))
        })?;
        if manifest.policyc != POLICYC_VERSION {
            return Err(fail(format!(
                "`{}` was built by policyc {}, and this is policyc {POLICYC_VERSION}; refusing to run it; {REBUILD}",
                dir.display(),
                manifest.policyc
            )));
        }
        let folder = Folder {
            dir: dir.to_path_buf(),
            entries: manifest
                .artifacts
                .into_iter()
                .map(|e| (e.path, (e.target, e.sha256)))
                .collect(),
        };
        let plan: Plan = serde_json::from_slice(&folder.read(plan::FILE)?)
            .map_err(|e| fail(format!("`{}`: {e}; {REBUILD}", folder.path(plan::FILE))))?;
        if plan.policyc != POLICYC_VERSION || plan.policy.name != manifest.policy {
            return Err(fail(format!(
                "`{}` does not belong with its manifest (policyc {}, policy `{}`); refusing to run; {REBUILD}",
                folder.path(plan::FILE),
                plan.policyc,
                plan.policy.name
            )));
        }
        if plan.home != home {
            return Err(fail(format!(
                "`{}` was built for the home directory `{}`, and this run's is `{home}`; refusing to run (give `--home {}`, or {REBUILD})",
                dir.display(),
                plan.home,
                plan.home
            )));
        }
        Ok(Loaded {
            policy: plan.policy,
            ctx: EmitContext {
                home: Some(plan.home),
            },
            sites: plan.sites,
            store: Store::Folder(folder),
        })
    }

    /// The artifact `file` of `target`.
    pub fn artifact(&self, target: &dyn Target, file: &str) -> Result<Vec<u8>, u8> {
        match &self.store {
            Store::Folder(f) => f.read_of(target, file),
            Store::Emit(_) => self
                .artifacts(target)?
                .remove(file)
                .ok_or_else(|| fail(format!("the {} target emitted no `{file}`", target.name()))),
        }
    }

    /// Every artifact of `target`; for seccomp, only the program for this machine's
    /// architecture (what exec loads and asks), under its usual name.
    pub fn artifacts(&self, target: &dyn Target) -> Result<Artifacts, u8> {
        let native = target.name() == Seccomp.name();
        match &self.store {
            Store::Folder(f) if native => {
                let file = policyc_targets::seccomp::bpf_artifact(ARCH);
                Ok(Artifacts::from([(file.clone(), f.read_of(target, &file)?)]))
            }
            Store::Folder(f) => f.all_of(target),
            Store::Emit(sources) => {
                let emitted = if native {
                    policyc_targets::seccomp::emit_for(&self.policy, ARCH)
                } else {
                    target.emit(&self.policy, &self.ctx).map(|e| e.artifacts)
                };
                emitted.map_err(|diags| {
                    let mut diags = Diagnostics(diags);
                    diags.sort();
                    print_diagnostics(&diags, sources, crate::output::error_format());
                    fail(format!(
                        "the {} target cannot enforce this policy",
                        target.name()
                    ))
                })
            }
        }
    }
}

/// This machine's architecture.
#[cfg(target_arch = "aarch64")]
pub const ARCH: Arch = Arch::Aarch64;
/// This machine's architecture.
#[cfg(not(target_arch = "aarch64"))]
pub const ARCH: Arch = Arch::X86_64;

impl Folder {
    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// `file`, which the manifest must list for `target`.
    fn read_of(&self, target: &dyn Target, file: &str) -> Result<Vec<u8>, u8> {
        match self.entries.get(file) {
            Some((t, _)) if t == target.name() => self.read(file),
            _ => Err(fail(format!(
                "`{}` lists no {} artifact `{file}`: the folder is incomplete; refusing to run; {REBUILD}",
                self.path("manifest.json"),
                target.name()
            ))),
        }
    }

    /// Every artifact the manifest lists for `target`.
    fn all_of(&self, target: &dyn Target) -> Result<Artifacts, u8> {
        let mut out = Artifacts::new();
        for (file, (t, _)) in &self.entries {
            if t == target.name() {
                out.insert(file.clone(), self.read(file)?);
            }
        }
        Ok(out)
    }

    /// `file`'s bytes, when they are those the manifest lists.
    fn read(&self, file: &str) -> Result<Vec<u8>, u8> {
        let Some((_, want)) = self.entries.get(file) else {
            return Err(fail(format!(
                "`{}` lists no `{file}`: the folder is incomplete; refusing to run; {REBUILD}",
                self.path("manifest.json")
            )));
        };
        let bytes = std::fs::read(self.dir.join(file)).map_err(|e| {
            fail(format!(
                "`{}` is missing or unreadable ({e}): the folder is incomplete; refusing to run; {REBUILD}",
                self.path(file)
            ))
        })?;
        if sha256_hex(&bytes) != *want {
            return Err(fail(format!(
                "`{}` does not match the sha256 manifest.json lists for it: it was changed after the build; refusing to run; {REBUILD}",
                self.path(file)
            )));
        }
        Ok(bytes)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
