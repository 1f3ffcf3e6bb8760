//! What several targets share: reading an artifact back once for a simulator, checking the
//! home directory `~` resolves to, resolving `~`, which mount a path resolves through, and
//! the pieces build reports and manifest figures are made of.

use crate::{Artifacts, Emitted, Fixed, Simulator, Verdict};
use policyc_compiler::ast::{Access, DnsMode};
use policyc_compiler::hosts::{Host, HostPattern};
use policyc_compiler::ir::{FsDeny, Mount, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::syscalls::Arch;
use policyc_compiler::{Code, Diagnostic, Request, Span};
use std::collections::{BTreeMap, BTreeSet};

/// Read the artifact `file` back with `read` (`None`: it does not parse). A missing artifact
/// is not mediated (the target confines nothing for this policy); one that does not parse
/// denies everything (the launcher refuses to run with it).
pub(crate) fn read<T>(
    artifacts: &Artifacts,
    file: &str,
    read: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<T, Verdict> {
    match artifacts.get(file).map(|b| read(b)) {
        None => Err(Verdict::NotMediated),
        Some(None) => Err(Verdict::Deny),
        Some(Some(t)) => Ok(t),
    }
}

/// How a target's simulator reads its one artifact back and answers from it.
pub(crate) struct ReadBack<T> {
    /// The artifact.
    pub file: &'static str,
    /// Read it back (`None`: it does not parse).
    pub read: fn(&[u8]) -> Option<T>,
    /// Decide a request against what was read.
    pub decide: fn(&T, &Request) -> Verdict,
    /// What the simulator says of a syscall made by number (see
    /// [`Simulator::simulate_raw`]) when the artifact reads back.
    pub raw: Verdict,
}

impl<T: Send + Sync + 'static> ReadBack<T> {
    /// The simulator over `artifacts`, read back once (see [`read`]).
    pub fn simulator(&self, artifacts: &Artifacts) -> Box<dyn Simulator> {
        match read(artifacts, self.file, self.read) {
            Ok(parsed) => Box::new(Parsed {
                parsed,
                decide: self.decide,
                raw: self.raw,
            }),
            Err(v) => Box::new(Fixed(v)),
        }
    }
}

/// An artifact read back, and how to answer from it.
struct Parsed<T> {
    parsed: T,
    decide: fn(&T, &Request) -> Verdict,
    raw: Verdict,
}

impl<T: Send + Sync> Simulator for Parsed<T> {
    fn simulate(&self, request: &Request) -> Verdict {
        (self.decide)(&self.parsed, request)
    }

    fn simulate_raw(&self, _abi: Arch, _nr: u32, _args: [u64; 6]) -> Verdict {
        self.raw
    }
}

impl Emitted {
    /// No artifact: the target confines nothing of this policy, and the report says why.
    pub(crate) fn nothing(why: Diagnostic) -> Emitted {
        Emitted {
            report: vec![why],
            ..Emitted::default()
        }
    }

    /// One artifact, with its figures for the build manifest and the report.
    pub(crate) fn one(
        file: &str,
        bytes: Vec<u8>,
        stats: BTreeMap<String, u64>,
        report: Vec<Diagnostic>,
    ) -> Emitted {
        Emitted {
            artifacts: [(file.to_string(), bytes)].into_iter().collect(),
            report,
            stats: [(file.to_string(), stats)].into_iter().collect(),
        }
    }
}

/// `Allow` when `allow`, else `Deny`.
pub(crate) fn allow_if(allow: bool) -> Verdict {
    if allow {
        Verdict::Allow
    } else {
        Verdict::Deny
    }
}

/// `NotMediated` when this target leaves the request to other layers, else `Deny`.
pub(crate) fn deny_unless_left(left: bool) -> Verdict {
    if left {
        Verdict::NotMediated
    } else {
        Verdict::Deny
    }
}

/// Named counts for the build manifest.
pub(crate) fn counts<const N: usize>(named: [(&str, u64); N]) -> BTreeMap<String, u64> {
    named.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// How a target words its findings about the home directory.
pub(crate) struct HomeFindings {
    /// The target's name, which starts every message.
    pub target: &'static str,
    pub code: Code,
    /// The hint when the home directory given is not an absolute path below `/`.
    pub bad_hint: &'static str,
    /// The hint when a rule names a `~` path and no home directory was given.
    pub missing_hint: &'static str,
}

impl HomeFindings {
    /// The home directory given (`None` when none was), which must be an absolute path
    /// below `/`.
    pub fn given(
        &self,
        policy: &Policy,
        home: Option<&str>,
    ) -> Result<Option<CanonPath>, Vec<Diagnostic>> {
        match home.map(CanonPath::parse) {
            None => Ok(None),
            Some(Ok(h)) if !h.is_home() && h.as_str() != "/" => Ok(Some(h)),
            Some(_) => Err(vec![Diagnostic::new(
                self.code,
                policy.span,
                format!(
                    "{}: the home directory `{}` is not an absolute path below `/`",
                    self.target,
                    home.unwrap_or_default().escape_debug()
                ),
            )
            .with_hint(self.bad_hint)]),
        }
    }

    /// For a build without a home directory: one error per rule that names a `~` path, a
    /// mount by the path `mount_path` gives of it, then the denies.
    pub fn missing(
        &self,
        policy: &Policy,
        mount_path: fn(&Mount) -> Option<&CanonPath>,
    ) -> Vec<Diagnostic> {
        let mounts = policy
            .fs
            .mounts
            .iter()
            .filter_map(|m| mount_path(m).filter(|p| p.is_home()).map(|p| (m.span, p)));
        let denies = policy
            .fs
            .denies
            .iter()
            .filter(|d| d.path.is_home())
            .map(|d| (d.span, &d.path));
        let mut seen = BTreeSet::new();
        mounts
            .chain(denies)
            .filter(|(s, _)| seen.insert((s.file, s.start, s.end)))
            .map(|(span, path)| {
                Diagnostic::new(
                    self.code,
                    span,
                    format!(
                        "{}: `{path}` is in the home directory, and no home directory was given",
                        self.target
                    ),
                )
                .with_hint(self.missing_hint)
            })
            .collect()
    }
}

/// A policy path with `~` resolved against `home` (`None`: a `~` path without a home).
pub(crate) fn resolve_home(home: Option<&CanonPath>, p: &CanonPath) -> Option<CanonPath> {
    match p.as_str().strip_prefix('~') {
        None => Some(p.clone()),
        Some(rest) => home.map(|h| h.join(rest.strip_prefix('/').unwrap_or(rest))),
    }
}

/// What a mount grants, as written.
pub(crate) fn mount_access(m: &Mount) -> BTreeSet<Access> {
    [Access::Read, Access::Write, Access::Exec]
        .into_iter()
        .filter(|a| m.allows(*a))
        .collect()
}

/// The index of the item whose path (`path_of`) is the longest prefix of `path`: the mount
/// the path resolves through.
pub(crate) fn innermost<T>(
    items: &[T],
    path: &CanonPath,
    path_of: impl Fn(&T) -> &CanonPath,
) -> Option<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, t)| path.starts_with(path_of(t)))
        .max_by_key(|(_, t)| path_of(t).depth())
        .map(|(i, _)| i)
}

