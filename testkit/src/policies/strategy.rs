//! Well-formed random policies for property tests: a proptest [`Strategy`] over
//! [`PolicyModel`]s of every isolation level, drawn from small pools of paths, hosts and
//! syscall rules (the pools are public, so request generators can aim at the same paths).
//!
//! A mount at a guest path already taken is left out (two mounts may not share one) and
//! only the first `default` drawn stands, so almost every policy compiles. The draws keep
//! one shape, so a seed saved in a `proptest-regressions` file keeps giving the same policy.

use super::model::*;
use proptest::prelude::*;

/// Host folders a bind mount may name, each with the guest path it is seen at when the
/// isolation level needs one. No absolute path lies in the home directory, so `~` and its
/// absolute spelling never both appear in a policy.
pub const HOSTS: &[(&str, &str)] = &[
    ("~/Documents", "/mnt/docs"),
    ("/srv/data", "/data"),
    ("~/Projects", "/work"),
    ("/opt/tools", "/opt/tools"),
    ("~/Documents/work", "/mnt/docs/work"),
    ("/srv/data/sub", "/data/sub"),
    ("/usr", "/usr"),
    ("~/.aws", "/mnt/aws"),
    ("/srv", "/srv"),
    ("~", "/home/agent"),
];

/// Guest paths a mount may be put at explicitly (container and wasm only).
pub const GUESTS: &[&str] = &["/mnt/in", "/data", "/work", "/mnt/docs/sub", "/srv/data"];

/// Where scratch areas and tmpfs go.
pub const AREAS: &[&str] = &[
    "/out",
    "/tmp",
    "/mnt/scratch",
    "/var/tmp/agent",
    "/work/tmp",
];

/// Paths denies name.
pub const DENIES: &[&str] = &[
    "~/Documents/private",
    "/srv/data/private",
    "~/.ssh",
    "~/Projects",
    "/opt/tools/bad",
    "~/Documents",
    "/mnt/docs/private",
    "/tmp/cache",
    "~/Documents/work",
    "~/.aws/config",
    "/usr/local",
    "/srv",
];

/// Path lists of `std::secrets` a deny may name.
pub const LISTS: &[&str] = &["secrets", "persistence", "cloud_credentials"];

/// Hosts egress rules name, in the spellings a policy author might use.
pub const RULE_HOSTS: &[&str] = &[
    "api.example.com",
    "*.cdn.example.net",
    "192.0.2.10",
    "[2001:db8::1]",
    "Example.COM.",
    "0x7f.0.0.1",
    "bücher.example",
    "evil.cdn.example.net",
];

/// Syscalls an explicit allow list draws from.
pub const SYSCALL_NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "close",
    "mmap",
    "exit_group",
    "futex",
    "clone",
    "socket",
    "kill",
    "ioctl",
    "mprotect",
    "getrandom",
    "open",
    "ptrace",
    "prctl",
];

fn cond(arg: u8, mask: Option<u64>, op: CmpOpModel, value: u64) -> CondModel {
    CondModel::new(arg, mask, op, value)
}

/// Conditional allows (one syscall each).
pub fn cond_allows() -> Vec<SysRuleModel> {
    use CmpOpModel::*;
    vec![
        SysRuleModel::allow("kill", vec![cond(1, None, Eq, 0)]),
        SysRuleModel::allow("socket", vec![cond(0, None, Eq, 1)]),
        SysRuleModel::allow(
            "socket",
            vec![cond(0, None, Eq, 2), cond(1, Some(0xff), Eq, 1)],
        ),
        SysRuleModel::allow("mprotect", vec![cond(2, Some(0x4), Eq, 0)]),
        SysRuleModel::allow("prctl", vec![cond(0, None, Gt, 20), cond(0, None, Le, 40)]),
        SysRuleModel::allow(
            "lseek",
            vec![cond(1, None, Ge, 0x1_0000_0000), cond(2, None, Le, 2)],
        ),
    ]
}

