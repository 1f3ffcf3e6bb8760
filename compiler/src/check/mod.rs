//! Syntax tree to checked IR: name resolution across `use` imports, fragment inclusion,
//! value checks, and the threat-aware and conflict lints. Every problem becomes a
//! diagnostic; checking goes on after an error so a file's diagnostics come all at once.

mod env;
mod fs;
mod hazards;
mod home;
mod lints;
mod modules;
mod net;
mod stdlib;
mod suppress;
mod syscalls;
mod to_ir;

use crate::ast::{self, Block, Item, PathsDecl, Stmt, SyscallSetDecl, TokenDecl};
use crate::diag::{clip, did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::span::{FileId, SourceMap, Span, Spanned};
use crate::syntax;
use std::collections::{BTreeMap, BTreeSet};

pub use home::check_home_lengths;
pub use suppress::{guarded_threats, Suppressed, NEVER as NEVER_SUPPRESSED};

/// Where `use` imports come from. The compiler never touches the filesystem itself.
pub trait ModuleLoader {
    /// The display name and text of module `path` (e.g. `["std", "secrets"]`).
    fn load(&self, path: &[String]) -> Option<(String, String)>;

    /// Why module `path` could not be loaded, as a hint that says where the loader looked
    /// and how to make the module exist (`None`: the loader has nothing to add, and the
    /// hint names the standard library modules there are).
    fn missing_hint(&self, _path: &[String]) -> Option<String> {
        None
    }

    /// The modules outside the standard library this loader can load (`acme::secrets`),
    /// for "did you mean" hints. Only names it would actually load.
    fn modules(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A loader that knows no modules.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&self, _: &[String]) -> Option<(String, String)> {
        None
    }
}

/// The result of compiling one file.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// The file's policies, in source order; empty when there were errors.
    pub policies: Vec<ir::Policy>,
    /// The parsed root file (for the formatter and tools).
    pub syntax: ast::File,
    /// The root file's id in the source map.
    pub root: FileId,
    pub diagnostics: Diagnostics,
    /// Every `allow warning` each policy applied, with what it silenced there.
    pub suppressions: Vec<Suppressed>,
}

/// Deepest chain of includes, or of syscall sets inside sets, that is accepted; real
/// policies nest two or three deep, and the limit keeps the checker's recursion bounded.
pub(crate) const MAX_NESTING: usize = 32;

pub(crate) fn too_deep(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        span,
        format!("{what} nest more than {MAX_NESTING} levels deep"),
    )
    .with_hint("flatten the chain; a few levels are all a policy needs")
}

/// Compile the file `root` of `sources`; imported modules are added to `sources`.
pub fn compile(sources: &mut SourceMap, root: FileId, loader: &dyn ModuleLoader) -> Compiled {
    let text = sources
        .get(root)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    let (file, mut diags) = syntax::parse(root, &text);
    if diags.has_errors() {
        diags.sort();
        return Compiled {
            policies: Vec::new(),
            syntax: file,
            root,
            diagnostics: diags,
            suppressions: Vec::new(),
        };
    }
    let std = stdlib::StdModules::new(loader);
    let modules = modules::load(&file, sources, loader, &std, &mut diags);
    let scope = Scope::build(&file, &modules, std, &mut diags);
    syscalls::check_all_sets(&scope, &mut diags);
    let mut policies = Vec::new();
    let mut tracker = suppress::Tracker::default();
    for item in &file.items {
        if let Item::Policy(block) = item {
            if let Some(p) = check_policy(block, &scope, &mut diags, &mut tracker) {
                policies.push(p);
            }
        }
    }
    tracker.unused(&mut diags);
    diags.sort();
    if diags.has_errors() {
        policies.clear();
    }
    Compiled {
        policies,
        syntax: file,
        root,
        diagnostics: diags,
        suppressions: tracker.applied,
    }
}

/// Every name visible to the root file's policies, one namespace per kind.
pub(crate) struct Scope<'a> {
    pub paths: BTreeMap<&'a str, &'a PathsDecl>,
    pub syscall_sets: BTreeMap<&'a str, &'a SyscallSetDecl>,
    pub blocks: BTreeMap<&'a str, &'a Block>,
    pub tokens: BTreeMap<&'a str, &'a TokenDecl>,
    /// What the standard library provides, for hints.
    pub std: stdlib::StdModules<'a>,
}

impl<'a> Scope<'a> {
    fn build(
        root: &'a ast::File,
        modules: &'a [ast::File],
        std: stdlib::StdModules<'a>,
        diags: &mut Diagnostics,
    ) -> Self {
        let mut s = Scope {
            paths: BTreeMap::new(),
            syscall_sets: BTreeMap::new(),
            blocks: BTreeMap::new(),
            tokens: BTreeMap::new(),
            std,
        };
        for file in modules.iter().chain(std::iter::once(root)) {
            for item in &file.items {
                s.add(item, diags);
            }
        }
        s
    }

