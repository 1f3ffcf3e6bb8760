//! `policyc exec --trace-denials [FILE]`: each syscall the seccomp filter refuses and each
//! connection the egress supervisor refuses, with the layer and the rule (`file:line`) that
//! refused it; human lines on stderr, or JSON lines appended to FILE.
//!
//! The same reports go to the audit log when the policy's audit block names `denials`
//! ([`Denials::record_to`]), with or without `--trace-denials`.
//!
//! Landlock's refusals are not reported: the kernel only returns `EACCES` (or `EXDEV`) to
//! the program, and logs them to its audit subsystem only (see the book's audit chapter).

use super::load::Loaded;
use super::plan::file_line;
use policyc_compiler::ir::{ArgCond, DenyAction};
use policyc_compiler::syscalls::{self, Arch};
use policyc_host::egress::audit::{Denial, Log, Record};
use policyc_host::sandbox::trace::{SyscallDenial, Trace};
use policyc_targets::seccomp::bpf::audit;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Where reports go.
#[derive(Debug)]
enum Sink {
    /// Only the audit log, if any.
    Nowhere,
    Stderr,
    File(File),
}

/// A syscall's deny rules and its first allow, with where each was written.
#[derive(Debug, Default)]
struct RuleAt {
    denies: Vec<(Vec<ArgCond>, DenyAction, String)>,
    allow: Option<String>,
}

/// Reports denials for one policy.
#[derive(Debug)]
pub struct Denials {
    sink: Mutex<Sink>,
    rules: BTreeMap<String, RuleAt>,
    syscalls_block: String,
    net_block: String,
    audit: OnceLock<Arc<Log>>,
}

impl Denials {
    /// Report to `file` (appended to) or, without one, to stderr.
    pub fn open(loaded: &Loaded, file: Option<&Path>) -> Result<Self, u8> {
        let sink = match file {
            Some(p) => File::options()
                .create(true)
                .append(true)
                .open(p)
                .map(Sink::File)
                .map_err(|e| super::exit::fail(format!("cannot open `{}`: {e}", p.display())))?,
            None => Sink::Stderr,
        };
        Ok(Self::with_sink(loaded, sink))
    }

    /// Report to the audit log only (see [`Denials::record_to`]).
    pub fn quiet(loaded: &Loaded) -> Self {
        Self::with_sink(loaded, Sink::Nowhere)
    }

    /// Also write each refused syscall to `log` (the first log given stays).
    pub fn record_to(&self, log: Arc<Log>) {
        let _ = self.audit.set(log);
    }

    fn with_sink(loaded: &Loaded, sink: Sink) -> Self {
        let (policy, sites) = (&loaded.policy, &loaded.sites);
        let rules = policy
            .syscalls
            .rules
            .iter()
            .map(|(name, rule)| {
                let at = sites.syscall_rules.get(name).cloned().unwrap_or_default();
                let mut deny_at = at.denies.into_iter();
                let r = RuleAt {
                    denies: rule
                        .deny
                        .iter()
                        .map(|d| {
                            let site = deny_at.next().unwrap_or_else(|| sites.syscalls.clone());
                            (d.when.clone(), d.action, site)
                        })
                        .collect(),
                    allow: at.allow,
                };
                (name.clone(), r)
            })
            .collect();
        Denials {
            sink: Mutex::new(sink),
            rules,
            syscalls_block: file_line(&sites.syscalls),
            net_block: sites.net.clone(),
            audit: OnceLock::new(),
        }
    }

    /// The launcher's seccomp trace, reporting here.
    pub fn seccomp(self: &Arc<Self>) -> Trace {
        let me = Arc::clone(self);
        Trace {
            report: Arc::new(move |d: &SyscallDenial| me.syscall(d)),
        }
    }

    /// The egress supervisor's denial hook, reporting here.
    pub fn egress(self: &Arc<Self>) -> policyc_host::egress::audit::DenialHook {
        let me = Arc::clone(self);
        Arc::new(move |r: &Record| me.connection(r))
    }

