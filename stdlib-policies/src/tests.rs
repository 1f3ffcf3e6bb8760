//! Checks on the standard library's files that do not need the checker: every file parses
//! cleanly, every syscall set holds only known, non-dangerous syscalls and covers what the
//! strace runs observed, the credential lists are well formed, and every use-case policy's
//! tests agree with a small model of the reference semantics (enough to catch a wrong
//! expectation in this crate; the compiler's `decide` is the real authority).

use super::*;
use policyc_compiler::ast::{
    Access, DenyTarget, DnsMode, EgressRule, EgressVia, File, FsRule, Item, NetRule, PortSpec,
    RequestSyntax, Stmt, SysRule, TokenField,
};
use policyc_compiler::diag::render_human;
use policyc_compiler::syntax::parse;
use policyc_compiler::{syscalls, FileId, SourceMap};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

// ------------------------------------------------------------------------- helpers

fn parse_clean(name: &str, text: &str) -> File {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    assert_eq!(id, FileId(0));
    let (file, diags) = parse(id, text);
    let rendered: Vec<String> = diags.iter().map(|d| render_human(d, &sources)).collect();
    assert!(
        diags.is_empty(),
        "{name} has diagnostics:\n{}",
        rendered.join("\n")
    );
    file
}

fn parsed_modules() -> Vec<(&'static Module, File)> {
    modules()
        .iter()
        .map(|m| (m, parse_clean(m.file, m.source)))
        .collect()
}

fn parsed_policies() -> Vec<(&'static str, File)> {
    policies()
        .iter()
        .map(|(name, text)| (*name, parse_clean(name, text)))
        .collect()
}

fn uses(file: &File) -> Vec<Vec<String>> {
    file.items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) => Some(u.path.iter().map(|n| n.node.clone()).collect()),
            _ => None,
        })
        .collect()
}

fn resolve_use(path: &[String]) -> &'static Module {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    module(&parts).unwrap_or_else(|| panic!("`use {}` names no stdlib module", parts.join("::")))
}

/// Syscall sets and paths lists visible in a file: its own plus those of the modules it
/// uses (imports are not transitive).
#[derive(Default)]
struct Scope {
    /// Sets defined in the file itself.
    sets: BTreeMap<String, Vec<String>>,
    /// Sets imported with `use`, already expanded in their own module's scope.
    imported_sets: BTreeMap<String, BTreeSet<String>>,
    paths: BTreeMap<String, Vec<String>>,
}

impl Scope {
    fn add_items(&mut self, file: &File) {
        for item in &file.items {
            match item {
                Item::SyscallSet(s) => {
                    let members = s.members.iter().map(|m| m.node.clone()).collect();
                    assert!(
                        self.sets.insert(s.name.node.clone(), members).is_none(),
                        "syscall set `{}` is defined twice in one scope",
                        s.name.node
                    );
                }
                Item::Paths(p) => {
                    let paths = p.paths.iter().map(|x| x.node.clone()).collect();
                    assert!(
                        self.paths.insert(p.name.node.clone(), paths).is_none(),
                        "paths list `{}` is defined twice in one scope",
                        p.name.node
                    );
                }
                _ => {}
            }
        }
    }

    fn of(file: &File) -> Scope {
        let mut scope = Scope::default();
        scope.add_items(file);
        for u in uses(file) {
            let m = resolve_use(&u);
            let imported = parse_clean(m.file, m.source);
            let theirs = Scope::of(&imported);
            for name in theirs.sets.keys() {
                let expanded = theirs.expand(name);
                assert!(
                    scope.imported_sets.insert(name.clone(), expanded).is_none(),
                    "syscall set `{name}` is imported twice"
                );
            }
            // Only the module's own lists: imports are not transitive.
            let mut own = Scope::default();
            own.add_items(&imported);
            scope.paths.append(&mut own.paths);
        }
        scope
    }

    /// The syscalls a set name (or a syscall name) stands for, expanding sets through the
    /// scopes of the modules that define them.
    fn expand(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.expand_into(name, &mut Vec::new(), &mut out);
        out
    }

