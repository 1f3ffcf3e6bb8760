//! The OCI layer: the emitted `oci/config.json` run by runc, once per policy, with a busybox
//! rootfs and a probe script (see `oci_script`) that tries every request.
//!
//! - The bundle runs as emitted except for three edits, each named in the notes:
//!   `process.args` runs the probe script; `linux.seccomp` is left out (the seccomp layer
//!   runs the same filter, and the probe shell needs calls a runtime's syscall set may
//!   deny); `process.apparmorProfile` is left out when that profile is not loaded (runc
//!   refuses to start otherwise).
//! - A guest path resolves through the spec's mounts (the longest destination; a later
//!   mount wins a tie). Through a bind mount it reaches a host object, and a probe that opens
//!   it must see that object's device and inode, or the path showed something else (a mask):
//!   denied. A missing file there means the object is hidden: denied. Inside a scratch area
//!   or tmpfs of the policy, the script first makes what the request names. A path in the
//!   image gets a fixture file in the rootfs; the image and the runtime's own file systems
//!   are not the policy's, so what they allow is not mediated, and what they refuse
//!   (a read-only root) is denied.
//! - A `~` path is a host object: the script probes it at every guest path a bind mount maps
//!   it to, and at its host path; it is allowed when one of them reaches it.
//! - Connect and resolve: with `dev.policyc.network` = `none`, the container must have only
//!   `lo`; IPv4 hosts are also tried with `nc`, names with `nslookup`. Loopback is not
//!   mediated; a network the launcher wires is not the bundle's to decide. Syscalls are the
//!   seccomp layer's.

use super::fixture::{Fixture, Object, PROBE_EXIT};
use super::oci_bundle::{self as bundle, Bundle, ImageObject, Tools};
use super::oci_script::{self as script, Output, ProbeOutput, Script};
use super::{any_allowed, errno, LayerStatus, LiveLayer, LiveRun, LiveVerdict, Seen};
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::Request;
use policyc_targets::oci;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

/// One mount of the spec.
#[derive(Debug)]
struct Entry {
    dest: CanonPath,
    typ: String,
    source: Option<PathBuf>,
}

/// Where a guest path lands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// Through a bind mount, on this host path.
    Host(PathBuf),
    /// A scratch area or tmpfs of the policy (or the mask that replaced a bind mount).
    Area,
    /// The runtime's own file systems (`/proc`, `/dev`, `/sys` ...).
    Runtime,
    /// The container image (the rootfs).
    Image,
}

/// What a probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Create,
    Exec,
}

/// One file-system probe and what its result is checked against.
#[derive(Debug, Clone)]
struct FsProbe {
    id: usize,
    kind: Kind,
    guest: String,
    place: Place,
    /// The object the probe must reach (its identity), when it is a host object.
    expect: Option<Object>,
    /// For `Create` in a host directory: where the new file must appear.
    host_dir: Option<PathBuf>,
    /// The probe of a host object at its own host path.
    direct: bool,
}

/// What a request comes to.
#[derive(Debug)]
enum Plan {
    Known(Seen),
    Guest(FsProbe),
    Home(Vec<FsProbe>),
    Net { probe: Option<usize>, what: String },
}

/// The planner: the spec's mount table, the script being written, and the image objects.
struct Planner<'a> {
    fixture: &'a Fixture,
    entries: Vec<Entry>,
    /// Destinations of the policy's own mounts.
    policy_dests: BTreeSet<CanonPath>,
    /// Every guest path a request names.
    named: Vec<CanonPath>,
    network_none: bool,
    script: Script,
    image: Vec<ImageObject>,
}

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let bytes = match layer.artifact(oci::FILE) {
        Ok(b) => b,
        Err(failed) => return failed,
    };
    let mut config: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return layer.not_run(LayerStatus::Failed(format!("{}: {e}", oci::FILE))),
    };
    let mut planner = Planner::new(&config, layer);
    let plans: Vec<Plan> = layer.requests.iter().map(|r| planner.plan(r)).collect();
    if plans.iter().all(|p| matches!(p, Plan::Known(_))) {
        let seen = plans
            .iter()
            .map(|p| conclude(p, &Output::default(), &[], layer.fixture))
            .collect();
        return LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, Vec::new());
    }
    let tools = match Tools::find() {
        Ok(t) => t,
        Err(why) => return layer.not_run(LayerStatus::Unavailable(why)),
    };
    let notes = edit(&mut config, layer.policy);
    let image = std::mem::take(&mut planner.image);
    let text = std::mem::take(&mut planner.script).finish();
    let b = match Bundle::new(&tools, &config, &text, &image) {
        Ok(b) => b,
        Err(e) => {
            return layer.not_run(LayerStatus::Failed(format!("cannot build the bundle: {e}")))
        }
    };
    let stdout = match b.run(&tools) {
        Ok(s) => s,
        Err(why) => return layer.not_run(LayerStatus::Failed(layer.fixture.hide(&why))),
    };
    let out = script::parse(&stdout);
    let seen = plans
        .iter()
        .map(|p| conclude(p, &out, &b.made, layer.fixture))
        .collect();
    LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, notes)
}

