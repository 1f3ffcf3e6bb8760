//! Random policies: one model of a `.policy` file ([`PolicyModel`]), its source text
//! ([`PolicyModel::source`]), and the ways tests draw one.
//!
//! - `arbitrary`: every model type implements [`arbitrary::Arbitrary`], so fuzz targets
//!   decode models from their input bytes (valid and invalid policies alike);
//!   [`PolicyModel::sanitized`] mends a model so it likely compiles.
//! - [`strategy::well_formed`] (feature `proptest`): a proptest strategy over well-formed
//!   policies of every isolation level, which shrinks.
//! - [`seeded::process_policy`]: `process` policies from a seeded [`Rng`], for live tests
//!   that want the same sample on every run.
//!
//! [`Rng`]: policyc_verify::rng::Rng

mod build;
mod model;
pub mod render;
mod sanitize;
pub mod seeded;
#[cfg(feature = "proptest")]
pub mod strategy;
#[cfg(test)]
mod tests;

pub use model::*;
