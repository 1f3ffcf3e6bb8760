//! The panic hook: a panic is a bug in policyc, and says so.

/// Say that a panic is policyc's bug and ask for a report, then print the panic as usual.
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "policyc hit an internal error; this is a bug in policyc, not in your policy.\n\
             Please report it with the policy file and the command line that caused it."
        );
        default(info);
    }));
}
