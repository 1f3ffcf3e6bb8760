//! The launcher behind `policyc exec`: runs a command under a policy's Landlock ruleset and
//! seccomp filter, in fresh namespaces where the policy needs them.
//!
//! Everything that can fail for a reason the user can fix (a missing path, a non-empty
//! scratch folder, a kernel without Landlock) is found before the fork. In the child, in
//! order: unshare namespaces, map ids when not root, make mounts private and mount each
//! scratch area and tmpfs, bring loopback up, mark every descriptor above 2 close-on-exec,
//! set no_new_privs, give up every capability (switching to [`Plan::run_as`]'s ids on the
//! way), restrict with Landlock, install the seccomp filter (for every thread),
//! then exec. The filter comes last so the calls before it need no allowance in it; exec
//! itself must be allowed by the policy.

mod env;
mod mounts;
pub mod trace;
mod view;
pub mod writes;

pub use env::{Environment, DEFAULT_PATH};
pub use view::View;

use crate::sys::kernel;
use crate::sys::seccomp::{self, Program};
use crate::sys::SharedPage;
use std::sync::Arc;

use std::ffi::CString;
use std::io::{self, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;

/// A writable area the launcher creates, mounts as a size-limited tmpfs, and removes.
#[derive(Debug, Clone)]
pub struct Area {
    pub path: PathBuf,
    pub size: u64,
}

/// What to set up around the command.
#[derive(Debug)]
pub struct Plan {
    /// The seccomp program for this machine's architecture.
    pub seccomp: Vec<u8>,
    /// The Landlock ruleset, already parsed from the emitted `landlock.json`.
    pub landlock: Option<policyc_targets::landlock::Ruleset>,
    /// Run in a new network namespace with only loopback.
    pub isolate_network: bool,
    /// Scratch areas and tmpfs mounts.
    pub areas: Vec<Area>,
    /// Go on when the kernel cannot enforce everything, and say what was not.
    pub best_effort: bool,
    /// The egress supervisor whose namespace the command joins (see [`crate::egress`]).
    pub egress: Option<crate::egress::Supervisor>,
    /// The program's whole environment (nothing else is inherited).
    pub env: Environment,
    /// The file system the program sees (a new root with only the granted paths); `None`
    /// leaves the host's.
    pub view: Option<View>,
    /// Report every call the seccomp filter refuses (see [`trace`]).
    pub trace: Option<trace::Trace>,
    /// Run the program as this uid and gid, with no supplementary groups (see
    /// [`run_as`]); `None` keeps the caller's ids.
    pub run_as: Option<(u32, u32)>,
}

/// The ids a program runs as for the home directory `home`: its owner's when policyc runs
/// as root and the home is not root's, so a program started as root does not own the
/// host's system files; else `None` (the caller's own ids, which a user namespace maps when
/// the caller is not root).
pub fn run_as(home: Option<&std::path::Path>) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    if kernel::ids().0 != 0 {
        return None;
    }
    let m = std::fs::metadata(home?).ok()?;
    (m.uid() != 0).then(|| (m.uid(), m.gid()))
}

/// What [`run_audited`] records beyond the egress supervisor.
#[derive(Debug, Default)]
pub struct Audit {
    /// The audit log of the run (the egress supervisor's, when there is one): its session
    /// starts when the program does and ends after the writes are recorded.
    pub log: Option<Arc<crate::egress::audit::Log>>,
    /// Record the program's writes under these paths in [`Audit::log`] (see [`writes`]).
    pub writes: Option<Vec<PathBuf>>,
}

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("scratch area `{0}` already exists and is not empty; policyc wipes scratch areas and will not delete files it did not create")]
    AreaNotEmpty(PathBuf),
    #[error("cannot create `{path}`: {err}")]
    CreateArea { path: PathBuf, err: io::Error },
    #[error("`{0}` contains a NUL byte")]
    Nul(String),
    #[error("cannot start `{cmd}`: {err}")]
    Spawn { cmd: String, err: io::Error },
    #[error("the sandbox could not be set up (see the message above)")]
    Setup,
    #[error("the egress supervisor could not start: {0}")]
    Egress(#[from] crate::egress::Error),
    #[error("the sandbox's file system view: {0}")]
    View(io::Error),
    #[error("cannot trace denials: {0}")]
    Trace(io::Error),
    #[error("cannot watch the program's writes (fanotify): {0}")]
    Writes(io::Error),
}

