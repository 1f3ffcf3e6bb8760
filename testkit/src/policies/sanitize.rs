//! Mending a model so it is likely to compile, for the targets that need checked policies.
//!
//! The `compile` target wants invalid policies too; `emit_simulate` and `bpf_libseccomp`
//! only learn something from policies that compile, so they first fix the mistakes that
//! would reject most models outright: an unknown isolation level, a home mount without a
//! guest path under container and wasm isolation (or with one under process isolation),
//! unsized scratch areas, egress allows without a port, tokens that are not declared or
//! lack fields, out-of-range argument indices, conditions on sets, unknown errno values,
//! raw strings where a path is needed, repeated or wrong limits. Threats and tests are
//! dropped (they decide nothing a target enforces). What is left may still fail to compile,
//! and such inputs are skipped.

use super::model::*;

impl PolicyModel {
    /// This model with the common reasons for a compile error removed.
    pub fn sanitized(&self) -> PolicyModel {
        let mut m = self.clone();
        if let IsolationModel::Other(_) = m.isolation {
            m.isolation = IsolationModel::Process;
        }
        m.threats.clear();
        m.tests.clear();
        let isolation = m.isolation;
        for (i, r) in m.fs.iter_mut().enumerate() {
            sanitize_fs(r, isolation, i);
        }
        let tokens = m.tokens.len().min(4);
        sanitize_net(&mut m.net, tokens);
        for t in &mut m.tokens {
            sanitize_token(t);
        }
        if let Some(s) = &mut m.syscalls {
            sanitize_syscalls(s);
        }
        let mut seen = Vec::new();
        m.limits.retain(|l| {
            let kind = std::mem::discriminant(l);
            let keep = !matches!(l, LimitModel::Wrong(_)) && !seen.contains(&kind);
            seen.push(kind);
            keep
        });
        for l in &mut m.limits {
            *l = match *l {
                LimitModel::Memory(s) => LimitModel::Memory(nonzero_size(s)),
                LimitModel::Pids(n) => LimitModel::Pids(n.max(1)),
                LimitModel::Cpus(n) => LimitModel::Cpus(n.max(1)),
                LimitModel::Files(n) => LimitModel::Files(n.max(1)),
                other => other,
            };
        }
        m
    }
}

fn sanitize_path(p: &mut PathModel) {
    match &p.root {
        PathRoot::Raw(s) => p.root = PathRoot::Known(u8::try_from(s.len() % 16).unwrap_or(0)),
        PathRoot::Known(i) => {
            let root = word(PATH_ROOTS, usize::from(*i));
            if !root.starts_with('/') && !root.starts_with("~/") && root != "~" {
                p.root = PathRoot::Known(index_of(PATH_ROOTS, "/data"));
            }
        }
        PathRoot::Home | PathRoot::Exact(_) => {}
    }
    for part in &mut p.parts {
        if let PathPart::Name(i) = part {
            if word(PATH_NAMES, usize::from(*i)).contains('*') {
                *part = PathPart::Name(0);
            }
        }
    }
}

fn is_home(p: &PathModel) -> bool {
    match &p.root {
        PathRoot::Home => true,
        PathRoot::Known(i) => word(PATH_ROOTS, usize::from(*i)).starts_with('~'),
        PathRoot::Raw(s) | PathRoot::Exact(s) => s.starts_with('~'),
    }
}

/// `/mnt/<name>`, a guest path for the i-th rule.
fn guest_for(i: usize) -> PathModel {
    PathModel {
        root: PathRoot::Known(index_of(PATH_ROOTS, "/mnt")),
        parts: vec![PathPart::Name(u8::try_from(i % 256).unwrap_or(0))],
    }
}

fn nonzero_size(s: SizeModel) -> SizeModel {
    match s {
        SizeModel::Units(0, _) | SizeModel::Bytes(0) => SizeModel::Units(1, SizeUnit::MiB),
        SizeModel::Units(n, SizeUnit::TiB) if n > 1024 => SizeModel::Units(n, SizeUnit::GiB),
        other => other,
    }
}

