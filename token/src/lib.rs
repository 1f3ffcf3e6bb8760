//! Capability tokens for the egress supervisor.
//!
//! A policy's `token` block (audience, scopes, ttl, approval) becomes a [biscuit] the
//! supervisor mints per session with a key it holds in memory only ([`Issuer`]). The
//! capability's authority block states what the policy granted:
//!
//! ```text
//! token("api"); token_id("5f0c..."); policy("sha256:...");
//! audience("api.example.com"); scope("read"); scope("write");
//! expires(2026-12-07T14:03:00Z); approval(false);
//! check if time($t), $t <= 2026-12-07T14:03:00Z;
//! ```
//!
//! Anyone holding a capability can narrow it ([`attenuate`]) by appending a signed block
//! of checks (fewer scopes, an earlier expiry, one audience); nobody can widen it, because
//! the verifier's allow policy reads only the authority block and every block's checks
//! must hold. [`Issuer::verify`] checks, in order: the signature chain, the expiry, the
//! audience, the scope, every check an attenuation added, and for `approval required`
//! tokens that the capability's id has not been used before.
//!
//! [biscuit]: https://www.biscuitsec.org/

mod attenuate;
mod claims;
mod error;
mod issuer;

pub use attenuate::{attenuate, Narrowing};
pub use claims::{Claims, Inspection};
pub use error::{Error, Refusal};
pub use issuer::{inspect, Grant, Issuer, Request};

#[cfg(test)]
mod tests;