/// Scratch areas and tmpfs mounts: no suid, no devices, no exec.
const AREA_FLAGS: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// The errno the child reports when a setup step (not exec) failed.
const SETUP_FAILED: i32 = libc::ENOTRECOVERABLE;

/// Run `cmd` under `plan`; returns the command's wait status.
pub fn run(
    plan: &Plan,
    cmd: &str,
    args: &[String],
) -> Result<std::process::ExitStatus, LaunchError> {
    run_audited(plan, &Audit::default(), cmd, args)
}

/// [`run`], recording in `audit` what it asks for.
pub fn run_audited(
    plan: &Plan,
    audit: &Audit,
    cmd: &str,
    args: &[String],
) -> Result<std::process::ExitStatus, LaunchError> {
    let created = create_areas(&plan.areas)?;
    let result = spawn_and_wait(plan, audit, cmd, args);
    wipe_areas(&created);
    result
}

fn create_areas(areas: &[Area]) -> Result<Vec<PathBuf>, LaunchError> {
    let mut created = Vec::new();
    for a in areas {
        match std::fs::read_dir(&a.path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    wipe_areas(&created);
                    return Err(LaunchError::AreaNotEmpty(a.path.clone()));
                }
            }
            Err(_) => {
                if let Err(err) = std::fs::create_dir_all(&a.path) {
                    wipe_areas(&created);
                    return Err(LaunchError::CreateArea {
                        path: a.path.clone(),
                        err,
                    });
                }
                created.push(a.path.clone());
            }
        }
    }
    Ok(created)
}

/// Remove what the launcher created. Areas are tmpfs mounts in the child's namespace, so
/// the host folders stay empty; removing them is all that is left to do.
fn wipe_areas(created: &[PathBuf]) {
    for p in created.iter().rev() {
        let _ = std::fs::remove_dir_all(p);
    }
}

struct ChildSetup {
    unshare: libc::c_int,
    map_ids: Option<(Vec<u8>, Vec<u8>)>,
    mounts: Vec<(CString, CString)>,
    run_as: Option<(u32, u32)>,
    view: Option<View>,
    isolate_network: bool,
    net: Option<crate::egress::ChildNet>,
    /// Where the child hands its seccomp listener over, when tracing.
    trace: Option<Arc<SharedPage>>,
}

fn child_setup(plan: &Plan) -> Result<ChildSetup, LaunchError> {
    let mut unshare = 0;
    if plan.isolate_network {
        unshare |= libc::CLONE_NEWNET;
    }
    if !plan.areas.is_empty() || plan.view.is_some() || plan.egress.is_some() {
        unshare |= libc::CLONE_NEWNS;
    }
    let (uid, gid) = kernel::ids();
    let map_ids = (uid != 0 && unshare != 0).then(|| {
        unshare |= libc::CLONE_NEWUSER;
        (
            format!("{uid} {uid} 1\n").into_bytes(),
            format!("{gid} {gid} 1\n").into_bytes(),
        )
    });
    let area_mounts = plan
        .areas
        .iter()
        .map(|a| {
            let p = a.path.to_string_lossy().into_owned();
            let path = CString::new(p.clone()).map_err(|_| LaunchError::Nul(p))?;
            let owner = plan
                .run_as
                .map(|(u, g)| format!(",uid={u},gid={g}"))
                .unwrap_or_default();
            let opts = CString::new(format!("size={},mode=0700{owner}", a.size))
                .map_err(|_| LaunchError::Nul(String::new()))?;
            Ok((path, opts))
        })
        .collect::<Result<_, LaunchError>>()?;
    let (view, net) = view_and_net(plan)?;
    Ok(ChildSetup {
        unshare,
        map_ids,
        mounts: area_mounts,
        run_as: plan.run_as,
        view,
        isolate_network: plan.isolate_network,
        net,
        trace: None,
    })
}

