//! `allow warning P0502 "why"`: a warning silenced where it is written, with a reason.
//!
//! A suppression applies to the statement or rule right after it, and only to warnings of
//! its code whose span lies inside that rule. What cannot be allowed:
//!
//! - errors (a policy with an error builds nothing);
//! - [`NEVER`]: warnings that mark a rule admitting what it reads as excluding (a signed
//!   argument compared as unsigned, code run from memory): allowing them would hide a hole,
//!   not record a choice;
//! - warnings that guard a threat the policy declares ([`guarded_threats`]): a policy that
//!   says it defends against privilege escalation cannot wave through a dangerous syscall;
//! - the target codes (P0600 and up), which `build` reports, and the suppression codes
//!   themselves.
//!
//! A suppression that silences nothing in any policy that includes it is itself a warning.

use crate::ast::{Block, Suppression};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics, Severity};
use crate::ir::{Policy, Threat};
use crate::span::Span;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Warnings that can never be allowed.
pub const NEVER: [Code; 2] = [Code::SignedArgOrdering, Code::ExecFromMemory];

/// The threats a warning guards: a policy that declares one of them cannot allow it.
pub fn guarded_threats(code: Code) -> &'static [Threat] {
    match code {
        Code::WriteInsideReadOnly => &[Threat::Tampering],
        Code::DangerousSyscallAllowed | Code::NoSyscallPolicy => &[Threat::PrivilegeEscalation],
        Code::TokenAudienceMismatch => &[Threat::Exfiltration],
        Code::SecretEnvPassed => &[Threat::CredentialTheft, Threat::Exfiltration],
        _ => &[],
    }
}

/// One suppression as one policy applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// The policy it applied to.
    pub policy: String,
    /// The code it allows.
    pub code: String,
    /// Why, as written.
    pub reason: String,
    /// Where the `allow warning` stands.
    #[serde(skip)]
    pub span: Span,
    /// The warnings it silenced in that policy (none: it is unused there).
    #[serde(skip)]
    pub silenced: Vec<Diagnostic>,
}

/// Suppressions across the policies of one compilation.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    /// Every valid suppression some policy applied, by position.
    considered: BTreeMap<(u32, u32), Span>,
    /// Those that silenced something.
    used: BTreeSet<(u32, u32)>,
    pub(super) applied: Vec<Suppressed>,
}

fn key(s: Span) -> (u32, u32) {
    (s.file.0, s.start)
}

impl Tracker {
    /// Apply the suppressions of `blocks` (the policy's own and those it includes) to the
    /// warnings `diags` holds from index `from` on. `linted`: the policy's lints ran (it had
    /// no error), so a suppression that silences nothing is unused.
    pub(super) fn apply(
        &mut self,
        policy: &Policy,
        blocks: &[&Block],
        diags: &mut Diagnostics,
        from: usize,
        linted: bool,
    ) {
        let mut valid: Vec<(&Suppression, Code)> = Vec::new();
        let mut errors = Vec::new();
        for s in blocks.iter().flat_map(|b| b.suppressions.iter()) {
            match validate(s, policy) {
                Ok(code) => valid.push((s, code)),
                Err(d) => errors.push(d),
            }
        }
        let mut silenced: BTreeMap<(u32, u32), Vec<Diagnostic>> = BTreeMap::new();
        let tail = diags.0.split_off(from.min(diags.0.len()));
        for d in tail {
            let hit = (d.severity == Severity::Warning)
                .then(|| {
                    valid
                        .iter()
                        .find(|(s, c)| *c == d.code && covers(s.target, d.span))
                })
                .flatten();
            match hit {
                Some((s, _)) => silenced.entry(key(s.span)).or_default().push(d),
                None => diags.push(d),
            }
        }
        diags.0.extend(errors);
        for (s, code) in valid {
            let k = key(s.span);
            let got = silenced.remove(&k).unwrap_or_default();
            if !got.is_empty() {
                self.used.insert(k);
            }
            if linted || !got.is_empty() {
                self.considered.insert(k, s.span);
            }
            self.applied.push(Suppressed {
                policy: policy.name.clone(),
                code: code.as_str().to_string(),
                reason: s
                    .reason
                    .as_ref()
                    .map(|r| r.node.clone())
                    .unwrap_or_default(),
                span: s.span,
                silenced: got,
            });
        }
    }