/// Keep one of several errors with the same span and message (a deny can reach the same
/// grant in more than one way).
pub(crate) fn once(errors: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    errors.retain(|d| seen.insert((d.span.start, d.span.end, d.message.clone())));
}

/// Where network findings point: the first egress allow rule, else the `net` block.
pub(crate) fn net_span(policy: &Policy) -> Span {
    policy
        .net
        .rules
        .iter()
        .find(|r| r.allow)
        .map_or(policy.net.span, |r| r.span)
}

/// The denies that narrowed a grant, as a report cites them: `` `deny "~/.ssh"` and ... ``.
pub(crate) fn cited(denies: &[&FsDeny]) -> String {
    denies
        .iter()
        .map(|d| d.cited().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Names for a message, each in backquotes: `` `a`, `b` ``.
pub(crate) fn ticked<T: std::fmt::Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A path a reader accepts as it is written: absolute (no `~`) and already canonical.
pub(crate) fn canonical(raw: &str) -> Option<CanonPath> {
    CanonPath::parse(raw)
        .ok()
        .filter(|p| p.as_str() == raw && !p.is_home())
}

/// What an artifact's egress rule says, for the one matcher every network simulator and the
/// egress supervisor share ([`connect_rule`], [`resolves`]).
pub(crate) trait NetRuleFields {
    /// True for an allow rule, false for a deny rule.
    fn allows(&self) -> bool;
    /// The host or `*.domain` pattern the rule names.
    fn pattern(&self) -> &HostPattern;
    /// The port, `None` for every port.
    fn port(&self) -> Option<u16>;
}

/// The allow rule that admits a connection to `host:port` (`None`: denied), as
/// `policyc_compiler::eval::decide` decides it for egress that is not `none`: a deny rule
/// matching host and port wins, then the first allow rule matching both.
pub(crate) fn connect_rule<'r, R: NetRuleFields>(
    rules: &'r [R],
    host: &Host,
    port: u16,
) -> Option<&'r R> {
    let hit = |r: &&R| r.pattern().matches(host) && r.port().is_none_or(|p| p == port);
    if rules.iter().filter(|r| !r.allows()).any(|r| hit(&r)) {
        return None;
    }
    rules.iter().filter(|r| r.allows()).find(hit)
}

/// Whether name resolution of `host` is allowed under a DNS mode, given the patterns whose
/// names may be answered (the allow rules') and those refused (the deny rules on every
/// port), as `policyc_compiler::eval::decide` decides it.
pub(crate) fn resolves<'p>(
    mode: DnsMode,
    answered: impl IntoIterator<Item = &'p HostPattern>,
    refused: impl IntoIterator<Item = &'p HostPattern>,
    host: &Host,
) -> bool {
    match mode {
        DnsMode::None => false,
        DnsMode::Any => true,
        DnsMode::AllowListedOnly => {
            !refused.into_iter().any(|p| p.matches(host))
                && answered.into_iter().any(|p| p.matches(host))
        }
    }
}
