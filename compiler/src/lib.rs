//! policyc's front end: the `.policy` language, its checker, the checked IR and the
//! reference semantics every target is tested against.
//!
//! The crate is pure: it reads no files and writes nothing. Callers hand it source text
//! and a [`ModuleLoader`] for `use` imports, and get back IR and diagnostics.
//!
//! ```
//! use policyc_compiler::{compile, NoModules, SourceMap};
//! let mut sources = SourceMap::new();
//! let file = sources.add("p.policy", "policy p { isolation wasm\n fs { read \"/data\" } }");
//! let out = compile(&mut sources, file, &NoModules);
//! assert!(!out.diagnostics.has_errors());
//! assert_eq!(out.policies.len(), 1);
//! ```

pub mod ast;
pub mod check;
pub mod diag;
pub mod eval;
pub mod fmt;
pub mod hosts;
pub mod ir;
pub mod paths;
pub mod request;
pub mod span;
pub mod syntax;
pub mod syscalls;

pub use check::{check_home_lengths, compile, Compiled, ModuleLoader, NoModules, Suppressed};
pub use diag::{Code, Diagnostic, Diagnostics, Severity};
pub use eval::{decide, decide_at, run_tests, Decision, Verdict};
pub use request::Request;
pub use span::{FileId, SourceMap, Span, Spanned};
