//! A policy's statements to IR, with value checks: this module builds the policy and its
//! smaller parts (isolation, threats, data, audit, limits, tests); [`fs`](super::fs),
//! [`net`](super::net) (with tokens) and [`syscalls`](super::syscalls) build theirs.
//! Errors are collected; a value that fails its check is left out of the IR (the policy is
//! discarded anyway when any error remains).

use super::{env, fs, net, syscalls, unknown, Scope};
use crate::ast::{self, Block, DnsMode, NetRule, PortSpec, Stmt};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::hosts::Host;
use crate::ir::{self, AuditItem, DataClass, Isolation, Threat};
use crate::paths::CanonPath;
use crate::request::Request;
use crate::span::{Span, Spanned};
use std::collections::{BTreeMap, BTreeSet};

/// The longest policy name: each policy builds into a folder of its name, and file systems
/// allow 255 bytes per name; the rest is left for a suffix a tool may add.
const MAX_POLICY_NAME: usize = 200;

/// One policy block, its includes already spliced into `stmts`, as IR.
pub(super) fn policy(
    block: &Block,
    stmts: &[&Stmt],
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
) -> ir::Policy {
    let isolation = isolation(block, stmts, diags);
    if block.name.node.len() > MAX_POLICY_NAME {
        diags.push(
            Diagnostic::new(
                Code::PolicyNameTooLong,
                block.name.span,
                format!(
                    "policy name is {} bytes long; `policyc build` writes each policy to a folder of its name, which may be at most {MAX_POLICY_NAME}",
                    block.name.node.len()
                ),
            )
            .with_hint("use a shorter name; the policy's `///` doc comment can say more"),
        );
    }
    let mut p = ir::Policy {
        name: block.name.node.clone(),
        docs: block.docs.clone(),
        isolation,
        threats: BTreeSet::new(),
        data: BTreeSet::new(),
        fs: ir::Fs::default(),
        net: ir::Net {
            egress_none: true,
            rules: Vec::new(),
            dns: DnsMode::None,
            span: block.name.span,
            block: first_block(stmts, block.span, |s| matches!(s, Stmt::Net(..)))
                .unwrap_or(block.name.span),
        },
        tokens: BTreeMap::new(),
        syscalls: ir::Syscalls {
            default: ir::DenyAction::Errno(1),
            rules: BTreeMap::new(),
            span: block.name.span,
        },
        limits: ir::Limits::default(),
        audit: BTreeSet::new(),
        env: ir::Env::default(),
        tests: Vec::new(),
        span: block.span,
        home_paths: ir::HomePaths::default(),
    };
    let mut net_rules: Vec<&NetRule> = Vec::new();
    let mut sys_rules: Vec<&ast::SysRule> = Vec::new();
    let mut env_rules: Vec<&ast::EnvRule> = Vec::new();
    let mut limits_seen = BTreeMap::new();
    for stmt in stmts {
        match stmt {
            Stmt::Isolation(_) | Stmt::Include(_) => {}
            Stmt::Threats(names, _) => keywords(
                names,
                Threat::from_keyword,
                Threat::ALL.iter().map(|t| t.keyword()),
                Code::UnknownThreat,
                "threat",
                &mut p.threats,
                diags,
            ),
            Stmt::Data(names, _) => keywords(
                names,
                DataClass::from_keyword,
                DataClass::ALL.iter().map(|t| t.keyword()),
                Code::UnknownDataClass,
                "data classification",
                &mut p.data,
                diags,
            ),
            Stmt::Audit(names, _) => keywords(
                names,
                AuditItem::from_keyword,
                AuditItem::ALL.iter().map(|t| t.keyword()),
                Code::UnknownAuditItem,
                "audit item",
                &mut p.audit,
                diags,
            ),
            Stmt::Fs(rules, _) => {
                fs::to_ir(rules, isolation, scope, &mut p.fs, diags);
                super::home::collect(rules, scope, &mut p.home_paths);
            }
            Stmt::Net(rules, _) => net_rules.extend(rules.iter()),
            Stmt::Token(t) => {
                if let Some(top) = scope.tokens.get(t.name.node.as_str()) {
                    diags.push(super::duplicate(&t.name.node, t.name.span, top.name.span));
                }
                if let Some(tok) = net::token(t, diags) {
                    if p.tokens.insert(t.name.node.clone(), tok).is_some() {
                        diags.push(super::duplicate(&t.name.node, t.name.span, t.span));
                    }
                }
            }
            Stmt::Syscalls(rules, _) => sys_rules.extend(rules.iter()),
            Stmt::Limits(ls, _) => {
                for l in ls {
                    limit(l, &mut p.limits, &mut limits_seen, diags);
                }
            }
            Stmt::Env(rules, _) => env_rules.extend(rules.iter()),
            Stmt::Test(t) => p.tests.push(test(t, diags)),
        }
    }
    let local_tokens: BTreeSet<&str> = stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Token(t) => Some(t.name.node.as_str()),
            _ => None,
        })
        .collect();
    net::to_ir(&net_rules, scope, &local_tokens, &mut p, diags);
    let sys_block = first_block(stmts, block.span, |s| matches!(s, Stmt::Syscalls(..)))
        .unwrap_or(block.name.span);
    p.syscalls = syscalls::to_ir(&sys_rules, scope, sys_block, diags);
    p.env = env::to_ir(&env_rules, &p.threats, diags);
    fs::sort_mounts(&mut p.fs, diags);
    fs::cover_spellings(&mut p.fs);
    p.fs.denies
        .sort_by(|a, b| (&a.path, &a.access).cmp(&(&b.path, &b.access)));
    p
}

