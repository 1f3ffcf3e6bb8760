//! Checks on the standard library's files. The compiler is the single source of truth for
//! what the files mean: sets are expanded, policies checked and tests run by
//! `policyc_compiler` itself. What is checked here is what the compiler cannot know: that
//! the sets suit the runtimes they are named after (both architectures, nothing dangerous,
//! everything strace observed), that the credential lists are complete and consistent, and
//! that the embedded tables match the files on disk.

use super::*;
use policyc_compiler::ast::{File, Item};
use policyc_compiler::diag::render_human;
use policyc_compiler::ir::{DenyAction, Isolation, Policy};
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{compile, decide, run_tests, syscalls, Compiled, Request, SourceMap};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

// ------------------------------------------------------------------------- the compiler

/// The stdlib as the compiler sees it.
use crate::Loader as Stdlib;

/// Compile `text` with the stdlib's modules; the diagnostics come back rendered.
fn compile_text(name: &str, text: &str) -> (Compiled, Vec<String>) {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text);
    let compiled = compile(&mut sources, root, &Stdlib);
    let rendered = compiled
        .diagnostics
        .iter()
        .map(|d| render_human(d, &sources))
        .collect();
    (compiled, rendered)
}

/// Compile `text`, which must hold one policy and draw no diagnostic at all.
fn compile_clean(name: &str, text: &str) -> Policy {
    let (compiled, rendered) = compile_text(name, text);
    assert!(rendered.is_empty(), "{name}:\n{}", rendered.join("\n"));
    assert_eq!(compiled.policies.len(), 1, "{name}: one policy per file");
    compiled.policies.into_iter().next().unwrap()
}

/// The syscalls the set `set` of module `module` (`runtime::python`) stands for, as the
/// compiler expands it.
fn expand(module: &str, set: &str) -> BTreeSet<String> {
    let text = format!(
        "use std::{module}\npolicy t {{\n isolation process\n syscalls {{ allow {set} }}\n}}\n"
    );
    let (compiled, rendered) = compile_text("expand.policy", &text);
    assert!(
        !compiled.diagnostics.has_errors(),
        "expanding `{set}`:\n{}",
        rendered.join("\n")
    );
    let rules = &compiled.policies[0].syscalls.rules;
    rules.keys().cloned().collect()
}

fn parse_clean(name: &str, text: &str) -> File {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let (file, diags) = policyc_compiler::syntax::parse(id, text);
    let rendered: Vec<String> = diags.iter().map(|d| render_human(d, &sources)).collect();
    assert!(rendered.is_empty(), "{name}:\n{}", rendered.join("\n"));
    file
}

/// Every syscall set of the stdlib: name -> (module path after `std::`, its members).
fn stdlib_sets() -> BTreeMap<String, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    for m in modules() {
        for item in parse_clean(m.file, m.source).items {
            let Item::SyscallSet(s) = item else { continue };
            let members = s.members.into_iter().map(|n| n.node).collect();
            let module = m.path[1..].join("::");
            let prev = out.insert(s.name.node.clone(), (module, members));
            assert!(prev.is_none(), "set `{}` is defined twice", s.name.node);
        }
    }
    out
}

fn expand_stdlib_set(name: &str) -> BTreeSet<String> {
    let sets = stdlib_sets();
    let (module, _) = sets.get(name).unwrap_or_else(|| panic!("no set `{name}`"));
    expand(module, name)
}