    fn expand_into(&self, name: &str, stack: &mut Vec<String>, out: &mut BTreeSet<String>) {
        if let Some(expanded) = self.imported_sets.get(name) {
            out.extend(expanded.iter().cloned());
            return;
        }
        let Some(members) = self.sets.get(name) else {
            assert!(
                syscalls::is_known(name),
                "`{name}` is neither a set nor a syscall"
            );
            out.insert(name.to_string());
            return;
        };
        assert!(
            !stack.iter().any(|s| s == name),
            "syscall set cycle: {} -> {name}",
            stack.join(" -> ")
        );
        stack.push(name.to_string());
        for m in members {
            self.expand_into(m, stack, out);
        }
        stack.pop();
    }
}

/// Every syscall set of the stdlib with the scope of the module defining it.
fn stdlib_sets() -> BTreeMap<String, (Scope, &'static str)> {
    let mut out = BTreeMap::new();
    for (m, file) in parsed_modules() {
        for item in &file.items {
            if let Item::SyscallSet(s) = item {
                let prev = out.insert(s.name.node.clone(), (Scope::of(&file), m.file));
                assert!(prev.is_none(), "set `{}` is defined twice", s.name.node);
            }
        }
    }
    out
}

fn expand_stdlib_set(name: &str) -> BTreeSet<String> {
    let sets = stdlib_sets();
    let (scope, _) = sets
        .get(name)
        .unwrap_or_else(|| panic!("no stdlib set `{name}`"));
    scope.expand(name)
}

fn secrets_lists() -> BTreeMap<String, Vec<String>> {
    let m = module(&["std", "secrets"]).unwrap();
    Scope::of(&parse_clean(m.file, m.source)).paths
}

/// Lexical normalisation: `.` and empty components dropped, `..` pops (never above the
/// root or `~`).
fn normalise(path: &str) -> String {
    let (root, rest) = match path.strip_prefix('~') {
        Some(rest) => ("~", rest),
        None => ("", path),
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("{root}/{}", parts.join("/"))
}

/// True when `path` is `base` or beneath it (component-wise: `/a` does not cover `/ab`).
fn covers(base: &str, path: &str) -> bool {
    let base = normalise(base);
    let path = normalise(path);
    path == base
        || base == "/"
        || path
            .strip_prefix(base.as_str())
            .is_some_and(|r| r.starts_with('/'))
}

// ------------------------------------------------------------------------- the tables

#[test]
fn modules_are_sorted_and_named_after_their_path() {
    assert!(modules().windows(2).all(|w| w[0].path < w[1].path));
    for m in modules() {
        assert_eq!(m.file, format!("{}.policy", m.path.join("/")));
        assert_eq!(module_source(m.path), Some((m.file, m.source)));
        assert_eq!(m.path.first(), Some(&"std"));
    }
    assert_eq!(
        module(&["std", "runtime", "python"]).unwrap().name(),
        "std::runtime::python"
    );
    assert_eq!(module_source(&["std"]), None);
    assert_eq!(module_source(&["std", "nope"]), None);
    assert_eq!(module_source(&["std", "secrets", "more"]), None);
    assert_eq!(module_source(&[]), None);
    assert!(policies().windows(2).all(|w| w[0].0 < w[1].0));
    for (name, text) in policies() {
        assert_eq!(policy_source(name), Some(*text));
    }
    assert_eq!(policy_source("nope.policy"), None);
}

fn policy_files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let rel = format!("{prefix}{name}");
        if entry.file_type().unwrap().is_dir() {
            policy_files_under(&entry.path(), &format!("{rel}/"), out);
        } else if name.ends_with(".policy") {
            out.insert(rel);
        }
    }
}

#[test]
fn every_file_on_disk_is_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = BTreeSet::new();
    policy_files_under(&root.join("std"), "std/", &mut on_disk);
    let embedded: BTreeSet<String> = modules().iter().map(|m| m.file.to_string()).collect();
    assert_eq!(on_disk, embedded, "std/ and the MODULES table disagree");

    let mut on_disk = BTreeSet::new();
    policy_files_under(&root.join("policies"), "", &mut on_disk);
    let embedded: BTreeSet<String> = policies().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, embedded,
        "policies/ and the POLICIES table disagree"
    );
}

#[test]
fn every_file_parses_without_diagnostics() {
    assert_eq!(parsed_modules().len(), modules().len());
    assert_eq!(parsed_policies().len(), policies().len());
}