/// The span of the first statement `is_block` picks (a `net` or `syscalls` block) written in
/// the policy itself, not in a fragment it includes.
fn first_block(stmts: &[&Stmt], policy: Span, is_block: impl Fn(&Stmt) -> bool) -> Option<Span> {
    stmts
        .iter()
        .filter(|s| is_block(s))
        .map(|s| s.span())
        .find(|s| s.file == policy.file && s.start >= policy.start && s.end <= policy.end)
}

fn isolation(block: &Block, stmts: &[&Stmt], diags: &mut Diagnostics) -> Isolation {
    let mut found: Option<(Isolation, Span)> = None;
    for stmt in stmts {
        let Stmt::Isolation(name) = stmt else {
            continue;
        };
        let level = match Isolation::from_keyword(&name.node) {
            Some(l) => l,
            None if name.node == "microvm" => {
                diags.push(
                    Diagnostic::new(
                        Code::ReservedIsolation,
                        name.span,
                        "isolation `microvm` is reserved and not supported yet",
                    )
                    .with_hint("use `container` or `process`"),
                );
                continue;
            }
            None => {
                diags.push(unknown(
                    Code::UnknownIsolation,
                    "isolation level",
                    name,
                    ["process", "container", "wasm"],
                ));
                continue;
            }
        };
        match found {
            Some((prev, first)) if prev != level => diags.push(
                Diagnostic::new(
                    Code::RepeatedStatement,
                    name.span,
                    format!("isolation is already `{}`", prev.keyword()),
                )
                .with_label(first, "set here")
                .with_hint(
                    "a policy has one isolation level; an included fragment may have set it",
                ),
            ),
            Some((_, first)) => diags.push(
                Diagnostic::new(
                    Code::RepeatedStatement,
                    name.span,
                    format!("isolation `{}` is stated twice", level.keyword()),
                )
                .with_label(first, "first stated here")
                .with_hint(
                    "state the isolation level once; an included fragment may have stated it",
                ),
            ),
            None => found = Some((level, name.span)),
        }
    }
    let stated = stmts.iter().any(|s| matches!(s, Stmt::Isolation(_)));
    match found {
        Some((l, _)) => l,
        // An unknown or reserved level was already reported.
        None if stated => Isolation::Container,
        None => {
            diags.push(
                Diagnostic::new(
                    Code::MissingIsolation,
                    block.name.span,
                    format!(
                        "policy `{}` does not say its isolation level",
                        block.name.node
                    ),
                )
                .with_hint("add `isolation process`, `isolation container` or `isolation wasm`"),
            );
            Isolation::Container
        }
    }
}

fn keywords<T: Ord>(
    names: &[Spanned<String>],
    parse: fn(&str) -> Option<T>,
    known: impl Iterator<Item = &'static str> + Clone,
    code: Code,
    what: &str,
    into: &mut BTreeSet<T>,
    diags: &mut Diagnostics,
) {
    for n in names {
        match parse(&n.node) {
            Some(v) => {
                into.insert(v);
            }
            None => diags.push(unknown(code, what, n, known.clone())),
        }
    }
}

fn limit(
    l: &ast::Limit,
    limits: &mut ir::Limits,
    seen: &mut BTreeMap<String, Span>,
    diags: &mut Diagnostics,
) {
    const NAMES: [&str; 4] = ["cpus", "files", "memory", "pids"];
    if !NAMES.contains(&l.name.node.as_str()) {
        diags.push(unknown(Code::BadLimit, "limit", &l.name, NAMES));
        return;
    }
    if seen.insert(l.name.node.clone(), l.span).is_some() {
        diags.push(
            Diagnostic::new(
                Code::RepeatedStatement,
                l.span,
                format!("limit `{}` is set twice", l.name.node),
            )
            .with_hint("set each limit once"),
        );
        return;
    }
    let bad = |msg: String, hint: &str| {
        Diagnostic::new(Code::BadLimit, l.value.span, msg).with_hint(hint)
    };
    match (l.name.node.as_str(), &l.value.node) {
        ("memory", ast::LimitValue::Size(v)) if *v > 0 => limits.memory = Some(*v),
        ("memory", _) => diags.push(bad(
            "memory needs a non-zero size".into(),
            "write a size such as `512MiB`",
        )),
        ("cpus", ast::LimitValue::Number(n)) => match millis(n) {
            Some(m) if m > 0 => limits.millicpus = Some(m),
            _ => diags.push(bad(
                format!("`{n}` is not a CPU count"),
                "write a positive number such as `1` or `0.5` (at most three decimals)",
            )),
        },
        (name, ast::LimitValue::Number(n)) => match n.parse::<u64>() {
            Ok(v) if v > 0 => {
                if name == "pids" {
                    limits.pids = Some(v);
                } else {
                    limits.files = Some(v);
                }
            }
            _ => diags.push(bad(
                format!("`{name}` needs a positive whole number, not `{n}`"),
                "write a count such as `64`",
            )),
        },
        (name, _) => diags.push(bad(
            format!("`{name}` is a count, not a size"),
            "write a count such as `64`",
        )),
    }
}