fn syscall(name: &str, args: &[u64]) -> Request {
    let mut all = [0; 6];
    all[..args.len()].copy_from_slice(args);
    Request::Syscall {
        name: name.to_string(),
        args: all,
    }
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
    for missing in [
        &["std"][..],
        &["std", "nope"],
        &["std", "secrets", "more"],
        &[],
    ] {
        assert_eq!(module_source(missing), None);
    }
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
fn every_file_on_disk_is_embedded_and_vice_versa() {
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
    for (name, text) in policies() {
        let on_disk = std::fs::read_to_string(root.join("policies").join(name)).unwrap();
        assert_eq!(&on_disk, text, "{name} differs from the embedded text");
    }
}

/// `policyc check` on a module: it compiles on its own, without any diagnostic.
#[test]
fn every_module_compiles_without_diagnostics() {
    for m in modules() {
        let (compiled, rendered) = compile_text(m.file, m.source);
        assert!(rendered.is_empty(), "{}:\n{}", m.file, rendered.join("\n"));
        assert!(compiled.policies.is_empty(), "{} holds a policy", m.file);
    }
}

#[test]
fn modules_document_every_item() {
    for m in modules() {
        let file = parse_clean(m.file, m.source);
        assert!(!file.items.is_empty(), "{} is empty", m.file);
        for item in &file.items {
            let (kind, name, docs) = match item {
                Item::Paths(p) => ("paths", &p.name.node, &p.docs),
                Item::SyscallSet(s) => ("syscalls", &s.name.node, &s.docs),
                Item::Fragment(b) => ("fragment", &b.name.node, &b.docs),
                Item::Token(t) => ("token", &t.name.node, &t.docs),
                Item::Use(_) | Item::Policy(_) => continue,
            };
            assert!(
                !docs.is_empty(),
                "{}: {kind} `{name}` has no /// docs",
                m.file
            );
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
    for (name, (module, members)) in &sets {
        let unique: BTreeSet<&String> = members.iter().collect();
        assert_eq!(
            unique.len(),
            members.len(),
            "{module}: `{name}` repeats a member"
        );
        let expanded = expand(module, name);
        assert!(!expanded.is_empty(), "{module}: `{name}` is empty");
        let unknown: Vec<&String> = expanded.iter().filter(|s| !syscalls::is_known(s)).collect();
        assert!(
            unknown.is_empty(),
            "{module}: `{name}` holds unknown {unknown:?}"
        );
        let dangerous: Vec<&String> = expanded
            .iter()
            .filter(|s| syscalls::is_dangerous(s))
            .collect();
        assert!(
            dangerous.is_empty(),
            "{module}: `{name}` holds dangerous {dangerous:?}"
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
    // Only the shell forks and waits; nobody signals other processes.
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

/// The x86_64-only spellings and the call aarch64 uses instead, as `x86_64:aarch64`.
const AARCH64_SPELLING: &str = "access:faccessat chmod:fchmodat dup2:dup3 \
    epoll_create:epoll_create1 epoll_wait:epoll_pwait eventfd:eventfd2 fork:clone \
    getdents:getdents64 lstat:newfstatat mkdir:mkdirat open:openat pipe:pipe2 poll:ppoll \
    readlink:readlinkat rename:renameat2 rmdir:unlinkat select:pselect6 stat:newfstatat \
    symlink:symlinkat time:clock_gettime unlink:unlinkat vfork:clone";

/// x86_64-only calls with no aarch64 counterpart to add.
const X86_ONLY: &[&str] = &["arch_prctl"];

/// x86_64 spellings a set may leave out although it has the aarch64 call.
const OPTIONAL_X86: &[&str] = &["fork", "vfork", "time"];

fn spellings() -> impl Iterator<Item = (&'static str, &'static str)> {
    AARCH64_SPELLING
        .split_whitespace()
        .map(|pair| pair.split_once(':').unwrap())
}

fn check_both_architectures(name: &str, expanded: &BTreeSet<String>) {
    use syscalls::Arch;
    for sc in expanded {
        if syscalls::number(Arch::Aarch64, sc).is_some() || X86_ONLY.contains(&sc.as_str()) {
            continue;
        }
        let (_, instead) = spellings()
            .find(|(x86, _)| x86 == sc)
            .unwrap_or_else(|| panic!("`{sc}` has no aarch64 spelling on record"));
        assert!(
            expanded.contains(instead),
            "`{name}` has `{sc}` but not aarch64's `{instead}`"
        );
    }
    for (x86, instead) in spellings() {
        if expanded.contains(instead) && !OPTIONAL_X86.contains(&x86) {
            assert!(
                expanded.contains(x86),
                "`{name}` has `{instead}` but not x86_64's `{x86}`"
            );
        }
    }
}

#[test]
fn every_set_works_on_both_architectures() {
    for (name, (module, _)) in &stdlib_sets() {
        check_both_architectures(name, &expand(module, name));
    }
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
        let seen: BTreeSet<String> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        assert!(seen.len() > 30, "{set}: the observed list looks truncated");
        let expanded = expand_stdlib_set(set);
        let missing: Vec<&String> = seen.difference(&expanded).collect();
        assert!(missing.is_empty(), "`{set}` lacks observed {missing:?}");
    }
}

// ------------------------------------------------------------------------- runtime_guards

/// A policy that allows `python` and includes `runtime_guards`, with default `default`.
fn guarded_policy(default: &str) -> Policy {
    let text = format!(
        "use std::runtime::python\n\
         /// Threads yes, namespaces and terminal injection no.\n\
         policy guarded {{\n\
             isolation container\n\
             fs {{ scratch \"/work\" size 1MiB }}\n\
             net {{ egress none }}\n\
             include runtime_guards\n\
             syscalls {{ allow python; default {default} }}\n\
         }}\n"
    );
    compile_clean("guarded.policy", &text)
}

/// leak classes 5 and 7 of the security model: every runtime set allows `clone` (threads) and `ioctl`
/// (`isatty`); `runtime_guards` takes the namespace flags and terminal injection back out.
#[test]
fn runtime_guards_deny_namespace_clones_and_terminal_injection() {
    const THREAD: u64 = 0x3d_0f00;
    const NEWUSER: u64 = 0x1000_0000;
    let eperm = DenyAction::Errno(syscalls::errno("EPERM").unwrap());
    let enosys = DenyAction::Errno(syscalls::errno("ENOSYS").unwrap());
    let p = guarded_policy("errno EPERM");
    for allowed in [
        syscall("clone", &[THREAD]),
        syscall("clone", &[0x11]),             // fork: SIGCHLD
        syscall("ioctl", &[1, 0x5401]),        // TCGETS
        syscall("ioctl", &[0, 0x5421]),        // FIONBIO
        syscall("ioctl", &[1, 0x1_0000_5401]), // TCGETS with upper bits
    ] {
        assert!(decide(&p, &allowed).allow, "{allowed} is denied");
    }
    for (denied, action) in [
        (syscall("clone", &[NEWUSER]), eperm),
        (syscall("clone", &[0x2_0000]), eperm), // CLONE_NEWNS
        (syscall("clone", &[0x4000_0000]), eperm), // CLONE_NEWNET
        (syscall("clone", &[0x200_0000]), eperm), // CLONE_NEWCGROUP
        (syscall("clone", &[THREAD | NEWUSER]), eperm),
        (syscall("clone", &[0xffff_ffff_ffff_ffff]), eperm),
        (syscall("clone3", &[]), enosys),
        (syscall("ioctl", &[1, 0x5412]), eperm), // TIOCSTI
        (syscall("ioctl", &[1, 0x1_0000_5412]), eperm), // TIOCSTI with upper bits
        (syscall("ioctl", &[1, 0xffff_ffff_0000_5412]), eperm),
        (syscall("ioctl", &[1, 0x541c]), eperm), // TIOCLINUX
        (syscall("ioctl", &[1, 0x8000_0000_0000_541c]), eperm),
    ] {
        let d = decide(&p, &denied);
        assert!(!d.allow, "{denied} is allowed");
        assert_eq!(d.action, Some(action), "{denied}");
    }
    // A deny without an action answers with the policy's default.
    let killing = guarded_policy("kill");
    let d = decide(&killing, &syscall("clone", &[NEWUSER]));
    assert_eq!(d.action, Some(DenyAction::Kill));
    let d = decide(&killing, &syscall("clone3", &[]));
    assert_eq!(d.action, Some(enosys));
}

// ------------------------------------------------------------------------- policies

/// Every use-case policy compiles without any diagnostic (errors or warnings) and passes
/// its own tests under the compiler's reference semantics.
#[test]
fn policies_compile_cleanly_and_pass_their_tests() {
    for (name, text) in policies() {
        let p = compile_clean(name, text);
        assert_eq!(format!("{}.policy", p.name), *name);
        assert!(!p.docs.is_empty(), "{name}: policy has no /// docs");
        let outcomes = run_tests(&p);
        assert!(
            outcomes.len() >= 40,
            "{name}: only {} cases",
            outcomes.len()
        );
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| {
                let verdict = if o.expect_allow { "allow" } else { "deny" };
                format!(
                    "test \"{}\": expected {verdict} {}, got {}",
                    o.test, o.request, o.decision.reason
                )
            })
            .collect();
        assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
    }
}

/// Policies that run native code deny every dangerous syscall and include the guards.
#[test]
fn native_policies_deny_dangerous_calls_and_include_the_guards() {
    for (name, text) in policies() {
        let p = compile_clean(name, text);
        if p.isolation == Isolation::Wasm {
            continue;
        }
        for d in syscalls::dangerous()
            .iter()
            .filter(|d| syscalls::is_known(d))
        {
            assert!(!decide(&p, &syscall(d, &[])).allow, "{name}: allows {d}");
        }
        for req in [
            syscall("clone3", &[]),
            syscall("clone", &[0x1000_0000]),
            syscall("ioctl", &[1, 0x1_0000_5412]),
        ] {
            assert!(!decide(&p, &req).allow, "{name}: allows {req}");
        }
    }
}

// ------------------------------------------------------------------------- secrets

const SECRET_PARTS: &str = "ssh_keys pgp_and_pki cloud_credentials dev_credentials \
    ai_credentials browser_profiles app_sessions password_stores crypto_wallets shell_history \
    session_sockets system_secrets";

const PERSISTENCE_PARTS: &str = "shell_startup autostart tool_config agent_config";

/// The paths lists of `std::secrets`, as written.
fn secrets_lists() -> BTreeMap<String, Vec<String>> {
    let m = module(&["std", "secrets"]).unwrap();
    parse_clean(m.file, m.source)
        .items
        .into_iter()
        .filter_map(|i| match i {
            Item::Paths(p) => Some((p.name.node, p.paths.into_iter().map(|x| x.node).collect())),
            _ => None,
        })
        .collect()
}

fn canon(path: &str) -> CanonPath {
    CanonPath::parse(path).unwrap_or_else(|e| panic!("{e}"))
}

/// True when `path` is `base` or beneath it, component-wise, as the compiler decides it.
fn covers(base: &str, path: &str) -> bool {
    canon(path).starts_with(&canon(base))
}

#[test]
fn umbrella_lists_are_the_union_of_their_parts() {
    let lists = secrets_lists();
    let known: BTreeSet<&str> = SECRET_PARTS
        .split_whitespace()
        .chain(PERSISTENCE_PARTS.split_whitespace())
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
        let union: BTreeSet<&String> = parts.split_whitespace().flat_map(|p| &lists[p]).collect();
        let whole: BTreeSet<&String> = lists[umbrella].iter().collect();
        assert_eq!(
            whole, union,
            "`{umbrella}` differs from the union of its parts"
        );
    }
}

fn check_path(list: &str, p: &str) {
    assert!(
        p.starts_with('/') || p.starts_with("~/"),
        "`{list}`: {p} is relative"
    );
    assert_eq!(
        canon(p).as_str(),
        p,
        "`{list}`: {p} is not in canonical form"
    );
    assert!(p != "/" && p != "~", "`{list}` denies a whole root");
    // Spaces are fine (every target quotes paths); other blanks and the characters some
    // target must escape or reject are not.
    let odd = |c: char| (c.is_whitespace() && c != ' ') || "*?[]{}\"\\,^@#!".contains(c);
    assert!(!p.chars().any(odd), "`{list}`: {p} holds an odd character");
    for component in p.split('/') {
        assert_eq!(
            component.trim(),
            component,
            "`{list}`: {p} has a padded component"
        );
    }
}

#[test]
fn paths_are_well_formed_and_never_nested() {
    for (name, paths) in secrets_lists() {
        assert!(!paths.is_empty(), "`{name}` is empty");
        let unique: BTreeSet<&String> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len(), "`{name}` repeats a path");
        for p in &paths {
            check_path(&name, p);
            let nested = paths.iter().find(|q| *q != p && covers(q, p));
            assert!(
                nested.is_none(),
                "`{name}`: {p} is already covered by {nested:?}"
            );
        }
    }
}

/// Paths `secrets` must cover, separated by `, `.
const SECRETS_COVER: &str = "~/.ssh/id_ed25519, ~/.ssh/authorized_keys, \
    ~/.gnupg/private-keys-v1.d/x.key, ~/.aws/credentials, ~/.config/gcloud/credentials.db, \
    ~/.azure/msal_token_cache.json, ~/.kube/config, ~/.docker/config.json, \
    ~/.config/doctl/config.yaml, ~/.oci/config, ~/.terraform.d/credentials.tfrc.json, \
    ~/.mozilla/firefox/x.default/logins.json, ~/.config/google-chrome/Default/Cookies, \
    ~/.config/chromium/Default/Cookies, ~/.config/BraveSoftware/Brave-Browser/Default/Cookies, \
    ~/.config/microsoft-edge/Default/Cookies, ~/.local/share/keyrings/login.keyring, \
    ~/.local/share/kwalletd/kdewallet.kwl, ~/.password-store/x.gpg, \
    ~/.config/Bitwarden CLI/data.json, ~/.config/Authy Desktop/Local Storage/x.log, \
    ~/.config/Ledger Live/app.json, ~/.config/Signal Beta/config.json, \
    ~/.config/Microsoft/Microsoft Teams/Cookies, ~/.netrc, ~/.git-credentials, ~/.npmrc, \
    ~/.pypirc, ~/.cargo/credentials.toml, ~/.config/gh/hosts.yml, /etc/shadow, \
    /run/user/1000/bus";

/// Paths `persistence` must cover, separated by `, `.
const PERSISTENCE_COVER: &str = "~/.bashrc, ~/.bash_profile, ~/.zshrc, ~/.zprofile, \
    ~/.profile, ~/.gitconfig, ~/.config/git/config, ~/.config/autostart/x.desktop, \
    ~/.config/systemd/user/x.service, ~/.ssh/authorized_keys, /var/spool/cron/crontabs/user, \
    ~/.local/bin/ls, ~/.vscode/extensions/x/package.json, \
    ~/.config/Code - OSS/User/settings.json, ~/.mcp.json, ~/.config/environment.d/10-x.conf";

#[test]
fn the_lists_cover_what_they_promise() {
    let lists = secrets_lists();
    let covered = |list: &str, path: &str| lists[list].iter().any(|b| covers(b, path));
    for p in SECRETS_COVER.split(", ") {
        assert!(covered("secrets", p), "secrets does not cover {p}");
    }
    for p in PERSISTENCE_COVER.split(", ") {
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