#[test]
fn modules_hold_no_policies_and_document_every_list() {
    for (m, file) in parsed_modules() {
        assert!(!file.items.is_empty(), "{} is empty", m.file);
        for item in &file.items {
            match item {
                Item::Policy(b) => panic!("{}: module holds policy `{}`", m.file, b.name.node),
                Item::Paths(p) => assert!(
                    !p.docs.is_empty(),
                    "{}: paths `{}` has no /// docs",
                    m.file,
                    p.name.node
                ),
                Item::SyscallSet(s) => assert!(
                    !s.docs.is_empty(),
                    "{}: syscalls `{}` has no /// docs",
                    m.file,
                    s.name.node
                ),
                Item::Use(_) | Item::Fragment(_) | Item::Token(_) => {}
            }
        }
    }
}

#[test]
fn every_use_resolves() {
    for (m, file) in parsed_modules() {
        for u in uses(&file) {
            let target = resolve_use(&u);
            assert_ne!(target.file, m.file, "{} uses itself", m.file);
        }
    }
    for (name, file) in parsed_policies() {
        assert!(!uses(&file).is_empty(), "{name} uses no stdlib module");
        for u in uses(&file) {
            resolve_use(&u);
        }
    }
}

// ------------------------------------------------------------------------- syscall sets

#[test]
fn syscall_sets_are_known_and_never_dangerous() {
    let sets = stdlib_sets();
    assert!(
        sets.len() >= 8,
        "expected the base parts and three runtimes"
    );
    for (name, (scope, file)) in &sets {
        assert!(
            !syscalls::is_known(name),
            "{file}: set `{name}` shadows a syscall"
        );
        let members = &scope.sets[name];
        let unique: BTreeSet<&String> = members.iter().collect();
        assert_eq!(
            unique.len(),
            members.len(),
            "{file}: `{name}` repeats a member"
        );
        let expanded = scope.expand(name);
        assert!(!expanded.is_empty(), "{file}: `{name}` is empty");
        for sc in &expanded {
            assert!(
                syscalls::is_known(sc),
                "{file}: `{name}` holds unknown `{sc}`"
            );
        }
        let dangerous: Vec<&str> = syscalls::dangerous()
            .iter()
            .copied()
            .filter(|d| expanded.contains(*d))
            .collect();
        assert!(
            dangerous.is_empty(),
            "{file}: `{name}` holds dangerous syscalls {dangerous:?}"
        );
    }
}

#[test]
fn runtime_sets_build_on_base_and_add_execve() {
    let base = expand_stdlib_set("base");
    assert!(
        !base.contains("execve"),
        "execve belongs to the runtime sets"
    );
    for runtime in ["python", "node", "static_binary"] {
        let set = expand_stdlib_set(runtime);
        assert!(
            set.is_superset(&base),
            "`{runtime}` does not include `base`"
        );
        assert!(set.contains("execve"), "`{runtime}` lacks execve");
    }
    // Only the shell forks and waits.
    for runtime in ["python", "node"] {
        let set = expand_stdlib_set(runtime);
        for call in ["fork", "vfork", "wait4", "waitid", "kill"] {
            assert!(!set.contains(call), "`{runtime}` holds `{call}`");
        }
    }
    let parts: BTreeSet<String> = ["base_process", "base_files", "base_fs_write", "base_net"]
        .iter()
        .flat_map(|p| expand_stdlib_set(p))
        .collect();
    assert_eq!(parts, base, "`base` is exactly its four parts");
}

/// The x86_64-only spellings and the call aarch64 uses instead.
const AARCH64_SPELLING: &[(&str, &str)] = &[
    ("access", "faccessat"),
    ("chmod", "fchmodat"),
    ("dup2", "dup3"),
    ("epoll_create", "epoll_create1"),
    ("epoll_wait", "epoll_pwait"),
    ("eventfd", "eventfd2"),
    ("fork", "clone"),
    ("getdents", "getdents64"),
    ("lstat", "newfstatat"),
    ("mkdir", "mkdirat"),
    ("open", "openat"),
    ("pipe", "pipe2"),
    ("poll", "ppoll"),
    ("readlink", "readlinkat"),
    ("rename", "renameat2"),
    ("rmdir", "unlinkat"),
    ("select", "pselect6"),
    ("stat", "newfstatat"),
    ("symlink", "symlinkat"),
    ("time", "clock_gettime"),
    ("unlink", "unlinkat"),
    ("vfork", "clone"),
];

/// x86_64-only calls with no aarch64 counterpart to add.
const X86_ONLY: &[&str] = &["arch_prctl"];