    /// A warning for every suppression that silenced nothing in every policy that applied it.
    pub(super) fn unused(&self, diags: &mut Diagnostics) {
        for (k, span) in &self.considered {
            if self.used.contains(k) {
                continue;
            }
            let code = self
                .applied
                .iter()
                .find(|a| key(a.span) == *k)
                .map_or("", |a| a.code.as_str());
            diags.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    *span,
                    format!("`allow warning {code}` silences nothing: the rule after it draws no {code}"),
                )
                .with_hint("remove the suppression; if the warning moved, put it before the rule the warning is on"),
            );
        }
    }
}

/// True when the warning's span lies within the rule's.
fn covers(rule: Span, warning: Span) -> bool {
    rule.file == warning.file && rule.start <= warning.start && warning.end <= rule.end
}

/// The code a suppression may allow in `policy`, or the error saying why not.
fn validate(s: &Suppression, policy: &Policy) -> Result<Code, Diagnostic> {
    let written = s.code.node.to_ascii_uppercase();
    let Some(code) = Code::ALL.iter().copied().find(|c| c.as_str() == written) else {
        let hint = did_you_mean(&written, Code::ALL.iter().map(|c| c.as_str())).map_or_else(
            || "codes look like `P0502`; the error index lists them".to_string(),
            |c| format!("did you mean `{c}`?"),
        );
        return Err(Diagnostic::new(
            Code::UnsuppressibleCode,
            s.code.span,
            format!("`{}` is not a diagnostic code", s.code.node),
        )
        .with_hint(hint));
    };
    if let Some(why) = never(code) {
        return Err(Diagnostic::new(
            Code::UnsuppressibleCode,
            s.code.span,
            format!("{} cannot be allowed: {why}", code.as_str()),
        )
        .with_hint("fix the rule the diagnostic is on; the error index says how"));
    }
    if let Some(t) = guarded_threats(code)
        .iter()
        .find(|t| policy.threats.contains(t))
    {
        return Err(Diagnostic::new(
            Code::UnsuppressibleCode,
            s.code.span,
            format!(
                "{} cannot be allowed in policy `{}`: it guards `{}`, a threat the policy declares",
                code.as_str(),
                policy.name,
                t.keyword()
            ),
        )
        .with_hint(format!(
            "fix the rule, or drop `{}` from the policy's threats if it really does not defend against it",
            t.keyword()
        )));
    }
    match &s.reason {
        Some(r) if !r.node.trim().is_empty() => Ok(code),
        _ => Err(Diagnostic::new(
            Code::SuppressionWithoutReason,
            s.span,
            format!("`allow warning {}` needs a reason", code.as_str()),
        )
        .with_hint(format!(
            "say why the warning does not apply here: `allow warning {} \"why\"`",
            code.as_str()
        ))),
    }
}

/// Why `code` can never be allowed, if it cannot.
fn never(code: Code) -> Option<&'static str> {
    if code.severity() == Severity::Error {
        return Some("it is an error, and a policy with an error builds nothing");
    }
    if NEVER.contains(&code) {
        return Some("the rule it is on admits what it reads as excluding; allowing the warning would hide the hole");
    }
    if matches!(
        code,
        Code::SuppressionWithoutReason | Code::UnsuppressibleCode | Code::UnusedSuppression
    ) {
        return Some("it is about suppressions themselves");
    }
    if code.as_str() >= "P0600" {
        return Some("the targets report it when they build the policy, after suppressions apply");
    }
    None
}