    fn add(&mut self, item: &'a Item, diags: &mut Diagnostics) {
        let (name, span, prev) = match item {
            Item::Use(_) => return,
            Item::Paths(p) => (
                &p.name,
                p.span,
                self.paths.insert(&p.name.node, p).map(|o| o.name.span),
            ),
            Item::SyscallSet(s) => (
                &s.name,
                s.span,
                self.syscall_sets
                    .insert(&s.name.node, s)
                    .map(|o| o.name.span),
            ),
            Item::Fragment(b) | Item::Policy(b) => (
                &b.name,
                b.span,
                self.blocks.insert(&b.name.node, b).map(|o| o.name.span),
            ),
            Item::Token(t) => (
                &t.name,
                t.span,
                self.tokens.insert(&t.name.node, t).map(|o| o.name.span),
            ),
        };
        let _ = span;
        if let Some(prev) = prev {
            diags.push(duplicate(&name.node, name.span, prev));
        }
    }
}

pub(crate) fn duplicate(name: &str, span: Span, _previous: Span) -> Diagnostic {
    Diagnostic::new(Code::DuplicateDefinition, span, format!("`{name}` is defined more than once"))
        .with_hint("rename one of the definitions; names of one kind share a namespace across imported modules")
}

/// The diagnostic for a name that is not one of `known`, with the nearest known name (or
/// all of them) as the hint.
pub(crate) fn unknown<'a>(
    code: Code,
    what: &str,
    name: &Spanned<String>,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let hint = match did_you_mean(&name.node, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "expected one of: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Diagnostic::new(
        code,
        name.span,
        format!("unknown {what} `{}`", clip(&name.node)),
    )
    .with_hint(hint)
}

/// Flatten `include`s (depth first, each block once) into one statement list; also the
/// blocks the statements come from (`block` first).
fn flatten<'a>(
    block: &'a Block,
    scope: &Scope<'a>,
    diags: &mut Diagnostics,
) -> (Vec<&'a Stmt>, Vec<&'a Block>) {
    let mut out = Vec::new();
    let mut stack = vec![block.name.node.as_str()];
    let mut done = BTreeSet::new();
    flatten_into(block, scope, diags, &mut out, &mut stack, &mut done);
    let mut blocks = vec![block];
    blocks.extend(
        done.iter()
            .filter_map(|name| scope.blocks.get(name).copied())
            .filter(|b| !std::ptr::eq(*b, block)),
    );
    (out, blocks)
}

fn flatten_into<'a>(
    block: &'a Block,
    scope: &Scope<'a>,
    diags: &mut Diagnostics,
    out: &mut Vec<&'a Stmt>,
    stack: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) {
    for stmt in &block.stmts {
        let Stmt::Include(name) = stmt else {
            out.push(stmt);
            continue;
        };
        let Some(inc) = scope.blocks.get(name.node.as_str()) else {
            let hint = did_you_mean(&name.node, scope.blocks.keys().copied()).map_or_else(
                || "define it with `fragment NAME { ... }` or import it with `use`".to_string(),
                |s| format!("did you mean `{s}`?"),
            );
            diags.push(
                Diagnostic::new(
                    Code::UnknownInclude,
                    name.span,
                    format!("no fragment or policy `{}`", clip(&name.node)),
                )
                .with_hint(hint),
            );
            continue;
        };
        if let Some(pos) = stack.iter().position(|s| *s == inc.name.node) {
            let cycle = stack.get(pos..).unwrap_or_default().join("` -> `");
            diags.push(
                Diagnostic::new(
                    Code::IncludeCycle,
                    name.span,
                    format!("include cycle: `{cycle}` -> `{}`", inc.name.node),
                )
                .with_hint("remove one of the includes in the cycle"),
            );
            continue;
        }
        if stack.len() >= MAX_NESTING {
            diags.push(too_deep(name.span, "includes"));
            continue;
        }
        if !done.insert(inc.name.node.as_str()) {
            continue;
        }
        stack.push(inc.name.node.as_str());
        flatten_into(inc, scope, diags, out, stack, done);
        stack.pop();
    }
}

fn check_policy(
    block: &Block,
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
    tracker: &mut suppress::Tracker,
) -> Option<ir::Policy> {
    let before = diags.0.len();
    let (stmts, blocks) = flatten(block, scope, diags);
    let policy = to_ir::policy(block, &stmts, scope, diags);
    let clean = !diags.0.iter().skip(before).any(Diagnostic::is_error);
    if clean {
        lints::run(&policy, &stmts, &scope.std, diags);
        hazards::run(&policy, &stmts, diags);
    }
    tracker.apply(&policy, &blocks, diags, before, clean);
    Some(policy)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_env;
#[cfg(test)]
mod tests_hints;
#[cfg(test)]
mod tests_lints;
#[cfg(test)]
mod tests_modules;
#[cfg(test)]
mod tests_spellings;
#[cfg(test)]
mod tests_suppress;
