//! Module paths: where `use NAME::...` finds modules outside the standard library.
//!
//! A module path maps a name to a directory: `use acme::secrets` is the file
//! `DIR/secrets.policy` of the path `acme`, `use acme::runtime::py` is
//! `DIR/runtime/py.policy`. Module paths come from the `[modules]` table of the first
//! `policyc.toml` found walking up from the policy file's directory, and from `--lib NAME=DIR`
//! on the command line, which wins over the file for the same name. `std` is always the
//! standard library built into policyc.

use policyc_compiler::ModuleLoader;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The project file looked for beside and above each policy file.
pub const PROJECT_FILE: &str = "policyc.toml";

/// Largest module file read; the compiler refuses larger files anyway.
const MAX_MODULE_BYTES: u64 = 4 * 1024 * 1024;

/// Most module files listed for "did you mean" hints, per module path.
const MAX_LISTED: usize = 1000;

/// Deepest directory nesting listed for hints.
const MAX_LISTED_DEPTH: usize = 8;

/// One `--lib NAME=DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibArg {
    /// The first part of the module paths it serves (`acme`).
    pub name: String,
    /// The directory holding its modules.
    pub dir: PathBuf,
}

/// Parse `NAME=DIR` for clap: NAME an identifier other than `std`, DIR an existing directory.
pub fn parse_lib(s: &str) -> Result<LibArg, String> {
    let Some((name, dir)) = s.split_once('=') else {
        return Err(format!("`{s}` is not NAME=DIR (e.g. `acme=policies/lib`)"));
    };
    check_name(name)?;
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        return Err(format!("`{}` is not a directory", dir.display()));
    }
    Ok(LibArg {
        name: name.to_string(),
        dir,
    })
}

/// A module path name: an identifier `use` can write, and not `std`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return Err(format!(
            "module path name `{name}` is not an identifier (letters, digits and `_`, not starting with a digit)"
        ));
    }
    if name == "std" {
        return Err(
            "`std` is the standard library built into policyc; give the module path another name"
                .to_string(),
        );
    }
    Ok(())
}

static CMDLINE: OnceLock<Vec<LibArg>> = OnceLock::new();

/// Record the command line's `--lib` arguments (once, at start-up).
pub fn set_cmdline(libs: Vec<LibArg>) {
    let _ = CMDLINE.set(libs);
}

/// A problem with a `policyc.toml`: the file as found, a message, and where in it.
#[derive(Debug, Clone)]
pub struct ProjectError {
    pub file: PathBuf,
    pub message: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub at: Option<(usize, usize)>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    #[serde(default)]
    modules: BTreeMap<String, String>,
}

/// One module path and where it was declared, for hints.
#[derive(Debug, Clone)]
struct Lib {
    dir: PathBuf,
    origin: String,
}

/// The loader for one policy file: the standard library, then its module paths.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    libs: BTreeMap<String, Lib>,
}

/// The loader for the policy file at `policy` (as the command line names it).
pub fn loader_for(policy: &Path) -> Result<Loader, ProjectError> {
    let mut libs = BTreeMap::new();
    if let Some(file) = find_project_file(policy) {
        for (name, dir) in read_project_file(&file)? {
            let origin = format!("`{name} = ...` in `{}`", file.display());
            libs.insert(name, Lib { dir, origin });
        }
    }
    for l in CMDLINE.get().into_iter().flatten() {
        let origin = format!("`--lib {}={}`", l.name, l.dir.display());
        libs.insert(
            l.name.clone(),
            Lib {
                dir: l.dir.clone(),
                origin,
            },
        );
    }
    Ok(Loader { libs })
}

/// The first `policyc.toml` in the policy file's directory or above it.
fn find_project_file(policy: &Path) -> Option<PathBuf> {
    let parent = policy.parent().unwrap_or(Path::new(""));
    let climbs = parent.components().any(|c| c == Component::ParentDir);
    let start = if climbs {
        std::fs::canonicalize(parent).ok()?
    } else {
        parent.to_path_buf()
    };
    let found = start
        .ancestors()
        .map(|d| d.join(PROJECT_FILE))
        .find(|f| f.is_file());
    if found.is_some() || start.is_absolute() {
        return found;
    }
    // A relative directory's lexical ancestors end at the working directory; go on above it.
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .skip(1)
        .map(|d| d.join(PROJECT_FILE))
        .find(|f| f.is_file())
}

/// The module paths a project file declares, directories relative to the file's own.
fn read_project_file(file: &Path) -> Result<Vec<(String, PathBuf)>, ProjectError> {
    let err = |message: String, at| ProjectError {
        file: file.to_path_buf(),
        message,
        at,
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| err(format!("cannot read `{}`: {e}", file.display()), None))?;
    let parsed: ProjectFile = toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| line_col(&text, s.start));
        err(
            format!("`{}`: {}", file.display(), e.message().trim_end()),
            at,
        )
    })?;
    let base = file.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for (name, dir) in parsed.modules {
        check_name(&name).map_err(|m| err(format!("`{}`: [modules] {m}", file.display()), None))?;
        out.push((name, base.join(dir)));
    }
    Ok(out)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Loader {
    /// The display name and text of module `path`, or why there is none (a hint).
    fn locate(&self, path: &[String]) -> Result<(String, String), String> {
        let Some((first, rest)) = path.split_first() else {
            return Err(String::new());
        };
        let Some(lib) = self.libs.get(first) else {
            return Err(self.unknown_lib(first));
        };
        if rest.is_empty() {
            return Err(format!(
                "`{first}` is a module path ({}); import a module inside it: `use {first}::NAME` reads `{}`",
                lib.origin,
                lib.dir.join("NAME.policy").display()
            ));
        }
        let mut file = lib.dir.clone();
        for part in rest {
            file.push(part);
        }
        file.set_extension("policy");
        let shown = file.display().to_string();
        match read_module(&file) {
            Ok(text) => Ok((shown, text)),
            Err(why) => Err(format!(
                "{why}; the module path is `{}`, from {}",
                lib.dir.display(),
                lib.origin
            )),
        }
    }

    fn unknown_lib(&self, first: &str) -> String {
        let known = if self.libs.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.libs.keys().map(String::as_str).collect();
            format!(" (module paths: `std`, `{}`)", names.join("`, `"))
        };
        format!(
            "no module path is named `{first}`{known}: add `{first} = \"DIR\"` under `[modules]` in a `{PROJECT_FILE}` in the policy's directory or above it, or pass `--lib {first}=DIR`"
        )
    }
}