    fn syscall(&self, d: &SyscallDenial) {
        let name = arch_of(d.arch).and_then(|a| syscalls::name(a, d.nr));
        let (rule, why) = self.explain(name, &d.args);
        let errno = u32::try_from(d.errno)
            .ok()
            .and_then(syscalls::errno_name)
            .map_or_else(|| d.errno.to_string(), str::to_string);
        if let Some(log) = self.audit.get() {
            log.write_denial(&Denial {
                layer: "seccomp",
                syscall: name.map(str::to_string),
                nr: d.nr,
                pid: d.pid,
                args: d.args,
                errno: errno.clone(),
                rule: rule.clone(),
                reason: why.clone(),
            });
        }
        let shown = name.map_or_else(|| format!("#{}", d.nr), str::to_string);
        self.emit(
            &format!(
                "denied by seccomp: syscall `{shown}` (thread {}) failed with {errno}: {why} ({rule})",
                d.pid
            ),
            &json!({
                "layer": "seccomp",
                "syscall": name,
                "nr": d.nr,
                "pid": d.pid,
                "args": d.args,
                "errno": errno,
                "rule": rule,
                "why": why,
            }),
        );
    }

    /// The rule that refused `name` with `args`, and why.
    fn explain(&self, name: Option<&str>, args: &[u64; 6]) -> (String, String) {
        let not_allowed = || {
            (
                self.syscalls_block.clone(),
                "not allowed by any rule of the syscalls block".to_string(),
            )
        };
        let Some(rule) = name.and_then(|n| self.rules.get(n)) else {
            return not_allowed();
        };
        if let Some((_, action, at)) = rule
            .denies
            .iter()
            .find(|(when, _, _)| when.iter().all(|c| c.holds(args)))
        {
            let how = match action {
                DenyAction::Kill => "kill",
                DenyAction::Errno(_) => "errno",
            };
            return (at.clone(), format!("a deny rule ({how})"));
        }
        match &rule.allow {
            Some(at) => (at.clone(), "allowed only with other arguments".to_string()),
            None => not_allowed(),
        }
    }

    fn connection(&self, r: &Record) {
        let host = r.host.as_deref().unwrap_or("?");
        let rule = r.rule.clone().unwrap_or_else(|| self.net_block.clone());
        self.emit(
            &format!(
                "denied by egress: connection to {host}:{}: {} ({rule})",
                r.port, r.reason
            ),
            &json!({
                "layer": "egress",
                "host": r.host,
                "port": r.port,
                "sni": r.sni,
                "rule": rule,
                "why": r.reason,
            }),
        );
    }

