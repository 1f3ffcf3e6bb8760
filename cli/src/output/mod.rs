//! Everything policyc prints, and the status it exits with: the one place output formats
//! are decided.
//!
//! - [`status`]: exit statuses;
//! - [`diagnostics`]: compiler diagnostics and I/O problems, as rustc-like text or JSON;
//! - [`audit`]: `policyc audit show`'s lines and filters;
//! - [`results`]: what `policyc test` found, as human lines, one JSON document or JUnit XML;
//! - [`progress`]: progress bars on a terminal, never in CI logs or JSON output;
//! - [`suppressions`]: the `allow warning`s `policyc check --explain-suppressions` lists.

pub mod audit;
pub mod diagnostics;
pub mod progress;
pub mod results;
pub mod status;
pub mod suppressions;

pub use diagnostics::{
    error_format, print_coded, print_diagnostics, print_file_error, print_io_error, print_message,
    print_usage_error, say, ErrorFormat, Level,
};
pub use status::Status;
