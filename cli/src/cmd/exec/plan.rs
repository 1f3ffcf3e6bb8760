//! `exec.json`, the exec plan `policyc build` writes beside a policy's artifacts: what
//! `policyc exec --from DIR` needs besides them, so it runs the policy without parsing or
//! compiling it. It holds the policy's checked IR (its `env` block, scratch areas, egress
//! rules, syscall rules, name and isolation level), the home directory the folder was built
//! for, and what the IR's JSON leaves out: where the rules that exec names in its messages
//! were written ([`Sites`]) and the sha256 of the policy file (for the audit log and token
//! capabilities).

use policyc_compiler::ir::Policy;
use policyc_compiler::{SourceMap, Span};
use policyc_targets::provenance::POLICYC_VERSION;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan's file name in a built folder (listed in `manifest.json` under target `exec`).
pub const FILE: &str = "exec.json";

/// The target name `manifest.json` gives the plan.
pub const TARGET: &str = "exec";

/// What `policyc exec` runs: the policy and where its rules were written.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The policyc version that wrote the plan; another version refuses it.
    pub policyc: String,
    /// The home directory `~` stood for.
    pub home: String,
    /// The sites of the rules exec names.
    pub sites: Sites,
    /// The checked IR.
    pub policy: Policy,
}

/// Where the rules `policyc exec` names in its messages were written (`file:line`, or
/// `file:line:col` for the syscalls block), and the policy file's sha256.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sites {
    /// `sha256:<hex>` of the policy file.
    pub source_sha256: String,
    /// The `syscalls` block (`file:line:col`).
    pub syscalls: String,
    /// The `net` block.
    pub net: String,
    /// Each egress rule, in the IR's order.
    pub net_rules: Vec<String>,
    /// Each syscall rule: its denies in the IR's order, and its first allow.
    pub syscall_rules: BTreeMap<String, RuleSites>,
}

/// Where one syscall's rules were written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleSites {
    /// Each deny, in the IR's order.
    pub denies: Vec<String>,
    /// The first allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
}

impl Sites {
    /// The sites of `policy`'s rules in `sources`, each file named as `sources` names it.
    pub fn new(policy: &Policy, sources: &SourceMap) -> Sites {
        Sites::named(policy, sources, false)
    }

    /// The sites of `policy`'s rules in `sources`; with `by_file_name`, the policy's own
    /// file is named by its file name alone (as `build` names it in the manifest), so the
    /// plan does not depend on the directory the build ran from.
    fn named(policy: &Policy, sources: &SourceMap, by_file_name: bool) -> Sites {
        let root = policy.span.file;
        let location = |span: Span| match sources.get(span.file) {
            Some(f) if by_file_name && span.file == root => {
                let (line, col) = f.line_col(span.start);
                let name = std::path::Path::new(&f.name)
                    .file_name()
                    .map_or_else(|| f.name.clone(), |n| n.to_string_lossy().into_owned());
                format!("{name}:{line}:{col}")
            }
            _ => sources.location(span),
        };
        let line = |span: Span| file_line(&location(span));
        let text = sources
            .get(policy.span.file)
            .map_or("", |f| f.text.as_str());
        Sites {
            source_sha256: policyc_verify::audit::hash(text.as_bytes()),
            syscalls: location(policy.syscalls.span),
            net: line(policy.net.block),
            net_rules: policy.net.rules.iter().map(|r| line(r.span)).collect(),
            syscall_rules: policy
                .syscalls
                .rules
                .iter()
                .map(|(name, rule)| {
                    let sites = RuleSites {
                        denies: rule.deny.iter().map(|d| line(d.span)).collect(),
                        allow: rule.allow_span.map(line),
                    };
                    (name.clone(), sites)
                })
                .collect(),
        }
    }
}

impl Plan {
    /// The plan for `policy`, built for `home`.
    pub fn new(policy: &Policy, home: &str, sources: &SourceMap) -> Plan {
        Plan {
            policyc: POLICYC_VERSION.to_string(),
            home: home.to_string(),
            sites: Sites::named(policy, sources, true),
            policy: policy.clone(),
        }
    }

    /// The plan's bytes: pretty JSON with a final newline (deterministic: the IR's maps are
    /// sorted).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// `file:line` of a `file:line:col` location.
pub fn file_line(at: &str) -> String {
    at.rsplit_once(':')
        .map_or_else(|| at.to_string(), |(fl, _)| fl.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn locations_lose_their_column() {
        assert_eq!(file_line("a.policy:12:5"), "a.policy:12");
        assert_eq!(file_line("<unknown>"), "<unknown>");
    }

    /// The plan carries the policy's meaning through its JSON: every stdlib policy reads back
    /// equal (spans aside, which the sites carry).
    #[test]
    fn every_stdlib_policy_reads_back_from_its_plan() {
        for (sources, policy) in policyc_testkit::stdlib::policies() {
            let bytes = Plan::new(&policy, "/home/user", &sources)
                .to_bytes()
                .unwrap();
            let back: Plan = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back.policy, policy, "{}", policy.name);
            assert_eq!(back.home, "/home/user");
            assert!(back.sites.syscalls.contains(':'), "{}", back.sites.syscalls);
            assert_eq!(back.sites.net_rules.len(), policy.net.rules.len());
        }
    }
}
