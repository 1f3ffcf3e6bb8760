//! Risk notes: a widening entry that works against a threat the policy declares (or, with
//! no such threat declared, one a reviewer should look at twice).
//!
//! - a write or exec that reaches a persistence path (a path some version denies writing:
//!   `deny write persistence`), against `persistence`;
//! - a write that reaches host files, against `tampering`;
//! - a read that reaches a credential location (a path some version denies through a
//!   paths list such as `secrets`), against `credential_theft` or `exfiltration`;
//! - direct egress (not through the proxy), new resolvable names and any new endpoint,
//!   against `exfiltration`;
//! - a dangerous syscall, against `privilege_escalation` (or, a way out of the sandbox
//!   defeating them all, any declared threat);
//! - a longer token lifetime or a dropped approval, against `credential_theft` or
//!   `exfiltration`;
//! - a weaker isolation level, against every declared threat.

use super::{Pair, Risk};
use policyc_compiler::ast::Access;
use policyc_compiler::eval::resolve_mount;
use policyc_compiler::ir::{Isolation, Policy, Threat};
use policyc_compiler::paths::CanonPath;

/// The threats a read of credentials works against, in order of preference.
const CREDENTIALS: &[Threat] = &[Threat::CredentialTheft, Threat::Exfiltration];

fn risk(pair: &Pair<'_>, threats: &[Threat], note: String) -> Risk {
    Risk {
        threat: pair.declared(threats),
        note,
    }
}

/// The host object a path of the new version names: itself for `~` paths and under process
/// isolation, else through the bind mount that maps it (`None` for scratch and tmpfs).
fn host_view(p: &Policy, path: &CanonPath) -> Option<CanonPath> {
    if path.is_home() || p.isolation == Isolation::Process {
        return Some(path.clone());
    }
    let m = resolve_mount(p, path)?;
    let rest = path.strip_prefix(&m.guest)?;
    m.host().map(|h| h.join(rest))
}

/// True when `a` (a subtree when `subtree`) and `b`'s subtree share a path.
fn overlaps(a: &CanonPath, subtree: bool, b: &CanonPath) -> bool {
    a.starts_with(b) || (subtree && b.starts_with(a))
}

/// Deny paths of either version that match `pick`.
fn denied_paths<'a>(
    pair: &'a Pair<'_>,
    pick: impl Fn(&policyc_compiler::ir::FsDeny) -> bool + 'a,
) -> impl Iterator<Item = &'a CanonPath> + 'a {
    [pair.old.policy, pair.new.policy]
        .into_iter()
        .flat_map(|p| p.fs.denies.iter())
        .filter(move |d| pick(d))
        .map(|d| &d.path)
}

/// The risk of a filesystem access the new version grants.
pub fn fs(pair: &Pair<'_>, access: Access, path: &CanonPath, subtree: bool) -> Option<Risk> {
    let host = host_view(pair.new.policy, path)?;
    match access {
        Access::Write | Access::Exec => {
            let persistence = |d: &policyc_compiler::ir::FsDeny| {
                d.list.as_deref() == Some("persistence")
                    || (d.access.contains(&Access::Write) && !d.access.contains(&Access::Read))
            };
            if let Some(p) = denied_paths(pair, persistence).find(|p| overlaps(&host, subtree, p)) {
                return Some(risk(
                    pair,
                    &[Threat::Persistence],
                    format!(
                        "{} now reaches `{p}`, where a write becomes code that runs later",
                        access.keyword()
                    ),
                ));
            }
            (access == Access::Write && pair.declares(Threat::Tampering)).then(|| {
                risk(
                    pair,
                    &[Threat::Tampering],
                    format!("writes now reach host files under `{host}`"),
                )
            })
        }
        Access::Read => {
            let credential = |d: &policyc_compiler::ir::FsDeny| {
                d.list.as_deref().is_some_and(|l| l != "persistence")
                    && d.access.contains(&Access::Read)
            };
            let p = denied_paths(pair, credential).find(|p| overlaps(&host, subtree, p))?;
            Some(risk(
                pair,
                CREDENTIALS,
                format!("reads now reach the credential location `{p}`"),
            ))
        }
    }
}

/// The risk of an endpoint the new version allows.
pub fn egress(pair: &Pair<'_>, direct: bool) -> Option<Risk> {
    if direct {
        return Some(risk(
            pair,
            &[Threat::Exfiltration],
            "direct egress: the connection bypasses the policy proxy".to_string(),
        ));
    }
    pair.declares(Threat::Exfiltration).then(|| {
        risk(
            pair,
            &[Threat::Exfiltration],
            "a new destination data can be sent to".to_string(),
        )
    })
}

/// The risk of a name the new version resolves.
pub fn dns(pair: &Pair<'_>) -> Option<Risk> {
    pair.declares(Threat::Exfiltration).then(|| {
        risk(
            pair,
            &[Threat::Exfiltration],
            "DNS queries can carry data out".to_string(),
        )
    })
}

/// The risk of a syscall the new version allows.
pub fn syscall(pair: &Pair<'_>, name: &str) -> Option<Risk> {
    policyc_compiler::syscalls::is_dangerous(name).then(|| {
        // A way out of the sandbox defeats whatever the policy defends against.
        let mut threats = vec![Threat::PrivilegeEscalation];
        threats.extend(pair.new.policy.threats.iter().copied());
        risk(
            pair,
            &threats,
            format!("`{name}` is a dangerous syscall: a way out of the sandbox or into the kernel"),
        )
    })
}

/// The risk of a token that lives longer or needs no approval.
pub fn token(pair: &Pair<'_>, note: String) -> Risk {
    risk(pair, CREDENTIALS, note)
}

/// The risk of a weaker isolation level.
pub fn isolation(pair: &Pair<'_>, old: Isolation, new: Isolation) -> Risk {
    let declared: Vec<Threat> = pair.new.policy.threats.iter().copied().collect();
    risk(
        pair,
        &declared,
        format!(
            "isolation `{}` is weaker than `{}`",
            new.keyword(),
            old.keyword()
        ),
    )
}
