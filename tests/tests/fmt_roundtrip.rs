//! The formatter's round trip: random syntax trees print to text that parses back to the
//! same tree and formats to itself; `#` comments injected anywhere survive formatting; and
//! no mutation of a valid policy makes `parse` or `format` panic.

use policyc_compiler::ast::*;
use policyc_compiler::fmt::format;
use policyc_compiler::span::{FileId, Span, Spanned};
use policyc_compiler::syntax::{parse, KEYWORDS};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

// ------------------------------------------------------------------ names

/// Words the grammar uses without reserving them, and near-keywords.
const TRICKY: &[&str] = &[
    "none", "via", "proxy", "direct", "any", "required", "kill", "errno", "if", "and", "with",
    "at", "size", "connect", "resolve", "syscall", "read", "write", "exec", "reader", "writes",
    "execve", "fsx", "use_", "policy2", "arg0", "_", "x", "allowed", "deny_", "defaults", "KiB",
    "B", "ms", "d", "s", "tokens", "testing", "Use", "POLICY",
];

fn raw_ident() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
        1 => select(TRICKY).prop_map(String::from),
        1 => select(KEYWORDS).prop_map(String::from),
    ]
}

fn ident() -> impl Strategy<Value = String> {
    raw_ident().prop_filter("keywords are not identifiers", |s| {
        !KEYWORDS.contains(&s.as_str())
    })
}

fn sys_name_text() -> impl Strategy<Value = String> {
    raw_ident().prop_filter("allow/deny/default end a syscall list", |s| {
        !matches!(s.as_str(), "allow" | "deny" | "default" | "if" | "errno")
    })
}

fn sp<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn name() -> impl Strategy<Value = Name> {
    ident().prop_map(sp)
}

fn sys_name() -> impl Strategy<Value = Name> {
    sys_name_text().prop_map(sp)
}

fn raw_name() -> impl Strategy<Value = Name> {
    raw_ident().prop_map(sp)
}

// ------------------------------------------------------------------ literals

const PIECES: &[&str] = &[
    "\"", "\\", "\n", "\t", "\r", "\0", "#", "# x", "\u{1b}", "\u{7f}", "\u{85}", "é", "😀",
    "\u{202e}", "\u{200b}", "\u{feff}", "\u{2028}", "a", " ", "///", "//", "\\u{41}", "\\n", "}",
    "{", ":", "443", "*", ";", ",", "~/.ssh", "/tmp", "\"\"", "\\\"",
];

/// Strings with quotes, backslashes, control characters, unicode and `#`.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => vec(select(PIECES), 0..8).prop_map(|v| v.concat()),
        1 => any::<String>(),
        1 => "[ -~]{0,12}",
    ]
}

fn string() -> impl Strategy<Value = Spanned<String>> {
    hostile().prop_map(sp)
}

/// Mirror of the parser's one-string endpoint form: `"host:443"` means port 443.
fn splits_as_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return false;
    }
    port == "*" || port.parse::<u64>().is_ok()
}

fn port() -> impl Strategy<Value = PortSpec> {
    prop_oneof![
        Just(PortSpec::Any),
        (0u64..70_000).prop_map(PortSpec::Number),
        any::<u64>().prop_map(PortSpec::Number),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (hostile(), option::of(port()))
        .prop_filter("a bare \"host:port\" string splits", |(h, p)| {
            p.is_some() || !splits_as_host_port(h)
        })
        .prop_map(|(host, port)| Endpoint {
            host: sp(host),
            port: port.map(sp),
            span: Span::default(),
        })
}

/// Sizes in bytes: arbitrary, and exact multiples of every unit.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..5000, 0u32..5).prop_map(|(n, k)| n << (10 * k)),
    ]
}

/// Durations in milliseconds: arbitrary, and exact multiples of every unit.
fn duration() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (
            0u64..5000,
            select(vec![1u64, 1_000, 60_000, 3_600_000, 86_400_000])
        )
            .prop_map(|(n, f)| n * f),
    ]
}

/// `///` text as the parser keeps it: one line, no trailing whitespace. `#` and `"` are left
/// out because the comment collector does not skip doc lines (see the report).
fn doc_text() -> impl Strategy<Value = String> {
    "[^\n\r#\"]{0,20}".prop_map(|s| s.trim_end().to_string())
}

