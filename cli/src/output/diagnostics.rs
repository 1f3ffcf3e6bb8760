//! Diagnostics and every other message policyc writes to stderr, as rustc-like text or as
//! JSON lines.
//!
//! With `--error-format json` every line policyc itself writes to stderr is one JSON object
//! with at least `code`, `severity` and `message` (and `file` when a file is the problem):
//! nothing else in the CLI writes to stderr directly. Human diagnostics are coloured only
//! when stderr is a terminal and `NO_COLOR` is unset.

use policyc_compiler::diag::{render_human, render_human_styled, render_json};
use policyc_compiler::{Diagnostics, SourceMap};
use serde_json::{Map, Value};
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::OnceLock;

/// How to print diagnostics (`--error-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    /// Like rustc: the source line with a caret under the problem.
    Human,
    /// One JSON object per line.
    Json,
}

/// The `--error-format` of this run, for messages printed far from the command's arguments.
static FORMAT: OnceLock<ErrorFormat> = OnceLock::new();

/// Record the run's `--error-format` (once, at start-up).
pub fn set_error_format(format: ErrorFormat) {
    let _ = FORMAT.set(format);
}

/// The run's `--error-format` (human until set).
pub fn error_format() -> ErrorFormat {
    FORMAT.get().copied().unwrap_or(ErrorFormat::Human)
}

/// How serious a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    /// Information: what was done, or a limit the run reports.
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// Print diagnostics to stderr in the chosen format.
pub fn print_diagnostics(diags: &Diagnostics, sources: &SourceMap, format: ErrorFormat) {
    let styled = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in diags.iter() {
        match format {
            ErrorFormat::Human if styled => eprintln!("{}", render_human_styled(d, sources)),
            ErrorFormat::Human => eprintln!("{}", render_human(d, sources)),
            ErrorFormat::Json => eprintln!("{}", render_json(d, sources)),
        }
    }
}

/// Print a message: `human` as it is, or a JSON object of `code`, `severity`, `message` and
/// `fields` (such as `file`, `line`, `hint`).
pub fn print_message(
    format: ErrorFormat,
    human: &str,
    code: &str,
    level: Level,
    message: &str,
    fields: &[(&str, Value)],
) {
    match format {
        ErrorFormat::Human => eprintln!("{human}"),
        ErrorFormat::Json => {
            let mut obj = Map::new();
            obj.insert("code".into(), code.into());
            obj.insert("severity".into(), level.as_str().into());
            obj.insert("message".into(), message.into());
            for (k, v) in fields {
                obj.insert((*k).to_string(), v.clone());
            }
            eprintln!("{}", Value::Object(obj));
        }
    }
}

/// Print a message in the run's format; its human form is `prefix` then `message`.
pub fn say(prefix: &str, code: &str, level: Level, message: &str) {
    print_message(
        error_format(),
        &format!("{prefix}{message}"),
        code,
        level,
        message,
        &[],
    );
}

/// Print a problem with a stable code (`P1605`) and a hint, in the run's format, located in
/// `file` (at `line` when known) if given:
/// `error[CODE]: [file:line: ]message` and `  = hint: ...`.
pub fn print_coded(
    code: &str,
    message: &str,
    hint: Option<&str>,
    file: Option<&Path>,
    line: Option<usize>,
    format: ErrorFormat,
) {
    let place = match (file, line) {
        (Some(f), Some(l)) => format!("{}:{l}: ", f.display()),
        (Some(f), None) => format!("{}: ", f.display()),
        _ => String::new(),
    };
    let mut human = format!("error[{code}]: {place}{message}");
    if let Some(h) = hint {
        human.push_str(&format!("\n  = hint: {h}"));
    }
    let mut fields = Vec::new();
    if let Some(f) = file {
        fields.push(("file", Value::from(f.display().to_string())));
    }
    if let Some(l) = line {
        fields.push(("line", Value::from(l)));
    }
    fields.push(("hint", hint.map_or(Value::Null, Value::from)));
    print_message(format, &human, code, Level::Error, message, &fields);
}

/// Print an I/O problem with one file.
pub fn print_io_error(path: &Path, what: &str, err: &std::io::Error, format: ErrorFormat) {
    print_file_error(
        path,
        &format!("cannot {what} `{}`: {err}", path.display()),
        None,
        format,
    );
}

/// Print a problem with one file that no policy span explains, at a `line:col` when known.
pub fn print_file_error(
    path: &Path,
    message: &str,
    at: Option<(usize, usize)>,
    format: ErrorFormat,
) {
    let file = path.display().to_string();
    let human = match at {
        Some((line, col)) => format!("error: {message}\n --> {file}:{line}:{col}"),
        None => format!("error: {message}"),
    };
    let mut fields = vec![("file", Value::from(file))];
    if let Some((line, col)) = at {
        fields.push(("line", line.into()));
        fields.push(("column", col.into()));
    }
    print_message(format, &human, "io", Level::Error, message, &fields);
}

/// Print a problem with the command line that no file or span explains.
pub fn print_usage_error(message: &str, format: ErrorFormat) {
    print_message(
        format,
        &format!("error: {message}"),
        "usage",
        Level::Error,
        message,
        &[],
    );
}
