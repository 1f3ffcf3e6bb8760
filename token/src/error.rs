//! Why a capability could not be made, read or used.

/// Why a key, a capability or an attenuation could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key text is not `ed25519-private/<64 hex digits>`.
    #[error("the key is not an ed25519 private key (`ed25519-private/<hex>`): {0}")]
    BadKey(String),
    /// The capability text is not a biscuit (bad base64 or protobuf).
    #[error("not a capability token: {0}")]
    Malformed(String),
    /// The grant cannot be expressed (an empty audience, no scope, a ttl of zero).
    #[error("the grant is not valid: {0}")]
    BadGrant(String),
    /// An attenuation that narrows nothing or names no scope.
    #[error("the attenuation is not valid: {0}")]
    BadNarrowing(String),
    /// The token library failed to build a block.
    #[error("cannot build the capability: {0}")]
    Build(String),
}

/// Why a capability was refused for a request: each variant is a distinct, auditable
/// reason. A refusal never carries the capability's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No capability was presented.
    #[error("no capability was presented")]
    Missing,
    /// The bytes are not a capability, or its signatures do not verify with this session's
    /// key (tampered, stripped of a block, or minted by another key).
    #[error("the capability does not verify with this session's key (tampered or foreign): {0}")]
    Tampered(String),
    /// Its expiry has passed.
    #[error("the capability `{token}` expired at {expired} (unix seconds)")]
    Expired { token: String, expired: u64 },
    /// It was minted for another audience.
    #[error("the capability `{token}` is for `{audience}`, not `{requested}`")]
    WrongAudience {
        token: String,
        audience: String,
        requested: String,
    },
    /// Its scopes do not include the requested one.
    #[error("the capability `{token}` does not grant scope `{requested}` (it grants {granted})")]
    WrongScope {
        token: String,
        requested: String,
        granted: String,
    },
    /// A check an attenuation added refused the request.
    #[error("the capability `{token}` was narrowed and refuses this request: {check}")]
    Narrowed { token: String, check: String },
    /// A single-use (approval) capability was presented again.
    #[error("the single-use capability `{token}` (id {id}) was already used")]
    Replayed { token: String, id: String },
}

impl Refusal {
    /// A short, stable name for audit records (`expired`, `wrong-audience`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Tampered(_) => "tampered",
            Refusal::Expired { .. } => "expired",
            Refusal::WrongAudience { .. } => "wrong-audience",
            Refusal::WrongScope { .. } => "wrong-scope",
            Refusal::Narrowed { .. } => "narrowed",
            Refusal::Replayed { .. } => "replayed",
        }
    }
}
