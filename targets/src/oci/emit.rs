//! Building the runtime spec with the oci-spec builders, every field set explicitly and in a
//! fixed order, and writing it out deterministically.

use super::plan::{Plan, Planned};
use super::{
    apparmor_profile_name, internal, Options, ANNOTATION_HOME, ANNOTATION_NETWORK,
    ANNOTATION_POLICY,
};
use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use policyc_compiler::ir::Policy;
use policyc_compiler::Diagnostic;
use std::collections::HashMap;

/// The runtime-spec version the document follows.
pub const OCI_VERSION: &str = "1.0.2";
/// The container's host name (its own UTS namespace).
pub const HOSTNAME: &str = "policyc";
/// `PATH`, the only environment variable.
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The container's environment: [`PATH_ENV`] and the policy's `env { set ... }` values
/// (`pass` needs the caller's environment, so only a launcher can add those).
fn environment(policy: &Policy) -> Vec<String> {
    let mut env = Vec::new();
    if !policy.env.set.contains_key("PATH") {
        env.push(PATH_ENV.to_string());
    }
    env.extend(policy.env.set.iter().map(|(k, v)| format!("{k}={v}")));
    env
}

/// `RLIMIT_NOFILE` when the policy sets no `files` limit (the kernel's usual soft limit).
pub const DEFAULT_NOFILE: u64 = 1024;
/// The CFS period the CPU quota is expressed in, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;
/// Size of the empty tmpfs that replaces a bind mount whose source may not be read.
pub const MASK_SIZE: &str = "size=4k";

/// runc's default masked paths, plus `/sys/devices/virtual/powercap` (energy counters leak
/// what other processes compute).
pub const DEFAULT_MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's default read-only paths.
pub const DEFAULT_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The only devices: path, major, minor.
pub const DEVICES: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

type Built<T> = Result<T, oci_spec::OciSpecError>;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Built<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(strings(options))
        .build()
}

/// The runtime's own file systems, as runc's defaults with `/dev` read-only and `noexec`.
fn standard_mounts() -> Built<Vec<Mount>> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &[
                "ro",
                "nosuid",
                "noexec",
                "strictatime",
                "mode=755",
                "size=65536k",
            ],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["ro", "nosuid", "noexec", "nodev"],
        )?,
    ])
}

/// Mount options of a bind mount.
pub fn bind_options(write: bool, exec: bool) -> Vec<&'static str> {
    let mut o = vec!["rbind", "rprivate"];
    o.extend(if write { vec!["rw"] } else { vec!["ro", "rro"] });
    o.extend(["nosuid", "rnosuid", "nodev", "rnodev"]);
    if !exec {
        o.extend(["noexec", "rnoexec"]);
    }
    o
}

/// The policy's mounts, in guest-path order (a parent before what is mounted inside it).
fn policy_mounts(plan: &Plan<'_>, opts: &Options) -> Built<Vec<Mount>> {
    let mut out = Vec::new();
    for pm in &plan.mounts {
        let dest = pm.mount.guest.as_str();
        let m = match &pm.kind {
            Planned::Bind {
                source,
                write,
                exec,
            } => mount(dest, "bind", source.as_str(), &bind_options(*write, *exec))?,
            Planned::Tmpfs { size } => {
                let size = format!("size={size}");
                let uid = format!("uid={}", opts.uid);
                let gid = format!("gid={}", opts.gid);
                mount(
                    dest,
                    "tmpfs",
                    "tmpfs",
                    &["nosuid", "nodev", "noexec", "mode=700", &size, &uid, &gid],
                )?
            }
            Planned::Mask => mount(
                dest,
                "tmpfs",
                "tmpfs",
                &["ro", "nosuid", "nodev", "noexec", "mode=000", MASK_SIZE],
            )?,
        };
        out.push(m);
    }
    Ok(out)
}

fn process(policy: &Policy, opts: &Options) -> Built<Process> {
    let none = Capabilities::new;
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(none())
        .effective(none())
        .inheritable(none())
        .permitted(none())
        .ambient(none())
        .build()?;
    let files = policy.limits.files.unwrap_or(DEFAULT_NOFILE);
    let rlimits = vec![
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(files)
            .soft(files)
            .build()?,
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitCore)
            .hard(0u64)
            .soft(0u64)
            .build()?,
    ];
    let user = UserBuilder::default()
        .uid(opts.uid)
        .gid(opts.gid)
        .umask(0o077u32)
        .additional_gids(Vec::<u32>::new())
        .build()?;
    let mut p = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(opts.args.clone())
        .env(environment(policy))
        .cwd("/")
        .capabilities(caps)
        .rlimits(rlimits)
        .no_new_privileges(true)
        .apparmor_profile(apparmor_profile_name(policy))
        .build()?;
    p.set_console_size(None);
    p.set_command_line(None);
    p.set_oom_score_adj(None);
    p.set_selinux_label(None);
    p.set_io_priority(None);
    p.set_scheduler(None);
    p.set_exec_cpu_affinity(None);
    Ok(p)
}