#[test]
fn every_set_works_on_both_architectures() {
    use syscalls::Arch;
    for (name, (scope, file)) in &stdlib_sets() {
        let expanded = scope.expand(name);
        for sc in &expanded {
            if syscalls::number(Arch::Aarch64, sc).is_some() || X86_ONLY.contains(&sc.as_str()) {
                continue;
            }
            let (_, instead) = AARCH64_SPELLING
                .iter()
                .find(|(x86, _)| x86 == sc)
                .unwrap_or_else(|| panic!("{file}: `{sc}` has no aarch64 spelling on record"));
            assert!(
                expanded.contains(*instead),
                "{file}: `{name}` has `{sc}` but not aarch64's `{instead}`"
            );
        }
        // And the converse: the legacy x86_64 spellings of what the set allows.
        for (x86, instead) in AARCH64_SPELLING {
            if expanded.contains(*instead) && !["fork", "vfork", "time"].contains(x86) {
                assert!(
                    expanded.contains(*x86),
                    "{file}: `{name}` has `{instead}` but not x86_64's `{x86}`"
                );
            }
        }
    }
}

fn observed(list: &str) -> BTreeSet<String> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn runtime_sets_cover_what_strace_observed() {
    let runs = [
        (
            "python",
            include_str!("../derive/observed/python.x86_64.txt"),
        ),
        ("node", include_str!("../derive/observed/node.x86_64.txt")),
        (
            "static_binary",
            include_str!("../derive/observed/static.x86_64.txt"),
        ),
    ];
    for (set, list) in runs {
        let seen = observed(list);
        assert!(seen.len() > 30, "{set}: the observed list looks truncated");
        let expanded = expand_stdlib_set(set);
        let missing: Vec<&String> = seen.difference(&expanded).collect();
        assert!(missing.is_empty(), "`{set}` lacks observed {missing:?}");
    }
}

// ------------------------------------------------------------------------- secrets

const SECRET_PARTS: &[&str] = &[
    "ssh_keys",
    "pgp_and_pki",
    "cloud_credentials",
    "dev_credentials",
    "ai_credentials",
    "browser_profiles",
    "app_sessions",
    "password_stores",
    "crypto_wallets",
    "shell_history",
    "session_sockets",
    "system_secrets",
];

const PERSISTENCE_PARTS: &[&str] = &["shell_startup", "autostart", "tool_config", "agent_config"];

#[test]
fn umbrella_lists_are_the_union_of_their_parts() {
    let lists = secrets_lists();
    let known: BTreeSet<&str> = SECRET_PARTS
        .iter()
        .chain(PERSISTENCE_PARTS)
        .copied()
        .chain(["secrets", "persistence"])
        .collect();
    let defined: BTreeSet<&str> = lists.keys().map(String::as_str).collect();
    assert_eq!(
        defined, known,
        "a list was added or removed without updating the umbrella"
    );
    for (umbrella, parts) in [
        ("secrets", SECRET_PARTS),
        ("persistence", PERSISTENCE_PARTS),
    ] {
        let union: BTreeSet<&String> = parts.iter().flat_map(|p| &lists[*p]).collect();
        let whole: BTreeSet<&String> = lists[umbrella].iter().collect();
        assert_eq!(
            whole, union,
            "`{umbrella}` differs from the union of its parts"
        );
    }
}

#[test]
fn paths_are_well_formed() {
    for (name, paths) in secrets_lists() {
        assert!(!paths.is_empty(), "`{name}` is empty");
        let unique: BTreeSet<&String> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len(), "`{name}` repeats a path");
        for p in &paths {
            assert!(
                p.starts_with('/') || p.starts_with("~/"),
                "`{name}`: {p} is neither absolute nor home-relative"
            );
            assert_eq!(&normalise(p), p, "`{name}`: {p} is not in normal form");
            assert!(
                !p.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "*?[]{}\"\\,^@#!".contains(c)),
                "`{name}`: {p} holds a character some target must escape or reject"
            );
            assert!(p != "/" && p != "~/", "`{name}` denies a whole root");
            for q in &paths {
                assert!(
                    p == q || !covers(p, q),
                    "`{name}`: {q} is already covered by {p}"
                );
            }
        }
    }
}

