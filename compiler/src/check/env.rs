//! `env { pass ...; set ... }` to IR: the program's environment holds only what the policy
//! names. A name set twice, or both passed and set, is an error (P0319); passing a name that
//! looks like a credential is a warning (P0411).

use crate::ast::EnvRule;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir::{Env, Threat};
use crate::span::Span;
use std::collections::BTreeSet;

/// The `env` rules of one policy (its includes spliced in) as IR.
pub(super) fn to_ir(
    rules: &[&EnvRule],
    threats: &BTreeSet<Threat>,
    diags: &mut Diagnostics,
) -> Env {
    let mut env = Env::default();
    let mut first: BTreeSet<&str> = BTreeSet::new();
    for rule in rules {
        match rule {
            EnvRule::Pass(names, _) => {
                for n in names {
                    if first.contains(n.node.as_str()) {
                        if env.set.contains_key(&n.node) {
                            diags.push(conflict(&n.node, n.span));
                        }
                        continue;
                    }
                    first.insert(n.node.as_str());
                    if looks_secret(&n.node) {
                        diags.push(secret(&n.node, n.span, threats));
                    }
                    env.pass.insert(n.node.clone());
                }
            }
            EnvRule::Set { name, value, .. } => {
                if first.contains(name.node.as_str()) {
                    diags.push(conflict(&name.node, name.span));
                    continue;
                }
                first.insert(name.node.as_str());
                if value.node.contains('\0') {
                    diags.push(
                        Diagnostic::new(
                            Code::EnvConflict,
                            value.span,
                            format!("the value of `{}` holds a NUL byte", name.node),
                        )
                        .with_hint("an environment value cannot hold NUL; remove the `\\0`"),
                    );
                    continue;
                }
                env.set.insert(name.node.clone(), value.node.clone());
            }
        }
    }
    env
}

fn conflict(name: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::EnvConflict,
        span,
        format!("environment variable `{name}` is already passed or set"),
    )
    .with_hint(format!("keep one `pass` or one `set` of `{name}`"))
}

fn secret(name: &str, span: Span, threats: &BTreeSet<Threat>) -> Diagnostic {
    let why =
        if threats.contains(&Threat::CredentialTheft) || threats.contains(&Threat::Exfiltration) {
            " (the policy defends against credential theft or exfiltration)"
        } else {
            ""
        };
    Diagnostic::new(
        Code::SecretEnvPassed,
        span,
        format!("`pass {name}` hands the program what looks like a credential{why}"),
    )
    .with_hint("give the program a scoped `token` through the egress proxy instead, or `set` a value that is not a secret")
}

/// Names of variables that usually hold credentials or reach a credential agent.
pub fn looks_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    const PREFIXES: &[&str] = &["AWS_", "AZURE_", "GCP_", "GOOGLE_", "VAULT_", "OP_"];
    const SUFFIXES: &[&str] = &["_TOKEN", "_KEY", "_KEYS", "_PAT", "_AUTH", "_SOCK"];
    const WORDS: &[&str] = &[
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
        "PRIVATE",
        "SESSION",
        "COOKIE",
    ];
    PREFIXES.iter().any(|p| up.starts_with(p))
        || SUFFIXES.iter().any(|s| up.ends_with(s))
        || WORDS.iter().any(|w| up.contains(w))
        || matches!(
            up.as_str(),
            "TOKEN" | "KUBECONFIG" | "NETRC" | "GPG_AGENT_INFO"
        )
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn credential_names_look_secret_and_locale_names_do_not() {
        for n in [
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "OPENAI_API_KEY",
            "SSH_AUTH_SOCK",
            "DB_PASSWORD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "npm_token",
            "KUBECONFIG",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in [
            "LANG",
            "TERM",
            "LC_ALL",
            "TZ",
            "PYTHONDONTWRITEBYTECODE",
            "COLUMNS",
        ] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}
