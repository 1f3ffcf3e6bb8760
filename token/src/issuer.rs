//! The session's signing key: minting and verifying capabilities.

use crate::claims::{self, Claims, Inspection};
use crate::{Error, Refusal};
use biscuit_auth::builder::{date, fact, string, Algorithm, Term};
use biscuit_auth::error::{FailedCheck, Logic, Token as TokenError};
use biscuit_auth::{AuthorizerBuilder, Biscuit, KeyPair, PrivateKey, UnverifiedBiscuit};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a policy's `token` block grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's name in the policy.
    pub name: String,
    /// The host it may be presented to.
    pub audience: String,
    /// What it allows (at least one).
    pub scopes: Vec<String>,
    /// How long it lives after minting.
    pub ttl: Duration,
    /// `approval required`: single-use.
    pub approval: bool,
}

/// What a capability is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The host the connection is for.
    pub audience: &'a str,
    /// The scope the use needs.
    pub scope: &'a str,
    /// The time of the use.
    pub now: SystemTime,
}

/// A signing key, held in memory for one session, and the ids of single-use capabilities
/// already presented.
pub struct Issuer {
    keys: KeyPair,
    policy: String,
    used: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("public_key", &self.public_key())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A fresh random key for a session under the policy whose hash is `policy`.
    pub fn generate(policy: &str) -> Issuer {
        Issuer::with_keys(KeyPair::new_with_algorithm(Algorithm::Ed25519), policy)
    }

    /// The key from its text form (`ed25519-private/<hex>`, as [`Issuer::key_text`] writes).
    pub fn from_key_text(text: &str, policy: &str) -> Result<Issuer, Error> {
        let key: PrivateKey = text
            .trim()
            .parse()
            .map_err(|e: biscuit_auth::error::Format| Error::BadKey(e.to_string()))?;
        Ok(Issuer::with_keys(KeyPair::from(&key), policy))
    }

    fn with_keys(keys: KeyPair, policy: &str) -> Issuer {
        Issuer {
            keys,
            policy: policy.to_string(),
            used: Mutex::new(BTreeSet::new()),
        }
    }

    /// The private key's text form, for a key file. A secret: never print it.
    pub fn key_text(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(self.keys.private().to_prefixed_string())
    }

    /// The public key's text form (`ed25519/<hex>`), safe to show.
    pub fn public_key(&self) -> String {
        self.keys.public().to_string()
    }

    /// Mint a capability for `grant`, valid from `now` for its ttl: its text (base64) and
    /// what it states.
    pub fn mint(&self, grant: &Grant, now: SystemTime) -> Result<(String, Claims), Error> {
        check_grant(grant)?;
        let expires = expiry(now, grant.ttl);
        let id = random_id()?;
        let b = |e: TokenError| Error::Build(e.to_string());
        let mut builder = Biscuit::builder()
            .fact(fact("token", &[string(&grant.name)]))
            .map_err(b)?
            .fact(fact("token_id", &[string(&id)]))
            .map_err(b)?
            .fact(fact("policy", &[string(&self.policy)]))
            .map_err(b)?
            .fact(fact("audience", &[string(&grant.audience)]))
            .map_err(b)?
            .fact(fact("expires", &[date(&expires)]))
            .map_err(b)?
            .fact(fact("approval", &[Term::Bool(grant.approval)]))
            .map_err(b)?;
        for s in &grant.scopes {
            builder = builder.fact(fact("scope", &[string(s)])).map_err(b)?;
        }
        let params = HashMap::from([("expires".to_string(), date(&expires))]);
        builder = builder
            .code_with_params(
                "check if time($t), $t <= {expires};",
                params,
                HashMap::new(),
            )
            .map_err(b)?;
        let token = builder.build(&self.keys).map_err(b)?;
        let claims = Claims::read(&token)?;
        let text = token.to_base64().map_err(b)?;
        Ok((text, claims))
    }

    /// Check the signatures only and read what the capability states.
    pub fn read(&self, text: &str) -> Result<Claims, Refusal> {
        let token = self.parse(text)?;
        Claims::read(&token).map_err(|e| Refusal::Tampered(e.to_string()))
    }