/// The three edits to the emitted spec; one note each.
fn edit(config: &mut Value, policy: &Policy) -> Vec<String> {
    let mut notes = Vec::new();
    let removed = config
        .get_mut("linux")
        .and_then(Value::as_object_mut)
        .and_then(|l| l.remove("seccomp"));
    if removed.is_some() {
        notes.push("the bundle ran without `linux.seccomp`: the seccomp layer runs the same filter, and the probe shell needs calls a runtime's syscall set may deny".to_string());
    }
    let profile = oci::apparmor_profile_name(policy);
    if let Some(p) = config.get_mut("process").and_then(Value::as_object_mut) {
        if !crate::apparmor::profile_loaded(&profile) && p.remove("apparmorProfile").is_some() {
            notes.push(format!(
                "AppArmor profile `{profile}` is not loaded here: the bundle ran without it"
            ));
        }
        p.insert(
            "args".to_string(),
            serde_json::json!(["/bin/sh", bundle::SCRIPT]),
        );
    }
    notes
}

fn entries(config: &Value) -> Vec<Entry> {
    let mounts = config.get("mounts").and_then(Value::as_array);
    mounts
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let s = |k: &str| m.get(k).and_then(Value::as_str);
            Some(Entry {
                dest: CanonPath::parse(s("destination")?).ok()?,
                typ: s("type").unwrap_or_default().to_string(),
                source: s("source").map(PathBuf::from),
            })
        })
        .collect()
}

