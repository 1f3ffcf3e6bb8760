//! One file per subcommand: its clap arguments and one `run` function.

pub mod build;
pub mod check;
pub mod exec;
pub mod fmt;
pub mod fuzz;
pub mod test;

use crate::inputs;
use crate::output::{print_diagnostics, ErrorFormat, Status};
use policyc_compiler::{compile, Compiled, SourceMap};
use std::path::Path;

/// Read and compile one file, printing its diagnostics. `None` when it could not be read.
pub(crate) fn compile_file(path: &Path, format: ErrorFormat) -> Option<(Compiled, SourceMap)> {
    let text = inputs::read(path, format)?;
    let mut sources = SourceMap::new();
    let id = sources.add(inputs::display(path), text);
    let out = compile(&mut sources, id, &inputs::StdLoader);
    print_diagnostics(&out.diagnostics, &sources, format);
    Some((out, sources))
}

/// The status for a file's compilation.
pub(crate) fn status_of(out: &Compiled) -> Status {
    if out.diagnostics.has_errors() {
        Status::Failed
    } else {
        Status::Ok
    }
}
