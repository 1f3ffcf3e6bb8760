//! policyc's front end: the `.policy` language, its checker, the checked IR and the
//! reference semantics every target is tested against.
//!
//! The crate is pure: it reads no files and writes nothing. Callers hand it source text
//! and a [`ModuleLoader`] for `use` imports, and get back IR and diagnostics.

pub mod ast;
pub mod diag;
pub mod span;
pub mod syntax;

pub use diag::{Code, Diagnostic, Diagnostics, Severity};
pub use span::{FileId, SourceMap, Span, Spanned};
pub mod syscalls;