impl<'a> Planner<'a> {
    fn new(config: &Value, layer: &LiveLayer<'a>) -> Planner<'a> {
        let network_none = config
            .pointer(&format!("/annotations/{}", oci::ANNOTATION_NETWORK))
            .and_then(Value::as_str)
            == Some("none");
        let named = layer
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Fs { path, .. } if !path.is_home() => Some(path.clone()),
                _ => None,
            })
            .collect();
        Planner {
            fixture: layer.fixture,
            entries: entries(config),
            policy_dests: layer
                .policy
                .fs
                .mounts
                .iter()
                .map(|m| m.guest.clone())
                .collect(),
            named,
            network_none,
            script: Script::default(),
            image: Vec::new(),
        }
    }

    fn place(&self, guest: &CanonPath) -> Place {
        let best = self
            .entries
            .iter()
            .filter(|e| guest.starts_with(&e.dest))
            .max_by_key(|e| e.dest.depth());
        match best {
            None => Place::Image,
            Some(e) if e.typ == "bind" => {
                let rest = guest.strip_prefix(&e.dest).unwrap_or_default();
                match &e.source {
                    Some(s) if rest.is_empty() => Place::Host(s.clone()),
                    Some(s) => Place::Host(s.join(rest)),
                    None => Place::Runtime,
                }
            }
            Some(e) if e.typ == "tmpfs" && self.policy_dests.contains(&e.dest) => Place::Area,
            Some(_) => Place::Runtime,
        }
    }

    /// True when a guest path must be a directory: a mount point, or above another path.
    fn is_dir(&self, guest: &CanonPath) -> bool {
        let above = |p: &CanonPath| p != guest && p.starts_with(guest);
        self.entries
            .iter()
            .any(|e| e.dest == *guest || above(&e.dest))
            || self.named.iter().any(above)
    }

    fn plan(&mut self, r: &Request) -> Plan {
        match r {
            Request::Fs { access, path } if path.is_home() => self.plan_home(*access, path),
            Request::Fs { access, path } => self.plan_guest(*access, path),
            Request::Connect { host, port } => self.plan_connect(host, *port),
            Request::Resolve { host } => self.plan_resolve(host),
            Request::Meta { .. } => Plan::Known(Seen::unverifiable(
                "this engine runs no metadata probes (chmod, utime, xattr) in the bundle",
            )),
            Request::Syscall { .. } => Plan::Known(Seen::not_mediated(
                "syscalls are the seccomp layer's (the bundle ran without its filter)",
            )),
        }
    }

    fn plan_guest(&mut self, access: Access, guest: &CanonPath) -> Plan {
        match self.place(guest) {
            Place::Host(host) => self.host_probe(access, guest, host),
            Place::Area => self.area_probe(access, guest),
            Place::Image => self.image_probe(access, guest),
            Place::Runtime => match access {
                Access::Exec => Plan::Known(Seen::unverifiable(
                    "only fixture files are executed; this is the runtime's file system",
                )),
                _ => Plan::Guest(self.probe(kind_of(access, false), guest, Place::Runtime)),
            },
        }
    }

    fn probe(&mut self, kind: Kind, guest: &CanonPath, place: Place) -> FsProbe {
        let g = guest.as_str();
        let id = match kind {
            Kind::Read => self.script.read(g),
            Kind::Write => self.script.write(g),
            Kind::Create => self.script.create_in(g),
            Kind::Exec => self.script.exec(g),
        };
        FsProbe {
            id,
            kind,
            guest: g.to_string(),
            place,
            expect: None,
            host_dir: None,
            direct: false,
        }
    }

    /// A host object reached through a bind mount.
    fn host_probe(&mut self, access: Access, guest: &CanonPath, host: PathBuf) -> Plan {
        let Some(obj) = identity(self.fixture, &host) else {
            return Plan::Known(Seen::unverifiable(format!(
                "`{guest}` maps to a host path that does not exist, and probes create files only in the fixture"
            )));
        };
        let ours = self.fixture.contains(&host);
        let kind = match (access, obj.dir) {
            (Access::Write, true) if !ours => None,
            (Access::Exec, _) if !ours || obj.dir => None,
            (a, dir) => Some(kind_of(a, dir)),
        };
        let Some(kind) = kind else {
            return Plan::Known(Seen::unverifiable(format!(
                "`{guest}` maps outside the fixture or to a directory: not probed for {}",
                access.keyword()
            )));
        };
        let mut p = self.probe(kind, guest, Place::Host(host.clone()));
        p.expect = Some(obj);
        p.host_dir = (kind == Kind::Create).then_some(host);
        Plan::Guest(p)
    }

    /// A scratch area or tmpfs: make what the request names first.
    fn area_probe(&mut self, access: Access, guest: &CanonPath) -> Plan {
        let dir = self.is_dir(guest);
        let g = guest.as_str();
        let parent = g.rsplit_once('/').map_or("/", |(p, _)| p);
        match (access, dir) {
            (Access::Exec, true) => {
                return Plan::Known(Seen::unverifiable("a directory cannot be executed"))
            }
            (_, true) => self.script.mkdir(g),
            (Access::Read, false) => {
                self.script.mkdir(parent);
                self.script.touch(g);
            }
            (Access::Write, false) => self.script.mkdir(parent),
            (Access::Exec, false) => {
                self.script.mkdir(parent);
                self.script.fixture_file(g);
            }
        }
        Plan::Guest(self.probe(kind_of(access, dir), guest, Place::Area))
    }

    /// The image: a fixture object goes into the rootfs (unless something is there).
    fn image_probe(&mut self, access: Access, guest: &CanonPath) -> Plan {
        let dir = self.is_dir(guest);
        let g = guest.as_str();
        let busybox = g == "/bin" || g.starts_with("/bin/") || g == bundle::SCRIPT;
        if access == Access::Exec && (dir || busybox) {
            return Plan::Known(Seen::unverifiable(format!(
                "`{guest}` is not a fixture file in the image: not executed"
            )));
        }
        self.image.push(ImageObject {
            guest: g.to_string(),
            dir,
        });
        Plan::Guest(self.probe(kind_of(access, dir), guest, Place::Image))
    }

    /// A host object: at every guest path a bind mount maps it to, and at its host path.
    fn plan_home(&mut self, access: Access, path: &CanonPath) -> Plan {
        let Some(host) = self.fixture.host(path) else {
            return Plan::Known(Seen::unverifiable("not a home path"));
        };
        let Some(obj) = self.fixture.object(&host) else {
            return Plan::Known(Seen::unverifiable("the fixture has no such object"));
        };
        let guests: Vec<CanonPath> = self
            .entries
            .iter()
            .filter(|e| e.typ == "bind")
            .filter_map(|e| {
                let rest = host.strip_prefix(e.source.as_ref()?).ok()?;
                Some(e.dest.join(rest.to_str()?))
            })
            .collect();
        let kind = kind_of(access, obj.dir);
        if access == Access::Exec && obj.dir {
            return Plan::Known(Seen::unverifiable("a directory cannot be executed"));
        }
        let mut probes: Vec<FsProbe> = guests
            .iter()
            .map(|g| self.probe(kind, g, Place::Host(host.clone())))
            .collect();
        if access != Access::Exec {
            if let Ok(direct) = CanonPath::parse(&host.to_string_lossy()) {
                let mut p = self.probe(kind, &direct, Place::Host(host.clone()));
                p.direct = true;
                probes.push(p);
            }
        }
        for p in &mut probes {
            p.expect = Some(obj);
            p.host_dir = (kind == Kind::Create).then(|| host.clone());
        }
        Plan::Home(probes)
    }

    fn plan_connect(&mut self, host: &Host, port: u16) -> Plan {
        if let Some(known) = self.network_known(host, true) {
            return Plan::Known(known);
        }
        let probe = match host {
            Host::Ip(IpAddr::V4(a)) => Some(self.script.connect(&a.to_string(), port)),
            _ => None,
        };
        Plan::Net {
            probe,
            what: format!("connect to `{host}:{port}`"),
        }
    }

    fn plan_resolve(&mut self, host: &Host) -> Plan {
        if let Some(known) = self.network_known(host, false) {
            return Plan::Known(known);
        }
        let probe = match host {
            Host::Domain(d) => Some(self.script.lookup(d)),
            Host::Ip(_) => None,
        };
        Plan::Net {
            probe,
            what: format!("resolve `{host}`"),
        }
    }

    /// Requests the bundle does not decide: a wired network, loopback.
    fn network_known(&self, host: &Host, connect: bool) -> Option<Seen> {
        if !self.network_none {
            return Some(Seen::not_mediated(
                "the launcher wires the network namespace to the egress proxy: the bundle alone decides nothing",
            ));
        }
        let local = match host {
            Host::Domain(d) => d == "localhost" || d.ends_with(".localhost"),
            Host::Ip(ip) if connect => ip.is_loopback() || ip.is_unspecified(),
            Host::Ip(_) => true,
        };
        local.then(|| Seen::not_mediated("loopback stays inside the container"))
    }
}