/// The file system view and the network to join; with both, the view shows the egress
/// supervisor's stub `resolv.conf` (the host's `/etc` is not in the view).
fn view_and_net(
    plan: &Plan,
) -> Result<(Option<View>, Option<crate::egress::ChildNet>), LaunchError> {
    match (&plan.view, &plan.egress) {
        (Some(view), Some(supervisor)) => {
            let mut view = view.clone();
            view.bind_file(
                supervisor.resolv_conf(),
                std::path::Path::new("/etc/resolv.conf"),
            )
            .map_err(LaunchError::View)?;
            if let Some(bundle) = supervisor.ca_bundle() {
                view.bind_file(
                    bundle,
                    std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"),
                )
                .map_err(LaunchError::View)?;
            }
            Ok((Some(view), Some(supervisor.child().without_files())))
        }
        (view, supervisor) => Ok((
            view.clone(),
            supervisor.as_ref().map(crate::egress::Supervisor::child),
        )),
    }
}

fn spawn_and_wait(
    plan: &Plan,
    audit: &Audit,
    cmd: &str,
    args: &[String],
) -> Result<std::process::ExitStatus, LaunchError> {
    let mut setup = child_setup(plan)?;
    // Decoded here, so the child only installs it; bytes that are not a program fail there,
    // at the same step, with the errno `seccomp(2)` gives them.
    let mut filter =
        Program::parse(&plan.seccomp).map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL));
    let tracer = match &plan.trace {
        Some(t) => {
            let page = Arc::new(SharedPage::new().map_err(LaunchError::Trace)?);
            filter = filter.map(|p| p.errno_as_notification());
            setup.trace = Some(Arc::clone(&page));
            Some(
                trace::Tracer::start(page, plan.seccomp.clone(), Arc::clone(&t.report))
                    .map_err(LaunchError::Trace)?,
            )
        }
        None => None,
    };
    // Marked before the fork, so no write of the program is missed.
    let watcher = match &audit.writes {
        Some(roots) => Some(writes::Watcher::new(roots).map_err(LaunchError::Writes)?),
        None => None,
    };
    let landlock = plan.landlock.clone();
    let best_effort = plan.best_effort;
    let mut command = Command::new(cmd);
    command.args(args).env_clear().envs(plan.env.vars());
    if let Some(supervisor) = &plan.egress {
        // The supervisor is the only way out: nothing bypasses its proxy, and no variable
        // holding a secret it injects reaches the program.
        command.env_remove("NO_PROXY").env_remove("no_proxy");
        for k in supervisor.hidden_env() {
            command.env_remove(k);
        }
        command.envs(supervisor.env());
    }
    // SAFETY: the closure runs in the forked child of a parent whose only other thread (the
    // tracer, when tracing) holds no lock at the fork: it sleeps and reads atomics until
    // the child hands it the listener. So the allocations the child makes cannot deadlock.
    #[expect(
        unsafe_code,
        reason = "pre_exec is the only way to configure the child between fork and exec"
    )]
    unsafe {
        command.pre_exec(move || {
            in_child(&setup, landlock.as_ref(), filter.as_ref(), best_effort).map_err(|e| {
                // std passes only an errno back to the parent; say what failed here, and
                // send a marker errno so the parent can tell setup from exec failures.
                let _ = writeln!(io::stderr(), "policyc exec: {e}");
                io::Error::from_raw_os_error(SETUP_FAILED)
            })
        });
    }
    let mut child = command.spawn().map_err(|err| {
        if err.raw_os_error() == Some(SETUP_FAILED) {
            LaunchError::Setup
        } else {
            LaunchError::Spawn {
                cmd: cmd.to_string(),
                err,
            }
        }
    })?;
    if let Some(s) = &plan.egress {
        s.started(child.id(), cmd);
    }
    if let Some(log) = &audit.log {
        log.start(child.id(), cmd);
    }
    let watching = match watcher.map(|w| w.attach(child.id())) {
        Some(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LaunchError::Writes(e));
        }
        Some(Ok(w)) => Some(w),
        None => None,
    };
    // Served only now, so the fork above happened in a single-threaded parent; until then
    // connections wait in the listeners' backlogs.
    let running = match plan.egress.as_ref().map(crate::egress::Supervisor::serve) {
        Some(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.into());
        }
        running => running,
    };
    if let Some(w) = watching {
        // The program's pid stays its own until it is reaped: read its last events first.
        let pid = libc::pid_t::try_from(child.id()).unwrap_or_default();
        let _ = crate::sys::fanotify::wait_exited_keep(pid);
        let summary = w.finish();
        if let Some(log) = &audit.log {
            log.write_files(&summary);
        }
    }
    let status = child.wait().map_err(|err| LaunchError::Spawn {
        cmd: cmd.to_string(),
        err,
    });
    if let Some(t) = tracer {
        t.stop();
    }
    // The supervisor's session ends (after its grace) when it stops; without one, here.
    drop(running);
    if let Some(log) = &audit.log {
        log.end(std::time::Duration::ZERO);
    }
    status
}

