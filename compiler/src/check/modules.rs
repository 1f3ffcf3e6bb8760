//! Loading the modules a file imports with `use`: each module once, depth first, in the
//! order the `use`s are written. A module that is missing, defines a policy, or imports
//! itself through a chain of other modules is reported on the `use` that names it.

use super::stdlib::StdModules;
use super::ModuleLoader;
use crate::ast::{self, Item};
use crate::diag::{clip, did_you_mean, Code, Diagnostic, Diagnostics};
use crate::span::SourceMap;
use crate::syntax;
use std::collections::BTreeSet;

/// Most modules one compilation may load (a guard against runaway import graphs).
pub(super) const MAX_MODULES: usize = 256;

/// Parse every module reachable through `use`, once each, depth first.
pub(super) fn load(
    root: &ast::File,
    sources: &mut SourceMap,
    loader: &dyn ModuleLoader,
    std: &StdModules<'_>,
    diags: &mut Diagnostics,
) -> Vec<ast::File> {
    let mut l = Loading {
        sources,
        loader,
        std,
        diags,
        seen: BTreeSet::new(),
        chain: Vec::new(),
        out: Vec::new(),
        stopped: false,
    };
    for u in uses(root) {
        l.visit(&u);
    }
    l.out
}

struct Loading<'a, 's> {
    sources: &'a mut SourceMap,
    loader: &'a dyn ModuleLoader,
    std: &'a StdModules<'s>,
    diags: &'a mut Diagnostics,
    /// Every module asked for so far (loaded, missing or in progress).
    seen: BTreeSet<Vec<String>>,
    /// The modules being loaded, outermost first: the `use` chain from the root file.
    chain: Vec<Vec<String>>,
    out: Vec<ast::File>,
    /// Set once the module limit is reached; nothing more is loaded.
    stopped: bool,
}

impl Loading<'_, '_> {
    fn visit(&mut self, u: &ast::Use) {
        if self.stopped {
            return;
        }
        let path: Vec<String> = u.path.iter().map(|n| n.node.clone()).collect();
        if let Some(pos) = self.chain.iter().position(|m| *m == path) {
            self.diags
                .push(cycle(u, self.chain.get(pos..).unwrap_or_default()));
            return;
        }
        if !self.seen.insert(path.clone()) {
            return;
        }
        if self.out.len() >= MAX_MODULES {
            self.stopped = true;
            self.diags.push(
                Diagnostic::new(
                    Code::UnknownModule,
                    u.span,
                    format!("more than {MAX_MODULES} modules imported"),
                )
                .with_hint("this is almost certainly an import loop"),
            );
            return;
        }
        let Some((name, text)) = self.loader.load(&path) else {
            self.diags.push(
                Diagnostic::new(
                    Code::UnknownModule,
                    u.span,
                    format!("no module `{}`", clip(&path.join("::"))),
                )
                .with_hint(missing_hint(&path, self.loader, self.std)),
            );
            return;
        };
        let id = self.sources.add(name, text.clone());
        let (file, d) = syntax::parse(id, &text);
        self.diags.extend(d);
        for item in &file.items {
            if let Item::Policy(b) = item {
                self.diags.push(defines_policy(&path, b));
            }
        }
        let children = uses(&file);
        self.out.push(file);
        self.chain.push(path);
        for c in children {
            self.visit(&c);
        }
        self.chain.pop();
    }
}

/// The `use` items of a file, in source order.
fn uses(file: &ast::File) -> Vec<ast::Use> {
    file.items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

/// `u` names a module of `chain` (the modules being loaded, from the one `u` names on).
fn cycle(u: &ast::Use, chain: &[Vec<String>]) -> Diagnostic {
    let names: Vec<String> = chain.iter().map(|m| m.join("::")).collect();
    let first = names.first().cloned().unwrap_or_default();
    let message = if names.len() <= 1 {
        format!("module `{first}` imports itself")
    } else {
        format!(
            "modules import each other in a cycle: `{}` -> `{first}`",
            names.join("` -> `")
        )
    };
    Diagnostic::new(Code::ImportCycle, u.span, message).with_hint(
        "remove this `use`: every module a file imports is visible to it, so a module never needs the module that imports it; move what both need into a module of its own",
    )
}

fn defines_policy(path: &[String], b: &ast::Block) -> Diagnostic {
    Diagnostic::new(
        Code::UnknownModule,
        b.name.span,
        format!(
            "module `{}` defines policy `{}`",
            path.join("::"),
            b.name.node
        ),
    )
    .with_hint("modules hold paths, syscalls, token and fragment items only")
}

/// The hint for a module the loader could not load: the nearest module it can load, and
/// what the loader says about where it looked.
fn missing_hint(path: &[String], loader: &dyn ModuleLoader, std: &StdModules<'_>) -> String {
    let wanted = path.join("::");
    let is_std = path.first().is_some_and(|p| p == "std");
    let why = loader.missing_hint(path);
    if is_std || why.is_none() {
        return std.unknown_module_hint(path);
    }
    let modules = loader.modules();
    let near = did_you_mean(&wanted, modules.iter().map(String::as_str));
    match (near, why) {
        (Some(m), Some(w)) => format!("did you mean `{m}`? ({w})"),
        (None, Some(w)) => w,
        (Some(m), None) => format!("did you mean `{m}`?"),
        (None, None) => std.unknown_module_hint(path),
    }
}
