//! The formatter's unit tests: an exact canonical rendering of a realistic policy,
//! idempotence, comment preservation and the literal printers.

use super::*;
use crate::ast::File;
use crate::span::FileId;
use crate::syntax::parse;

fn ok(src: &str) -> File {
    let (f, d) = parse(FileId(0), src);
    assert!(d.is_empty(), "unexpected diagnostics {d:?} for:\n{src}");
    f
}

/// Parse and format.
fn fmt(src: &str) -> String {
    format(&ok(src), src)
}

fn comment_texts(src: &str) -> Vec<String> {
    let mut texts: Vec<String> = ok(src).comments.into_iter().map(|c| c.text).collect();
    texts.sort();
    texts
}

/// Items in the formatter's order: `use` lines first.
fn uses_first(file: File) -> Vec<crate::ast::Item> {
    let (mut uses, rest): (Vec<_>, Vec<_>) = file
        .items
        .into_iter()
        .partition(|i| matches!(i, crate::ast::Item::Use(_)));
    uses.extend(rest);
    uses
}

/// Formatting `src` keeps its tree (up to moving `use` lines to the top) and comments,
/// and the result is a fixed point.
fn assert_canonical(src: &str) -> String {
    let once = fmt(src);
    assert_eq!(
        ok(&once).items,
        uses_first(ok(src)),
        "tree changed:\n{once}"
    );
    assert_eq!(
        comment_texts(&once),
        comment_texts(src),
        "comments changed:\n{once}"
    );
    assert_eq!(fmt(&once), once, "not idempotent");
    once
}

const MESSY: &str = r#"# Policy for the document organizer agent.
# Reviewed by security.

use std::secrets   # credential locations
/// Paths no agent may touch.
paths private { "~/.ssh" , # keys
  "~/.gnupg", "~/.aws\\credentials" }

syscalls net_calls { socket, connect,
   # name resolution
   sendto }
use std::runtime::python

/// Short-lived API token.
token api { audience "https://api.example"; scope "read", "write"
  ttl 300s; approval required }   # reviewed

fragment base { isolation container; threats exfiltration }

/// Scans ~/Documents.
/// Never leaves the machine.
policy document_organizer {  # the main policy
  include base
  # what we worry about
  threats exfiltration, tampering,
  data pii
  fs {
    read "~/Documents" at "/mnt/docs"
    scratch "/mnt/scratch" size 262144KiB     # wiped on exit
    tmpfs "/tmp" size 65536KiB
    deny private ; deny write "~/.bashrc"
    # nothing else
  }
  net {
    egress via proxy {
      allow "api.example:443" with token api   # the API
      deny "*.evil.example":*
    }
    dns allow-listed-only
  }
  syscalls { default errno EPERM
    allow python, socket if arg0 == 0x2 and arg1 & 255 != 1
    deny ptrace, bpf kill }
  limits { memory 536870912B; pids 64; cpus 1.5 }
  audit { }
  test "credentials stay \"out\" of reach" {
    deny read "~/.ssh/id_ed25519"
    allow connect "api.example":443
    allow syscall socket(2, 1, 0x0)
    # more later
  }
  token local { ttl 5400000ms }
}
# end of file
"#;

const CANONICAL: &str = r#"# Policy for the document organizer agent.
# Reviewed by security.
use std::secrets  # credential locations
use std::runtime::python

/// Paths no agent may touch.
paths private {
    "~/.ssh",  # keys
    "~/.gnupg",
    "~/.aws\\credentials",
}

syscalls net_calls {
    socket,
    connect,
    # name resolution
    sendto,
}

/// Short-lived API token.
token api {
    audience "https://api.example"
    scope "read", "write"
    ttl 5m
    approval required
}  # reviewed

fragment base {
    isolation container
    threats exfiltration
}

/// Scans ~/Documents.
/// Never leaves the machine.
policy document_organizer {  # the main policy
    include base
    # what we worry about
    threats exfiltration, tampering
    data pii

    fs {
        read "~/Documents" at "/mnt/docs"
        scratch "/mnt/scratch" size 256MiB  # wiped on exit
        tmpfs "/tmp" size 64MiB
        deny private
        deny write "~/.bashrc"
        # nothing else
    }

    net {
        egress via proxy {
            allow "api.example":443 with token api  # the API
            deny "*.evil.example":*
        }
        dns allow-listed-only
    }

    syscalls {
        default errno EPERM
        allow python, socket if arg0 == 2 and arg1 & 0xff != 1
        deny ptrace, bpf kill
    }

    limits {
        memory 512MiB
        pids 64
        cpus 1.5
    }

    audit {}

    test "credentials stay \"out\" of reach" {
        deny read "~/.ssh/id_ed25519"
        allow connect "api.example":443
        allow syscall socket(2, 1, 0)
        # more later
    }

    token local {
        ttl 90m
    }
}

# end of file
"#;

#[test]
fn a_realistic_policy_formats_exactly() {
    assert_eq!(fmt(MESSY), CANONICAL);
}