fn kind_of(access: Access, dir: bool) -> Kind {
    match (access, dir) {
        (Access::Read, _) => Kind::Read,
        (Access::Write, true) => Kind::Create,
        (Access::Write, false) => Kind::Write,
        (Access::Exec, _) => Kind::Exec,
    }
}

/// A host path's identity: the fixture's record, or the file system's outside it.
fn identity(fixture: &Fixture, host: &std::path::Path) -> Option<Object> {
    if fixture.contains(host) {
        return fixture.object(host);
    }
    let m = std::fs::metadata(host).ok()?;
    (m.is_dir() || m.is_file()).then(|| Object {
        dev: m.dev(),
        ino: m.ino(),
        dir: m.is_dir(),
    })
}

fn conclude(plan: &Plan, out: &Output, made: &[String], fixture: &Fixture) -> Seen {
    let hide = |s: Seen| Seen {
        evidence: fixture.hide(&s.evidence),
        verdict: match s.verdict {
            LiveVerdict::Unverifiable(w) => LiveVerdict::Unverifiable(fixture.hide(&w)),
            v => v,
        },
    };
    hide(match plan {
        Plan::Known(s) => s.clone(),
        Plan::Guest(p) => fs_seen(p, out.probes.get(&p.id), made),
        Plan::Home(ps) => home_seen(ps, out, made),
        Plan::Net { probe, what } => net_seen(what, probe.and_then(|i| out.probes.get(&i)), out),
    })
}

