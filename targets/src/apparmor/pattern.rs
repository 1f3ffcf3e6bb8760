//! Path patterns: how a path is written into a profile, read back, and matched.
//!
//! **Writing.** Every path is a double-quoted string. A byte is written
//! - with a backslash when AppArmor's globbing gives it a meaning: `*` `?` `[` `]` `{` `}`
//!   `,` `^` (`\*` is a literal star, `\{` a literal brace, ...);
//! - as a three-digit octal escape `\ooo` when it is `\`, `"`, a control byte, DEL or not
//!   ASCII. The parser turns an octal escape into the byte and escapes it again when it is
//!   special (`\134` is a literal backslash), so it stays literal;
//! - as itself otherwise (printable ASCII), including space, `#` (not a comment inside
//!   quotes), `@` (a variable is `@{`, and `{` is always escaped, so `@` never starts one)
//!   and `$`.
//!
//! So a quoted string policyc writes holds no `"` and no backslash other than the one that
//! starts an escape. That matters: `apparmor_parser`'s lexer (3.0) reads a quoted string as
//! `"` then any run of `[^\0"]` or `\"` then `"`, longest match first, across newlines. A
//! path ending in a backslash written `\\` would put `\"` at the end of the string, and the
//! lexer would run on into the next line's rule (an injection); `\134` cannot.
//!
//! NUL cannot be written (the kernel's path strings end at it); a path holding one is refused.
//!
//! **Globs.** policyc writes only `*` (any run of bytes other than `/`) and `**` (any run of
//! bytes) in its fixed kernel-interface denies, and `@{HOME}` at the start of a path. As in
//! `apparmor_parser` (`convert_aaregex_to_pcre`), a `*` or `**` that follows a `/` and is
//! followed by `/` or the end of the pattern must match at least one byte that is not `/`:
//! `/data/**` matches `/data/x` and `/data/x/y`, never `/data/` itself.
//!
//! **Reading.** [`Pattern::parse`] accepts exactly what [`Pattern::render`] writes and
//! nothing else: an unescaped `?`, `[`, `{`, `,`, `^`, `"` or `\`, a variable other than a
//! leading `@{HOME}`, a raw byte outside printable ASCII or an escape policyc does not write
//! is an error, never a guess.

use std::fmt::Write as _;

/// Bytes written with a backslash.
const BACKSLASHED: &[u8] = b"*?[]{},^";

/// Printable bytes written in octal: a backslash would otherwise end a string in `\\"`,
/// and a quote would need one.
const OCTAL: &[u8] = b"\\\"";

/// The variable standing for the home directory.
pub const HOME_VAR: &str = "@{HOME}";

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tok {
    /// A literal byte.
    Byte(u8),
    /// `*`: any run of bytes other than `/`.
    Star,
    /// `**`: any run of bytes.
    StarStar,
}

/// A path pattern, optionally starting with `@{HOME}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pattern {
    /// True when the pattern starts with `@{HOME}`.
    pub home: bool,
    pub toks: Vec<Tok>,
}

/// A byte that cannot be written into a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a path holds a NUL byte, which cannot be written in an AppArmor profile")]
pub struct Unwritable;

impl Pattern {
    /// A pattern matching exactly `text` (after an optional `@{HOME}`).
    pub fn literal(home: bool, text: &str) -> Pattern {
        Pattern {
            home,
            toks: text.bytes().map(Tok::Byte).collect(),
        }
    }

    /// A pattern from glob text where `*` is a glob and every other byte is literal (for
    /// policyc's fixed patterns, which hold no other special byte).
    pub fn glob(text: &str) -> Pattern {
        let mut toks = Vec::new();
        let mut bytes = text.bytes().peekable();
        while let Some(b) = bytes.next() {
            if b != b'*' {
                toks.push(Tok::Byte(b));
            } else if bytes.peek() == Some(&b'*') {
                bytes.next();
                toks.push(Tok::StarStar);
            } else {
                toks.push(Tok::Star);
            }
        }
        Pattern { home: false, toks }
    }

    /// `self` followed by `suffix` (literal, except for `*`).
    pub fn with_suffix(&self, suffix: &str) -> Pattern {
        let mut p = self.clone();
        p.toks.extend(Pattern::glob(suffix).toks);
        p
    }

    /// The pattern as a quoted profile string.
    pub fn render(&self) -> Result<String, Unwritable> {
        let mut out = String::from("\"");
        if self.home {
            out.push_str(HOME_VAR);
        }
        for t in &self.toks {
            match t {
                Tok::Star => out.push('*'),
                Tok::StarStar => out.push_str("**"),
                Tok::Byte(b) => push_byte(*b, &mut out)?,
            }
        }
        out.push('"');
        Ok(out)
    }

    /// Read a pattern written by [`Pattern::render`] (the text between the quotes).
    pub fn parse(inner: &str) -> Result<Pattern, String> {
        let (home, rest) = match inner.strip_prefix(HOME_VAR) {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let bytes = rest.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            i += 1;
            match b {
                b'\\' => {
                    let (byte, used) = unescape(bytes.get(i..).unwrap_or_default())?;
                    toks.push(Tok::Byte(byte));
                    i += used;
                }
                b'*' if bytes.get(i) == Some(&b'*') => {
                    i += 1;
                    toks.push(Tok::StarStar);
                }
                b'*' => toks.push(Tok::Star),
                b if BACKSLASHED.contains(&b) || OCTAL.contains(&b) => {
                    return Err(format!("unescaped `{}` in a path", char::from(b)));
                }
                b' '..=b'~' => toks.push(Tok::Byte(b)),
                b => {
                    return Err(format!(
                        "raw byte 0x{b:02x} in a path (policyc writes it in octal)"
                    ))
                }
            }
        }
        let p = Pattern { home, toks };
        if p.render().ok().as_deref() != Some(&format!("\"{inner}\"")) {
            return Err("a path is not written the way policyc writes it".to_string());
        }
        Ok(p)
    }

