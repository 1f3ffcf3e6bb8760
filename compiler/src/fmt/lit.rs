//! Literals in canonical form: strings re-escaped, sizes and durations in their largest
//! exact unit, endpoints, actions and argument conditions.

use crate::ast::{Action, ArgCmp, Endpoint, ErrnoSpec, PortSpec};
use std::fmt::Write as _;

/// A string literal that parses back to exactly `s`.
///
/// Quotes, backslashes and the usual control characters get their short escapes; every
/// other control, bidirectional-override or invisible character is written as `\u{..}`, so
/// a policy's text shows what it means ("trojan source" characters are never printed raw).
pub(super) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if needs_unicode_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that are invisible or reorder text when printed raw.
fn needs_unicode_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Bytes in the largest binary unit that divides them exactly: `64MiB`, `1536KiB`, `7B`.
pub(super) fn size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    for (shift, unit) in [(40u32, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Milliseconds in the largest unit that divides them exactly: `1d`, `2h`, `5m`, `90s`,
/// `1500ms`. Zero is `0s`.
pub(super) fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (factor, unit) in UNITS {
        if ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

/// `"host":443`, `"host":*` or `"host"`.
pub(super) fn endpoint(e: &Endpoint) -> String {
    let host = string(&e.host.node);
    match e.port.as_ref().map(|p| p.node) {
        None => host,
        Some(PortSpec::Any) => format!("{host}:*"),
        Some(PortSpec::Number(n)) => format!("{host}:{n}"),
    }
}

/// `errno EPERM`, `errno 13` or `kill`.
pub(super) fn action(a: &Action) -> String {
    match a {
        Action::Kill => "kill".to_string(),
        Action::Errno(ErrnoSpec::Name(n)) => format!("errno {n}"),
        Action::Errno(ErrnoSpec::Number(n)) => format!("errno {n}"),
    }
}

/// `if arg0 == 2 and arg1 & 0xff != 1` (empty when there is no condition).
pub(super) fn condition(cmps: &[ArgCmp]) -> String {
    let parts: Vec<String> = cmps.iter().map(arg_cmp).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" if {}", parts.join(" and "))
    }
}

/// `arg1 & 0xff != 1`: masks in hex, values as [`number`] prints them.
fn arg_cmp(c: &ArgCmp) -> String {
    let mask = c.mask.map(|m| format!(" & {m:#x}")).unwrap_or_default();
    format!("arg{}{mask} {} {}", c.arg, c.op.symbol(), number(c.value))
}

/// Small numbers (counts, file descriptors, address families) in decimal; from 0x1000 up,
/// where values are flag words and ioctl requests, in hex.
pub(crate) fn number(n: u64) -> String {
    if n >= 0x1000 {
        format!("{n:#x}")
    } else {
        n.to_string()
    }
}

/// `a, b, c`.
pub(super) fn join<'a>(items: impl IntoIterator<Item = &'a str>, sep: &str) -> String {
    items.into_iter().collect::<Vec<_>>().join(sep)
}

/// A `///` line for one doc string (the parser drops one space after `///`).
pub(super) fn doc(text: &str) -> String {
    let text = one_line(text);
    if text.is_empty() {
        "///".to_string()
    } else {
        format!("/// {text}")
    }
}

/// A `#` comment's text, kept on one line whatever a hand-built tree holds.
pub(super) fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}
