//! Diagnostics and I/O problems, printed to stderr as rustc-like text or JSON lines.

use policyc_compiler::diag::{render_human, render_json};
use policyc_compiler::{Diagnostics, SourceMap};

/// How to print diagnostics (`--error-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    /// Like rustc: the source line with a caret under the problem.
    Human,
    /// One JSON object per line.
    Json,
}

/// Print diagnostics to stderr in the chosen format.
pub fn print_diagnostics(diags: &Diagnostics, sources: &SourceMap, format: ErrorFormat) {
    for d in diags.iter() {
        match format {
            ErrorFormat::Human => eprintln!("{}", render_human(d, sources)),
            ErrorFormat::Json => eprintln!("{}", render_json(d, sources)),
        }
    }
}

/// Print an I/O problem with one file.
pub fn print_io_error(
    path: &std::path::Path,
    what: &str,
    err: &std::io::Error,
    format: ErrorFormat,
) {
    print_file_error(
        path,
        &format!("cannot {what} `{}`: {err}", path.display()),
        None,
        format,
    );
}

/// Print a problem with one file that no policy span explains, at a `line:col` when known.
pub fn print_file_error(
    path: &std::path::Path,
    message: &str,
    at: Option<(usize, usize)>,
    format: ErrorFormat,
) {
    let file = path.display().to_string();
    match (format, at) {
        (ErrorFormat::Human, Some((line, col))) => {
            eprintln!("error: {message}\n --> {file}:{line}:{col}");
        }
        (ErrorFormat::Human, None) => eprintln!("error: {message}"),
        (ErrorFormat::Json, _) => {
            let mut v = serde_json::json!({ "code": "io", "severity": "error", "message": message, "file": file });
            if let (Some((line, col)), Some(obj)) = (at, v.as_object_mut()) {
                obj.insert("line".into(), line.into());
                obj.insert("column".into(), col.into());
            }
            eprintln!("{v}");
        }
    }
}

/// Print a problem with the command line that no file or span explains.
pub fn print_usage_error(message: &str, format: ErrorFormat) {
    match format {
        ErrorFormat::Human => eprintln!("error: {message}"),
        ErrorFormat::Json => eprintln!(
            "{}",
            serde_json::json!({ "code": "usage", "severity": "error", "message": message })
        ),
    }
}
