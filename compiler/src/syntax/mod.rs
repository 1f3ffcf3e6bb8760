//! Text to syntax tree. The only module that sees pest types: [`parse`] returns an
//! [`ast::File`](crate::ast::File) and diagnostics, never a pest pair or error.

mod comments;
mod to_ast;

use crate::ast;
use crate::diag::{clip, did_you_mean, Code, Diagnostic, Diagnostics};
use crate::span::{FileId, Span};
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/policy.pest"]
struct PolicyParser;

/// The grammar's `keyword` rule: words that are never a plain identifier (a policy,
/// fragment or token name). Tools that write policies check names against it.
pub const KEYWORDS: &[&str] = &[
    "use",
    "paths",
    "syscalls",
    "fragment",
    "policy",
    "isolation",
    "threats",
    "data",
    "include",
    "fs",
    "net",
    "token",
    "limits",
    "audit",
    "test",
    "allow",
    "deny",
    "default",
    "egress",
    "dns",
    "audience",
    "scope",
    "ttl",
    "approval",
    "scratch",
    "tmpfs",
];

/// Files larger than this are rejected before parsing (a policy is a few kilobytes).
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// Deepest bracket nesting accepted; the grammar never needs more than four.
const MAX_NESTING: usize = 64;

/// Parse one file. On a syntax error the file is empty and the diagnostics say why.
pub fn parse(file: FileId, text: &str) -> (ast::File, Diagnostics) {
    let mut diags = Diagnostics::default();
    if let Some(d) = precheck(file, text) {
        diags.push(d);
        return (ast::File::default(), diags);
    }
    match PolicyParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut builder = to_ast::AstBuilder::new(file, &mut diags);
            let items = pairs.next().map(|p| builder.file(p)).unwrap_or_default();
            let comments = comments::collect(file, text);
            (ast::File { items, comments }, diags)
        }
        Err(e) => {
            diags.push(syntax_error(file, text, &e));
            (ast::File::default(), diags)
        }
    }
}

/// Reject inputs that are too large or nested too deeply before pest sees them, so no
/// input can exhaust the stack or take unbounded time.
fn precheck(file: FileId, text: &str) -> Option<Diagnostic> {
    if text.len() > MAX_SOURCE_BYTES {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                Span::new(file, 0, 0),
                format!(
                    "file is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                    text.len()
                ),
            )
            .with_hint("split the policy into several files"),
        );
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        match (in_comment, in_string, c) {
            (true, _, '\n') => in_comment = false,
            (true, _, _) => {}
            (false, true, _) if escaped => escaped = false,
            (false, true, '\\') => escaped = true,
            (false, true, '"') => in_string = false,
            (false, true, _) => {}
            (false, false, '"') => in_string = true,
            (false, false, '#') => in_comment = true,
            (false, false, '{' | '(') => depth += 1,
            (false, false, '}' | ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    Span::new(file, i, i + 1),
                    format!("brackets nest deeper than {MAX_NESTING} levels"),
                )
                .with_hint("policies never nest more than a few blocks deep"),
            );
        }
    }
    None
}

fn syntax_error(file: FileId, text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match e.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    // Point at the whole offending token where there is one.
    let end = if end > start {
        end
    } else {
        start
            + text.get(start..).map_or(0, |rest| {
                rest.chars()
                    .take_while(|c| !c.is_whitespace())
                    .map(char::len_utf8)
                    .sum::<usize>()
                    .max(1)
                    .min(rest.len())
            })
    };
    let found = text.get(start..end).filter(|s| !s.is_empty()).map_or_else(
        || "end of file".to_string(),
        |s| format!("`{}`", clip(&s.replace(|c: char| c.is_control(), " "))),
    );
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let suggestion = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            misspelt_keyword(text.get(start..).unwrap_or_default(), positives)
        }
        pest::error::ErrorVariant::CustomError { .. } => None,
    };
    let hint = suggestion.map_or_else(
        || hint_for(&expected).to_string(),
        |k| format!("did you mean `{k}`?"),
    );
    Diagnostic::new(Code::Syntax, Span::new(file, start, end), message).with_hint(hint)
}

/// The keyword the word at the start of `rest` is a misspelling of, among the keywords
/// that start the rules the parser expected there.
fn misspelt_keyword(rest: &str, expected: &[Rule]) -> Option<String> {
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let word = rest.get(..len).filter(|w| !w.is_empty())?;
    let mut keywords: Vec<&str> = expected
        .iter()
        .flat_map(|r| keywords_of(*r))
        .copied()
        .collect();
    keywords.sort_unstable();
    keywords.dedup();
    if keywords.contains(&word) {
        return None;
    }
    did_you_mean(word, keywords)
}

