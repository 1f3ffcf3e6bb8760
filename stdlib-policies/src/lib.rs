//! The standard library of policies, compiled into the binary.
//!
//! Two kinds of files live here:
//!
//! - **Modules** under `std/`, imported with `use`: `use std::secrets` is the file
//!   `std/secrets.policy`, `use std::runtime::python` is `std/runtime/python.policy`. A module
//!   holds `paths`, `syscalls`, `fragment` and `token` items (and `use`), never a `policy`.
//!   - `std::secrets`: `secrets` (every credential location, for `deny secrets`) and
//!     `persistence` (files where a write becomes code that runs later, for
//!     `deny write persistence`), plus the topical lists they are made of.
//!   - `std::runtime::base`: the syscalls every runtime shares (`base` and its parts), and
//!     the fragment `runtime_guards` (`include runtime_guards`): the argument checks a set
//!     cannot express (`clone3`, namespace `clone`s, `TIOCSTI` and `TIOCLINUX`).
//!   - `std::runtime::python`, `std::runtime::node`, `std::runtime::static`: the syscall
//!     sets `python`, `node` and `static_binary`, derived from strace runs (see the
//!     crate's README and `derive/`).
//! - **Use-case policies** under `policies/`: `document_organizer`, `spreadsheet_generator`
//!   and `email_assistant` (container and wasm isolation) and `report_writer` (a plain
//!   process under Landlock and seccomp), each with its own tests.
//!
//! Everything is embedded with `include_str!`, so the compiler finds the stdlib without
//! touching the file system.

/// One module of the standard library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    /// The module path as written after `use`, split at `::`: `["std", "secrets"]`.
    pub path: &'static [&'static str],
    /// The file, relative to the crate root, for diagnostics: `std/secrets.policy`.
    pub file: &'static str,
    /// The file's text.
    pub source: &'static str,
}

impl Module {
    /// The module path as written after `use`: `std::runtime::python`.
    pub fn name(&self) -> String {
        self.path.join("::")
    }
}

/// Every module, sorted by path (the tests check the order; lookups binary-search it).
static MODULES: &[Module] = &[
    Module {
        path: &["std", "runtime", "base"],
        file: "std/runtime/base.policy",
        source: include_str!("../std/runtime/base.policy"),
    },
    Module {
        path: &["std", "runtime", "node"],
        file: "std/runtime/node.policy",
        source: include_str!("../std/runtime/node.policy"),
    },
    Module {
        path: &["std", "runtime", "python"],
        file: "std/runtime/python.policy",
        source: include_str!("../std/runtime/python.policy"),
    },
    Module {
        path: &["std", "runtime", "static"],
        file: "std/runtime/static.policy",
        source: include_str!("../std/runtime/static.policy"),
    },
    Module {
        path: &["std", "secrets"],
        file: "std/secrets.policy",
        source: include_str!("../std/secrets.policy"),
    },
];

/// The use-case policies: file name and text, sorted by file name.
static POLICIES: &[(&str, &str)] = &[
    (
        "document_organizer.policy",
        include_str!("../policies/document_organizer.policy"),
    ),
    (
        "email_assistant.policy",
        include_str!("../policies/email_assistant.policy"),
    ),
    (
        "report_writer.policy",
        include_str!("../policies/report_writer.policy"),
    ),
    (
        "spreadsheet_generator.policy",
        include_str!("../policies/spreadsheet_generator.policy"),
    ),
];

/// The module at `path` (`["std", "secrets"]`), if the standard library has one.
pub fn module(path: &[&str]) -> Option<&'static Module> {
    MODULES
        .binary_search_by(|m| m.path.iter().cmp(path.iter()))
        .ok()
        .and_then(|i| MODULES.get(i))
}

/// The display name (`std/secrets.policy`) and text of the module at `path`.
pub fn module_source(path: &[&str]) -> Option<(&'static str, &'static str)> {
    module(path).map(|m| (m.file, m.source))
}

/// Resolves `use std::...` from the standard library: the [`ModuleLoader`] every caller of
/// the compiler that wants the stdlib hands it.
///
/// [`ModuleLoader`]: policyc_compiler::ModuleLoader
#[derive(Debug, Clone, Copy, Default)]
pub struct Loader;

impl policyc_compiler::ModuleLoader for Loader {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        module_source(&parts).map(|(name, text)| (name.to_string(), text.to_string()))
    }
}

/// Every module of the standard library, sorted by path.
pub fn modules() -> &'static [Module] {
    MODULES
}

/// The use-case policies, as `(file name, text)`, sorted by file name.
pub fn policies() -> &'static [(&'static str, &'static str)] {
    POLICIES
}

/// The text of the use-case policy file `name` (`document_organizer.policy`).
pub fn policy_source(name: &str) -> Option<&'static str> {
    POLICIES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .and_then(|i| POLICIES.get(i))
        .map(|(_, text)| *text)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
