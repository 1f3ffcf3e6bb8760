//! `compile` never panics, whatever it is given.
//!
//! Inputs are random bytes, random text over the language's alphabet, random streams of the
//! grammar's tokens, and random edits (character and token inserts, deletes, replacements,
//! duplications) of use-case-like policies: the ones embedded below, every `.policy` file
//! under `tests/corpus/` and the standard library's use-case policies. Imported modules are
//! served from memory, and one property mutates a module instead of the root file.
//!
//! Inputs are capped at 4 KiB, so a superlinear blow-up shows as a slow test rather than
//! needing a timeout. Besides not panicking, each run renders every diagnostic (human and
//! JSON), runs every compiled policy's tests, and checks a few cheap invariants.

use policyc_compiler::diag::{render_human, render_json};
use policyc_compiler::{compile, run_tests, ModuleLoader, SourceMap};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::OnceLock;

/// Largest input, in bytes.
const MAX_INPUT: usize = 4096;

/// Keywords, punctuation and literal shapes of the grammar (`compiler/src/syntax/policy.pest`).
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    // items and statements
    "use", "paths", "syscalls", "fragment", "policy", "isolation", "threats", "data",
    "include", "fs", "net", "token", "limits", "audit", "test",
    // rule keywords
    "allow", "deny", "default", "egress", "dns", "audience", "scope", "ttl", "approval",
    "scratch", "tmpfs", "read", "write", "exec", "at", "size", "none", "via", "proxy",
    "direct", "allow-listed-only", "any", "with", "required", "if", "and", "errno", "kill",
    "connect", "resolve", "syscall", "arg0", "arg5", "arg6", "arg9", "warning", "P0502",
    "P0405", "P0201", "P9999",
    // values
    "process", "container", "wasm", "microvm", "exfiltration", "tampering", "persistence",
    "privilege_escalation", "pii", "memory", "pids", "cpus", "files", "writes", "denials",
    "EPERM", "ENOSYS", "ptrace", "openat", "socket", "python", "secrets", "std", "std::secrets",
    "std::runtime::python", "std::nope",
    // punctuation
    "{", "}", "(", ")", ",", ";", ":", "::", "\"", "&", "==", "!=", "<=", ">=", "<", ">", "*",
    "#", "///", "\n", " ", "\t", "\r\n",
    // literals, good and bad
    "\"/data\"", "\"~/Documents\"", "\"~\"", "\"/\"", "\"rel/path\"", "\"/../x\"", "\"~/..\"",
    "\"/a/*\"", "\"/mnt/x\"", "\"api.example.com\"", "\"*.example.com\"", "\"*.com\"", "\"*\"",
    "\"0x7f.1\"", "\"[::1]\"", "\"[::1\"", "\"bücher.example\"", "\"host:443\"", "\"h:*\"",
    "\"\\q\"", "\"\\u{110000}\"", "\"\\u{41}\"", "\"\\0\"", "\"\\\"", "\\", "0", "1", "443",
    "65536", "0x", "0xff", "99999999999999999999", "18446744073709551616", "1.5", "0.0001",
    "64MiB", "0B", "99999999999TiB", "5m", "2h", "0s", "99999999999999999d", "\u{0}", "\u{feff}",
];

/// Use-case-like seed policies, each under 4 KiB.
const SEEDS: &[&str] = &[
    r#"# A document organiser: reads documents, writes into scratch, no network.
use std::secrets
use std::runtime::python

/// Sorts ~/Documents into /mnt/scratch.
policy document_organizer {
    isolation container
    threats exfiltration, tampering, persistence
    data pii, confidential
    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 256MiB
        tmpfs "/tmp" size 64MiB
        deny secrets
        deny write persistence
    }
    net { egress none }
    syscalls {
        allow python
        deny ptrace, bpf, keyctl errno EPERM
        deny clone3 errno ENOSYS
        default errno EPERM
    }
    limits { memory 512MiB; pids 64; cpus 1; files 256 }
    audit { writes; denials }
    test "documents stay unchanged" {
        allow read "/mnt/docs/a.pdf"
        allow read "~/Documents/a.pdf"
        deny write "/mnt/docs/a.pdf"
        allow write "/mnt/scratch/index.csv"
        deny exec "/mnt/scratch/run.sh"
        deny read "~/.ssh/id_ed25519"
        deny connect "example.com":443
        deny resolve "example.com"
        allow syscall read
        deny syscall ptrace
        allow syscall socket(1, 1, 0)
    }
}
"#,
    r#"# An email assistant: mail through the proxy with short-lived tokens.
use std::secrets
use std::runtime::python

token imap_read {
    audience "imap.mail.example.com"
    scope "mail:read"
    ttl 15m
}

