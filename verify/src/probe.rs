//! What the verifier asks: a request in the language's vocabulary, or a raw syscall number
//! under some ABI (x32, i386 `int 0x80`, arm32), which no test block can write but every
//! filter must handle.

use policyc_compiler::eval::Decision;
use policyc_compiler::ir::{DenyAction, Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::syscalls::{self, Arch};
use policyc_compiler::{decide, Request};
use policyc_targets::{Artifacts, Target, Verdict};
use serde::Serialize;
use std::fmt;

/// One question for the reference semantics and every target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Probe {
    Request(Request),
    /// A syscall by number under `abi`; x32 numbers are given without the x32 bit.
    Raw {
        abi: Arch,
        nr: u32,
        args: [u64; 6],
    },
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Request(r) => write!(f, "{r}"),
            Probe::Raw { abi, nr, args } => {
                write!(f, "syscall #{nr:#x} under the {} ABI", abi.name())?;
                if args.iter().any(|a| *a != 0) {
                    let shown: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
                    write!(f, " with args ({})", shown.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

impl From<Request> for Probe {
    fn from(r: Request) -> Self {
        Probe::Request(r)
    }
}

/// The reference decision. A raw syscall under a native ABI is decided by the name its
/// number has in that ABI's table (no name: the default action); any other ABI is killed.
pub fn reference(policy: &Policy, probe: &Probe) -> Decision {
    match probe {
        Probe::Request(r) => decide(policy, r),
        Probe::Raw { abi, nr, args } => {
            let native = Arch::NATIVE.contains(abi);
            match syscalls::name(*abi, *nr).filter(|_| native) {
                Some(name) => decide(
                    policy,
                    &Request::Syscall {
                        name: name.to_string(),
                        args: *args,
                    },
                ),
                None if native => Decision {
                    allow: false,
                    action: Some(policy.syscalls.default),
                    reason: format!("no {} syscall has number {nr:#x}", abi.name()),
                    span: None,
                },
                None => Decision {
                    allow: false,
                    action: Some(DenyAction::Kill),
                    reason: format!("the {} ABI is killed by the filter", abi.name()),
                    span: None,
                },
            }
        }
    }
}

/// What one target's simulator says.
pub fn simulate(target: &dyn Target, artifacts: &Artifacts, probe: &Probe) -> Verdict {
    match probe {
        Probe::Request(r) => target.simulate(artifacts, r),
        Probe::Raw { abi, nr, args } => target.simulate_raw(artifacts, *abi, *nr, *args),
    }
}

/// The form of a probe the reference semantics understands, given the home directory the
/// artifacts were emitted for. Under process isolation the program sees host paths, and
/// `decide` keeps `~` symbolic: an absolute path inside the home directory names the same
/// object as its `~` spelling, so it is decided in that spelling.
pub fn for_reference(policy: &Policy, home: Option<&str>, probe: &Probe) -> Probe {
    let (Some(home), Probe::Request(Request::Fs { path, .. } | Request::Meta { path, .. })) =
        (home, probe)
    else {
        return probe.clone();
    };
    if policy.isolation != Isolation::Process {
        return probe.clone();
    }
    let Ok(home) = CanonPath::parse(home) else {
        return probe.clone();
    };
    match path.strip_prefix(&home) {
        Some(rest) => {
            let tilde = if rest.is_empty() {
                "~".to_string()
            } else {
                format!("~/{rest}")
            };
            match CanonPath::parse_request(&tilde) {
                Ok(path) => Probe::Request(match probe {
                    Probe::Request(Request::Meta { change, .. }) => Request::Meta {
                        change: *change,
                        path,
                    },
                    Probe::Request(Request::Fs { access, .. }) => Request::Fs {
                        access: *access,
                        path,
                    },
                    _ => return probe.clone(),
                }),
                Err(_) => probe.clone(),
            }
        }
        None => probe.clone(),
    }
}