#[test]
fn the_lists_cover_what_they_promise() {
    let lists = secrets_lists();
    let covered = |list: &str, path: &str| lists[list].iter().any(|b| covers(b, path));
    for p in [
        "~/.ssh/id_ed25519",
        "~/.ssh/authorized_keys",
        "~/.gnupg/private-keys-v1.d/x.key",
        "~/.aws/credentials",
        "~/.config/gcloud/credentials.db",
        "~/.azure/msal_token_cache.json",
        "~/.kube/config",
        "~/.docker/config.json",
        "~/.config/doctl/config.yaml",
        "~/.oci/config",
        "~/.terraform.d/credentials.tfrc.json",
        "~/.mozilla/firefox/x.default/logins.json",
        "~/.config/google-chrome/Default/Cookies",
        "~/.config/chromium/Default/Cookies",
        "~/.config/BraveSoftware/Brave-Browser/Default/Cookies",
        "~/.config/microsoft-edge/Default/Cookies",
        "~/.local/share/keyrings/login.keyring",
        "~/.local/share/kwalletd/kdewallet.kwl",
        "~/.password-store/x.gpg",
        "~/.netrc",
        "~/.git-credentials",
        "~/.npmrc",
        "~/.pypirc",
        "~/.cargo/credentials.toml",
        "~/.config/gh/hosts.yml",
        "/etc/shadow",
        "/run/user/1000/bus",
    ] {
        assert!(covered("secrets", p), "secrets does not cover {p}");
    }
    for p in [
        "~/.bashrc",
        "~/.bash_profile",
        "~/.zshrc",
        "~/.zprofile",
        "~/.profile",
        "~/.gitconfig",
        "~/.config/git/config",
        "~/.config/autostart/x.desktop",
        "~/.config/systemd/user/x.service",
        "~/.ssh/authorized_keys",
        "/var/spool/cron/crontabs/user",
        "~/.local/bin/ls",
        "~/.vscode/extensions/x/package.json",
        "~/.mcp.json",
        "~/.config/environment.d/10-x.conf",
    ] {
        assert!(covered("persistence", p), "persistence does not cover {p}");
    }
    // The home itself and ordinary documents are never denied.
    for list in ["secrets", "persistence"] {
        for p in [
            "~/Documents/report.docx",
            "~/Mail/INBOX",
            "~/Downloads/x",
            "/tmp/x",
        ] {
            assert!(!covered(list, p), "{list} covers ordinary path {p}");
        }
    }
}

// ------------------------------------------------------------------------- policies

const THREATS: &[&str] = &[
    "exfiltration",
    "tampering",
    "persistence",
    "privilege_escalation",
    "credential_theft",
    "denial_of_service",
];
const DATA: &[&str] = &[
    "pii",
    "confidential",
    "financial",
    "health",
    "credentials",
    "public",
];
const AUDIT: &[&str] = &[
    "reads", "writes", "exec", "egress", "dns", "denials", "tokens",
];
const LIMITS: &[&str] = &["memory", "pids", "cpus", "files"];

/// The parts of a policy the model below needs.
#[derive(Default)]
struct Model {
    isolation: String,
    threats: Vec<String>,
    /// (access, host, guest)
    mounts: Vec<(Access, String, Option<String>)>,
    /// scratch (`true`) and tmpfs (`false`) guest paths.
    volatile: Vec<(String, bool)>,
    /// (access denied, `None` = all; path)
    denies: Vec<(Option<Access>, String)>,
    egress: Option<(EgressVia, Vec<EgressRule>)>,
    egress_none: bool,
    dns: Option<DnsMode>,
    allowed: BTreeSet<String>,
    denied: BTreeSet<String>,
    tokens: BTreeMap<String, Vec<TokenField>>,
}

/// Every `CLONE_NEW*` flag (NS, CGROUP, UTS, IPC, USER, PID, NET, TIME).
const CLONE_NEW: u64 = 0x7E02_0080;