policy email_assistant {
    isolation container
    threats exfiltration, credential_theft
    fs {
        read "~/Mail" at "/mail"
        scratch "/drafts" size 64MiB
        deny secrets
    }
    net {
        egress via proxy {
            allow "imap.mail.example.com":993 with token imap_read
            allow "smtp.mail.example.com":465 with token smtp_send
            deny "*.tracker.example.net"
        }
        dns allow-listed-only
    }
    token smtp_send {
        audience "smtp.mail.example.com"
        scope "mail:send", "mail:draft"
        ttl 5m
        approval required
    }
    syscalls { allow python; allow socket if arg0 == 2 and arg1 & 0xff == 1; default kill }
    audit { egress; dns; tokens }
    test "mail flows only to the mail hosts" {
        allow connect "IMAP.mail.example.com.":993
        deny connect "imap.mail.example.com":143
        allow resolve "smtp.mail.example.com"
        deny resolve "x.tracker.example.net"
        deny connect "0x7f.1":8080
        allow syscall socket(2, 1)
        deny syscall socket(10, 1)
    }
}
"#,
    r#"# A spreadsheet generator under process isolation, with shared fragments.
syscalls numeric { read, write, close, mmap, munmap, brk, futex, exit_group }
syscalls sheets { numeric, openat, newfstatat, lseek }
paths caches { "~/.cache", "/var/cache" }

/// The syscalls and denies every worker shares.
fragment worker {
    syscalls { allow sheets; deny ptrace kill }
    fs { deny caches; deny exec "/data/in" }
}

policy spreadsheet_generator {
    isolation process
    include worker
    threats tampering, denial_of_service
    data financial
    fs {
        read "/data/in"
        write "/data/out"
        exec "/usr/bin"
        tmpfs "/tmp" size 32MiB
    }
    net { egress direct { allow "10.0.0.5":5432; allow "[::1]":* }; dns none }
    limits { memory 1GiB; cpus 0.5 }
    test "inputs in, outputs out" {
        allow read "/data/in/q3.csv"
        deny write "/data/in/q3.csv"
        allow write "/data/out/q3.xlsx"
        allow exec "/usr/bin/python3"
        deny exec "/data/in/macro"
        allow connect "10.0.0.5":5432
        allow connect "[::1]":9
        allow syscall lseek
        deny syscall ptrace
    }
    test "empty" { }
}

policy second {
    isolation wasm
    include worker
    fs { read "/srv" at "/srv"; write "/srv/out" }
}
"#,
];

/// The modules `use` can reach while fuzzing; small stand-ins for the standard library.
const MODULES: &[(&str, &str)] = &[
    (
        "std::secrets",
        r#"paths ssh { "~/.ssh" }
paths secrets { "~/.ssh", "~/.gnupg", "~/.aws", "~/.netrc" }
paths persistence { "~/.bashrc", "~/.profile", "~/.config/autostart" }
"#,
    ),
    (
        "std::runtime::base",
        "/// Shared by every runtime.\nsyscalls base { read, write, close, mmap, munmap, brk, futex, exit_group, rt_sigaction }\n",
    ),
    (
        "std::runtime::python",
        "use std::runtime::base\nsyscalls python { base, openat, newfstatat, getrandom, execve, clone, socket }\n",
    ),
    (
        "std::runtime::node",
        "use std::runtime::base\nsyscalls node { base, epoll_wait, eventfd2, openat }\nfragment node_guards { syscalls { deny clone3 errno ENOSYS } }\n",
    ),
];

/// Serves [`MODULES`], with one of them optionally replaced by a mutated text.
struct FuzzModules {
    replaced: Option<(&'static str, String)>,
}

impl ModuleLoader for FuzzModules {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let key = path.join("::");
        if let Some((name, text)) = &self.replaced {
            if *name == key {
                return Some((format!("{key}.policy"), text.clone()));
            }
        }
        MODULES
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(name, text)| (format!("{name}.policy"), (*text).to_string()))
    }
}

/// `s` cut to at most [`MAX_INPUT`] bytes, at a character boundary.
fn capped(mut s: String) -> String {
    if s.len() > MAX_INPUT {
        let mut end = MAX_INPUT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn collect_policies(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_policies(&p, out);
        } else if p.extension().is_some_and(|e| e == "policy") {
            if let Ok(text) = std::fs::read_to_string(&p) {
                out.push(capped(text));
            }
        }
    }
}

/// The seeds: [`SEEDS`], every corpus file and the stdlib's use-case policies.
fn seeds() -> &'static [String] {
    static SEEDS_CELL: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS_CELL.get_or_init(|| {
        let mut out: Vec<String> = SEEDS.iter().map(|s| capped((*s).to_string())).collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        collect_policies(&root.join("corpus"), &mut out);
        collect_policies(&root.join("../stdlib-policies/policies"), &mut out);
        out
    })
}