    fn emit(&self, human: &str, line: &serde_json::Value) {
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        match &mut *sink {
            Sink::Nowhere => {}
            Sink::Stderr => eprintln!("policyc exec: {human}"),
            Sink::File(f) => {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

/// What `audit { writes; denials }` asks `policyc exec` to record, set up: the session's
/// audit log (the egress supervisor's, or one of its own), the write grants to watch, and
/// the denial reports (`traced`, from `--trace-denials`, or quiet ones) writing to the log.
/// A kernel or privilege that cannot record them refuses to run (125) unless `best_effort`,
/// which says what is not recorded.
pub fn audit_plan(
    loaded: &Loaded,
    flags: &super::egress::Flags,
    plan: &policyc_host::sandbox::Plan,
    best_effort: bool,
    traced: Option<&Arc<Denials>>,
) -> Result<(policyc_host::sandbox::Audit, Option<Arc<Denials>>), u8> {
    use policyc_compiler::ir::AuditItem;
    let policy = &loaded.policy;
    let wants = |i| policy.audit.contains(&i);
    let mut denials = traced.cloned();
    if !wants(AuditItem::Writes) && !wants(AuditItem::Denials) {
        return Ok((policyc_host::sandbox::Audit::default(), denials));
    }
    let log = match &plan.egress {
        Some(s) => s.audit_log(),
        None => Arc::new(plain_log(loaded, flags)?),
    };
    let mut audit = policyc_host::sandbox::Audit {
        log: Some(Arc::clone(&log)),
        writes: None,
    };
    if wants(AuditItem::Denials) {
        if policyc_host::sys::notify::user_notification_available() {
            let d = denials.get_or_insert_with(|| Arc::new(Denials::quiet(loaded)));
            d.record_to(Arc::clone(&log));
        } else {
            not_recorded(
                best_effort,
                "this kernel has no seccomp user notification, so refused syscalls cannot be recorded",
                "syscall denials are NOT recorded in the audit log",
            )?;
        }
    }
    if wants(AuditItem::Writes) {
        match policyc_host::sys::fanotify::init() {
            Ok(_) => audit.writes = Some(write_roots(plan)),
            Err(e) => not_recorded(
                best_effort,
                &format!(
                    "the program's writes cannot be watched: fanotify needs CAP_SYS_ADMIN ({e})"
                ),
                "the program's writes are NOT recorded in the audit log",
            )?,
        }
    }
    Ok((audit, denials))
}

/// The audit log of a run without an egress supervisor.
fn plain_log(loaded: &Loaded, flags: &super::egress::Flags) -> Result<Log, u8> {
    use policyc_compiler::ir::AuditItem;
    let policy = &loaded.policy;
    let (path, anchor) = super::egress::audit_paths(policy, flags);
    let settings = policyc_host::egress::audit::Settings {
        policy: policy.name.clone(),
        policy_hash: loaded.sites.source_sha256.clone(),
        egress: false,
        denials: policy.audit.contains(&AuditItem::Denials),
        anchor,
    };
    Log::open_plain(settings, path.as_deref()).map_err(|e| {
        super::exit::fail(format!(
            "cannot open the audit log `{}`: {e}",
            path.unwrap_or_default().display()
        ))
    })
}

/// The folders and files the program may write (the Landlock grants with a write right);
/// devices and sockets are not files it writes.
fn write_roots(plan: &policyc_host::sandbox::Plan) -> Vec<std::path::PathBuf> {
    use policyc_targets::landlock::FsRight;
    plan.landlock
        .iter()
        .flat_map(|rs| rs.paths.iter())
        .filter(|r| r.allowed.contains(&FsRight::WriteFile))
        .map(|r| std::path::PathBuf::from(r.path.as_str()))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir() || m.is_file()))
        .collect()
}

/// `audit { writes; denials }` are recorded for process policies only: for a container or
/// wasm policy that asks for them, refuse to run (125), or with `best_effort` say they are
/// not recorded.
pub fn unrecorded_elsewhere(loaded: &Loaded, best_effort: bool) -> Result<(), u8> {
    use policyc_compiler::ir::AuditItem;
    let policy = &loaded.policy;
    for (item, what) in [
        (AuditItem::Writes, "the program's writes"),
        (AuditItem::Denials, "refused syscalls"),
    ] {
        if policy.audit.contains(&item) {
            not_recorded(
                best_effort,
                &format!(
                    "policy `{}` audits `{}`, which `policyc exec` records for process policies only, not under {} isolation",
                    policy.name,
                    item.keyword(),
                    policy.isolation.keyword()
                ),
                &format!("{what} are NOT recorded in the audit log"),
            )?;
        }
    }
    Ok(())
}

/// Refuse to run (125), or with `best_effort` say what is not recorded.
fn not_recorded(best_effort: bool, why: &str, what: &str) -> Result<(), u8> {
    if !best_effort {
        return Err(super::exit::fail(format!(
            "{why}; refusing to run (use --best-effort to run without recording them)"
        )));
    }
    crate::output::say(
        "policyc exec: ",
        "exec",
        crate::output::Level::Warning,
        &format!("{why}; --best-effort: {what}"),
    );
    Ok(())
}

fn arch_of(audit_arch: u32) -> Option<Arch> {
    match audit_arch {
        audit::X86_64 => Some(Arch::X86_64),
        audit::AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}
