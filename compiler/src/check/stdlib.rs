//! The standard library as hints name it. The compiler does not own the standard library
//! (its caller's [`ModuleLoader`] serves it), so a hint names a module only after the loader
//! has shown it can load it: a hint never suggests a `use` that would fail.

use super::ModuleLoader;
use crate::diag::did_you_mean;
use std::cell::OnceCell;

/// The standard library's modules, in the order hints list them.
const STD_MODULES: [&str; 5] = [
    "std::secrets",
    "std::runtime::base",
    "std::runtime::python",
    "std::runtime::node",
    "std::runtime::static",
];

/// The module that holds the `secrets` and `persistence` path lists.
pub(super) const SECRETS: &str = "std::secrets";

/// The module that holds the `python` syscall set.
pub(super) const PYTHON: &str = "std::runtime::python";

/// The standard library modules one compilation's loader provides, found on first use.
pub(crate) struct StdModules<'l> {
    loader: &'l dyn ModuleLoader,
    found: OnceCell<Vec<&'static str>>,
}

impl<'l> StdModules<'l> {
    pub(super) fn new(loader: &'l dyn ModuleLoader) -> Self {
        StdModules {
            loader,
            found: OnceCell::new(),
        }
    }

    /// The standard library modules the loader can load.
    fn found(&self) -> &[&'static str] {
        self.found.get_or_init(|| {
            STD_MODULES
                .into_iter()
                .filter(|m| {
                    let path: Vec<String> = m.split("::").map(String::from).collect();
                    self.loader.load(&path).is_some()
                })
                .collect()
        })
    }

    /// True when the loader can load `module` (one of the standard library's).
    pub(super) fn has(&self, module: &str) -> bool {
        self.found().contains(&module)
    }

    /// The hint for `use` of a module that does not exist: the module meant, or the ones
    /// there are.
    pub(super) fn unknown_module_hint(&self, path: &[String]) -> String {
        let found = self.found();
        let wanted = path.join("::");
        let same_last = path
            .last()
            .and_then(|last| found.iter().find(|m| m.rsplit("::").next() == Some(last)));
        let near = same_last
            .map(|m| (*m).to_string())
            .or_else(|| did_you_mean(&wanted, found.iter().copied()));
        match (near, found) {
            (Some(m), _) => format!("did you mean `{m}`?"),
            (None, []) => {
                "this compilation provides no standard library module to import".to_string()
            }
            (None, [one]) => format!("the standard library has {one}"),
            (None, [init @ .., last]) => {
                format!("the standard library has {} and {last}", init.join(", "))
            }
        }
    }
}
