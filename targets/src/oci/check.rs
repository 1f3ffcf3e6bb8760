//! What the OCI target refuses to build: mounts that hand the program the host, paths through
//! `/proc/<pid>/fd`, a missing home directory, and a syscall filter that lets the program
//! create a user namespace.

use super::internal;
use crate::common::{resolve_home, HomeFindings};
use crate::seccomp::{Seccomp, JSON_ARTIFACT};
use crate::{EmitContext, Target, Verdict};
use oci_spec::runtime::LinuxSeccomp;
use policyc_compiler::ir::{Mount, MountKind, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic, Request};

/// Runtime sockets and state, and privileged daemons' sockets: a mount that is, holds or lies
/// inside one of these hands the program the host.
pub(crate) const RUNTIME_SOCKETS: &[&str] = &[
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/docker",
    "/var/run/docker",
    "/run/containerd",
    "/var/run/containerd",
    "/run/crio",
    "/var/run/crio",
    "/run/podman",
    "/var/run/podman",
    "/run/cri-dockerd.sock",
    "/var/run/cri-dockerd.sock",
    "/run/buildkit",
    "/var/run/buildkit",
    "/run/k3s",
    "/run/k0s",
    "/run/runc",
    "/var/run/runc",
    "/run/crun",
    "/run/youki",
    "/run/libvirt",
    "/var/run/libvirt",
    "/run/lxd",
    "/var/snap/lxd/common/lxd",
    "/run/snapd.socket",
    "/run/snapd-snap.socket",
    "/run/dbus",
    "/var/run/dbus",
    "/run/systemd",
    "/var/run/systemd",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/containers",
    "/var/lib/kubelet",
    "/var/lib/lxd",
];

/// Users' runtime directories (agents, D-Bus, Wayland, rootless runtimes' sockets).
pub(crate) const USER_RUNTIME_DIRS: &[&str] = &["/run/user", "/var/run/user"];

/// Credential folders and files in the home directory (relative to it).
pub(crate) const CREDENTIALS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".kube",
    ".docker",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".config/containers",
    ".config/sops",
    ".local/share/containers",
    ".local/share/keyrings",
    ".password-store",
    ".pki",
    ".minikube",
    ".netrc",
    ".git-credentials",
    ".vault-token",
    ".terraform.d",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials.toml",
    ".cargo/credentials",
    ".mozilla",
    ".thunderbird",
    ".config/google-chrome",
    ".config/chromium",
];

/// Kernel file systems the runtime mounts itself.
pub(crate) const SYSTEM: &[&str] = &["/proc", "/sys", "/dev"];

const TARGET: &str = "target `oci`";

/// The findings about the home directory (`P1007`): the bind sources' checks need it.
const HOME: HomeFindings = {
    let hint =
        "pass the absolute home directory the bind sources live in (`--home`, default $HOME)";
    HomeFindings {
        target: TARGET,
        code: Code::OciHomeUnknown,
        bad_hint: hint,
        missing_hint: hint,
    }
};

fn canon(s: &str) -> Option<CanonPath> {
    CanonPath::parse(s).ok()
}

/// True for a path through a process's handles: `/proc/<pid|self|thread-self>/...`,
/// `/dev/fd`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr`.
pub(crate) fn through_proc_handles(p: &CanonPath) -> bool {
    let mut parts = p.as_str().split('/').filter(|c| !c.is_empty());
    match (parts.next(), parts.next()) {
        (Some("proc"), Some(pid)) => {
            pid == "self"
                || pid == "thread-self"
                || (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        }
        (Some("dev"), Some(h)) => matches!(h, "fd" | "stdin" | "stdout" | "stderr"),
        _ => false,
    }
}

/// True when `p` is at or beneath `/proc`, `/sys` or `/dev`.
pub(crate) fn in_system(p: &CanonPath) -> bool {
    SYSTEM
        .iter()
        .filter_map(|s| canon(s))
        .any(|s| p.starts_with(&s))
}

/// The home directory bind sources resolve with, if given and usable; an error if it is
/// needed and missing, or given and not an absolute directory below `/`.
pub(crate) fn home(
    policy: &Policy,
    given: Option<&str>,
) -> Result<Option<CanonPath>, Vec<Diagnostic>> {
    let hint = HOME.missing_hint;
    let home = HOME.given(policy, given)?;
    if let Some(h) = &home {
        if through_proc_handles(h) || in_system(h) {
            return Err(vec![Diagnostic::new(
                Code::OciProcFd,
                policy.span,
                format!("{TARGET}: the home directory `{h}` goes through a kernel file system or a process's handles"),
            )
            .with_hint(hint)]);
        }
        return Ok(home);
    }
    let errors: Vec<Diagnostic> = policy
        .fs
        .mounts
        .iter()
        .filter_map(|m| m.host().map(|h| (m, h)))
        .map(|(m, h)| {
            let why = if h.is_home() {
                "is in the home directory"
            } else {
                "must be checked against the home directory's credential folders"
            };
            Diagnostic::new(
                Code::OciHomeUnknown,
                m.span,
                format!("{TARGET}: the bind source `{h}` {why}, and no home directory was given"),
            )
            .with_hint(hint)
        })
        .collect();
    if errors.is_empty() {
        Ok(None)
    } else {
        Err(errors)
    }
}

/// `inside` when `source` lies at or beneath `danger`, `holds` when it is above it.
fn overlap(source: &CanonPath, danger: &CanonPath) -> Option<&'static str> {
    if source.starts_with(danger) {
        Some(if source == danger {
            "is"
        } else {
            "lies inside"
        })
    } else if danger.starts_with(source) {
        Some("holds")
    } else {
        None
    }
}