fn docs() -> impl Strategy<Value = Vec<String>> {
    vec(doc_text(), 0..3)
}

fn access() -> impl Strategy<Value = Access> {
    select(vec![Access::Read, Access::Write, Access::Exec])
}

// ------------------------------------------------------------------ fs, net

fn fs_rule() -> impl Strategy<Value = FsRule> {
    let d = Span::default;
    prop_oneof![
        (access(), string(), option::of(string())).prop_map(move |(access, host, guest)| {
            FsRule::Mount {
                access,
                host,
                guest,
                span: d(),
            }
        }),
        (string(), option::of(size().prop_map(sp))).prop_map(move |(path, size)| {
            FsRule::Scratch {
                path,
                size,
                span: d(),
            }
        }),
        (string(), option::of(size().prop_map(sp))).prop_map(move |(path, size)| {
            FsRule::Tmpfs {
                path,
                size,
                span: d(),
            }
        }),
        (option::of(access()), deny_target())
            .prop_filter("`deny readX` reads as `deny read X`", |(a, t)| {
                a.is_some() || !starts_with_access(t)
            })
            .prop_map(move |(access, target)| FsRule::Deny {
                access,
                target,
                span: d(),
            }),
    ]
}

fn deny_target() -> impl Strategy<Value = DenyTarget> {
    prop_oneof![
        string().prop_map(DenyTarget::Path),
        name().prop_map(DenyTarget::List)
    ]
}

fn starts_with_access(t: &DenyTarget) -> bool {
    match t {
        DenyTarget::List(n) => ["read", "write", "exec"]
            .iter()
            .any(|a| n.node.starts_with(a)),
        DenyTarget::Path(_) => false,
    }
}

fn egress_rule() -> impl Strategy<Value = EgressRule> {
    prop_oneof![
        (endpoint(), option::of(name())).prop_map(|(endpoint, token)| EgressRule::Allow {
            endpoint,
            token,
            span: Span::default(),
        }),
        endpoint().prop_map(|endpoint| EgressRule::Deny {
            endpoint,
            span: Span::default(),
        }),
    ]
}

fn net_rule() -> impl Strategy<Value = NetRule> {
    prop_oneof![
        Just(NetRule::EgressNone(Span::default())),
        (
            select(vec![EgressVia::Proxy, EgressVia::Direct]),
            vec(egress_rule(), 0..4)
        )
            .prop_map(|(via, rules)| NetRule::Egress {
                via,
                rules,
                span: Span::default(),
            }),
        select(vec![DnsMode::None, DnsMode::AllowListedOnly, DnsMode::Any])
            .prop_map(|m| NetRule::Dns(sp(m))),
    ]
}

// ------------------------------------------------------------------ tokens, syscalls

fn token_field() -> impl Strategy<Value = TokenField> {
    prop_oneof![
        string().prop_map(TokenField::Audience),
        vec(string(), 1..4).prop_map(|s| TokenField::Scope(s, Span::default())),
        duration().prop_map(|t| TokenField::Ttl(sp(t))),
        any::<bool>().prop_map(|b| TokenField::Approval(sp(b))),
    ]
}

fn token() -> impl Strategy<Value = TokenDecl> {
    (docs(), name(), vec(token_field(), 0..5)).prop_map(|(docs, name, fields)| TokenDecl {
        docs,
        name,
        fields,
        span: Span::default(),
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Kill),
        raw_ident().prop_map(|n| Action::Errno(ErrnoSpec::Name(n))),
        any::<u64>().prop_map(|n| Action::Errno(ErrnoSpec::Number(n))),
    ]
}

fn arg_cmp() -> impl Strategy<Value = ArgCmp> {
    (
        0u8..10,
        option::of(any::<u64>()),
        select(CmpOp::ALL.to_vec()),
        any::<u64>(),
    )
        .prop_map(|(arg, mask, op, value)| ArgCmp {
            arg,
            mask,
            op,
            value,
            span: Span::default(),
        })
}

fn sys_target() -> impl Strategy<Value = SysTarget> {
    (sys_name(), vec(arg_cmp(), 0..3)).prop_map(|(name, condition)| SysTarget {
        name,
        condition,
        span: Span::default(),
    })
}

