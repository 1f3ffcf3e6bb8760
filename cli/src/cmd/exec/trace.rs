//! `policyc exec --trace-denials [FILE]`: each syscall the seccomp filter refuses and each
//! connection the egress supervisor refuses, with the layer and the rule (`file:line`) that
//! refused it; human lines on stderr, or JSON lines appended to FILE.
//!
//! Landlock's refusals are not reported: the kernel only returns `EACCES` (or `EXDEV`) to
//! the program, and logs them to its audit subsystem only (see the book's audit chapter).

use super::load::Loaded;
use super::plan::file_line;
use policyc_compiler::ir::{ArgCond, DenyAction};
use policyc_compiler::syscalls::{self, Arch};
use policyc_host::egress::audit::Record;
use policyc_host::sandbox::trace::{SyscallDenial, Trace};
use policyc_targets::seccomp::bpf::audit;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where reports go.
#[derive(Debug)]
enum Sink {
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
}

impl Denials {
    /// Report to `file` (appended to) or, without one, to stderr.
    pub fn open(loaded: &Loaded, file: Option<&Path>) -> Result<Self, u8> {
        let (policy, sites) = (&loaded.policy, &loaded.sites);
        let sink = match file {
            Some(p) => File::options()
                .create(true)
                .append(true)
                .open(p)
                .map(Sink::File)
                .map_err(|e| super::exit::fail(format!("cannot open `{}`: {e}", p.display())))?,
            None => Sink::Stderr,
        };
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
        Ok(Denials {
            sink: Mutex::new(sink),
            rules,
            syscalls_block: file_line(&sites.syscalls),
            net_block: sites.net.clone(),
        })
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
            Sink::Stderr => eprintln!("policyc exec: {human}"),
            Sink::File(f) => {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

fn arch_of(audit_arch: u32) -> Option<Arch> {
    match audit_arch {
        audit::X86_64 => Some(Arch::X86_64),
        audit::AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}