/// Compile `text` (with `loader`), render every diagnostic, run every policy's tests, and
/// check the invariants that hold for any input.
fn exercise(text: &str, loader: &dyn ModuleLoader) {
    let mut sources = SourceMap::new();
    let id = sources.add("fuzz.policy", text);
    let out = compile(&mut sources, id, loader);
    let mut last = None;
    for d in out.diagnostics.iter() {
        assert!(d.span.start <= d.span.end, "inverted span in {d:?}");
        let file = sources.get(d.span.file);
        assert!(file.is_some(), "span in an unknown file: {d:?}");
        if let Some(f) = file {
            assert!(
                (d.span.end as usize) <= f.text.len(),
                "span past the end of its file: {d:?}"
            );
        }
        let key = (d.span.file, d.span.start);
        assert!(last <= Some(key), "diagnostics out of order");
        last = Some(key);
        let human = render_human(d, &sources);
        assert!(human.contains(d.code.as_str()));
        let json = render_json(d, &sources);
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "{json}"
        );
    }
    if out.diagnostics.has_errors() {
        assert!(out.policies.is_empty(), "policies survived an error");
    }
    for p in &out.policies {
        for outcome in run_tests(p) {
            let _ = outcome.passed();
        }
    }
}

fn no_modules_replaced() -> FuzzModules {
    FuzzModules { replaced: None }
}

/// One edit of a text, positions as fractions of its length.
#[derive(Debug, Clone)]
enum Edit {
    InsertChar(Index, char),
    ReplaceChar(Index, char),
    Delete(Index, usize),
    InsertToken(Index, &'static str),
    ReplaceWithToken(Index, usize, &'static str),
    Duplicate(Index, usize),
    Move(Index, usize, Index),
}

fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(
            "{}()[]\",;:#/\\~*.&=!<>-_ \n\t\r0123456789axzAZü\u{0}\u{7f}\u{2028}\u{feff}"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(TOKENS)
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), interesting_char()).prop_map(|(i, c)| Edit::InsertChar(i, c)),
        (any::<Index>(), interesting_char()).prop_map(|(i, c)| Edit::ReplaceChar(i, c)),
        (any::<Index>(), 1usize..24).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), token()).prop_map(|(i, t)| Edit::InsertToken(i, t)),
        (any::<Index>(), 1usize..12, token()).prop_map(|(i, n, t)| Edit::ReplaceWithToken(i, n, t)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), 1usize..64, any::<Index>()).prop_map(|(i, n, j)| Edit::Move(i, n, j)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len();
        // An insertion point (0..=len) and an existing position (0..len, none when empty).
        let at = |i: &Index| i.index(len + 1);
        let pos = |i: &Index| (len > 0).then(|| i.index(len));
        match e {
            Edit::InsertChar(i, c) => chars.insert(at(i), *c),
            Edit::ReplaceChar(i, c) => {
                if let Some(slot) = pos(i).and_then(|p| chars.get_mut(p)) {
                    *slot = *c;
                }
            }
            Edit::Delete(i, n) => {
                let start = at(i);
                let end = (start + n).min(len);
                chars.drain(start..end);
            }
            Edit::InsertToken(i, t) => {
                let p = at(i);
                chars.splice(p..p, t.chars());
            }
            Edit::ReplaceWithToken(i, n, t) => {
                let start = at(i);
                let end = (start + n).min(len);
                chars.splice(start..end, t.chars());
            }
            Edit::Duplicate(i, n) => {
                let start = at(i);
                let end = (start + n).min(len);
                let copy: Vec<char> = chars.get(start..end).unwrap_or_default().to_vec();
                chars.splice(end..end, copy);
            }
            Edit::Move(i, n, j) => {
                let start = at(i);
                let end = (start + n).min(len);
                let moved: Vec<char> = chars.drain(start..end).collect();
                let to = j.index(chars.len() + 1);
                chars.splice(to..to, moved);
            }
        }
    }
    capped(chars.into_iter().collect())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(5000))]

    /// Edits of realistic policies reach deep into the checker, not just the parser.
    #[test]
    fn mutated_policies_compile_without_panicking(
        seed in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..12),
    ) {
        let seeds = seeds();
        let text = seeds.get(seed.index(seeds.len())).map_or("", String::as_str);
        exercise(&apply(text, &edits), &no_modules_replaced());
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn random_bytes_compile_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..MAX_INPUT),
    ) {
        exercise(&capped(String::from_utf8_lossy(&bytes).into_owned()), &no_modules_replaced());
    }

    #[test]
    fn random_text_over_the_alphabet_compiles_without_panicking(
        chars in prop::collection::vec(interesting_char(), 0..2048),
    ) {
        exercise(&capped(chars.into_iter().collect()), &no_modules_replaced());
    }

    /// Streams of grammar tokens, so the parser gets past the first few bytes.
    #[test]
    fn token_streams_compile_without_panicking(
        tokens in prop::collection::vec((token(), prop::sample::select(vec![" ", "\n", "", "; "])), 0..400),
    ) {
        let text: String = tokens.iter().flat_map(|(t, sep)| [*t, *sep]).collect();
        exercise(&capped(text), &no_modules_replaced());
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// A mutated imported module: its diagnostics live in another file.
    #[test]
    fn mutated_modules_compile_without_panicking(
        module in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..8),
        root in any::<Index>(),
    ) {
        let (name, text) = MODULES.get(module.index(MODULES.len())).copied().unwrap_or(("", ""));
        let loader = FuzzModules { replaced: Some((name, apply(text, &edits))) };
        let root_text = SEEDS.get(root.index(SEEDS.len())).copied().unwrap_or_default();
        exercise(root_text, &loader);
    }
}