/// All probes of a host object: allowed when one reached it, denied when none could.
fn home_seen(probes: &[FsProbe], out: &Output, made: &[String]) -> Seen {
    let seen: Vec<Seen> = probes
        .iter()
        .map(|p| {
            let s = fs_seen(p, out.probes.get(&p.id), made);
            if p.direct {
                Seen {
                    evidence: format!("at its host path, {}", s.evidence),
                    ..s
                }
            } else {
                s
            }
        })
        .collect();
    any_allowed(&seen)
}

fn fs_seen(p: &FsProbe, o: Option<&ProbeOutput>, made: &[String]) -> Seen {
    let Some(o) = o else {
        return Seen::unverifiable(format!("no result for `{}`", p.guest));
    };
    let g = &p.guest;
    match p.kind {
        Kind::Read | Kind::Write if o.status == 0 => match p.expect {
            Some(obj) if o.output.trim() == format!("{}:{}", obj.dev, obj.ino) => {
                Seen::allow(format!("`{g}` opened the object"))
            }
            Some(_) => Seen::deny(format!(
                "`{g}` opened another file than the object (a mask)"
            )),
            None => elsewhere(p, "opened"),
        },
        Kind::Create if o.status == 0 && o.output.contains("created") => created(p),
        Kind::Exec if o.status == PROBE_EXIT => executed(p, made),
        _ => failed(p, o),
    }
}

/// A directory write: the new file must appear in the host directory.
fn created(p: &FsProbe) -> Seen {
    let Some(dir) = &p.host_dir else {
        return elsewhere(p, "created a file in");
    };
    let file = dir.join(format!(".policyc-probe-{}", p.id));
    if std::fs::remove_file(&file).is_ok() {
        Seen::allow(format!("created a file in `{}`", p.guest))
    } else {
        Seen::deny(format!(
            "a file created in `{}` did not reach the object",
            p.guest
        ))
    }
}

fn executed(p: &FsProbe, made: &[String]) -> Seen {
    let why = format!(
        "`{}`: execve failed with ENOEXEC and the shell read it as a script",
        p.guest
    );
    match p.place {
        Place::Image if !made.contains(&p.guest) => {
            Seen::unverifiable(format!("`{}` ran, but it was not a fixture file", p.guest))
        }
        Place::Image | Place::Runtime => Seen::not_mediated(format!("{why}, in the image")),
        Place::Host(_) | Place::Area => Seen::allow(why),
    }
}

/// A success where the policy's mounts are not involved.
fn elsewhere(p: &FsProbe, did: &str) -> Seen {
    let g = &p.guest;
    match p.place {
        Place::Area | Place::Host(_) => Seen::allow(format!("{did} `{g}`")),
        Place::Image => Seen::not_mediated(format!(
            "{did} `{g}`, in the container image, not a mount of the policy"
        )),
        Place::Runtime => {
            Seen::not_mediated(format!("{did} `{g}`, on the runtime's own file system"))
        }
    }
}

fn failed(p: &FsProbe, o: &ProbeOutput) -> Seen {
    let msg = format!("`{}`: {} (status {})", p.guest, o.output.trim(), o.status);
    match errno::from_message(&o.output) {
        Some(e) if errno::is_refusal(e) => Seen::deny(msg),
        Some(libc::ENOENT) if p.expect.is_some() => {
            Seen::deny(format!("{msg}: the object is not visible there"))
        }
        _ => Seen::unverifiable(msg),
    }
}

fn net_seen(what: &str, probe: Option<&ProbeOutput>, out: &Output) -> Seen {
    if let Some(p) = probe.filter(|p| p.status == 0) {
        return Seen::allow(format!("{what} succeeded: {}", p.output.trim()));
    }
    let tried = probe.map_or(String::new(), |p| format!("; {}", p.output.trim()));
    if out.interfaces == ["lo"] {
        Seen::deny(format!(
            "{what}: only `lo` in the container's network namespace{tried}"
        ))
    } else {
        Seen::unverifiable(format!(
            "{what}: the container has interfaces besides lo ({}){tried}",
            out.interfaces.join(" ")
        ))
    }
}
