//! The panic hook: a panic is a bug in policyc, and says so.

use crate::output::{error_format, print_message, ErrorFormat, Level};

/// Say that a panic is policyc's bug and ask for a report, then print the panic as usual
/// (with `--error-format json`, as one JSON object holding the panic in `detail`).
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message =
            "policyc hit an internal error; this is a bug in policyc, not in your policy.\n\
             Please report it with the policy file and the command line that caused it.";
        let format = error_format();
        print_message(
            format,
            message,
            "internal",
            Level::Error,
            message,
            &[("detail", info.to_string().into())],
        );
        if format == ErrorFormat::Human {
            default(info);
        }
    }));
}