fn sanitize_fs(r: &mut FsRuleModel, isolation: IsolationModel, i: usize) {
    match r {
        FsRuleModel::Mount { host, at, .. } => {
            sanitize_path(host);
            if isolation == IsolationModel::Process {
                *at = None;
            } else {
                match at {
                    Some(g) if !is_home(g) => sanitize_path(g),
                    Some(g) => *g = guest_for(i),
                    None if is_home(host) => *at = Some(guest_for(i)),
                    None => {}
                }
            }
        }
        FsRuleModel::Scratch { path, size } | FsRuleModel::Tmpfs { path, size } => {
            sanitize_path(path);
            if is_home(path) {
                *path = guest_for(i);
            }
            *size = Some(nonzero_size(
                size.unwrap_or(SizeModel::Units(1, SizeUnit::MiB)),
            ));
        }
        FsRuleModel::Deny { target, .. } => match target {
            DenyTargetModel::Path(p) => sanitize_path(p),
            DenyTargetModel::List(l) => {
                if matches!(word(PATH_LISTS, usize::from(*l)), "secret" | "nope") {
                    *target = DenyTargetModel::Secrets;
                }
            }
            DenyTargetModel::Secrets | DenyTargetModel::Persistence => {}
        },
    }
}

fn sanitize_host(h: &mut HostModel) {
    if let HostModel::Raw(_) = h {
        *h = HostModel::Name {
            labels: Vec::new(),
            base: 0,
            wildcard: false,
            upper: false,
            trailing_dot: false,
        };
    }
}

fn sanitize_net(n: &mut NetModel, tokens: usize) {
    match n {
        NetModel::Absent => {}
        NetModel::None(dns) => *dns = None,
        NetModel::Egress { blocks, .. } => {
            for r in blocks.iter_mut().flat_map(|b| &mut b.rules) {
                sanitize_host(&mut r.host);
                match r.port {
                    PortModel::Absent if r.allow => r.port = PortModel::Any,
                    PortModel::Common(i)
                        if !(1..=65535)
                            .contains(&pick(PORTS, usize::from(i)).copied().unwrap_or(0)) =>
                    {
                        r.port = PortModel::Common(0)
                    }
                    PortModel::Number(p) if !(1..=65535).contains(&p) => {
                        r.port = PortModel::Number(p % 65535 + 1)
                    }
                    _ => {}
                }
                r.token = match (r.token, tokens) {
                    (Some(t), n) if n > 0 => Some(u8::try_from(usize::from(t) % n).unwrap_or(0)),
                    _ => None,
                };
            }
        }
    }
}

fn sanitize_token(t: &mut TokenModel) {
    if t.audience.is_none() {
        t.audience = Some(HostModel::Name {
            labels: Vec::new(),
            base: 1,
            wildcard: false,
            upper: false,
            trailing_dot: false,
        });
    }
    if t.scopes.is_empty() {
        t.scopes.push(0);
    }
    let ms = |d: DurationModel| {
        let unit: u64 = match d.unit {
            DurationUnit::Ms => 1,
            DurationUnit::S => 1_000,
            DurationUnit::M => 60_000,
            DurationUnit::H => 3_600_000,
            DurationUnit::D => 86_400_000,
        };
        u64::from(d.amount).saturating_mul(unit)
    };
    match t.ttl {
        Some(d) if (1..=3_600_000).contains(&ms(d)) => {}
        _ => {
            t.ttl = Some(DurationModel {
                amount: 5,
                unit: DurationUnit::M,
            })
        }
    }
}

fn sanitize_name(n: &mut SysNameModel) {
    if let SysNameModel::Bogus(i) = n {
        *n = SysNameModel::Common(*i);
    }
}

fn sanitize_conditions(name: SysNameModel, c: &mut Vec<CondModel>) {
    if matches!(name, SysNameModel::Set(_)) {
        c.clear();
    }
    for cond in c.iter_mut() {
        cond.arg %= 6;
    }
}

fn sanitize_action(a: &mut ActionModel) {
    match a {
        ActionModel::ErrnoName(i)
            if matches!(word(ERRNOS, usize::from(*i)), "ENOTSUP" | "eperm") =>
        {
            *a = ActionModel::ErrnoName(0)
        }
        ActionModel::ErrnoNumber(n) if !(1..=4095).contains(n) => {
            *a = ActionModel::ErrnoNumber(*n % 4095 + 1)
        }
        _ => {}
    }
}

fn sanitize_syscalls(s: &mut SyscallsModel) {
    if let Some(a) = &mut s.default {
        sanitize_action(a);
    }
    for r in &mut s.rules {
        match r {
            SysRuleModel::Allow(targets) => {
                for t in targets {
                    sanitize_name(&mut t.name);
                    sanitize_conditions(t.name, &mut t.condition);
                }
            }
            SysRuleModel::Deny {
                names,
                condition,
                action,
            } => {
                for n in names.iter_mut() {
                    sanitize_name(n);
                }
                if names.iter().any(|n| matches!(n, SysNameModel::Set(_))) {
                    condition.clear();
                }
                for c in condition.iter_mut() {
                    c.arg %= 6;
                }
                if let Some(a) = action {
                    sanitize_action(a);
                }
            }
        }
    }
}