/// Inputs that stress one construct each, at the size cap.
#[test]
fn pathological_inputs_compile_without_panicking() {
    let fill = |unit: &str| capped(unit.repeat(MAX_INPUT / unit.len().max(1) + 1));
    let mut inputs: Vec<String> = [
        "{",
        "}",
        "(",
        "\"",
        "\\",
        "#",
        "/",
        "*",
        "\n",
        "policy",
        "policy p {",
        "{}",
        "\"\\u{",
        "policy p { isolation wasm ",
        "fs { read \"/a\" } ",
        "a,",
        "///\n",
    ]
    .iter()
    .map(|u| fill(u))
    .collect();
    // Long chains and lists that stay within the size cap.
    let mut chain = String::new();
    let mut i = 0;
    while chain.len() < MAX_INPUT - 200 {
        chain.push_str(&format!("fragment f{i} {{ include f{} }}\n", i + 1));
        i += 1;
    }
    chain.push_str("policy p { isolation wasm; include f0 }\n");
    inputs.push(chain);
    let mut sets = String::new();
    let mut i = 0;
    while sets.len() < MAX_INPUT - 200 {
        sets.push_str(&format!("syscalls s{i} {{ read, s{} }}\n", i + 1));
        i += 1;
    }
    sets.push_str("syscalls sz { s0 }\npolicy p { isolation process; syscalls { allow s0 } }\n");
    inputs.push(sets);
    let mut denies = String::from("policy p { isolation wasm; fs { read \"/d\"\n");
    let mut i = 0;
    while denies.len() < MAX_INPUT - 10 {
        denies.push_str(&format!("deny \"/d/{i}\"\n"));
        i += 1;
    }
    denies.push_str("} }");
    inputs.push(denies);
    let mut deep = String::from("policy p { test \"t\" { allow syscall read(");
    deep.push_str(&"1,".repeat(1500));
    deep.push_str(") } }");
    inputs.push(deep);
    for text in &inputs {
        assert!(text.len() <= MAX_INPUT + 64);
        exercise(text, &no_modules_replaced());
    }
}

#[test]
fn the_seeds_are_loaded() {
    assert!(seeds().len() >= SEEDS.len());
    for s in seeds() {
        assert!(s.len() <= MAX_INPUT);
    }
    for s in SEEDS {
        assert!(s.len() <= MAX_INPUT, "seed over 4 KiB");
    }
}

/// The mutation property is only worth its time if many inputs get past the parser, so the
/// checker sees them too.
#[test]
fn many_single_edits_reach_the_checker() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (any::<Index>(), edit());
    let (mut parsed, mut with_policies, total) = (0, 0, 400);
    for _ in 0..total {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (seed, e) = tree.current();
        let text = SEEDS
            .get(seed.index(SEEDS.len()))
            .copied()
            .unwrap_or_default();
        let mut sources = SourceMap::new();
        let id = sources.add("fuzz.policy", apply(text, &[e]));
        let out = compile(&mut sources, id, &no_modules_replaced());
        if !out
            .diagnostics
            .iter()
            .any(|d| d.code == policyc_compiler::Code::Syntax)
        {
            parsed += 1;
        }
        if !out.policies.is_empty() {
            with_policies += 1;
        }
    }
    eprintln!("{parsed} of {total} single edits parse; {with_policies} compile to policies");
    assert!(
        parsed * 4 >= total,
        "only {parsed} of {total} single edits parse"
    );
    assert!(with_policies > 0);
}
