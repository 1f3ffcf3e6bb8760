//! Random `process` policies from a seeded generator, for tests that run each policy live
//! and so want a fixed, reproducible sample: home, system and scratch mounts, denies inside
//! them, direct egress rules, and the standard runtime set with extra allows and denies.
//!
//! No absolute mount or deny covers a home directory or a temporary directory (where live
//! fixtures are made); a scratch area or tmpfs goes only where the caller says, at a
//! directory it may mount a private tmpfs on. The same seed gives the same policies.

use super::model::*;
use policyc_verify::rng::Rng;

/// Home folders a policy may mount (two nest, to exercise nesting).
pub const HOME_DIRS: &[&str] = &["~/docs", "~/work", "~/tools", "~/data", "~/docs/inbox"];
/// System folders a policy may mount: none of them holds a temporary directory.
pub const SYSTEM: &[(AccessModel, &str)] = &[
    (AccessModel::Exec, "/usr"),
    (AccessModel::Read, "/usr"),
    (AccessModel::Read, "/etc"),
    (AccessModel::Read, "/var/lib"),
];
const ACCESSES: &[AccessModel] = &[AccessModel::Read, AccessModel::Write, AccessModel::Exec];
/// Hosts egress rules allow.
pub const HOSTS: &[&str] = &["api.example.com", "127.0.0.1", "*.cdn.example.org"];

fn cond(arg: u8, mask: Option<u64>, op: CmpOpModel, value: u64) -> CondModel {
    CondModel::new(arg, mask, op, value)
}

/// Allows added to the runtime set.
pub fn allows() -> Vec<SysRuleModel> {
    use CmpOpModel::*;
    vec![
        SysRuleModel::allow("execve", vec![]),
        SysRuleModel::allow("kill", vec![cond(1, None, Eq, 0)]),
        SysRuleModel::allow("socket", vec![cond(0, None, Eq, 1)]),
        SysRuleModel::allow("wait4", vec![]),
        SysRuleModel::allow("pidfd_open", vec![]),
        SysRuleModel::allow("mprotect", vec![cond(2, Some(0x4), Eq, 0)]),
    ]
}

/// Denies (each given an action from [`actions`]): the syscalls and conditions whose
/// effects a live run can see.
pub fn denies() -> Vec<(&'static [&'static str], Vec<CondModel>)> {
    use CmpOpModel::*;
    vec![
        (&["chmod"], vec![]),
        (&["fchmod"], vec![]),
        (&["mkdir"], vec![]),
        (&["rename"], vec![]),
        (&["unlink", "unlinkat"], vec![]),
        (&["symlink"], vec![]),
        (&["utimensat"], vec![]),
        (&["truncate"], vec![]),
        (&["socket"], vec![cond(0, None, Eq, 2)]),
        (&["ioctl"], vec![cond(1, None, Eq, 0x5401)]),
        (&["ioctl"], vec![cond(1, Some(0xffff), Eq, 0x5413)]),
        (&["prctl"], vec![cond(0, None, Eq, 22)]),
        (&["mprotect"], vec![cond(2, Some(0x4), Ne, 0)]),
        (&["getrandom"], vec![cond(2, None, Gt, 1)]),
    ]
}

/// A deny's action: none (the default's), an errno by name or number, or `kill`.
pub fn actions() -> Vec<Option<ActionModel>> {
    vec![
        None,
        Some(ActionModel::errno("EPERM")),
        Some(ActionModel::errno("EACCES")),
        Some(ActionModel::errno("ENOSYS")),
        Some(ActionModel::ErrnoNumber(13)),
        Some(ActionModel::Kill),
    ]
}

/// The syscall default: none (the language's), an errno, or `kill`.
pub fn defaults() -> Vec<Option<ActionModel>> {
    vec![
        None,
        Some(ActionModel::errno("EPERM")),
        Some(ActionModel::errno("EACCES")),
        Some(ActionModel::Kill),
    ]
}

fn mount(access: AccessModel, path: &str) -> FsRuleModel {
    FsRuleModel::Mount {
        access,
        host: PathModel::exact(path),
        at: None,
    }
}