fn namespaces() -> Built<Vec<LinuxNamespace>> {
    use LinuxNamespaceType::*;
    [Pid, Network, Ipc, Uts, Mount, Cgroup]
        .into_iter()
        .map(|t| LinuxNamespaceBuilder::default().typ(t).build())
        .collect()
}

fn devices() -> Built<Vec<LinuxDevice>> {
    DEVICES
        .iter()
        .map(|(path, major, minor)| {
            LinuxDeviceBuilder::default()
                .path(*path)
                .typ(LinuxDeviceType::C)
                .major(*major)
                .minor(*minor)
                .file_mode(0o666u32)
                .uid(0u32)
                .gid(0u32)
                .build()
        })
        .collect()
}

/// The device cgroup: deny everything, then allow the standard devices.
fn device_rules() -> Built<Vec<LinuxDeviceCgroup>> {
    let mut rules = vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()?];
    for (_, major, minor) in DEVICES {
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(*major)
                .minor(*minor)
                .access("rwm")
                .build()?,
        );
    }
    Ok(rules)
}

fn resources(policy: &Policy) -> Built<LinuxResources> {
    let lim = &policy.limits;
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut r = LinuxResourcesBuilder::default().devices(device_rules()?);
    if let Some(mem) = lim.memory {
        // Memory plus swap equal to the memory limit: no swap on top.
        r = r.memory(
            LinuxMemoryBuilder::default()
                .limit(signed(mem))
                .swap(signed(mem))
                .build()?,
        );
    }
    if let Some(milli) = lim.millicpus {
        let quota = milli.saturating_mul(CPU_PERIOD_US) / 1000;
        r = r.cpu(
            LinuxCpuBuilder::default()
                .quota(signed(quota.max(1000)))
                .period(CPU_PERIOD_US)
                .build()?,
        );
    }
    if let Some(pids) = lim.pids {
        r = r.pids(LinuxPidsBuilder::default().limit(signed(pids)).build()?);
    }
    r.build()
}

fn annotations(policy: &Policy, plan: &Plan<'_>) -> HashMap<String, String> {
    let network = if policy.net.egress_none {
        "none"
    } else {
        "launcher"
    };
    let mut a = HashMap::new();
    a.insert(ANNOTATION_POLICY.to_string(), policy.name.clone());
    if let Some(h) = &plan.home {
        a.insert(ANNOTATION_HOME.to_string(), h.to_string());
    }
    a.insert(ANNOTATION_NETWORK.to_string(), network.to_string());
    a
}

/// The complete spec.
pub(crate) fn spec(
    policy: &Policy,
    plan: &Plan<'_>,
    seccomp: &LinuxSeccomp,
    opts: &Options,
) -> Result<Spec, Vec<Diagnostic>> {
    build(policy, plan, seccomp, opts).map_err(|e| internal(policy, e))
}

fn build(policy: &Policy, plan: &Plan<'_>, seccomp: &LinuxSeccomp, opts: &Options) -> Built<Spec> {
    let mut mounts = standard_mounts()?;
    mounts.extend(policy_mounts(plan, opts)?);
    let mut masked = strings(DEFAULT_MASKED);
    masked.extend(plan.masks.iter().map(|m| m.guest.to_string()));
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces()?)
        .devices(devices()?)
        .resources(resources(policy)?)
        .seccomp(seccomp.clone())
        .rootfs_propagation("rprivate")
        .masked_paths(masked)
        .readonly_paths(strings(DEFAULT_READONLY))
        .build()?;
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl(None);
    linux.set_cgroups_path(None);
    linux.set_mount_label(None);
    linux.set_net_devices(None);
    linux.set_intel_rdt(None);
    linux.set_memory_policy(None);
    linux.set_personality(None);
    linux.set_time_offsets(None);
    let root = RootBuilder::default()
        .path("rootfs")
        .readonly(true)
        .build()?;
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(root)
        .mounts(mounts)
        .process(process(policy, opts)?)
        .hostname(HOSTNAME)
        .annotations(annotations(policy, plan))
        .linux(linux)
        .build()?;
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_solaris(None);
    spec.set_windows(None);
    spec.set_vm(None);
    spec.set_zos(None);
    Ok(spec)
}

/// The spec as pretty JSON with sorted annotations, checked to read back as built.
pub(crate) fn to_bytes(policy: &Policy, spec: &Spec) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let mut value = serde_json::to_value(spec).map_err(|e| internal(policy, e))?;
    if let Some(serde_json::Value::Object(a)) = value.get_mut("annotations") {
        a.sort_keys();
    }
    let mut bytes = serde_json::to_vec_pretty(&value).map_err(|e| internal(policy, e))?;
    bytes.push(b'\n');
    let back: Spec = serde_json::from_slice(&bytes).map_err(|e| internal(policy, e))?;
    if &back != spec {
        return Err(internal(
            policy,
            "config.json reads back differently from the spec that was built",
        ));
    }
    Ok(bytes)
}
