//! One file per subcommand: its clap arguments and one `run` function.

pub mod audit;
pub mod build;
pub mod check;
pub mod diff;
pub mod diff_artifacts;
mod diff_builds;
mod diff_effect;
mod diff_effect_render;
pub mod exec;
pub mod explain;
pub mod fmt;
pub mod fuzz;
pub mod import;
pub mod test;
pub mod token;

use crate::inputs;
use crate::output::{print_diagnostics, ErrorFormat, Status};
use policyc_compiler::ir::Policy;
use policyc_compiler::{compile, Compiled, ModuleLoader, SourceMap};
use policyc_targets::EmitContext;
use std::path::{Path, PathBuf};

/// Read and compile one file, printing its diagnostics. `None` when it (or its project
/// file) could not be read.
pub(crate) fn compile_file(path: &Path, format: ErrorFormat) -> Option<(Compiled, SourceMap)> {
    compile_file_with(path, format, false).map(|(out, sources, _)| (out, sources))
}

/// [`compile_file`], printing only the errors when `quiet`, and also returning the module
/// loader it used.
pub(crate) fn compile_file_with(
    path: &Path,
    format: ErrorFormat,
    quiet: bool,
) -> Option<(Compiled, SourceMap, crate::libs::Loader)> {
    let text = inputs::read(path, format)?;
    let loader = inputs::loader(path, format)?;
    let mut sources = SourceMap::new();
    let id = sources.add(inputs::display(path), text);
    let out = compile(&mut sources, id, &loader);
    if quiet {
        let mut errors = policyc_compiler::Diagnostics::default();
        for d in out.diagnostics.iter().filter(|d| d.is_error()) {
            errors.push(d.clone());
        }
        print_diagnostics(&errors, &sources, format);
    } else {
        print_diagnostics(&out.diagnostics, &sources, format);
    }
    Some((out, sources, loader))
}

/// `--home`, the home directory `~` stands for. Every subcommand takes it with the same
/// default: `$HOME`, or [`DEFAULT_HOME`] when that is unset or empty.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Home {
    /// The home directory `~` stands for (default: $HOME, or /home/user when $HOME is
    /// unset). Give it for byte-identical artifacts across machines.
    #[arg(long, value_name = "DIR")]
    home: Option<String>,
}

/// The home directory when neither `--home` nor `$HOME` names one.
pub(crate) const DEFAULT_HOME: &str = "/home/user";

impl Home {
    /// The home directory: `--home`, else `$HOME`, else [`DEFAULT_HOME`].
    pub(crate) fn get(&self) -> String {
        self.home
            .clone()
            .or_else(|| std::env::var("HOME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOME.to_string())
    }

    /// The emit context for this home.
    pub(crate) fn ctx(&self) -> EmitContext {
        EmitContext {
            home: Some(self.get()),
        }
    }
}

/// `--deny-warnings`: a warning fails the run (exit 1), for CI.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct DenyWarnings {
    /// Fail (exit 1) when the checker reports any warning, as for an error. Warnings
    /// allowed with `allow warning CODE "reason"` in the policy do not count.
    #[arg(long)]
    deny_warnings: bool,
}

impl DenyWarnings {
    /// True when `warnings` warnings fail the run; then says so.
    pub(crate) fn fails(self, warnings: usize, format: ErrorFormat) -> bool {
        if !self.deny_warnings || warnings == 0 {
            return false;
        }
        let message = format!(
            "{warnings} warning{} and `--deny-warnings`: fix {}, or allow {} with `allow warning CODE \"reason\"` before the rule",
            if warnings == 1 { "" } else { "s" },
            if warnings == 1 { "it" } else { "them" },
            if warnings == 1 { "it" } else { "each" },
        );
        crate::output::print_message(
            format,
            &format!("error: {message}"),
            "deny-warnings",
            crate::output::Level::Error,
            &message,
            &[],
        );
        true
    }
}

/// Warnings among `diags`.
pub(crate) fn warnings(diags: &policyc_compiler::Diagnostics) -> usize {
    diags
        .iter()
        .filter(|d| d.severity == policyc_compiler::Severity::Warning)
        .count()
}

/// The input files a policy-checking subcommand could not use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Skipped {
    /// Files that could not be read.
    pub unreadable: usize,
    /// Files that compiled with errors.
    pub broken: usize,
    /// Each of those files as the command line names it, and why it was skipped.
    pub files: Vec<(String, &'static str)>,
    /// Warnings the checker reported in the files that compiled.
    pub warnings: usize,
}

impl Skipped {
    /// `Usage` when some file could not be read.
    pub(crate) fn status(&self) -> Status {
        if self.unreadable > 0 {
            Status::Usage
        } else {
            Status::Ok
        }
    }
}

/// For the subcommands that check policies (`test`, `fuzz`): compile each input file in turn,
/// printing its diagnostics, and call `each` with every policy of the files that compile
/// without errors, the file's source map, its text and the module loader it compiled with.
/// A file with a `~/...` path too long once `~` is `home` (P0204, as `check` and `build`
/// report it) has errors too. `Err` when the paths could not be listed (that error is
/// printed).
pub(crate) fn each_policy(
    paths: &[PathBuf],
    home: &str,
    format: ErrorFormat,
    mut each: impl FnMut(&Policy, &SourceMap, &str, &dyn ModuleLoader),
) -> Result<Skipped, ()> {
    let files = inputs::collect(paths, format)?;
    let mut skipped = Skipped::default();
    for f in &files {
        let Some((out, sources, loader)) = compile_file_with(f, format, false) else {
            skipped.unreadable += 1;
            skipped
                .files
                .push((inputs::display(f), "the file could not be read"));
            continue;
        };
        if out.diagnostics.has_errors() {
            skipped.broken += 1;
            skipped.files.push((
                inputs::display(f),
                "the file has errors (see the diagnostics); none of its policies was tested",
            ));
            continue;
        }
        let long = home_lengths(&out.policies, home);
        if !long.is_empty() {
            print_diagnostics(&long, &sources, format);
            skipped.broken += 1;
            skipped.files.push((
                inputs::display(f),
                "the file has errors (see the diagnostics); none of its policies was tested",
            ));
            continue;
        }
        skipped.warnings += warnings(&out.diagnostics);
        let source = sources
            .get(out.root)
            .map(|s| s.text.clone())
            .unwrap_or_default();
        for policy in &out.policies {
            each(policy, &sources, &source, &loader);
        }
    }
    Ok(skipped)
}

/// P0204 for every `~/...` path of `policies` that is too long once `~` is `home`, sorted:
/// the error `check` and `build` report on the path, before any target fails to emit it.
pub(crate) fn home_lengths(policies: &[Policy], home: &str) -> policyc_compiler::Diagnostics {
    let mut found = policyc_compiler::Diagnostics::default();
    for p in policies {
        found.extend(policyc_compiler::check_home_lengths(p, home));
    }
    found.sort();
    found
}
