//! Importers: other tools' sandbox settings as `.policy` text.
//!
//! Each importer reads another tool's format (already in memory: no I/O here) and writes a
//! policy whose blocks mean exactly what the input means, or fails with an [`ImportError`]
//! that names the place in the input (a JSON path such as `syscalls[12].args[0].op`). Nothing is silently widened: what the language cannot express
//! exactly is an error, and what is left out on purpose (names that exist only on 32-bit
//! ABIs, which policyc kills) is listed in a comment of the output.
//!
//! Three importers: [`seccomp`] (OCI, Docker and Podman seccomp profiles into a `syscalls`
//! block), [`sandbox_runtime`] (anthropic-experimental/sandbox-runtime settings) and
//! [`landrun`] (a landrun command line), the last two into `fs` and `net` blocks. Places
//! are JSON paths, or `argv[N]` for a command line.
//!
//! The importers live beside the targets because they are the targets' inverses: the
//! seccomp importer reuses the seccomp target's exact argument arithmetic (`dnf`) to prove
//! that overlapping entries cannot change the meaning, and its output is checked by
//! building it with the same target. The output goes through the compiler's canonical
//! printer, so it is `policyc fmt`-clean.

mod fsnet;
pub mod landrun;
mod render;
pub mod sandbox_runtime;
pub mod seccomp;
mod value;

use policyc_compiler::Code;

pub use render::{format_policy, ident};

/// Why an input could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
#[non_exhaustive]
pub struct ImportError {
    /// [`Code::ImportInvalid`] or [`Code::ImportInexact`].
    pub code: Code,
    /// Where in the input: a JSON path (`syscalls[3].action`).
    pub place: String,
    /// What is wrong, lower case.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ImportError {
    /// The input is not a valid document of its format.
    pub fn invalid(place: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError {
            code: Code::ImportInvalid,
            place: place.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// The input means something a policy cannot say exactly.
    pub fn inexact(place: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError {
            code: Code::ImportInexact,
            place: place.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// An imported policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The policy file, canonically formatted.
    pub text: String,
}