impl Model {
    fn build(file: &File, policy: &[Stmt], scope: &Scope) -> Model {
        let mut m = Model::default();
        for item in &file.items {
            if let Item::Token(t) = item {
                m.tokens.insert(t.name.node.clone(), t.fields.clone());
            }
        }
        for stmt in policy {
            match stmt {
                Stmt::Isolation(n) => m.isolation = n.node.clone(),
                Stmt::Threats(ts, _) => m.threats = ts.iter().map(|t| t.node.clone()).collect(),
                Stmt::Data(ds, _) => {
                    for d in ds {
                        assert!(
                            DATA.contains(&d.node.as_str()),
                            "unknown data class {}",
                            d.node
                        );
                    }
                }
                Stmt::Fs(rules, _) => {
                    for r in rules {
                        match r {
                            FsRule::Mount {
                                access,
                                host,
                                guest,
                                ..
                            } => m.mounts.push((
                                *access,
                                host.node.clone(),
                                guest.as_ref().map(|g| g.node.clone()),
                            )),
                            FsRule::Scratch { path, .. } => {
                                m.volatile.push((path.node.clone(), true))
                            }
                            FsRule::Tmpfs { path, .. } => {
                                m.volatile.push((path.node.clone(), false))
                            }
                            FsRule::Deny { access, target, .. } => match target {
                                DenyTarget::Path(p) => m.denies.push((*access, p.node.clone())),
                                DenyTarget::List(l) => {
                                    let paths = scope.paths.get(&l.node).unwrap_or_else(|| {
                                        panic!("no paths list `{}` in scope", l.node)
                                    });
                                    m.denies.extend(paths.iter().map(|p| (*access, p.clone())));
                                }
                            },
                        }
                    }
                }
                Stmt::Net(rules, _) => {
                    for r in rules {
                        match r {
                            NetRule::EgressNone(_) => m.egress_none = true,
                            NetRule::Egress { via, rules, .. } => {
                                m.egress = Some((*via, rules.clone()))
                            }
                            NetRule::Dns(d) => m.dns = Some(d.node),
                        }
                    }
                }
                Stmt::Token(t) => {
                    m.tokens.insert(t.name.node.clone(), t.fields.clone());
                }
                Stmt::Syscalls(rules, _) => {
                    for r in rules {
                        match r {
                            SysRule::Allow(targets, _) => {
                                for t in targets {
                                    m.allowed.extend(scope.expand(&t.name.node));
                                }
                            }
                            SysRule::Deny { names, action, .. } => {
                                for n in names {
                                    m.denied.extend(scope.expand(&n.node));
                                }
                                if let Some(a) = action {
                                    check_action(&a.node);
                                }
                            }
                            SysRule::Default(a) => check_action(&a.node),
                        }
                    }
                }
                Stmt::Limits(limits, _) => {
                    for l in limits {
                        assert!(
                            LIMITS.contains(&l.name.node.as_str()),
                            "limit {}",
                            l.name.node
                        );
                    }
                }
                Stmt::Audit(items, _) => {
                    for a in items {
                        assert!(AUDIT.contains(&a.node.as_str()), "audit item {}", a.node);
                    }
                }
                Stmt::Include(_) | Stmt::Test(_) => {}
            }
        }
        m
    }

    /// Where a guest path leads on the host, through a mount.
    fn host_of(&self, guest: &str) -> Vec<(Access, String)> {
        self.mounts
            .iter()
            .filter_map(|(access, host, at)| {
                let g = match (self.isolation.as_str(), at) {
                    ("process", _) => host.clone(),
                    (_, Some(g)) => g.clone(),
                    (_, None) => host.clone(),
                };
                covers(&g, guest).then(|| {
                    let rest = normalise(guest)
                        .strip_prefix(normalise(&g).as_str())
                        .unwrap_or("")
                        .to_string();
                    (*access, normalise(&format!("{host}{rest}")))
                })
            })
            .collect()
    }

    fn denied_path(&self, access: Access, path: &str) -> bool {
        self.denies
            .iter()
            .any(|(a, p)| a.is_none_or(|a| a == access) && covers(p, path))
    }

    fn fs(&self, access: Access, path: &str) -> bool {
        let path = normalise(path);
        let grants = |a: Access| match a {
            Access::Read => access == Access::Read,
            Access::Write => access != Access::Exec,
            Access::Exec => access != Access::Write,
        };
        if self.denied_path(access, &path) {
            return false;
        }
        if path.starts_with('~') {
            return self.mounts.iter().any(|(a, host, _)| {
                grants(*a) && covers(host, &path) && !self.denied_path(access, &path)
            });
        }
        let through_mount = self
            .host_of(&path)
            .iter()
            .any(|(a, host)| grants(*a) && !self.denied_path(access, host));
        let volatile = self.volatile.iter().any(|(g, scratch)| {
            covers(g, &path)
                && match access {
                    Access::Read | Access::Write => true,
                    Access::Exec => {
                        assert!(*scratch, "exec on tmpfs is not modelled");
                        false
                    }
                }
        });
        through_mount || volatile
    }