fn in_child(
    setup: &ChildSetup,
    landlock: Option<&policyc_targets::landlock::Ruleset>,
    filter: Result<&Program, &i32>,
    best_effort: bool,
) -> io::Result<()> {
    if setup.unshare != 0 {
        kernel::unshare(setup.unshare).map_err(|e| context(e, "unshare namespaces"))?;
    }
    if let Some((uid_map, gid_map)) = &setup.map_ids {
        kernel::write_file(c"/proc/self/setgroups", b"deny")
            .map_err(|e| context(e, "deny setgroups"))?;
        kernel::write_file(c"/proc/self/uid_map", uid_map).map_err(|e| context(e, "map uid"))?;
        kernel::write_file(c"/proc/self/gid_map", gid_map).map_err(|e| context(e, "map gid"))?;
    }
    if setup.unshare & libc::CLONE_NEWNS != 0 {
        kernel::make_mounts_private().map_err(|e| context(e, "make mounts private"))?;
    }
    if let Some(view) = &setup.view {
        view.enter()
            .map_err(|e| io::Error::new(e.kind(), format!("build the file system view: {e}")))?;
    }
    if !setup.mounts.is_empty() {
        for (path, opts) in &setup.mounts {
            kernel::mount_tmpfs(path, AREA_FLAGS, opts)
                .map_err(|e| context(e, "mount a scratch area"))?;
        }
    }
    if let Some(net) = &setup.net {
        net.enter()
            .map_err(|e| context(e, "join the egress supervisor's network"))?;
    }
    if setup.isolate_network {
        kernel::loopback_up().map_err(|e| context(e, "bring loopback up"))?;
    }
    kernel::cloexec_from_3().map_err(|e| context(e, "close inherited descriptors"))?;
    kernel::no_new_privs().map_err(|e| context(e, "set no_new_privs"))?;
    kernel::drop_capabilities(setup.run_as).map_err(|e| context(e, "drop capabilities"))?;
    if let Some(rs) = landlock {
        crate::landlock::apply(rs, best_effort)
            .map_err(|e| io::Error::other(format!("landlock: {e}")))?;
    }
    let program = filter.map_err(|e| io::Error::from_raw_os_error(*e));
    match &setup.trace {
        Some(page) => program.and_then(|p| trace::install_in_child(page, p)),
        None => program
            .and_then(|p| seccomp::install(p, libc::SECCOMP_FILTER_FLAG_TSYNC))
            .map(drop),
    }
    .map_err(|e| context(e, "install the seccomp filter"))
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what}: {e}"))
}
