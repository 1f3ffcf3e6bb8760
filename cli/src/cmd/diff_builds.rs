//! The build folders `policyc diff --artifacts` compares: what `policyc build --out DIR`
//! wrote (one `NAME/` folder per policy, with `manifest.json` naming each artifact and its
//! target), read from disk, from a git revision, or built in memory from a side's policies.

use crate::output::{print_usage_error, ErrorFormat};
use policyc_compiler::ir::Policy;
use policyc_targets::{build_targets, registry, Artifacts, EmitContext, Target};
use std::collections::BTreeMap;
use std::path::Path;

/// One build folder, read into memory: per policy name, its artifacts.
#[derive(Debug, Default)]
pub(crate) struct Build {
    /// How the folder is named in the output (`build`, `HEAD~1:build`, `(in memory)`).
    pub shown: String,
    pub policies: BTreeMap<String, BuiltPolicy>,
}

/// The artifacts of one policy in a build folder.
#[derive(Debug, Default)]
pub(crate) struct BuiltPolicy {
    /// The home directory the artifacts were built for (`manifest.json`'s `home`).
    pub home: Option<String>,
    /// Per target (registry name), the artifacts the manifest lists for it, keyed by
    /// their path inside the policy's folder. A listed file that is missing is absent.
    pub targets: BTreeMap<&'static str, Artifacts>,
    /// What could not be read (an unknown target, a missing file), one line each.
    pub notes: Vec<String>,
}

/// Every file of a build folder: path relative to the folder (`/`-separated) to bytes.
pub(crate) type Files = BTreeMap<String, Vec<u8>>;

/// Read a build folder from disk.
pub(crate) fn read_dir(dir: &Path, format: ErrorFormat) -> Result<Build, ()> {
    if !dir.is_dir() {
        print_usage_error(
            &format!(
                "`{}` is not a build folder (what `policyc build --out` writes)",
                dir.display()
            ),
            format,
        );
        return Err(());
    }
    let mut files = Files::new();
    walk(dir, "", &mut files).map_err(|e| {
        crate::output::print_io_error(dir, "read", &e, format);
    })?;
    Ok(parse(crate::inputs::display(dir), &files))
}

fn walk(dir: &Path, prefix: &str, out: &mut Files) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if e.file_type()?.is_dir() {
            walk(&e.path(), &format!("{rel}/"), out)?;
        } else {
            out.insert(rel, std::fs::read(e.path())?);
        }
    }
    Ok(())
}

/// The policies of a build folder's files: each `NAME/manifest.json` and the artifacts it
/// lists.
pub(crate) fn parse(shown: String, files: &Files) -> Build {
    let mut policies = BTreeMap::new();
    for (path, bytes) in files {
        let Some(folder) = path.strip_suffix("/manifest.json") else {
            continue;
        };
        if folder.contains('/') {
            continue;
        }
        let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            continue;
        };
        let name = str_at(&manifest, "policy").unwrap_or(folder).to_string();
        policies.insert(name, policy_of(folder, &manifest, files));
    }
    Build { shown, policies }
}

fn policy_of(folder: &str, manifest: &serde_json::Value, files: &Files) -> BuiltPolicy {
    let mut out = BuiltPolicy {
        home: str_at(manifest, "home").map(str::to_string),
        ..BuiltPolicy::default()
    };
    let listed = manifest["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for a in &listed {
        let (Some(path), Some(target)) = (str_at(a, "path"), str_at(a, "target")) else {
            continue;
        };
        if target == super::exec::plan::TARGET {
            continue; // the exec plan: the launcher's input, not a target's artifact
        }
        let Some(t) = registry().iter().find(|t| t.name() == target) else {
            out.notes
                .push(format!("{folder}/{path}: unknown target `{target}`"));
            continue;
        };
        let arts = out.targets.entry(t.name()).or_default();
        match files.get(&format!("{folder}/{path}")) {
            Some(bytes) => {
                arts.insert(path.to_string(), bytes.clone());
            }
            None => out.notes.push(format!(
                "{folder}/{path}: listed in the manifest but missing"
            )),
        }
    }
    out
}

/// Build one side's policies in memory, as `policyc build` would, without the provenance
/// comments (they change no verdict). A target that cannot emit for a policy is left out
/// and named in the policy's notes.
pub(crate) fn in_memory<'a>(
    policies: impl Iterator<Item = &'a Policy>,
    ctx: &EmitContext,
) -> Build {
    let mut out = Build {
        shown: "(built in memory)".to_string(),
        policies: BTreeMap::new(),
    };
    for p in policies {
        let mut built = BuiltPolicy {
            home: ctx.home.clone(),
            ..BuiltPolicy::default()
        };
        for t in build_targets(p) {
            emit_into(t, p, ctx, &mut built);
        }
        out.policies.entry(p.name.clone()).or_insert(built);
    }
    out
}

fn emit_into(t: &'static dyn Target, p: &Policy, ctx: &EmitContext, built: &mut BuiltPolicy) {
    match t.emit(p, ctx) {
        Ok(e) => {
            built.targets.insert(t.name(), e.artifacts);
        }
        Err(_) => built.notes.push(format!(
            "{}: the policy does not build for this target",
            t.name()
        )),
    }
}

/// A string member of a JSON object.
fn str_at<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str)
}