fn millis(n: &str) -> Option<u64> {
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    if frac.len() > 3 {
        return None;
    }
    let i: u64 = int.parse().ok()?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    i.checked_mul(1000)?.checked_add(f)
}

fn test(t: &ast::TestBlock, diags: &mut Diagnostics) -> ir::Test {
    if t.expectations.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::EmptyTest,
                t.name.span,
                format!("test \"{}\" has no expectations", t.name.node),
            )
            .with_hint("add `allow ...` or `deny ...` lines"),
        );
    }
    let cases = t
        .expectations
        .iter()
        .filter_map(|e| {
            let request = request(&e.request, diags)?;
            Some(ir::TestCase {
                expect_allow: e.allow,
                request,
                unenforced: unenforced(e, diags),
                span: e.span,
            })
        })
        .collect();
    ir::Test {
        name: t.name.node.clone(),
        cases,
        span: t.span,
    }
}

/// The stated reason an expected deny is enforced by no layer (`unenforced "why"`): only a
/// deny can be unenforced, and the reason must say something.
fn unenforced(e: &ast::Expectation, diags: &mut Diagnostics) -> Option<String> {
    let why = e.unenforced.as_ref()?;
    if e.allow {
        diags.push(
            Diagnostic::new(
                Code::UnenforcedAllow,
                why.span,
                "`unenforced` states that no layer enforces a deny; this case expects allow",
            )
            .with_hint("remove `unenforced ...`, or make the case `deny ...`"),
        );
        return None;
    }
    if why.node.trim().is_empty() {
        diags.push(
            Diagnostic::new(
                Code::UnenforcedAllow,
                why.span,
                "`unenforced` needs a reason: what enforces this deny outside the stack",
            )
            .with_hint("say who enforces it, e.g. `unenforced \"the office proxy filters hosts\"`"),
        );
        return None;
    }
    Some(why.node.clone())
}

/// A request as written in a test, checked and normalised exactly like policy values.
pub(super) fn request(r: &ast::RequestSyntax, diags: &mut Diagnostics) -> Option<Request> {
    match r {
        ast::RequestSyntax::Fs(access, path) => {
            let path = fs::path_or_diag(CanonPath::parse_request(&path.node), path, diags)?;
            Some(Request::Fs {
                access: *access,
                path,
            })
        }
        ast::RequestSyntax::Meta(op, path) => {
            let path = fs::path_or_diag(CanonPath::parse_request(&path.node), path, diags)?;
            Some(Request::Meta { change: *op, path })
        }
        ast::RequestSyntax::Connect(ep) => {
            let host = Host::parse(&ep.host.node)
                .map_err(|e| diags.push(net::host_error(e, ep.host.span)))
                .ok();
            let port = match &ep.port {
                Some(Spanned {
                    node: PortSpec::Number(_),
                    ..
                }) => ep.port.as_ref().and_then(|p| net::port(p, diags)).flatten(),
                _ => {
                    diags.push(
                        Diagnostic::new(
                            Code::MissingPort,
                            ep.span,
                            "a connect request needs one port",
                        )
                        .with_hint("write `connect \"host\":443`"),
                    );
                    None
                }
            };
            Some(Request::Connect {
                host: host?,
                port: port?,
            })
        }
        ast::RequestSyntax::Resolve(h) => {
            let host = Host::parse(&h.node)
                .map_err(|e| diags.push(net::host_error(e, h.span)))
                .ok()?;
            Some(Request::Resolve { host })
        }
        ast::RequestSyntax::Syscall(name, args) => {
            if !crate::syscalls::is_known(&name.node) {
                diags.push(syscalls::unknown_syscall(name));
                return None;
            }
            let given = args.clone().unwrap_or_default();
            if given.len() > 6 {
                diags.push(
                    Diagnostic::new(
                        Code::TooManyArgs,
                        name.span,
                        format!("`{}` is given {} arguments", name.node, given.len()),
                    )
                    .with_hint("syscalls take at most six arguments"),
                );
                return None;
            }
            let mut a = [0u64; 6];
            for (slot, v) in a.iter_mut().zip(given) {
                *slot = v;
            }
            Some(Request::Syscall {
                name: name.node.clone(),
                args: a,
            })
        }
    }
}
