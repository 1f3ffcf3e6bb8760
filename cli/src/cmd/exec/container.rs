//! `policyc exec` for `container` policies: the policy's bundle (its OCI spec with the
//! seccomp filter, and its AppArmor profile where the host enforces AppArmor) built in a
//! private temporary directory and run by runc, with a root file system of the host's
//! system folders read-only (or `--rootfs DIR`, or an OCI image layout `--rootfs
//! LAYOUT[:TAG]` unpacked for the run), the command, and the environment the
//! policy's `env` block allows. The container and the directory are removed however the
//! run ends.

use super::exit::{self, fail};
use super::load::Loaded;
use super::{preflight, process};
use policyc_host::container::{self, apparmor, Bundle, Image, RunError, Runtime, Spec};
use policyc_host::sandbox::Environment;
use policyc_host::sys::inroot::Root;
use policyc_targets::apparmor::{AppArmor, FILE as APPARMOR_FILE};
use policyc_targets::oci::{self, Oci, Options};
use policyc_targets::seccomp::Seccomp;
use policyc_targets::Target as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags for container policies.
#[derive(Debug, Default, clap::Args)]
pub struct ContainerFlags {
    /// Container policies: the root file system to run the command in: a folder, or an OCI
    /// image layout (`LAYOUT` or `LAYOUT:TAG`, its blobs checked against their digests and
    /// its tar, tar+gzip or tar+zstd layers unpacked for the run) (default: the host's
    /// /usr, /bin, /sbin, /lib* and /etc essentials, read-only).
    #[arg(long, value_name = "DIR|LAYOUT[:TAG]")]
    rootfs: Option<PathBuf>,
}

/// Run `command` in the policy's container.
pub fn run(
    loaded: &Loaded,
    command: &[String],
    flags: &ContainerFlags,
    best_effort: bool,
    egress: &super::egress::Flags,
) -> Result<ExitCode, u8> {
    let (policy, ctx) = (&loaded.policy, &loaded.ctx);
    let (cmd, _) = command
        .split_first()
        .ok_or_else(|| fail("no command given"))?;
    let runtime = Runtime::find().map_err(|why| {
        fail(format!(
            "container policies run under runc, and {why}; refusing to run"
        ))
    })?;
    let image = flags.rootfs.as_deref().map_or(Image::Host, Image::from_arg);
    let mut env =
        Environment::for_policy(&policy.env, ctx.home.as_deref(), |n| std::env::var_os(n));
    if !matches!(image, Image::Layout(_)) {
        too_narrow(loaded, cmd, &image, &env)?;
    }
    let (uid, gid) = owner(ctx.home.as_deref());
    let mut config = spec(loaded, command, uid, gid)?;
    let without_apparmor = apparmor_layer(loaded, best_effort)?;
    super::trace::unrecorded_elsewhere(loaded, best_effort)?;
    let supervisor = super::egress::supervisor(loaded, egress, best_effort)?;
    let bundle = Bundle::new(&image).map_err(fail)?;
    let (root, mut image_mounts) = assemble(&bundle, &image, uid, gid)?;
    if matches!(image, Image::Layout(_)) {
        // The image's files exist only now: ask the pre-flight about them.
        too_narrow(loaded, cmd, &Image::Dir(root.clone()), &env)?;
    }
    let netns = supervisor.as_ref().map(|s| {
        // As for process policies: nothing bypasses the proxy, and no variable holding a
        // secret the supervisor injects reaches the program, even one the policy passes.
        for k in ["NO_PROXY".to_string(), "no_proxy".to_string()]
            .into_iter()
            .chain(s.hidden_env())
        {
            env.remove(&k);
        }
        for (k, v) in s.env() {
            env.add(k, v);
        }
        image_mounts.extend(container::rootfs::egress_files(
            s.resolv_conf(),
            s.ca_bundle(),
        ));
        s.netns_path()
    });
    if supervisor.is_none() && policy.net.rules.iter().any(|r| r.allow) && !policy.net.egress_none {
        // Only reached under --best-effort, after the supervisor said what is lost: the
        // container keeps its own empty network namespace (loopback only).
        crate::output::say(
            "policyc exec: ",
            "exec",
            crate::output::Level::Warning,
            "--best-effort: the container has no network at all",
        );
    }
    let cwd = std::env::current_dir()
        .map(|d| container::guest_cwd(&config, &d))
        .unwrap_or_else(|_| "/".to_string());
    let spec = Spec {
        args: command.to_vec(),
        env,
        cwd,
        root,
        image_mounts,
        netns,
        without_apparmor,
    };
    spec.apply(&mut config);
    if matches!(image, Image::Host) {
        container::rootfs::make_mount_points(&spec.root, &config);
    }
    bundle.write_config(&config).map_err(fail)?;
    let _serving = match &supervisor {
        Some(s) => Some(
            s.serve()
                .map_err(|e| fail(format!("the egress supervisor: {e}")))?,
        ),
        None => None,
    };
    launch(&runtime, &bundle, cmd)
}

