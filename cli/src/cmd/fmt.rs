//! `policyc fmt`: rewrite policy files in canonical form, keeping comments.

use crate::inputs;
use crate::output::{print_diagnostics, ErrorFormat, Status};
use policyc_compiler::{fmt::format as canonical, syntax, SourceMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Format policy files canonically (in place, or report with --check).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to format.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let Ok(files) = inputs::collect(&args.paths, format) else {
        return Status::Usage;
    };
    let mut status = Status::Ok;
    let mut unformatted = 0usize;
    let mut blank = 0;
    for f in &files {
        let Some(text) = inputs::read(f, format) else {
            status = status.max(Status::Usage);
            continue;
        };
        if inputs::is_blank(&text) {
            blank += 1;
        }
        let mut sources = SourceMap::new();
        let id = sources.add(inputs::display(f), text.clone());
        let (file, diags) = syntax::parse(id, &text);
        if diags.has_errors() {
            print_diagnostics(&diags, &sources, format);
            status = status.max(Status::Failed);
            continue;
        }
        let pretty = canonical(&file, &text);
        if pretty == text {
            continue;
        }
        if args.check {
            unformatted += 1;
            println!("{}", inputs::display(f));
            status = status.max(Status::Failed);
        } else if let Err(e) = write_atomically(f, &pretty) {
            crate::output::print_io_error(f, "write", &e, format);
            status = status.max(Status::Usage);
        }
    }
    if blank == files.len() {
        inputs::print_nothing_in(&args.paths, format);
        return Status::Usage;
    }
    if args.check && unformatted > 0 {
        let message = format!(
            "{unformatted} file{} not formatted; run `policyc fmt` on them",
            super::check::plural(unformatted)
        );
        crate::output::print_message(
            format,
            &message,
            "fmt",
            crate::output::Level::Error,
            &message,
            &[],
        );
    }
    status
}

/// Write to a temporary file beside `path`, then rename over it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.policyc-tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path)
}