fn sys_rule() -> impl Strategy<Value = SysRule> {
    prop_oneof![
        action().prop_map(|a| SysRule::Default(sp(a))),
        vec(sys_target(), 1..4).prop_map(|t| SysRule::Allow(t, Span::default())),
        (
            vec(sys_name(), 1..4),
            vec(arg_cmp(), 0..3),
            option::of(action())
        )
            .prop_map(|(names, condition, action)| {
                SysRule::Deny {
                    names,
                    condition,
                    action: action.map(sp),
                    span: Span::default(),
                }
            }),
    ]
}

// ------------------------------------------------------------------ limits, tests

fn limit() -> impl Strategy<Value = Limit> {
    let value = prop_oneof![
        size().prop_map(LimitValue::Size),
        "[0-9]{1,6}(\\.[0-9]{1,3})?".prop_map(LimitValue::Number),
    ];
    (raw_name(), value).prop_map(|(name, value)| Limit {
        name,
        value: sp(value),
        span: Span::default(),
    })
}

fn request() -> impl Strategy<Value = RequestSyntax> {
    prop_oneof![
        (access(), string()).prop_map(|(a, s)| RequestSyntax::Fs(a, s)),
        endpoint().prop_map(RequestSyntax::Connect),
        string().prop_map(RequestSyntax::Resolve),
        (raw_name(), option::of(vec(any::<u64>(), 1..4)))
            .prop_map(|(n, args)| RequestSyntax::Syscall(n, args)),
    ]
}

fn test_block() -> impl Strategy<Value = TestBlock> {
    let expectation = (any::<bool>(), request(), option::of(string())).prop_map(
        |(allow, request, unenforced)| Expectation {
            allow,
            request,
            unenforced,
            span: Span::default(),
        },
    );
    (string(), vec(expectation, 0..4)).prop_map(|(name, expectations)| TestBlock {
        name,
        expectations,
        span: Span::default(),
    })
}

// ------------------------------------------------------------------ statements, items

fn stmt() -> impl Strategy<Value = Stmt> {
    let d = Span::default;
    prop_oneof![
        name().prop_map(Stmt::Isolation),
        vec(name(), 1..4).prop_map(move |n| Stmt::Threats(n, d())),
        vec(name(), 1..4).prop_map(move |n| Stmt::Data(n, d())),
        name().prop_map(Stmt::Include),
        vec(fs_rule(), 0..5).prop_map(move |r| Stmt::Fs(r, d())),
        vec(net_rule(), 0..4).prop_map(move |r| Stmt::Net(r, d())),
        token().prop_map(Stmt::Token),
        vec(sys_rule(), 0..4).prop_map(move |r| Stmt::Syscalls(r, d())),
        vec(limit(), 0..4).prop_map(move |l| Stmt::Limits(l, d())),
        vec(raw_name(), 0..4).prop_map(move |n| Stmt::Audit(n, d())),
        test_block().prop_map(Stmt::Test),
    ]
}

/// `allow warning P0502 "why"`, with or without a reason. A tree built here has no
/// spans, so the printer puts every suppression before the block's first statement.
fn suppression() -> impl Strategy<Value = Suppression> {
    ("[Pp][0-9]{4}", option::of(string())).prop_map(|(code, reason)| Suppression {
        code: sp(code),
        reason,
        span: Span::default(),
        target: Span::default(),
    })
}

fn block() -> impl Strategy<Value = Block> {
    (docs(), name(), vec(stmt(), 0..6), vec(suppression(), 0..3)).prop_map(
        |(docs, name, stmts, mut suppressions)| {
            if stmts.is_empty() {
                suppressions.clear();
            }
            Block {
                docs,
                name,
                stmts,
                suppressions,
                span: Span::default(),
            }
        },
    )
}

fn use_item() -> impl Strategy<Value = Item> {
    vec(raw_name(), 1..4).prop_map(|path| {
        Item::Use(Use {
            path,
            span: Span::default(),
        })
    })
}

fn other_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (docs(), name(), vec(string(), 0..4)).prop_map(|(docs, name, paths)| {
            Item::Paths(PathsDecl {
                docs,
                name,
                paths,
                span: Span::default(),
            })
        }),
        (docs(), name(), vec(sys_name(), 0..4)).prop_map(|(docs, name, members)| {
            Item::SyscallSet(SyscallSetDecl {
                docs,
                name,
                members,
                span: Span::default(),
            })
        }),
        block().prop_map(Item::Fragment),
        block().prop_map(Item::Policy),
        token().prop_map(Item::Token),
    ]
}