/// Denies, conditional and not, with and without actions.
pub fn sys_denies() -> Vec<SysRuleModel> {
    use CmpOpModel::*;
    let errno = |name| Some(ActionModel::errno(name));
    vec![
        SysRuleModel::deny(
            &["clone"],
            vec![cond(0, Some(0x7e02_0000), Ne, 0)],
            errno("EPERM"),
        ),
        SysRuleModel::deny(&["ptrace", "bpf"], vec![], errno("EPERM")),
        SysRuleModel::deny(&["clone3"], vec![], errno("ENOSYS")),
        SysRuleModel::deny(
            &["ioctl"],
            vec![cond(1, Some(0xffff_ffff), Eq, 0x5412)],
            None,
        ),
        SysRuleModel::deny(&["keyctl"], vec![], Some(ActionModel::Kill)),
        SysRuleModel::deny(&["write"], vec![cond(0, None, Gt, 2)], errno("EBADF")),
        SysRuleModel::deny(&["unshare", "setns", "mount"], vec![], None),
        SysRuleModel::deny(
            &["socket"],
            vec![cond(1, Some(0x80000), Eq, 0x80000)],
            errno("EACCES"),
        ),
    ]
}

/// Default actions.
pub fn defaults() -> Vec<ActionModel> {
    vec![
        ActionModel::errno("EPERM"),
        ActionModel::Kill,
        ActionModel::errno("EACCES"),
    ]
}

/// One drawn `fs` rule: a mount by index into [`HOSTS`] and [`GUESTS`] (its guest path
/// depends on the isolation level), or a rule as it stands.
#[derive(Debug, Clone)]
enum Fs {
    Mount {
        access: AccessModel,
        host: usize,
        at: Option<usize>,
    },
    Rule(FsRuleModel),
}

/// One drawn syscall statement.
#[derive(Debug, Clone)]
enum Sys {
    Rule(SysRuleModel),
    Default(ActionModel),
    /// `include runtime_guards` (namespace clones, clone3, terminal injection).
    Guards,
}

/// The element of a pool at `i`, wrapping around.
fn at<T: Clone>(items: &[T], i: usize) -> T {
    pick(items, i).cloned().expect("a pool is never empty")
}

/// Read, write or exec.
pub fn access() -> impl Strategy<Value = AccessModel> {
    prop_oneof![
        Just(AccessModel::Read),
        Just(AccessModel::Write),
        Just(AccessModel::Exec)
    ]
}

fn list(i: usize) -> DenyTargetModel {
    match at(LISTS, i) {
        "secrets" => DenyTargetModel::Secrets,
        "persistence" => DenyTargetModel::Persistence,
        other => DenyTargetModel::List(index_of(PATH_LISTS, other)),
    }
}

fn area(i: usize, tmpfs: bool) -> FsRuleModel {
    let path = PathModel::exact(at(AREAS, i));
    let size = Some(SizeModel::Units(1, SizeUnit::MiB));
    if tmpfs {
        FsRuleModel::Tmpfs { path, size }
    } else {
        FsRuleModel::Scratch { path, size }
    }
}

fn fs_rule() -> impl Strategy<Value = Fs> {
    prop_oneof![
        4 => (access(), 0..HOSTS.len(), proptest::option::of(0..GUESTS.len()))
            .prop_map(|(access, host, at)| Fs::Mount { access, host, at }),
        1 => (0..AREAS.len()).prop_map(|i| Fs::Rule(area(i, false))),
        1 => (0..AREAS.len()).prop_map(|i| Fs::Rule(area(i, true))),
        3 => (proptest::option::of(access()), 0..DENIES.len()).prop_map(|(access, path)| {
            let target = DenyTargetModel::Path(PathModel::exact(at(DENIES, path)));
            Fs::Rule(FsRuleModel::Deny { access, target })
        }),
        1 => (proptest::option::of(access()), 0..LISTS.len())
            .prop_map(|(access, i)| Fs::Rule(FsRuleModel::Deny { access, target: list(i) })),
    ]
}

fn egress_rule() -> impl Strategy<Value = EgressRuleModel> {
    let port = prop_oneof![
        Just(Some(443u16)),
        Just(None),
        Just(Some(80)),
        Just(Some(8080))
    ];
    (any::<bool>(), 0..RULE_HOSTS.len(), port).prop_map(|(deny, host, port)| EgressRuleModel {
        allow: !deny,
        host: HostModel::exact(at(RULE_HOSTS, host)),
        // An allow needs a port: `*` when none was drawn.
        port: match (deny, port) {
            (_, Some(p)) => PortModel::Number(u32::from(p)),
            (false, None) => PortModel::Any,
            (true, None) => PortModel::Absent,
        },
        token: None,
    })
}