    fn host_matches(pattern: &str, host: &str) -> bool {
        let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
        let (pattern, host) = (norm(pattern), norm(host));
        match pattern.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => pattern == host,
        }
    }

    fn connect(&self, host: &str, port: Option<PortSpec>) -> bool {
        let Some((_, rules)) = &self.egress else {
            return false;
        };
        let Some(PortSpec::Number(port)) = port else {
            panic!("a connect test needs a port");
        };
        let hit = |ep: &policyc_compiler::ast::Endpoint| {
            Self::host_matches(&ep.host.node, host)
                && match ep.port.as_ref().map(|p| p.node) {
                    None | Some(PortSpec::Any) => true,
                    Some(PortSpec::Number(n)) => n == port,
                }
        };
        let denied = rules
            .iter()
            .any(|r| matches!(r, EgressRule::Deny { endpoint, .. } if hit(endpoint)));
        let allowed = rules
            .iter()
            .any(|r| matches!(r, EgressRule::Allow { endpoint, .. } if hit(endpoint)));
        !self.egress_none && allowed && !denied
    }

    fn resolve(&self, host: &str) -> bool {
        let Some((_, rules)) = &self.egress else {
            return false;
        };
        match self.dns.unwrap_or(DnsMode::AllowListedOnly) {
            DnsMode::None => false,
            DnsMode::Any => true,
            DnsMode::AllowListedOnly => rules.iter().any(|r| {
                matches!(r, EgressRule::Allow { endpoint, .. }
                    if Self::host_matches(&endpoint.host.node, host))
            }),
        }
    }

    fn syscall(&self, name: &str, args: Option<&[u64]>) -> bool {
        assert!(
            syscalls::is_known(name),
            "test names unknown syscall {name}"
        );
        assert!(
            name != "clone"
                || args
                    .and_then(|a| a.first())
                    .is_none_or(|f| f & CLONE_NEW == 0),
            "clone namespace flags are not modelled yet (see the ignored test below)"
        );
        self.allowed.contains(name) && !self.denied.contains(name)
    }
}

fn check_action(action: &policyc_compiler::ast::Action) {
    use policyc_compiler::ast::{Action, ErrnoSpec};
    if let Action::Errno(ErrnoSpec::Name(n)) = action {
        assert!(syscalls::errno(n).is_some(), "unknown errno {n}");
    }
}

#[test]
fn policies_are_well_formed_and_their_tests_agree_with_the_model() {
    for (file_name, file) in parsed_policies() {
        let scope = Scope::of(&file);
        let blocks: Vec<_> = file
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Policy(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(blocks.len(), 1, "{file_name}: one policy per file");
        let block = blocks[0];
        assert_eq!(format!("{}.policy", block.name.node), file_name);
        assert!(
            !block.docs.is_empty(),
            "{file_name}: policy has no /// docs"
        );
        let m = Model::build(&file, &block.stmts, &scope);

        assert!(["process", "container", "wasm"].contains(&m.isolation.as_str()));
        for t in &m.threats {
            assert!(THREATS.contains(&t.as_str()), "{file_name}: threat {t}");
        }
        for (_, host, guest) in &m.mounts {
            if m.isolation != "process" && host.starts_with('~') {
                assert!(guest.is_some(), "{file_name}: {host} needs `at`");
            }
        }
        for (p, _) in &m.volatile {
            assert!(p.starts_with('/'), "{file_name}: {p} is not a guest path");
        }
        if let Some((via, rules)) = &m.egress {
            assert!(
                !(*via == EgressVia::Direct && m.threats.iter().any(|t| t == "exfiltration")),
                "{file_name}: direct egress under an exfiltration threat"
            );
            for r in rules {
                if let EgressRule::Allow { token: Some(t), .. } = r {
                    let fields = m
                        .tokens
                        .get(&t.node)
                        .unwrap_or_else(|| panic!("{file_name}: no token `{}`", t.node));
                    let ttl = fields.iter().find_map(|f| match f {
                        TokenField::Ttl(t) => Some(t.node),
                        _ => None,
                    });
                    assert!(
                        ttl.is_some_and(|t| t <= 3_600_000),
                        "{file_name}: token `{}` needs a ttl of at most 1h",
                        t.node
                    );
                }
            }
        }
        if m.isolation != "wasm" {
            for d in syscalls::dangerous() {
                if syscalls::is_known(d) {
                    assert!(!m.syscall(d, None), "{file_name}: allows dangerous {d}");
                }
            }
        }

        let mut count = 0;
        for stmt in &block.stmts {
            let Stmt::Test(t) = stmt else { continue };
            assert!(!t.expectations.is_empty(), "{file_name}: empty test");
            for e in &t.expectations {
                count += 1;
                let (got, what) = match &e.request {
                    RequestSyntax::Fs(access, path) => (
                        m.fs(*access, &path.node),
                        format!("{} {}", access.keyword(), path.node),
                    ),
                    RequestSyntax::Connect(ep) => (
                        m.connect(&ep.host.node, ep.port.as_ref().map(|p| p.node)),
                        format!("connect {}", ep.host.node),
                    ),
                    RequestSyntax::Resolve(h) => {
                        (m.resolve(&h.node), format!("resolve {}", h.node))
                    }
                    RequestSyntax::Syscall(n, args) => (
                        m.syscall(&n.node, args.as_deref()),
                        format!("syscall {}{args:?}", n.node),
                    ),
                };
                assert_eq!(
                    got,
                    e.allow,
                    "{file_name}: test \"{}\": expected {} {what}",
                    t.name.node,
                    if e.allow { "allow" } else { "deny" }
                );
            }
        }
        assert!(count >= 40, "{file_name}: only {count} expectations");
    }
}

// ------------------------------------------------------------------------- the compiler

struct Stdlib;

impl policyc_compiler::ModuleLoader for Stdlib {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        module_source(&parts).map(|(name, text)| (name.to_string(), text.to_string()))
    }
}

