//! Finding and reading policy files, and the module loader for `use`.

use crate::output::{print_file_error, print_io_error, print_usage_error, ErrorFormat};
use std::path::{Path, PathBuf};

/// Policy files named on the command line: files as given, directories searched for
/// `*.policy` files (recursively, sorted, symlinks not followed). Finding no file at all is
/// an error (a mistyped path in CI must not pass as "nothing wrong").
pub fn collect(paths: &[PathBuf], format: ErrorFormat) -> Result<Vec<PathBuf>, ()> {
    let mut out = Vec::new();
    let mut ok = true;
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                if let Err(e) = walk(p, &mut out) {
                    print_io_error(p, "read directory", &e, format);
                    ok = false;
                }
            }
            Ok(_) => out.push(p.clone()),
            Err(e) => {
                print_io_error(p, "read", &e, format);
                ok = false;
            }
        }
    }
    out.sort();
    out.dedup();
    if ok && out.is_empty() {
        print_usage_error(
            &format!("no `.policy` file found in {}", shown(paths)),
            format,
        );
        return Err(());
    }
    if ok {
        Ok(out)
    } else {
        Err(())
    }
}

/// True when a policy file holds nothing but blank lines and `#` comments.
pub fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// The usage error for inputs that hold no policy or fragment at all: a wrong path in CI
/// must not pass as "nothing wrong".
pub fn print_nothing_in(paths: &[PathBuf], format: ErrorFormat) {
    print_usage_error(
        &format!(
            "no policy or fragment in {}: the files hold only blank lines and comments",
            shown(paths)
        ),
        format,
    );
}

/// The paths as the command line gave them: `a`, `b`.
pub fn shown(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", display(p))).collect();
    shown.join(", ")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let ty = e.file_type()?;
        let path = e.path();
        if ty.is_dir() {
            walk(&path, out)?;
        } else if ty.is_file() && path.extension().is_some_and(|x| x == "policy") {
            out.push(path);
        }
    }
    Ok(())
}

/// Read a policy file as UTF-8.
pub fn read(path: &Path, format: ErrorFormat) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                let (offset, line, col) = utf8_error_at(e.as_bytes(), e.utf8_error());
                let byte = e.as_bytes().get(offset).copied().unwrap_or_default();
                let message = format!(
                    "cannot read `{}`: not UTF-8 text: byte {byte:#04x} at offset {offset} (line {line}, column {col}) starts no UTF-8 character; policy files are UTF-8",
                    path.display()
                );
                print_file_error(path, &message, Some((line, col)), format);
                None
            }
        },
        Err(e) => {
            print_io_error(path, "read", &e, format);
            None
        }
    }
}

/// The byte offset of the first invalid UTF-8 sequence, and its 1-based line and column
/// (in characters of the valid text before it).
fn utf8_error_at(bytes: &[u8], err: std::str::Utf8Error) -> (usize, usize, usize) {
    let offset = err.valid_up_to();
    let valid = std::str::from_utf8(bytes.get(..offset).unwrap_or_default()).unwrap_or_default();
    let line = valid.matches('\n').count() + 1;
    let col = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (offset, line, col)
}

/// The module loader for the policy file at `path`: the standard library, and the module
/// paths of its `policyc.toml` and `--lib`. `None` when the project file is broken (that
/// error is printed).
pub fn loader(path: &Path, format: ErrorFormat) -> Option<crate::libs::Loader> {
    match crate::libs::loader_for(path) {
        Ok(l) => Some(l),
        Err(e) => {
            print_file_error(&e.file, &e.message, e.at, format);
            None
        }
    }
}

/// A display name for a path: as given on the command line, so output does not depend on
/// the machine's directory layout.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