/// The keywords a rule can start with (none for rules that start with a value).
fn keywords_of(rule: Rule) -> &'static [&'static str] {
    match rule {
        // Where an item may start, pest names only the first alternatives it tried.
        Rule::file | Rule::EOI => &["use", "paths", "syscalls", "fragment", "policy", "token"],
        Rule::use_decl => &["use"],
        Rule::paths_decl => &["paths"],
        Rule::sysset_decl | Rule::syscalls_block => &["syscalls"],
        Rule::fragment_decl => &["fragment"],
        Rule::policy_decl => &["policy"],
        Rule::token_decl => &["token"],
        Rule::isolation_stmt => &["isolation"],
        Rule::threats_stmt => &["threats"],
        Rule::data_stmt => &["data"],
        Rule::include_stmt => &["include"],
        Rule::fs_block => &["fs"],
        Rule::net_block => &["net"],
        Rule::limits_block => &["limits"],
        Rule::audit_block => &["audit"],
        Rule::test_block => &["test"],
        Rule::fs_mount | Rule::fs_access | Rule::req_fs => &["read", "write", "exec"],
        Rule::fs_scratch => &["scratch"],
        Rule::fs_tmpfs => &["tmpfs"],
        Rule::fs_deny | Rule::egress_deny => &["deny"],
        Rule::egress_none | Rule::egress_proxy | Rule::egress_direct => &["egress"],
        Rule::dns_stmt => &["dns"],
        Rule::egress_allow => &["allow"],
        Rule::audience => &["audience"],
        Rule::scope => &["scope"],
        Rule::ttl => &["ttl"],
        Rule::approval => &["approval"],
        Rule::sys_default => &["default"],
        Rule::sys_allow => &["allow"],
        Rule::sys_deny => &["deny"],
        Rule::expectation | Rule::verdict => &["allow", "deny"],
        Rule::req_connect => &["connect"],
        Rule::req_resolve => &["resolve"],
        Rule::req_syscall => &["syscall"],
        Rule::dns_mode => &["none", "allow-listed-only", "any"],
        Rule::approval_mode => &["required", "none"],
        Rule::action | Rule::action_errno | Rule::action_kill => &["errno", "kill"],
        Rule::condition => &["if"],
        _ => &[],
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn hint_for(expected: &[&str]) -> &'static str {
    if expected.contains(&"a statement") {
        "a policy body holds isolation, threats, data, include, fs, net, token, syscalls, limits, audit and test statements"
    } else if expected.contains(&"a string") {
        "paths and hosts are written in double quotes"
    } else if expected.contains(&"an item") {
        "a file holds `use`, `paths`, `syscalls`, `token`, `fragment` and `policy` items"
    } else {
        "see the language reference in the book"
    }
}

/// Human names for the rules that can appear in "expected ..." messages.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI
        | Rule::use_decl
        | Rule::paths_decl
        | Rule::sysset_decl
        | Rule::fragment_decl
        | Rule::policy_decl
        | Rule::docs => "an item",
        Rule::isolation_stmt
        | Rule::threats_stmt
        | Rule::data_stmt
        | Rule::include_stmt
        | Rule::fs_block
        | Rule::net_block
        | Rule::token_decl
        | Rule::syscalls_block
        | Rule::limits_block
        | Rule::audit_block
        | Rule::test_block => "a statement",
        Rule::fs_mount | Rule::fs_scratch | Rule::fs_tmpfs | Rule::fs_deny | Rule::fs_access => {
            "a filesystem rule"
        }
        Rule::egress_none | Rule::egress_proxy | Rule::egress_direct | Rule::dns_stmt => {
            "a network rule"
        }
        Rule::egress_allow | Rule::egress_deny => "`allow` or `deny`",
        Rule::audience | Rule::scope | Rule::ttl | Rule::approval => "a token field",
        Rule::sys_default | Rule::sys_allow | Rule::sys_deny => "a syscall rule",
        Rule::expectation | Rule::verdict => "`allow` or `deny`",
        Rule::req_fs | Rule::req_connect | Rule::req_resolve | Rule::req_syscall => "a request",
        Rule::string => "a string",
        Rule::ident | Rule::raw_ident | Rule::sys_name => "a name",
        Rule::ident_list => "a list of names",
        Rule::int | Rule::port => "a number",
        Rule::decimal => "a number",
        Rule::size | Rule::size_num => "a size like `64MiB`",
        Rule::size_unit => "a size unit (B, KiB, MiB, GiB, TiB)",
        Rule::duration | Rule::dur_num => "a duration like `5m`",
        Rule::dur_unit => "a duration unit (ms, s, m, h, d)",
        Rule::dns_mode => "`none`, `allow-listed-only` or `any`",
        Rule::approval_mode => "`required` or `none`",
        Rule::action | Rule::action_errno | Rule::action_kill => "`errno NAME` or `kill`",
        Rule::condition => "`if`",
        Rule::arg_cmp | Rule::arg => "an argument like `arg0`",
        Rule::cmp_op => "a comparison",
        Rule::module_path => "a module path",
        Rule::endpoint => "a host",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