/// Every use-case policy compiles without diagnostics (errors or warnings) and passes its
/// own tests under the compiler's reference semantics.
#[test]
fn policies_compile_cleanly_and_pass_their_tests() {
    for (name, text) in policies() {
        let mut sources = SourceMap::new();
        let root = sources.add(*name, *text);
        let compiled = policyc_compiler::compile(&mut sources, root, &Stdlib);
        let rendered: Vec<String> = compiled
            .diagnostics
            .iter()
            .map(|d| render_human(d, &sources))
            .collect();
        assert!(
            compiled.diagnostics.is_empty(),
            "{name}:\n{}",
            rendered.join("\n")
        );
        assert_eq!(compiled.policies.len(), 1, "{name}: one policy");
        let outcomes = policyc_compiler::eval::run_tests(&compiled.policies[0]);
        assert!(
            outcomes.len() >= 40,
            "{name}: only {} cases",
            outcomes.len()
        );
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| {
                format!(
                    "test \"{}\": expected {} {}, got {}",
                    o.test,
                    if o.expect_allow { "allow" } else { "deny" },
                    o.request,
                    o.decision.reason
                )
            })
            .collect();
        assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
    }
}

/// ADVERSARIAL.md #5: `clone` with a namespace flag must be denied even though every runtime
/// set allows `clone` (threads need it), and `clone3`, whose flags seccomp cannot see, must
/// fail (with ENOSYS, so glibc falls back to `clone`) even when a policy does not deny it
/// explicitly as the stdlib policies do. The reference semantics does not model either yet;
/// un-ignore this test when it does, and add the clone cases back to the use-case policies.
#[test]
#[ignore = "ADVERSARIAL.md #5 (clone namespace flags, clone3) is not in eval::decide yet"]
fn clone_cannot_create_namespaces_under_a_runtime_set() {
    let text = r#"
use std::runtime::python

/// A policy that trusts the runtime set alone.
policy threads_only {
    isolation container
    fs { scratch "/work" size 1MiB }
    net { egress none }
    syscalls { allow python }
    test "threads yes, namespaces no" {
        allow syscall clone(4001536)
        deny syscall clone(268435456)
        deny syscall clone(131072)
        deny syscall clone(1073741824)
        deny syscall clone(128)
        deny syscall clone3
    }
}
"#;
    let mut sources = SourceMap::new();
    let root = sources.add("threads_only.policy", text);
    let compiled = policyc_compiler::compile(&mut sources, root, &Stdlib);
    assert!(
        compiled.diagnostics.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    let outcomes = policyc_compiler::eval::run_tests(&compiled.policies[0]);
    assert_eq!(outcomes.len(), 6);
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.request.as_str())
        .collect();
    assert!(failed.is_empty(), "not enforced: {failed:?}");
}