/// The root file system and the mounts to add before the policy's own; an image layout is
/// checked and unpacked into the bundle (what it left out is said).
fn assemble(
    bundle: &Bundle,
    image: &Image,
    uid: u32,
    gid: u32,
) -> Result<(PathBuf, Vec<serde_json::Value>), u8> {
    let done = container::rootfs::assemble_image(bundle.path(), image, uid, gid).map_err(|e| {
        fail(match e {
            RunError::Image { .. } => format!("{e}; refusing to run"),
            e => e.to_string(),
        })
    })?;
    for entry in &done.skipped {
        crate::output::say(
            "policyc exec: ",
            "exec",
            crate::output::Level::Warning,
            &format!("--rootfs: `{entry}` of the image is not created (device nodes and FIFOs never are)"),
        );
    }
    Ok((done.root, done.mounts))
}

/// The policy's `config.json` with the launcher's user and command.
fn spec(loaded: &Loaded, command: &[String], uid: u32, gid: u32) -> Result<serde_json::Value, u8> {
    let bytes = loaded.artifact(&Oci, oci::FILE)?;
    let mut config: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("{}: {e}", oci::FILE)))?;
    let opts = Options {
        args: command.to_vec(),
        uid,
        gid,
    };
    oci::with_options(&mut config, &opts);
    Ok(config)
}

/// The program runs as the owner of the home directory (the owner of the folders the
/// policy mounts), or as root without capabilities when there is none.
fn owner(home: Option<&str>) -> (u32, u32) {
    home.and_then(|h| std::fs::metadata(h).ok())
        .map_or((0, 0), |m| (m.uid(), m.gid()))
}

/// Refuse to run when the filter denies what `cmd` or runc needs after installing it (see
/// [`preflight`]): a clear error naming the syscalls, status 126.
fn too_narrow(loaded: &Loaded, cmd: &str, image: &Image, env: &Environment) -> Result<(), u8> {
    let seccomp = loaded.artifacts(&Seccomp)?;
    let mut missing: Vec<&str> = Vec::new();
    if let Some(files) = files(image) {
        if let Some(program) = files.find(cmd, env.get("PATH")) {
            missing = preflight::missing(&seccomp, &files, program);
        }
    }
    for name in oci::RUNTIME_SYSCALLS {
        if !missing.contains(name) && !preflight::allows(&seccomp, name) {
            missing.push(name);
        }
    }
    process::too_narrow(&loaded.policy, &loaded.sites, &missing, cmd)
}

/// Where the program is read: the host's folders, or the root folder (every path and
/// symbolic link resolved inside it); an image layout is asked again once unpacked, as a
/// folder. `None` when the folder cannot be opened (runc then says why it cannot run).
fn files(image: &Image) -> Option<preflight::Files> {
    match image {
        Image::Host => Some(preflight::Files::Host),
        Image::Layout(_) => None,
        Image::Dir(root) => Root::open(root).ok().map(preflight::Files::Root),
    }
}

/// The AppArmor layer: loaded when the stack has it and the host enforces AppArmor; when
/// the host does not, a refusal, or under `--best-effort` every rule that is not enforced.
/// True when the spec must leave the profile out.
fn apparmor_layer(loaded: &Loaded, best_effort: bool) -> Result<bool, u8> {
    let policy = &loaded.policy;
    if !policyc_targets::stack_for(policy)
        .iter()
        .any(|t| t.name() == AppArmor.name())
    {
        return Ok(true);
    }
    let bytes = loaded.artifact(&AppArmor, APPARMOR_FILE)?;
    let profile = apparmor::with_image_rules(&String::from_utf8_lossy(&bytes));
    let name = oci::apparmor_profile_name(policy);
    let why = match apparmor::host_enforces() {
        Ok(()) => match apparmor::load(&profile) {
            Ok(()) => return Ok(false),
            Err(e) => e,
        },
        Err(e) => e,
    };
    let rules = apparmor::rules(&profile);
    if !best_effort {
        return Err(fail(format!(
            "policy `{}` has an AppArmor profile (`{name}`, {} rules), and it cannot be enforced here: {why}; refusing to run (use --best-effort to run without it, printing every rule that is not enforced)",
            policy.name,
            rules.len()
        )));
    }
    crate::output::say("policyc exec: ", "exec", crate::output::Level::Warning, &format!("--best-effort: AppArmor profile `{name}` NOT enforced ({why}); these rules are not applied:"));
    for r in &rules {
        crate::output::say(
            "policyc exec: ",
            "exec",
            crate::output::Level::Warning,
            &format!("not enforced: apparmor: {r}"),
        );
    }
    Ok(true)
}

fn launch(runtime: &Runtime, bundle: &Bundle, cmd: &str) -> Result<ExitCode, u8> {
    match runtime.run(bundle) {
        Ok(status) => Ok(ExitCode::from(exit::of_process(status))),
        Err(RunError::NotFound(why)) => {
            crate::output::say(
                "policyc exec: ",
                "exec",
                crate::output::Level::Error,
                &format!("`{cmd}`: command not found in the container ({why})"),
            );
            Err(exit::NOT_FOUND)
        }
        Err(RunError::CannotExecute(why)) => {
            crate::output::say(
                "policyc exec: ",
                "exec",
                crate::output::Level::Error,
                &format!("`{cmd}`: cannot execute in the container ({why})"),
            );
            Err(exit::CANNOT_EXECUTE)
        }
        Err(e) => Err(fail(format!("the container did not run: {e}"))),
    }
}
