//! Reading an `apparmor.profile` back: exactly the subset policyc writes, nothing else.
//!
//! The text is: comment lines (`#` then a space, or a lone `#`) and blank lines anywhere; at
//! most one `@{HOME}="..."` definition; one `profile policyc.NAME flags=(mediate_deleted) {`
//! line; one rule per line, each written exactly as [`Rule::render`] writes it; and a
//! closing `}`. Anything else (an `#include` or `include`, an `abi` line, a second profile, a
//! hat, a rule policyc does not write, a permission like `ux`, a path escape policyc does
//! not use, a glob other than a trailing `/**` or one of the fixed kernel-interface denies)
//! is an error, never a guess.

use super::pattern::{Pattern, Tok, HOME_VAR};
use super::profile::{
    header_line, Class, Family, FileRule, NetRule, Perms, Profile, Rule, SockType, NAME_PREFIX,
};

/// Why a profile could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("apparmor.profile line {line}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Where the reader is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    Body,
    Done,
}

/// Read a profile written by policyc.
pub fn parse(text: &str) -> Result<Profile, ParseError> {
    let mut state = State::Preamble;
    let mut home = None;
    let mut name = None;
    let mut rules = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let fail = |message: String| ParseError {
            line: i + 1,
            message,
        };
        let line = raw.trim_matches([' ', '\t']);
        if line.is_empty() || is_comment(line) {
            continue;
        }
        match state {
            State::Preamble => {
                if let Some(value) = line
                    .strip_prefix(HOME_VAR)
                    .and_then(|r| r.strip_prefix('='))
                {
                    if home.is_some() || name.is_some() {
                        return Err(fail("a second or late `@{HOME}` definition".to_string()));
                    }
                    home = Some(parse_home(value).map_err(fail)?);
                } else {
                    name = Some(parse_header(line).map_err(fail)?);
                    state = State::Body;
                }
            }
            State::Body if line == "}" => state = State::Done,
            State::Body => rules.push(parse_rule(line).map_err(fail)?),
            State::Done => return Err(fail("text after the profile".to_string())),
        }
    }
    let Some(name) = name.filter(|_| state == State::Done) else {
        return Err(ParseError {
            line: text.split('\n').count(),
            message: "no complete `profile policyc.NAME ... { ... }`".to_string(),
        });
    };
    Ok(Profile { name, home, rules })
}

/// `#` followed by a space or nothing: a comment. `#include` and the like are not.
fn is_comment(line: &str) -> bool {
    line == "#" || line.starts_with("# ")
}

/// The quoted home directory.
fn parse_home(value: &str) -> Result<String, String> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| "`@{HOME}` is not one quoted path".to_string())?;
    let p = Pattern::parse(inner)?;
    let mut bytes = Vec::new();
    for t in &p.toks {
        match t {
            Tok::Byte(b) if !p.home => bytes.push(*b),
            _ => return Err("`@{HOME}` holds a glob or a variable".to_string()),
        }
    }
    let home = String::from_utf8(bytes).map_err(|_| "`@{HOME}` is not UTF-8".to_string())?;
    if !home.starts_with('/') {
        return Err("`@{HOME}` is not an absolute path".to_string());
    }
    Ok(home)
}

/// `profile policyc.NAME flags=(mediate_deleted) {`
fn parse_header(line: &str) -> Result<String, String> {
    let name = line
        .strip_prefix("profile ")
        .and_then(|r| r.split(' ').next())
        .ok_or_else(|| format!("expected the profile line, found `{}`", line.escape_debug()))?;
    if !super::valid_profile_name(name) || header_line(name) != line {
        return Err(format!(
            "not a profile line policyc writes: `{}`",
            line.escape_debug()
        ));
    }
    Ok(name.to_string())
}

/// One rule line, which must be written exactly as policyc writes it.
fn parse_rule(line: &str) -> Result<Rule, String> {
    let body = line
        .strip_suffix(',')
        .ok_or_else(|| format!("a rule does not end with `,`: `{}`", line.escape_debug()))?;
    let rule = if let Some(f) = parse_file(body)? {
        Rule::File(f)
    } else if let Some(r) = parse_other(body) {
        r
    } else {
        return Err(format!(
            "not a rule policyc writes: `{}`",
            line.escape_debug()
        ));
    };
    match rule.render() {
        Ok(back) if back == line => Ok(rule),
        _ => Err(format!(
            "a rule is not written the way policyc writes it: `{}`",
            line.escape_debug()
        )),
    }
}