/// A file: `use` lines first (the formatter moves them there), then other items.
fn file() -> impl Strategy<Value = File> {
    (vec(use_item(), 0..3), vec(other_item(), 0..4)).prop_map(|(uses, rest)| File {
        items: uses.into_iter().chain(rest).collect(),
        comments: Vec::new(),
    })
}

// ------------------------------------------------------------------ helpers

fn parse_ok(text: &str) -> File {
    let (file, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "diagnostics {diags:?} for:\n{text}");
    file
}

fn comment_texts(f: &File) -> Vec<(String, bool)> {
    f.comments
        .iter()
        .map(|c| (c.text.clone(), c.trailing))
        .collect()
}

/// Where to put a comment in printed text.
#[derive(Debug, Clone)]
enum Injection {
    /// A `#` line before line `n` (or at the end), indented by `indent` spaces.
    Before { line: usize, indent: usize },
    /// At the end of line `n`, after `gap` spaces.
    After { line: usize, gap: usize },
}

fn injection() -> impl Strategy<Value = (Injection, String)> {
    let place = prop_oneof![
        (any::<usize>(), 0usize..9).prop_map(|(line, indent)| Injection::Before { line, indent }),
        (any::<usize>(), 0usize..4).prop_map(|(line, gap)| Injection::After { line, gap }),
    ];
    (place, "[^\n\r]{0,16}")
}

/// Insert comments into `text`. Trailing comments go only on code lines that are not
/// `///` lines (where a `#` would be doc text). Where `joins` says so (cycling over the
/// lines), a code line is joined to the next one with a space instead of a newline.
fn inject(text: &str, injections: &[(Injection, String)], joins: &[bool]) -> String {
    /// One line of `text` (or the end of it) and the comments around it.
    #[derive(Default)]
    struct Slot<'t> {
        before: Vec<String>,
        line: Option<&'t str>,
        after: Option<String>,
    }
    let mut slots: Vec<Slot<'_>> = text
        .lines()
        .map(|l| Slot {
            line: Some(l),
            ..Slot::default()
        })
        .collect();
    slots.push(Slot::default());
    let n = slots.len();
    for (place, body) in injections {
        match *place {
            Injection::Before { line, indent } => {
                if let Some(slot) = slots.get_mut(line % n) {
                    slot.before.push(format!("{}#{body}", " ".repeat(indent)));
                }
            }
            Injection::After { line, gap } => {
                let Some(slot) = slots.get_mut(line % n) else {
                    continue;
                };
                let code = slot
                    .line
                    .is_some_and(|l| !l.trim().is_empty() && !l.trim_start().starts_with("///"));
                if code && slot.after.is_none() {
                    slot.after = Some(format!("{}#{body}", " ".repeat(gap.max(1))));
                }
            }
        }
    }
    let mut out = String::new();
    let mut joins = joins.iter().cycle();
    for slot in slots {
        for c in slot.before {
            out.push_str(&c);
            out.push('\n');
        }
        if let Some(line) = slot.line {
            out.push_str(line);
            let join = joins.next().copied().unwrap_or(false);
            match slot.after {
                Some(c) => out.push_str(&c),
                None if join && !line.trim_start().starts_with("///") => {
                    out.push(' ');
                    continue;
                }
                None => {}
            }
            out.push('\n');
        }
    }
    out
}

/// A valid policy with comments everywhere, for the mutation property.
const SEED: &str = r#"# header
use std::secrets  # trailing
use std::runtime::python

/// Scans ~/Documents.
paths secrets { "~/.ssh", "~/.gnupg", }
syscalls net_calls { socket, connect }

/// A token.
token api { audience "https://api.example"; scope "read", "write"; ttl 5m; approval required }

fragment base { isolation container }