#[test]
fn canonical_text_is_a_fixed_point() {
    assert_eq!(fmt(CANONICAL), CANONICAL);
    assert_canonical(MESSY);
}

#[test]
fn every_comment_is_kept_once() {
    let texts = comment_texts(MESSY);
    assert_eq!(texts.len(), 13);
    assert_eq!(comment_texts(&fmt(MESSY)), texts);
    // Same order, and trailing comments still trail.
    let placed = |src: &str| -> Vec<(String, bool)> {
        ok(src)
            .comments
            .into_iter()
            .map(|c| (c.text, c.trailing))
            .collect()
    };
    assert_eq!(placed(&fmt(MESSY)), placed(MESSY));
}

#[test]
fn comments_keep_their_places() {
    let src = "policy p { # after brace\n  # before fs\n  fs { read \"/a\" # on read\n  # last in fs\n  } # after fs\n  audit { # in empty\n  }\n} # after policy\n# at end\n";
    let expected = "\
policy p {  # after brace
    # before fs
    fs {
        read \"/a\"  # on read
        # last in fs
    }  # after fs

    audit {  # in empty
    }
}  # after policy

# at end
";
    assert_eq!(assert_canonical(src), expected);
}

#[test]
fn comments_between_docs_and_keyword_stay_there() {
    let src = "/// One.\n# note\n/// Two.\npolicy p {}\n";
    assert_eq!(
        assert_canonical(src),
        "/// One.\n/// Two.\n# note\npolicy p {}\n"
    );
}

#[test]
fn a_hash_in_a_doc_comment_is_doc_text() {
    // The comment collector reports `#42` as a comment too; it must not be printed twice.
    let src = "/// See #42.\npolicy p {}\n";
    assert_eq!(fmt(src), src);
    assert_eq!(fmt(&fmt(src)), src);
}

#[test]
fn a_file_of_comments_only() {
    assert_eq!(fmt("  # one\n\n#two\n"), "# one\n#two\n");
    assert_eq!(fmt(""), "");
}

#[test]
fn use_lines_move_to_the_top() {
    let src = "policy p {}\nuse b::c # why\nuse a\n";
    assert_eq!(
        assert_canonical(src),
        "use b::c  # why\nuse a\n\npolicy p {}\n"
    );
}

#[test]
fn empty_bodies_print_on_one_line() {
    let src = "paths p {} syscalls s {} token t {} fragment f {} policy q { fs {} net { egress direct {} } syscalls {} limits {} audit {} test \"x\" {} }";
    let expected = "\
paths p {}

syscalls s {}

token t {}

fragment f {}

policy q {
    fs {}

    net {
        egress direct {}
    }

    syscalls {}

    limits {}

    audit {}

    test \"x\" {}
}
";
    assert_eq!(assert_canonical(src), expected);
}

#[test]
fn statements_print_canonically() {
    let src = "policy p { syscalls { deny a errno 13; deny b; allow c if arg3 & 0x0F >= 0x10, d }
      net { egress none; dns none; egress direct { allow \"h\" ; allow \"h\":* ; deny \"[::1]:8080\" } }
      token t { approval none; ttl 0ms } test \"t\" { allow resolve \"h\"; deny exec \"/bin/sh\"; allow syscall x } }";
    let expected = "\
policy p {
    syscalls {
        deny a errno 13
        deny b
        allow c if arg3 & 0xf >= 16, d
    }

    net {
        egress none
        dns none
        egress direct {
            allow \"h\"
            allow \"h\":*
            deny \"[::1]\":8080
        }
    }

    token t {
        approval none
        ttl 0s
    }

    test \"t\" {
        allow resolve \"h\"
        deny exec \"/bin/sh\"
        allow syscall x
    }
}
";
    assert_eq!(assert_canonical(src), expected);
}

#[test]
fn sizes_use_the_largest_exact_unit() {
    assert_eq!(lit::size(0), "0B");
    assert_eq!(lit::size(7), "7B");
    assert_eq!(lit::size(1536 * 1024), "1536KiB");
    assert_eq!(lit::size(64 << 20), "64MiB");
    assert_eq!(lit::size(3 << 30), "3GiB");
    assert_eq!(lit::size(1 << 50), "1024TiB");
    assert_eq!(lit::size(u64::MAX), "18446744073709551615B");
}

#[test]
fn durations_use_the_largest_exact_unit() {
    assert_eq!(lit::duration(0), "0s");
    assert_eq!(lit::duration(1500), "1500ms");
    assert_eq!(lit::duration(90_000), "90s");
    assert_eq!(lit::duration(300_000), "5m");
    assert_eq!(lit::duration(7_200_000), "2h");
    assert_eq!(lit::duration(86_400_000), "1d");
    assert_eq!(lit::duration(u64::MAX), "18446744073709551615ms");
}