fn net() -> impl Strategy<Value = NetModel> {
    let dns = proptest::option::of(prop_oneof![
        Just(DnsModel::AllowListedOnly),
        Just(DnsModel::None),
        Just(DnsModel::Any)
    ]);
    prop_oneof![
        1 => Just(NetModel::Absent),
        1 => Just(NetModel::None(None)),
        3 => (any::<bool>(), proptest::collection::vec(egress_rule(), 1..4), dns)
            .prop_map(|(proxy, rules, dns)| NetModel::Egress {
                blocks: vec![EgressBlockModel { proxy, rules }],
                dns,
            }),
    ]
}

fn sys_rule() -> impl Strategy<Value = Sys> {
    let names = proptest::collection::vec(0..SYSCALL_NAMES.len(), 1..5);
    prop_oneof![
        2 => Just(Sys::Rule(SysRuleModel::Allow(vec![SysTargetModel {
            name: SysNameModel::set("python"),
            condition: Vec::new(),
        }]))),
        2 => names.prop_map(|ns| {
            let names: Vec<&'static str> = ns.into_iter().map(|i| at(SYSCALL_NAMES, i)).collect();
            Sys::Rule(SysRuleModel::allow_all(&names))
        }),
        2 => (0..cond_allows().len()).prop_map(|i| Sys::Rule(at(&cond_allows(), i))),
        3 => (0..sys_denies().len()).prop_map(|i| Sys::Rule(at(&sys_denies(), i))),
        1 => (0..defaults().len()).prop_map(|i| Sys::Default(at(&defaults(), i))),
        1 => Just(Sys::Guards),
    ]
}

/// A well-formed policy `p` at process, container or wasm isolation: up to five `fs`
/// rules, a `net` block or none, up to three syscall statements.
pub fn well_formed() -> impl Strategy<Value = PolicyModel> {
    // Wasm policies have one target (WASI); the other two levels have several.
    let iso = prop_oneof![
        2 => Just(IsolationModel::Process),
        2 => Just(IsolationModel::Container),
        1 => Just(IsolationModel::Wasm)
    ];
    (
        iso,
        proptest::collection::vec(fs_rule(), 0..6),
        net(),
        proptest::collection::vec(sys_rule(), 0..4),
    )
        .prop_map(|(iso, fs, net, sys)| assemble(iso, fs, net, sys))
}

/// The policy the draws make: mounts get the guest path their isolation level needs, and
/// what would not compile (a second rule at one guest path, a second `default`) is left out.
fn assemble(iso: IsolationModel, fs: Vec<Fs>, net: NetModel, sys: Vec<Sys>) -> PolicyModel {
    let mut m = PolicyModel::new("p", iso);
    m.use_secrets = true;
    m.net = net;
    let mut guests: Vec<String> = Vec::new();
    for r in fs {
        let (rule, guest) = match r {
            Fs::Mount {
                access,
                host,
                at: g,
            } => {
                let (h, default_guest) = at(HOSTS, host);
                let guest = match (iso, g) {
                    (IsolationModel::Process, _) => None,
                    (_, Some(g)) => Some(at(GUESTS, g)),
                    (_, None) if h.starts_with('~') => Some(default_guest),
                    (_, None) => None,
                };
                let rule = FsRuleModel::Mount {
                    access,
                    host: PathModel::exact(h),
                    at: guest.map(PathModel::exact),
                };
                (rule, Some(guest.unwrap_or(h).to_string()))
            }
            Fs::Rule(rule) => {
                let guest = match &rule {
                    FsRuleModel::Scratch { path, .. } | FsRuleModel::Tmpfs { path, .. } => {
                        Some(super::render::path(path))
                    }
                    _ => None,
                };
                (rule, guest)
            }
        };
        if let Some(g) = guest {
            if guests.contains(&g) {
                continue;
            }
            guests.push(g);
        }
        m.fs.push(rule);
    }
    for s in sys {
        match s {
            Sys::Rule(rule) => m.push_syscall(rule),
            Sys::Default(action) => {
                let block = m.syscalls.get_or_insert_with(SyscallsModel::default);
                block.default.get_or_insert(action);
            }
            Sys::Guards => m.include_guards = true,
        }
    }
    m
}