/// `[deny ]"PATH" PERMS` (without the comma), or `None` when it is not a file rule.
fn parse_file(body: &str) -> Result<Option<FileRule>, String> {
    let (deny, rest) = match body.strip_prefix("deny ") {
        Some(r) => (true, r),
        None => (false, body),
    };
    let Some(quoted) = rest.strip_prefix('"') else {
        return Ok(None);
    };
    // policyc's quoted strings hold no `"` (it is written in octal), so the first one ends it.
    let end = quoted.find('"').ok_or("a path without its closing quote")?;
    let inner = quoted
        .get(..end)
        .ok_or("a path without its closing quote")?;
    let perms = quoted
        .get(end + 1..)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or("a path without permissions")?;
    let pattern = Pattern::parse(inner)?;
    let written = tree_form(&pattern) || (deny && is_system_deny(&pattern));
    if !written {
        return Err(format!(
            "a glob policyc does not write: `{}`",
            inner.escape_debug()
        ));
    }
    Ok(Some(FileRule {
        deny,
        pattern,
        perms: parse_perms(perms, deny)?,
    }))
}

/// The forms policyc writes for a path: the path itself, its directory form `path/`, and
/// `path/**`. No other glob (`/data*` would match `/data2`).
fn tree_form(p: &Pattern) -> bool {
    match p.toks.iter().position(|t| !matches!(t, Tok::Byte(_))) {
        None => true,
        Some(i) => {
            i + 1 == p.toks.len()
                && p.toks.get(i) == Some(&Tok::StarStar)
                && i.checked_sub(1).and_then(|j| p.toks.get(j)) == Some(&Tok::Byte(b'/'))
        }
    }
}

/// One of policyc's fixed kernel-interface denies, exactly.
fn is_system_deny(p: &Pattern) -> bool {
    super::emit::system_patterns()
        .iter()
        .any(|(_, pattern, _)| pattern == p)
}

/// File permission letters: `rwlkm` and `ix` (allow) or `x` (deny). Every other letter (`u`,
/// `p`, `c` transitions, `a` append, owner or audit prefixes) is refused.
fn parse_perms(s: &str, deny: bool) -> Result<Perms, String> {
    let mut p = Perms::default();
    let mut inherit = false;
    for c in s.chars() {
        let slot = match c {
            'r' => &mut p.read,
            'w' => &mut p.write,
            'l' => &mut p.link,
            'k' => &mut p.lock,
            'm' => &mut p.mmap,
            'x' => &mut p.exec,
            'i' if !deny => &mut inherit,
            c => return Err(format!("permission `{c}` is not one policyc writes")),
        };
        if *slot {
            return Err(format!("permission `{c}` written twice"));
        }
        *slot = true;
    }
    if !deny && p.link {
        return Err("policyc never grants `l` (hard links)".to_string());
    }
    if p.is_empty() || inherit != (p.exec && !deny) {
        return Err(format!(
            "permissions `{s}` are not ones policyc writes (exec is always `ix`)"
        ));
    }
    Ok(p)
}

/// The rules that are not file rules, by their exact text.
fn parse_other(body: &str) -> Option<Rule> {
    if let Some(c) = Class::ALL
        .into_iter()
        .find(|c| body.strip_prefix("deny ") == Some(c.keyword()))
    {
        return Some(Rule::DenyAll(c));
    }
    if let Some(peer) = body.strip_prefix("signal (send, receive) peer=") {
        return signal(true, peer);
    }
    if let Some(peer) = body.strip_prefix("signal (receive) peer=") {
        return signal(false, peer);
    }
    let (deny, rest) = match body.strip_prefix("deny ") {
        Some(r) => (true, r),
        None => (false, body),
    };
    let mut words = rest.strip_prefix("network ")?.split(' ');
    let family = words
        .next()
        .and_then(|w| Family::ALL.into_iter().find(|f| f.keyword() == w))?;
    let kind = match words.next() {
        None => None,
        Some(w) => Some(SockType::ALL.into_iter().find(|k| k.keyword() == w)?),
    };
    if words.next().is_some() {
        return None;
    }
    Some(Rule::Network(NetRule { deny, family, kind }))
}

fn signal(send: bool, peer: &str) -> Option<Rule> {
    (peer == "unconfined" || super::valid_profile_name(peer)).then(|| Rule::Signal {
        send,
        peer: peer.to_string(),
    })
}

/// The full profile name for a policy name.
pub(crate) fn profile_name(policy: &str) -> String {
    format!("{NAME_PREFIX}{policy}")
}
