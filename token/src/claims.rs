//! What a capability states, read from its authority block.

use crate::Error;
use biscuit_auth::{Authorizer, AuthorizerBuilder, AuthorizerLimits, Biscuit, UnverifiedBiscuit};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the authority block of a capability grants (never its text or key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The policy's token name.
    pub token: String,
    /// A random id, unique per capability minted.
    pub id: String,
    /// The hash of the policy it was minted under.
    pub policy: String,
    /// The host it may be presented to.
    pub audience: String,
    /// What it allows, sorted.
    pub scopes: Vec<String>,
    /// Unix seconds after which it is refused.
    pub expires: u64,
    /// True when it is single-use (`approval required`).
    pub approval: bool,
}

/// A capability as `policyc token inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// The claims, when the signatures were verified with a key.
    pub claims: Option<Claims>,
    /// Each block's Datalog, authority block first.
    pub blocks: Vec<String>,
    /// True when the signatures were checked (and held).
    pub verified: bool,
}

/// Limits of the Datalog run that reads and checks a capability. The fact and iteration
/// limits are biscuit's defaults and bound what a hostile token can make the engine do;
/// the time limit is wider than biscuit's 1 ms, which a busy machine exceeds on ordinary
/// capabilities and which then read as refusals.
pub(crate) fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_time: Duration::from_millis(100),
        ..AuthorizerLimits::default()
    }
}

impl Claims {
    /// Read the authority block of a verified capability.
    pub(crate) fn read(token: &Biscuit) -> Result<Claims, Error> {
        let bad = |e: biscuit_auth::error::Token| Error::Malformed(e.to_string());
        let mut a = AuthorizerBuilder::new()
            .set_limits(limits())
            .build(token)
            .map_err(bad)?;
        let one = |a: &mut Authorizer, name: &str| -> Result<String, Error> {
            let v: Vec<(String,)> = a
                .query(format!("data($v) <- {name}($v)").as_str())
                .map_err(bad)?;
            match v.as_slice() {
                [(s,)] => Ok(s.clone()),
                _ => Err(Error::Malformed(format!(
                    "the authority block must state exactly one `{name}`"
                ))),
            }
        };
        let mut scopes: Vec<String> = a
            .query::<_, (String,), _>("data($v) <- scope($v)")
            .map_err(bad)?
            .into_iter()
            .map(|(s,)| s)
            .collect();
        scopes.sort();
        let expires: Vec<(SystemTime,)> = a.query("data($v) <- expires($v)").map_err(bad)?;
        let expires = match expires.as_slice() {
            [(t,)] => t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            _ => return Err(Error::Malformed("no single `expires`".into())),
        };
        let approval: Vec<(bool,)> = a.query("data($v) <- approval($v)").map_err(bad)?;
        Ok(Claims {
            token: one(&mut a, "token")?,
            id: one(&mut a, "token_id")?,
            policy: one(&mut a, "policy")?,
            audience: one(&mut a, "audience")?,
            scopes,
            expires,
            approval: approval.iter().any(|(b,)| *b),
        })
    }
}

/// Each block's Datalog, without checking any signature.
pub(crate) fn blocks(token: &UnverifiedBiscuit) -> Vec<String> {
    (0..token.block_count())
        .map(|i| token.print_block_source(i).unwrap_or_default())
        .collect()
}
