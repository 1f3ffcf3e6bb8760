//! Narrowing a capability without the key: an appended block of checks.

use crate::Error;
use biscuit_auth::builder::{date, set, string, BlockBuilder, Term};
use biscuit_auth::UnverifiedBiscuit;
use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

/// What an attenuation restricts; every field given adds a check, none widens anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Only these scopes (intersected with what the capability grants).
    pub scopes: Option<Vec<String>>,
    /// No use after this time.
    pub expires: Option<SystemTime>,
    /// Only this audience.
    pub audience: Option<String>,
}

/// Append a block with `narrowing`'s checks to the capability `text` (no key needed; the
/// signatures are checked when it is verified).
pub fn attenuate(text: &str, narrowing: &Narrowing) -> Result<String, Error> {
    let token =
        UnverifiedBiscuit::from_base64(text.trim()).map_err(|e| Error::Malformed(e.to_string()))?;
    let block = block(narrowing)?;
    token
        .append(block)
        .and_then(|t| t.to_base64())
        .map_err(|e| Error::Build(e.to_string()))
}

fn block(n: &Narrowing) -> Result<BlockBuilder, Error> {
    let b = |e: biscuit_auth::error::Token| Error::Build(e.to_string());
    let mut block = BlockBuilder::new();
    let mut narrowed = false;
    if let Some(scopes) = &n.scopes {
        if scopes.is_empty() {
            return Err(Error::BadNarrowing(
                "an empty scope list allows nothing".into(),
            ));
        }
        let terms: BTreeSet<Term> = scopes.iter().map(|s| string(s)).collect();
        let params = HashMap::from([("scopes".to_string(), set(terms))]);
        block = block
            .code_with_params(
                "check if request_scope($s), {scopes}.contains($s);",
                params,
                HashMap::new(),
            )
            .map_err(b)?;
        narrowed = true;
    }
    if let Some(t) = n.expires {
        let params = HashMap::from([("expires".to_string(), date(&t))]);
        block = block
            .code_with_params(
                "check if time($t), $t <= {expires};",
                params,
                HashMap::new(),
            )
            .map_err(b)?;
        narrowed = true;
    }
    if let Some(a) = &n.audience {
        let params = HashMap::from([("audience".to_string(), string(a))]);
        block = block
            .code_with_params(
                "check if request_audience({audience});",
                params,
                HashMap::new(),
            )
            .map_err(b)?;
        narrowed = true;
    }
    if narrowed {
        Ok(block)
    } else {
        Err(Error::BadNarrowing(
            "give at least one of scopes, expiry or audience".into(),
        ))
    }
}