    /// Verify `text` for `request`: signatures, expiry, audience, scope, every attenuation
    /// check, and, for single-use capabilities, that its id was never presented before (a
    /// successful verification of one uses it up).
    pub fn verify(&self, text: &str, request: &Request<'_>) -> Result<Claims, Refusal> {
        if text.trim().is_empty() {
            return Err(Refusal::Missing);
        }
        let token = self.parse(text)?;
        let claims = Claims::read(&token).map_err(|e| Refusal::Tampered(e.to_string()))?;
        precheck(&claims, request)?;
        authorize(&token, &claims, request)?;
        if claims.approval {
            let mut used = self.used.lock().map_err(|_| Refusal::Replayed {
                token: claims.token.clone(),
                id: claims.id.clone(),
            })?;
            if !used.insert(claims.id.clone()) {
                return Err(Refusal::Replayed {
                    token: claims.token.clone(),
                    id: claims.id.clone(),
                });
            }
        }
        Ok(claims)
    }

    fn parse(&self, text: &str) -> Result<Biscuit, Refusal> {
        Biscuit::from_base64(text.trim(), self.keys.public())
            .map_err(|e| Refusal::Tampered(e.to_string()))
    }
}

/// Read a capability without a key: each block's Datalog, and with `issuer` the verified
/// claims.
pub fn inspect(text: &str, issuer: Option<&Issuer>) -> Result<Inspection, Error> {
    let raw =
        UnverifiedBiscuit::from_base64(text.trim()).map_err(|e| Error::Malformed(e.to_string()))?;
    let blocks = claims::blocks(&raw);
    let claims = match issuer {
        Some(i) => Some(i.read(text).map_err(|e| Error::Malformed(e.to_string()))?),
        None => None,
    };
    Ok(Inspection {
        verified: claims.is_some(),
        claims,
        blocks,
    })
}

fn check_grant(g: &Grant) -> Result<(), Error> {
    if g.name.is_empty() || g.audience.is_empty() {
        return Err(Error::BadGrant(
            "a token needs a name and an audience".into(),
        ));
    }
    if g.scopes.is_empty() {
        return Err(Error::BadGrant(format!(
            "token `{}` grants no scope",
            g.name
        )));
    }
    if g.ttl.is_zero() {
        return Err(Error::BadGrant(format!(
            "token `{}` has a ttl of zero",
            g.name
        )));
    }
    Ok(())
}

/// `now + ttl`, rounded down to the second (the precision of a Datalog date).
fn expiry(now: SystemTime, ttl: Duration) -> SystemTime {
    let at = now.checked_add(ttl).unwrap_or(now);
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn random_id() -> Result<String, Error> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| Error::Build(format!("no randomness: {e}")))?;
    Ok(hex::encode(id))
}

/// The refusals the claims alone decide, with precise reasons.
fn precheck(c: &Claims, r: &Request<'_>) -> Result<(), Refusal> {
    let now = r.now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now > c.expires {
        return Err(Refusal::Expired {
            token: c.token.clone(),
            expired: c.expires,
        });
    }
    if c.audience != r.audience {
        return Err(Refusal::WrongAudience {
            token: c.token.clone(),
            audience: c.audience.clone(),
            requested: r.audience.to_string(),
        });
    }
    if !c.scopes.iter().any(|s| s == r.scope) {
        return Err(Refusal::WrongScope {
            token: c.token.clone(),
            requested: r.scope.to_string(),
            granted: c.scopes.join(", "),
        });
    }
    Ok(())
}

/// The Datalog decision: the authority block's grant and every block's checks.
fn authorize(token: &Biscuit, c: &Claims, r: &Request<'_>) -> Result<(), Refusal> {
    let narrowed = |check: String| Refusal::Narrowed {
        token: c.token.clone(),
        check,
    };
    let err = |e: TokenError| narrowed(e.to_string());
    let mut a = AuthorizerBuilder::new()
        .set_limits(claims::limits())
        .fact(fact("time", &[date(&r.now)]))
        .map_err(err)?
        .fact(fact("request_audience", &[string(r.audience)]))
        .map_err(err)?
        .fact(fact("request_scope", &[string(r.scope)]))
        .map_err(err)?
        .code(
            "allow if audience($a), request_audience($a), scope($s), request_scope($s);\n\
             deny if true;",
        )
        .map_err(err)?
        .build(token)
        .map_err(err)?;
    match a.authorize() {
        Ok(_) => Ok(()),
        Err(TokenError::FailedLogic(Logic::Unauthorized { checks, .. }))
        | Err(TokenError::FailedLogic(Logic::NoMatchingPolicy { checks })) => {
            Err(narrowed(describe(&checks)))
        }
        Err(e) => Err(err(e)),
    }
}

fn describe(checks: &[FailedCheck]) -> String {
    if checks.is_empty() {
        return "the authority block does not grant it".into();
    }
    checks
        .iter()
        .map(|c| match c {
            FailedCheck::Block(b) => format!("block {}: {}", b.block_id, b.rule),
            FailedCheck::Authorizer(a) => format!("verifier: {}", a.rule),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