fn draw<T: Clone>(rng: &mut Rng, items: &[T]) -> T {
    rng.pick(items).cloned().expect("a pool is never empty")
}

/// Policy `sampled_{n}`, drawn from `rng`. `area` is an existing directory for scratch
/// areas and tmpfs, when the caller may mount a private tmpfs on it.
pub fn process_policy(rng: &mut Rng, n: usize, area: Option<&str>) -> PolicyModel {
    let mut m = PolicyModel::new(&format!("sampled_{n}"), IsolationModel::Process);
    fs(rng, area, &mut m.fs);
    m.net = net(rng);
    m.include_guards = true;
    m.syscalls = Some(syscalls(rng));
    m
}

/// One to four mounts (each at a path not yet used), then up to two denies.
fn fs(rng: &mut Rng, area: Option<&str>, out: &mut Vec<FsRuleModel>) {
    let size = Some(SizeModel::Units(1, SizeUnit::MiB));
    let mut guests: Vec<&str> = Vec::new();
    let mut home_mounts = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let (rule, path) = match (rng.below(10), area) {
            (0..=6, _) => {
                let access = draw(rng, ACCESSES);
                let path = draw(rng, HOME_DIRS);
                (mount(access, path), path)
            }
            (9, Some(a)) => {
                let path = PathModel::exact(a);
                let rule = if rng.chance(1, 2) {
                    FsRuleModel::Scratch { path, size }
                } else {
                    FsRuleModel::Tmpfs { path, size }
                };
                (rule, a)
            }
            _ => {
                let (access, path) = draw(rng, SYSTEM);
                (mount(access, path), path)
            }
        };
        if guests.contains(&path) {
            continue;
        }
        guests.push(path);
        out.push(rule);
        if path.starts_with('~') {
            home_mounts.push(path);
        }
    }
    for _ in 0..rng.below(3) {
        let under = rng.pick(&home_mounts).copied();
        let (access, path) = match (rng.below(6), under) {
            (0, _) | (_, None) => (None, "~/.ssh".to_string()),
            (1, _) => (None, "/etc/shadow".to_string()),
            (2, Some(m)) => (Some(AccessModel::Read), format!("{m}/private")),
            (3, Some(m)) => (Some(AccessModel::Exec), format!("{m}/bin")),
            (_, Some(m)) => (Some(AccessModel::Write), format!("{m}/locked")),
        };
        let deny = FsRuleModel::Deny {
            access,
            target: DenyTargetModel::Path(PathModel::exact(&path)),
        };
        if !out.contains(&deny) {
            out.push(deny);
        }
    }
}

/// `egress none`, or direct egress to one or two hosts and maybe a deny.
fn net(rng: &mut Rng) -> NetModel {
    if rng.chance(1, 3) {
        return NetModel::None(None);
    }
    let mut rules = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let host = draw(rng, HOSTS);
        let port = match rng.below(8) {
            0 => PortModel::Number(443),
            1 => PortModel::Any,
            _ => PortModel::Number(1024 + rng.below(64_000) as u32),
        };
        rules.push(EgressRuleModel {
            allow: true,
            host: HostModel::exact(host),
            port,
            token: None,
        });
    }
    if rng.chance(1, 3) {
        rules.push(EgressRuleModel {
            allow: false,
            host: HostModel::exact("evil.example.com"),
            port: PortModel::Absent,
            token: None,
        });
    }
    let blocks = vec![EgressBlockModel {
        proxy: false,
        rules,
    }];
    NetModel::Egress { blocks, dns: None }
}

/// `allow base`, up to two more allows, up to three denies, and maybe a default.
fn syscalls(rng: &mut Rng) -> SyscallsModel {
    let base = SysRuleModel::Allow(vec![SysTargetModel {
        name: SysNameModel::set("base"),
        condition: Vec::new(),
    }]);
    let mut rules = vec![base];
    for _ in 0..rng.below(3) {
        rules.push(draw(rng, &allows()));
    }
    for _ in 0..rng.below(4) {
        let (names, condition) = draw(rng, &denies());
        let action = draw(rng, &actions());
        rules.push(SysRuleModel::deny(names, condition, action));
    }
    SyscallsModel {
        default: draw(rng, &defaults()),
        rules,
    }
}