#[test]
fn strings_are_reescaped() {
    assert_eq!(lit::string("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(lit::string("\n\t\r\0"), r#""\n\t\r\0""#);
    assert_eq!(lit::string("\u{1b}[0m\u{7f}"), r#""\u{1b}[0m\u{7f}""#);
    assert_eq!(lit::string("é😀#"), "\"é😀#\"");
    // Bidirectional overrides and invisible characters are never printed raw.
    assert_eq!(lit::string("a\u{202e}b\u{200b}"), r#""a\u{202e}b\u{200b}""#);
    let src = "policy p { fs { read \"\\u{202E}x\\u{41}\\\"\" } }";
    let out = assert_canonical(src);
    assert!(out.contains(r#"read "\u{202e}xA\"""#), "{out}");
}

#[test]
fn damaged_input_does_not_panic() {
    for src in [
        "policy p {",
        "}",
        "policy p { fs { read \"/a\\q\" } }",
        "\u{0}#",
        "/// x",
    ] {
        let (f, _) = parse(FileId(0), src);
        let _ = format(&f, src);
        let _ = format(&f, "");
    }
}

#[test]
fn odd_layouts_are_stable() {
    let sources = [
        "policy p { fs { read \"/a\" } ; } # c\n",
        "policy p { fs { read \"/a\" }; # c\n }",
        "policy p { fs {# c\n} }",
        "policy p {\r\n  # lead\r\n  isolation x # trail\r\n}\r\n",
        "policy\n# between keyword and name\np { isolation x }",
        "policy p { threats a, # one\n # two\n b # three\n}",
        "/// d\n# c1\npolicy p {  # c2\n isolation x }",
        "token t { ttl 5m } # after token\n token u {}",
        "policy p { token t { # inside\n } # after\n token u { ttl 1s } }",
        "use a # x\n# y\nuse b\n# z\n",
        "policy p { net { egress via proxy { # a\n allow \"h\":1 # b\n } # c\n } # d\n } # e",
        "policy p { syscalls { allow a # x\n , b } }",
        "# only\n\n\n# comments\n",
        "paths p { # first\n \"a\" # second\n , \"b\" }",
    ];
    for src in sources {
        assert_canonical(src);
    }
}

#[test]
fn a_comment_in_a_list_stays_on_the_item_it_follows() {
    let src =
        "policy p {\n    isolation wasm\n    threats exfiltration, # why\n        tampering\n}\n";
    let expected = "\
policy p {
    isolation wasm
    threats
        exfiltration,  # why
        tampering
}
";
    assert_eq!(assert_canonical(src), expected);
}

#[test]
fn every_kind_of_list_splits_over_lines_around_a_comment() {
    let src = r#"policy p {
    isolation process
    data pii, # names
      health
    token t { audience "a.example.com"; scope "read", # least
      "write"; ttl 1m }
    net { egress via proxy { allow "a.example.com":443 with token t } }
    syscalls {
        allow read, # input
          write if arg0 == 1, close
        deny ptrace, # debuggers
          bpf if arg0 == 0 errno EPERM
    }
}
"#;
    let expected = r#"policy p {
    isolation process
    data
        pii,  # names
        health

    token t {
        audience "a.example.com"
        scope
            "read",  # least
            "write"
        ttl 1m
    }

    net {
        egress via proxy {
            allow "a.example.com":443 with token t
        }
    }

    syscalls {
        allow
            read,  # input
            write if arg0 == 1,
            close
        deny
            ptrace,  # debuggers
            bpf
            if arg0 == 0 errno EPERM
    }
}
"#;
    assert_eq!(assert_canonical(src), expected);
}

#[test]
fn a_list_without_a_comment_inside_stays_on_one_line() {
    let src = "policy p { isolation wasm; threats exfiltration, tampering # both\n}\n";
    assert_eq!(
        assert_canonical(src),
        "policy p {\n    isolation wasm\n    threats exfiltration, tampering  # both\n}\n"
    );
    let src = "policy p { isolation wasm; threats # which\n exfiltration, tampering }\n";
    assert_eq!(
        assert_canonical(src),
        "policy p {\n    isolation wasm\n    threats exfiltration, tampering  # which\n}\n"
    );
}

#[test]
fn env_blocks_format_canonically_and_round_trip() {
    let src = "policy p { isolation process\n env { pass LANG,TERM\n set PYTHONDONTWRITEBYTECODE \"1\"; set MSG \"a \\\"b\\\"\" } }\n";
    let out = assert_canonical(src);
    assert!(
        out.contains(
            "    env {\n        pass LANG, TERM\n        set PYTHONDONTWRITEBYTECODE \"1\"\n        set MSG \"a \\\"b\\\"\"\n    }\n"
        ),
        "{out}"
    );
}

#[test]
fn metadata_requests_round_trip() {
    let src = "policy p {\n    test \"m\" {\n        deny chmod \"~/.ssh/id_rsa\"\n        allow utime \"/s/x\"\n        deny chown \"/a\"\n        deny xattr \"/b\"\n    }\n}\n";
    assert_eq!(assert_canonical(src), src);
}
