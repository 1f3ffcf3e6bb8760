//! The profile policyc builds, as data, and how it is written as text.
//!
//! [`Profile`] holds the rules; [`render`] writes them with the comments that explain them;
//! [`super::parse`] reads the text back into a [`Profile`], and the build checks that it reads
//! back exactly (`P0906`).

use super::pattern::{Pattern, Unwritable, HOME_VAR};

/// The prefix of every profile name policyc writes.
pub const NAME_PREFIX: &str = "policyc.";

/// The profile's flags: deleted files are mediated by the name they had (never allowed
/// because they are gone). `attach_disconnected` is deliberately absent: a path outside the
/// confined process's mount namespace is denied, not attached to `/`.
pub const FLAGS: &str = "flags=(mediate_deleted)";

/// A whole profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The full profile name, e.g. `policyc.document_organizer`.
    pub name: String,
    /// The value of `@{HOME}`, when the profile defines it.
    pub home: Option<String>,
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `deny capability,`, `deny mount,` and the like: a whole class denied.
    DenyAll(Class),
    /// `signal (send, receive) peer=NAME,` or `signal (receive) peer=NAME,`.
    Signal { send: bool, peer: String },
    /// `[deny ]network FAMILY[ TYPE],`.
    Network(NetRule),
    /// `[deny ]"PATH" PERMS,`.
    File(FileRule),
}

/// A class of operations denied outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Capability,
    Mount,
    Umount,
    PivotRoot,
    Ptrace,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Capability,
        Class::Mount,
        Class::Umount,
        Class::PivotRoot,
        Class::Ptrace,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Class::Capability => "capability",
            Class::Mount => "mount",
            Class::Umount => "umount",
            Class::PivotRoot => "pivot_root",
            Class::Ptrace => "ptrace",
        }
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Unix,
    Inet,
    Inet6,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Unix, Family::Inet, Family::Inet6];

    pub fn keyword(self) -> &'static str {
        match self {
            Family::Unix => "unix",
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }
}

/// A socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SockType {
    Stream,
    Dgram,
}

impl SockType {
    pub const ALL: [SockType; 2] = [SockType::Stream, SockType::Dgram];

    pub fn keyword(self) -> &'static str {
        match self {
            SockType::Stream => "stream",
            SockType::Dgram => "dgram",
        }
    }
}

/// A network rule: a family, optionally one socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetRule {
    pub deny: bool,
    pub family: Family,
    pub kind: Option<SockType>,
}

impl NetRule {
    /// True when the rule covers sockets of this family and type.
    pub fn covers(&self, family: Family, kind: SockType) -> bool {
        self.family == family && self.kind.is_none_or(|k| k == kind)
    }
}

/// File permissions, as AppArmor's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Perms {
    /// `r`
    pub read: bool,
    /// `w` (which implies append)
    pub write: bool,
    /// `l`: create a hard link at the path.
    pub link: bool,
    /// `k`: lock the file.
    pub lock: bool,
    /// `m`: map the file executable (shared libraries).
    pub mmap: bool,
    /// `x`: execute; in an allow rule always `ix` (the program stays in this profile).
    pub exec: bool,
}

impl Perms {
    /// The letters, in the order policyc writes them: `rwlkm` then `ix` (allow) or `x` (deny).
    pub fn letters(&self, deny: bool) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.read, 'r'),
            (self.write, 'w'),
            (self.link, 'l'),
            (self.lock, 'k'),
            (self.mmap, 'm'),
        ] {
            if on {
                s.push(c);
            }
        }
        if self.exec {
            s.push_str(if deny { "x" } else { "ix" });
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        *self == Perms::default()
    }
}

/// A file rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileRule {
    pub deny: bool,
    pub pattern: Pattern,
    pub perms: Perms,
}

impl Rule {
    /// The rule as one line of profile text, without indentation.
    pub fn render(&self) -> Result<String, Unwritable> {
        Ok(match self {
            Rule::DenyAll(c) => format!("deny {},", c.keyword()),
            Rule::Signal { send: true, peer } => format!("signal (send, receive) peer={peer},"),
            Rule::Signal { send: false, peer } => format!("signal (receive) peer={peer},"),
            Rule::Network(n) => {
                let deny = if n.deny { "deny " } else { "" };
                match n.kind {
                    Some(k) => format!("{deny}network {} {},", n.family.keyword(), k.keyword()),
                    None => format!("{deny}network {},", n.family.keyword()),
                }
            }
            Rule::File(f) => {
                let deny = if f.deny { "deny " } else { "" };
                format!("{deny}{} {},", f.pattern.render()?, f.perms.letters(f.deny))
            }
        })
    }
}

/// One line of the text policyc writes inside the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `# ...`: a comment (sanitised to one line).
    Comment(String),
    Blank,
    Rule(Rule),
}

/// A comment made safe to write: one line, no control characters.
pub fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `@{HOME}` definition line.
pub fn home_line(home: &str) -> Result<String, Unwritable> {
    Ok(format!(
        "{HOME_VAR}={}",
        Pattern::literal(false, home).render()?
    ))
}

/// The profile header line.
pub fn header_line(name: &str) -> String {
    format!("profile {name} {FLAGS} {{")
}

/// Write a whole profile: leading comments, the `@{HOME}` definition, then the lines.
pub fn render(
    preamble: &[String],
    name: &str,
    home: Option<&str>,
    lines: &[Line],
) -> Result<String, Unwritable> {
    let mut out = String::new();
    for c in preamble {
        push_comment(&mut out, "", c);
    }
    if let Some(h) = home {
        out.push_str(&home_line(h)?);
        out.push('\n');
    }
    out.push_str(&header_line(name));
    out.push('\n');
    for l in lines {
        match l {
            Line::Comment(c) => push_comment(&mut out, "  ", c),
            Line::Blank => out.push('\n'),
            Line::Rule(r) => {
                out.push_str("  ");
                out.push_str(&r.render()?);
                out.push('\n');
            }
        }
    }
    out.push_str("}\n");
    Ok(out)
}

fn push_comment(out: &mut String, indent: &str, text: &str) {
    out.push_str(indent);
    let text = comment_text(text);
    if text.is_empty() {
        out.push('#');
    } else {
        out.push_str("# ");
        out.push_str(&text);
    }
    out.push('\n');
}