    /// True when the pattern matches `path` (bytes as the kernel names the object, with a
    /// trailing `/` for a directory), `@{HOME}` standing for `home`. A pattern that starts
    /// with `@{HOME}` matches nothing when no home is given.
    pub fn matches(&self, home: Option<&str>, path: &[u8]) -> bool {
        let prefix = match (self.home, home) {
            (false, _) => "",
            (true, Some(h)) => h,
            (true, None) => return false,
        };
        // Most rules fail on their literal prefix: check it before building an automaton.
        let globs = self.toks.iter().position(|t| !matches!(t, Tok::Byte(_)));
        let literal = prefix.bytes().chain(
            self.toks
                .get(..globs.unwrap_or(self.toks.len()))
                .unwrap_or_default()
                .iter()
                .filter_map(|t| match t {
                    Tok::Byte(b) => Some(*b),
                    _ => None,
                }),
        );
        let mut n = 0;
        for b in literal {
            if path.get(n) != Some(&b) {
                return false;
            }
            n += 1;
        }
        if globs.is_none() {
            return path.len() == n;
        }
        let mut toks: Vec<Tok> = prefix.bytes().map(Tok::Byte).collect();
        toks.extend(self.toks.iter().copied());
        let nfa = compile(&toks);
        run(&nfa, path)
    }

    /// The literal bytes before the first glob, as text (lossy for non-UTF-8 bytes).
    pub fn literal_prefix(&self) -> String {
        let bytes: Vec<u8> = self
            .toks
            .iter()
            .map_while(|t| match t {
                Tok::Byte(b) => Some(*b),
                _ => None,
            })
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Write one literal byte.
fn push_byte(b: u8, out: &mut String) -> Result<(), Unwritable> {
    match b {
        0 => return Err(Unwritable),
        b if BACKSLASHED.contains(&b) => {
            out.push('\\');
            out.push(char::from(b));
        }
        b' '..=b'~' if !OCTAL.contains(&b) => out.push(char::from(b)),
        b => {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    Ok(())
}

/// Decode the escape after a backslash: the byte and how many bytes it used.
fn unescape(rest: &[u8]) -> Result<(u8, usize), String> {
    match rest {
        [c, ..] if BACKSLASHED.contains(c) => Ok((*c, 1)),
        [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
            let v = (a - b'0') * 64 + (b - b'0') * 8 + (c - b'0');
            Ok((v, 3))
        }
        _ => Err("an escape policyc does not write".to_string()),
    }
}

/// A pattern compiled for matching, as `apparmor_parser` turns it into a regular expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Lit(u8),
    /// `[^/]`
    OneNonSlash,
    /// `[^/]*`
    AnyNonSlash,
    /// `.*`
    Any,
}

fn compile(toks: &[Tok]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(toks.len() + 1);
    for (i, t) in toks.iter().enumerate() {
        let glob = match t {
            Tok::Byte(b) => {
                out.push(Step::Lit(*b));
                continue;
            }
            Tok::Star => Step::AnyNonSlash,
            Tok::StarStar => Step::Any,
        };
        // A run of stars right after `/` and before `/` or the end matches at least one
        // byte that is not `/` (the parser's guard against `/**` matching `/`).
        let after_slash = out.last() == Some(&Step::Lit(b'/'));
        let next = toks
            .get(i + 1..)
            .unwrap_or_default()
            .iter()
            .find(|t| !matches!(t, Tok::Star | Tok::StarStar));
        let before_slash_or_end = matches!(next, None | Some(Tok::Byte(b'/')));
        if after_slash && before_slash_or_end {
            out.push(Step::OneNonSlash);
        }
        out.push(glob);
    }
    out
}

/// The states reachable from `states` without reading a byte.
fn close(nfa: &[Step], states: &mut Vec<usize>) {
    let mut i = 0;
    while let Some(&s) = states.get(i) {
        if matches!(nfa.get(s), Some(Step::AnyNonSlash | Step::Any)) && !states.contains(&(s + 1)) {
            states.push(s + 1);
        }
        i += 1;
    }
}

fn run(nfa: &[Step], input: &[u8]) -> bool {
    let mut states = vec![0usize];
    close(nfa, &mut states);
    for &c in input {
        let mut next = Vec::new();
        for &s in &states {
            let to = match nfa.get(s) {
                Some(Step::Lit(b)) if *b == c => Some(s + 1),
                Some(Step::OneNonSlash) if c != b'/' => Some(s + 1),
                Some(Step::AnyNonSlash) if c != b'/' => Some(s),
                Some(Step::Any) => Some(s),
                _ => None,
            };
            if let Some(t) = to {
                if !next.contains(&t) {
                    next.push(t);
                }
            }
        }
        if next.is_empty() {
            return false;
        }
        close(nfa, &mut next);
        states = next;
    }
    states.contains(&nfa.len())
}