/// A module file's text, or why it cannot be read.
fn read_module(file: &Path) -> Result<String, String> {
    let shown = file.display();
    let meta = std::fs::metadata(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no file `{shown}`"),
        _ => format!("cannot read `{shown}`: {e}"),
    })?;
    if !meta.is_file() {
        return Err(format!("`{shown}` is not a file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_MODULE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.len() as u64 > MAX_MODULE_BYTES {
        return Err(format!("`{shown}` is larger than 4 MiB"));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{shown}` is not UTF-8 text (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The module names under `dir` (`prefix::a`, `prefix::a::b`), sorted.
fn list_modules(prefix: &str, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    list_into(prefix, dir, 0, &mut out);
    out.sort();
    out
}

fn list_into(prefix: &str, dir: &Path, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if out.len() >= MAX_LISTED {
            return;
        }
        let path = e.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if check_name(stem).is_err() && stem != "std" {
            continue;
        }
        let name = format!("{prefix}::{stem}");
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_dir() && depth < MAX_LISTED_DEPTH {
            list_into(&name, &path, depth + 1, out);
        } else if ty.is_file() && path.extension().is_some_and(|x| x == "policy") {
            out.push(name);
        }
    }
}

impl ModuleLoader for Loader {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        if path.first().is_some_and(|p| p == "std") {
            return policyc_stdlib::Loader.load(path);
        }
        self.locate(path).ok()
    }

    fn missing_hint(&self, path: &[String]) -> Option<String> {
        if path.first().is_some_and(|p| p == "std") {
            return None;
        }
        self.locate(path).err().filter(|h| !h.is_empty())
    }

    fn modules(&self) -> Vec<String> {
        self.libs
            .iter()
            .flat_map(|(name, lib)| list_modules(name, &lib.dir))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn names_are_identifiers_and_not_std() {
        assert!(parse_lib("acme").is_err());
        assert!(parse_lib("std=.").unwrap_err().contains("standard library"));
        assert!(parse_lib("a-b=.").unwrap_err().contains("identifier"));
        assert!(parse_lib("acme=/nonexistent/dir").is_err());
        assert_eq!(parse_lib("acme=.").unwrap().name, "acme");
    }

    #[test]
    fn modules_resolve_to_files_under_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("runtime")).unwrap();
        std::fs::write(dir.path().join("runtime/py.policy"), "paths x { }").unwrap();
        std::fs::write(dir.path().join("bad.policy"), b"\xff").unwrap();
        let mut libs = BTreeMap::new();
        let origin = "`--lib acme=D`".to_string();
        libs.insert(
            "acme".to_string(),
            Lib {
                dir: dir.path().to_path_buf(),
                origin,
            },
        );
        let l = Loader { libs };
        let (name, text) = l.load(&p(&["acme", "runtime", "py"])).unwrap();
        assert!(name.ends_with("runtime/py.policy"), "{name}");
        assert_eq!(text, "paths x { }");
        assert!(l.load(&p(&["std", "secrets"])).is_some());
        assert!(l.missing_hint(&p(&["std", "nope"])).is_none());
        let why = l.missing_hint(&p(&["acme", "bad"])).unwrap();
        assert!(why.contains("not UTF-8"), "{why}");
        let why = l.missing_hint(&p(&["acme", "gone"])).unwrap();
        assert!(
            why.contains("no file") && why.contains("--lib acme=D"),
            "{why}"
        );
        let why = l.missing_hint(&p(&["other", "x"])).unwrap();
        assert!(why.contains("--lib other=DIR"), "{why}");
        assert!(why.contains("module paths: `std`, `acme`"), "{why}");
        let why = l.missing_hint(&p(&["acme"])).unwrap();
        assert!(why.contains("use acme::NAME"), "{why}");
        assert_eq!(l.modules(), ["acme::bad", "acme::runtime::py"]);
    }

    #[test]
    fn the_project_file_is_found_above_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join(PROJECT_FILE), "[modules]\nacme = \"lib\"\n").unwrap();
        let policy = root.join("a/b/x.policy");
        let l = loader_for(&policy).unwrap();
        assert_eq!(l.libs["acme"].dir, root.join("lib"));
        std::fs::write(root.join("a").join(PROJECT_FILE), "[module]\n").unwrap();
        let e = loader_for(&policy).unwrap_err();
        assert_eq!(e.file, root.join("a").join(PROJECT_FILE));
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert_eq!(e.at, Some((1, 2)));
        std::fs::write(
            root.join("a").join(PROJECT_FILE),
            "[modules]\nstd = \"x\"\n",
        )
        .unwrap();
        let e = loader_for(&policy).unwrap_err();
        assert!(e.message.contains("standard library"), "{}", e.message);
    }
}
