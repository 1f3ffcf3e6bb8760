//! One file per subcommand: its clap arguments and one `run` function.

pub mod build;
pub mod check;
pub mod diff;
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
use policyc_compiler::{compile, Compiled, SourceMap};
use policyc_targets::EmitContext;
use std::path::{Path, PathBuf};

/// Read and compile one file, printing its diagnostics. `None` when it could not be read.
pub(crate) fn compile_file(path: &Path, format: ErrorFormat) -> Option<(Compiled, SourceMap)> {
    let text = inputs::read(path, format)?;
    let mut sources = SourceMap::new();
    let id = sources.add(inputs::display(path), text);
    let out = compile(&mut sources, id, &inputs::StdLoader);
    print_diagnostics(&out.diagnostics, &sources, format);
    Some((out, sources))
}

/// `--home`, for the subcommands that check the artifacts they build (`test`, `fuzz`).
#[derive(Debug, clap::Args)]
pub(crate) struct Home {
    /// The home directory `~` stands for in the simulated artifacts.
    #[arg(long, default_value = "/home/user")]
    home: String,
}

impl Home {
    /// The home directory given.
    pub(crate) fn as_str(&self) -> &str {
        &self.home
    }

    /// The emit context for this home.
    pub(crate) fn ctx(&self) -> EmitContext {
        EmitContext {
            home: Some(self.home.clone()),
        }
    }
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
/// without errors, the file's source map and its text. `Err` when the paths could not be
/// listed (that error is printed).
pub(crate) fn each_policy(
    paths: &[PathBuf],
    format: ErrorFormat,
    mut each: impl FnMut(&Policy, &SourceMap, &str),
) -> Result<Skipped, ()> {
    let files = inputs::collect(paths, format)?;
    let mut skipped = Skipped::default();
    for f in &files {
        let Some((out, sources)) = compile_file(f, format) else {
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
        let source = sources
            .get(out.root)
            .map(|s| s.text.clone())
            .unwrap_or_default();
        for policy in &out.policies {
            each(policy, &sources, &source);
        }
    }
    Ok(skipped)
}