policy document_organizer {  # hello
    include base
    threats exfiltration, tampering
    data pii
    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 256MiB  # wiped
        tmpfs "/tmp" size 64MiB
        deny secrets
        deny write "~/.bashrc"
    }
    net {
        egress via proxy { allow "api.example":443 with token api; deny "evil.example":* }
        dns allow-listed-only
    }
    syscalls { default errno EPERM; allow python, socket if arg0 == 1 and arg1 & 0xff != 2; deny ptrace kill }
    limits { memory 512MiB; pids 64; cpus 1.5 }
    audit { writes; egress }
    test "t\"q\\" {
        deny read "~/.ssh/id_ed25519"
        allow connect "api.example":443
        deny resolve "evil.example"
        allow syscall socket(1, 2, 0)
    }
    # end of body
}
# the end
"#;

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        select(b"{}()\"\\#;,:/*&= \n\tx0".to_vec()),
        any::<u8>(),
        0x20u8..0x7f,
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Replace(i, b) => {
                if let Some(slot) = bytes.get_mut(i % len) {
                    *slot = b;
                }
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) => {
                if !bytes.is_empty() {
                    bytes.remove(i % len);
                }
            }
            Mutation::Duplicate(i, n) => {
                let start = i % len;
                let end = (start + n).min(bytes.len());
                let chunk: Vec<u8> = bytes.get(start..end).unwrap_or_default().to_vec();
                bytes.splice(start..start, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

// ------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `parse(format(ast)) == ast`, and the printed text is a fixed point.
    #[test]
    fn printed_trees_parse_back(file in file()) {
        let printed = format(&file, "");
        let parsed = parse_ok(&printed);
        prop_assert_eq!(&parsed, &file, "printed:\n{}", printed);
        prop_assert_eq!(format(&parsed, &printed), printed);
    }

    /// Comments injected anywhere in canonical text are all kept, in order and with their
    /// trailing flag, and formatting is idempotent.
    #[test]
    fn injected_comments_survive(
        file in file(),
        injections in vec(injection(), 0..12),
    ) {
        let source = inject(&format(&file, ""), &injections, &[]);
        let parsed = parse_ok(&source);
        prop_assert_eq!(&parsed.items, &file.items);
        let formatted = format(&parsed, &source);
        let reparsed = parse_ok(&formatted);
        prop_assert_eq!(&reparsed.items, &file.items, "formatted:\n{}", formatted);
        prop_assert_eq!(
            comment_texts(&reparsed),
            comment_texts(&parsed),
            "source:\n{}\nformatted:\n{}",
            source,
            formatted
        );
        prop_assert_eq!(format(&reparsed, &formatted), formatted);
    }

    /// However a file is laid out, it formats to the same canonical text (exactly, when it
    /// has no comments), keeps its comments and reaches a fixed point.
    #[test]
    fn any_layout_formats_canonically(
        file in file(),
        injections in vec(injection(), 0..6),
        joins in vec(any::<bool>(), 1..16),
    ) {
        let printed = format(&file, "");
        let source = inject(&printed, &injections, &joins);
        let parsed = parse_ok(&source);
        prop_assert_eq!(&parsed.items, &file.items);
        let formatted = format(&parsed, &source);
        if parsed.comments.is_empty() {
            prop_assert_eq!(&formatted, &printed, "source:\n{}", source);
        }
        let reparsed = parse_ok(&formatted);
        prop_assert_eq!(&reparsed.items, &file.items, "formatted:\n{}", formatted);
        let sorted = |f: &File| {
            let mut texts: Vec<String> = f.comments.iter().map(|c| c.text.clone()).collect();
            texts.sort();
            texts
        };
        prop_assert_eq!(sorted(&reparsed), sorted(&parsed), "source:\n{}\nformatted:\n{}", source, formatted);
        prop_assert_eq!(format(&reparsed, &formatted), formatted);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Damaged input never makes the parser or the formatter panic; whatever parses
    /// cleanly formats to a fixed point that keeps the syntax tree.
    #[test]
    fn mutated_policies_never_panic(mutations in vec(mutation(), 1..6)) {
        let source = mutate(SEED, &mutations);
        let (parsed, diags) = parse(FileId(0), &source);
        let formatted = format(&parsed, &source);
        if diags.is_empty() {
            let reparsed = parse_ok(&formatted);
            prop_assert_eq!(&reparsed.items, &parsed.items, "source:\n{}", source);
            prop_assert_eq!(format(&reparsed, &formatted), formatted);
        }
    }
}

#[test]
fn the_seed_is_valid_and_canonical_after_one_pass() {
    let parsed = parse_ok(SEED);
    let once = format(&parsed, SEED);
    let twice = format(&parse_ok(&once), &once);
    assert_eq!(once, twice);
    assert_eq!(parse_ok(&once).items, parsed.items);
    assert_eq!(
        parse_ok(&once).comments.len(),
        parsed.comments.len(),
        "{once}"
    );
}