/// How `source` relates to the first entry of `list` it overlaps, as words: `is X`, `lies
/// inside `D`, X`, `holds `D`, X` (X says what `D` is).
fn first_overlap(source: &CanonPath, list: &[CanonPath], what: &str) -> Option<String> {
    list.iter().find_map(|d| {
        overlap(source, d).map(|how| match how {
            "is" => format!("is {what}"),
            _ => format!("{how} `{d}`, {what}"),
        })
    })
}

/// Every error about one mount's guest path and source.
fn mount_errors(m: &Mount, home: Option<&CanonPath>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let guest = &m.guest;
    if through_proc_handles(guest) {
        out.push(
            Diagnostic::new(
                Code::OciProcFd,
                m.span,
                format!("{TARGET}: the guest path `{guest}` goes through a process's handles (`/proc/<pid>/...`, `/dev/fd`)"),
            )
            .with_hint("mount at a plain directory such as `/mnt/data`"),
        );
    } else if guest.as_str() == "/" || in_system(guest) {
        out.push(
            Diagnostic::new(
                Code::OciReservedGuestPath,
                m.span,
                format!("{TARGET}: the guest path `{guest}` is the root or lies where the runtime mounts /proc, /sys or /dev"),
            )
            .with_hint("mount at a plain directory such as `/mnt/data`"),
        );
    }
    let MountKind::Bind { host, .. } = &m.kind else {
        return out;
    };
    let Some(source) = resolve_home(home, host) else {
        return out;
    };
    let shown = if &source == host {
        format!("`{source}`")
    } else {
        format!("`{host}` (`{source}`)")
    };
    let err = |code: Code, msg: String, hint: &str| {
        Diagnostic::new(
            code,
            m.span,
            format!("{TARGET}: the bind source {shown} {msg}"),
        )
        .with_hint(hint.to_string())
    };
    let list = |l: &[&str]| -> Vec<CanonPath> { l.iter().filter_map(|s| canon(s)).collect() };
    let creds: Vec<CanonPath> = home
        .map(|h| CREDENTIALS.iter().map(|c| h.join(c)).collect())
        .unwrap_or_default();
    let d = if through_proc_handles(&source) {
        err(
            Code::OciProcFd,
            "goes through a process's handles (`/proc/<pid>/...`, `/dev/fd`), which can point anywhere".to_string(),
            "name the folder itself",
        )
    } else if source.as_str() == "/" {
        err(
            Code::OciSystemSource,
            "is the host's whole file system".to_string(),
            "mount only the folders the agent needs",
        )
    } else if let Some(how) =
        first_overlap(&source, &list(SYSTEM), "a kernel file system of the host")
    {
        err(
            Code::OciSystemSource,
            how,
            "the runtime gives the container its own /proc, /sys and /dev; mount only ordinary folders",
        )
    } else if let Some(how) = first_overlap(
        &source,
        &list(RUNTIME_SOCKETS),
        "a container runtime's or privileged daemon's socket or state",
    ) {
        err(
            Code::OciRuntimeSocket,
            format!("{how}: whoever reaches it controls the host"),
            "never mount runtime sockets into a sandbox; mount only the folders the agent needs",
        )
    } else if let Some(how) = first_overlap(
        &source,
        &list(USER_RUNTIME_DIRS),
        "where users' agents, D-Bus, Wayland and rootless runtimes keep their sockets",
    ) {
        err(
            Code::OciUserRuntimeDir,
            how,
            "mount only the folders the agent needs",
        )
    } else if let Some(how) =
        home.and_then(|h| overlap(&source, h).filter(|how| *how != "lies inside"))
    {
        err(
            Code::OciCredentialSource,
            format!("{how} the home directory, with every credential in it"),
            "mount the folders the agent needs, such as `~/Documents`",
        )
    } else if let Some(how) = first_overlap(&source, &creds, "a credential location") {
        err(
            Code::OciCredentialSource,
            how,
            "credentials never enter a sandbox; give the agent a scoped token instead",
        )
    } else if let Some(rest) = home
        .filter(|_| !host.is_home())
        .and_then(|h| source.strip_prefix(h))
    {
        err(
            Code::OciHomeSpelledOut,
            "lies inside the home directory but is written as an absolute path, so denies and requests written with `~` (such as `deny secrets`) would not match it".to_string(),
            &format!("write it as `~/{rest}`"),
        )
    } else {
        return out;
    };
    out.push(d);
    out
}

