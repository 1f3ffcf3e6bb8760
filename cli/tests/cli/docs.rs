//! Every policy block in README.md and the book is what `policyc fmt` prints, so a reader
//! who copies one gets a file `policyc fmt --check` accepts.
//!
//! A block is a whole file, or a fragment of a policy body (`net { ... }`), or a fragment of
//! a `syscalls` block (`allow socket if arg0 == 1`) or of a test block: each is formatted inside the smallest
//! wrapper that makes it parse, and compared without it. Only the error index may hold
//! blocks that do not parse at all: they show syntax errors.

use super::{policyc, scratch, stderr};
use std::path::{Path, PathBuf};

/// The wrappers tried in turn, with the indentation their body gets.
const WRAPPERS: [(&str, &str, &str); 4] = [
    ("", "", ""),
    ("policy p {\n", "}\n", "    "),
    ("policy p {\n    syscalls {\n", "    }\n}\n", "        "),
    ("policy p {\n    test \"t\" {\n", "    }\n}\n", "        "),
];

struct Block {
    file: PathBuf,
    line: usize,
    text: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut dirs = vec![repo().join("book/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The ```` ```policy ```` blocks of one markdown file.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut open {
            None if line == "```policy" => open = Some((i + 2, String::new())),
            Some((start, body)) if line == "```" => {
                out.push(Block {
                    file: file.to_path_buf(),
                    line: *start,
                    text: std::mem::take(body),
                });
                open = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// `policyc fmt` of `text` in `dir`, or `None` when it does not parse.
fn format(dir: &Path, text: &str) -> Option<String> {
    let path = dir.join("block.policy");
    std::fs::write(&path, text).unwrap();
    let out = policyc(&["fmt", "block.policy"], dir);
    match out.status.code() {
        Some(0) => Some(std::fs::read_to_string(&path).unwrap()),
        Some(1) => None,
        _ => panic!("policyc fmt failed unexpectedly:\n{}", stderr(&out)),
    }
}

/// The block formatted inside the first wrapper that parses, with the wrapper removed.
fn canonical(dir: &Path, text: &str) -> Option<String> {
    WRAPPERS.iter().find_map(|(pre, post, indent)| {
        let body: String = text
            .lines()
            .map(|l| {
                if l.trim().is_empty() {
                    "\n".to_string()
                } else {
                    format!("{indent}{l}\n")
                }
            })
            .collect();
        let formatted = format(dir, &format!("{pre}{body}{post}"))?;
        let lines: Vec<&str> = formatted.lines().collect();
        let inner = lines.get(pre.lines().count()..lines.len() - post.lines().count())?;
        Some(
            inner
                .iter()
                .map(|l| format!("{}\n", l.strip_prefix(indent).unwrap_or(l)))
                .collect(),
        )
    })
}

#[test]
fn every_policy_block_in_the_readme_and_the_book_is_fmt_clean() {
    let dir = scratch("docs-fmt");
    let (mut checked, mut unformatted, mut unparsed) = (0, Vec::new(), Vec::new());
    for file in markdown_files() {
        for block in blocks(&file) {
            let at = format!(
                "{}:{}",
                block.file.strip_prefix(repo()).unwrap().display(),
                block.line
            );
            checked += 1;
            match canonical(&dir, &block.text) {
                Some(pretty) if pretty == block.text => {}
                Some(pretty) => unformatted.push(format!("{at}: should read\n{pretty}")),
                None if block.file.ends_with("errors.md") => unparsed.push(at),
                None => unformatted.push(format!("{at}: does not parse")),
            }
        }
    }
    assert!(checked > 50, "only {checked} policy blocks found");
    assert!(
        unformatted.is_empty(),
        "{} of {checked} policy blocks are not fmt-clean:\n{}",
        unformatted.len(),
        unformatted.join("\n")
    );
    // The error index shows three syntax errors (P0001, P0002, P0003) as written.
    assert_eq!(unparsed.len(), 3, "{unparsed:?}");
}

/// The sections of the book that map each adversarial case to the tests that cover it.
const CASE_TABLES: [(&str, &str); 2] = [
    ("book/src/egress.md", "## Leak classes and their tests"),
    (
        "book/src/tokens.md",
        "## Token and audit cases and their tests",
    ),
];

/// The text of the section headed `heading` in `file` (up to the next `## `).
fn section(file: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let start = text
        .find(&format!("{heading}\n"))
        .unwrap_or_else(|| panic!("{file} has no `{heading}`"));
    let body = &text[start + heading.len()..];
    let end = body.find("\n## ").unwrap_or(body.len());
    body[..end].to_string()
}

/// Whether `source` defines `fn name(` as a test (`#[test]` among the lines just before).
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        l.trim_start().starts_with(&format!("fn {name}("))
            && lines[i.saturating_sub(3)..i]
                .iter()
                .any(|p| p.trim() == "#[test]")
    })
}

#[test]
fn every_adversarial_case_in_the_book_names_tests_that_exist() {
    let mut cases = std::collections::BTreeSet::new();
    let (mut named, mut missing) = (0, Vec::new());
    for (file, heading) in CASE_TABLES {
        for row in section(file, heading)
            .lines()
            .filter(|l| l.starts_with('|'))
        {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if let Some(n) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) {
                cases.insert(n);
            }
            let last = cells.iter().rev().find(|c| !c.is_empty()).unwrap();
            for name in last.split('`').skip(1).step_by(2) {
                let Some((path, function)) = name.split_once("::") else {
                    continue;
                };
                named += 1;
                let source = std::fs::read_to_string(repo().join(path)).unwrap_or_default();
                if !defines_test(&source, function) {
                    missing.push(format!("{file}: `{name}`"));
                }
            }
        }
    }
    assert_eq!(
        cases.into_iter().collect::<Vec<_>>(),
        (1..=15).collect::<Vec<_>>(),
        "every case of the adversarial list has a row"
    );
    assert!(named >= 15, "only {named} tests named");
    assert!(
        missing.is_empty(),
        "the book names tests that do not exist:\n{}",
        missing.join("\n")
    );
}