/// Errors about every mount of the policy.
pub(crate) fn mounts(policy: &Policy, home: Option<&CanonPath>) -> Vec<Diagnostic> {
    policy
        .fs
        .mounts
        .iter()
        .flat_map(|m| mount_errors(m, home))
        .collect()
}

/// `CLONE_NEWUSER`.
const CLONE_NEWUSER: u64 = 0x1000_0000;

/// Flag words a filter might let through while creating a user namespace.
/// (`clone3` takes its flags behind a pointer, so any allowed `clone3` counts.)
const USERNS_FLAGS: &[u64] = &[
    CLONE_NEWUSER,
    CLONE_NEWUSER | 17,                    // a fork (SIGCHLD)
    CLONE_NEWUSER | 0x003d_0f00,           // a thread
    CLONE_NEWUSER | 0x0002_0000,           // with a mount namespace
    CLONE_NEWUSER | 0x7e02_0000,           // with every other namespace
    CLONE_NEWUSER | 0x1_0000_0000,         // upper bits set (ignored by the kernel)
    CLONE_NEWUSER | 0xffff_ffff_0000_0000, // every upper bit
];

/// What runc 1.1 calls between installing the filter and starting the program: it closes
/// the descriptors it does not pass on (`openat` of `/proc/self/fd`, `fstatfs` to check that
/// it is procfs, `getdents64`, `fcntl`, `close`), then `execve`s.
pub const RUNTIME_SYSCALLS: &[&str] = &[
    "openat",
    "fstatfs",
    "getdents64",
    "fcntl",
    "close",
    "execve",
];

/// The embedded filter, and the syscalls of [`RUNTIME_SYSCALLS`] it denies.
#[derive(Debug)]
pub(crate) struct Filter {
    pub section: LinuxSeccomp,
    pub runtime_denied: Vec<&'static str>,
}

/// The seccomp section for the spec (the seccomp target's `seccomp.json`, verbatim), after
/// checking that it keeps the program from creating a user namespace.
pub(crate) fn seccomp(policy: &Policy, ctx: &EmitContext) -> Result<Filter, Vec<Diagnostic>> {
    let emitted = Seccomp.emit(policy, ctx)?;
    let Some(bytes) = emitted.artifacts.get(JSON_ARTIFACT) else {
        return Err(internal(
            policy,
            "the seccomp target emitted no seccomp.json",
        ));
    };
    let section: LinuxSeccomp = serde_json::from_slice(bytes)
        .map_err(|e| internal(policy, format!("seccomp.json does not parse: {e}")))?;
    // Read the filter once for every question (what `Seccomp.simulate` does per call).
    let sim = Seccomp.simulator(&emitted.artifacts);
    let mut allowed = Vec::new();
    let mut span = None;
    for name in ["unshare", "clone", "clone3"] {
        let zero = (name == "clone3").then_some(&0u64);
        for flags in USERNS_FLAGS.iter().chain(zero) {
            let r = Request::Syscall {
                name: name.to_string(),
                args: [*flags, 0, 0, 0, 0, 0],
            };
            if sim.simulate(&r) == Verdict::Allow {
                allowed.push(r.to_string());
                let rule = policy.syscalls.rules.get(name);
                span = span.or(rule.and_then(|r| r.allow_span));
            }
        }
    }
    if let Some(first) = allowed.first() {
        return Err(vec![Diagnostic::new(
            Code::OciUserNamespace,
            span.unwrap_or(policy.syscalls.span),
            format!(
                "{TARGET}: the syscall filter allows creating a user namespace inside the container ({} call{}, e.g. `{first}`), which hands the program every capability there",
                allowed.len(),
                if allowed.len() == 1 { "" } else { "s" }
            ),
        )
        .with_hint("include `runtime_guards` from `std::runtime::base`, or deny `unshare`, `clone3` and `clone` with CLONE_NEWUSER")]);
    }
    let runtime_denied = RUNTIME_SYSCALLS
        .iter()
        .copied()
        .filter(|name| {
            let r = Request::Syscall {
                name: name.to_string(),
                args: [0; 6],
            };
            sim.simulate(&r) != Verdict::Allow
        })
        .collect();
    Ok(Filter {
        section,
        runtime_denied,
    })
}
