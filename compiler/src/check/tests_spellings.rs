//! A path deny written in one Unicode normalisation form covers the other spelling too,
//! since the file on disk may be spelled either way; grants are not widened.

use super::*;
use crate::ast::Access;
use crate::eval::decide;
use crate::paths::CanonPath;
use crate::request::Request;

fn run(src: &str) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("spellings.policy", src);
    compile(&mut sources, id, &NoModules)
}

const NFC: &str = "Caf\u{e9}";
const NFD: &str = "Cafe\u{301}";

fn read(p: &ir::Policy, path: &str) -> bool {
    let path = CanonPath::parse(path).unwrap();
    decide(
        p,
        &Request::Fs {
            access: Access::Read,
            path,
        },
    )
    .allow
}

fn policy(fs: &str) -> ir::Policy {
    let c = run(&format!(
        "policy p {{ isolation process; syscalls {{ allow read }}; fs {{ {fs} }} }}"
    ));
    assert!(!c.diagnostics.has_errors(), "{:#?}", c.diagnostics);
    c.policies.into_iter().next().unwrap()
}

#[test]
fn adversarial_33_paths_a_deny_covers_both_unicode_spellings_of_its_path() {
    for (written, other) in [(NFC, NFD), (NFD, NFC)] {
        let p = policy(&format!(
            "read \"~/Documents\"; deny \"~/Documents/{written}\""
        ));
        assert!(!read(&p, &format!("~/Documents/{written}/menu.txt")));
        assert!(
            !read(&p, &format!("~/Documents/{other}/menu.txt")),
            "a deny written `{}` misses `{}`",
            written.escape_unicode(),
            other.escape_unicode()
        );
        assert!(read(&p, "~/Documents/Cafe/menu.txt"));
        let denied: Vec<&str> = p.fs.denies.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(denied.len(), 2, "{denied:?}");
    }
}

#[test]
fn adversarial_33_paths_grants_are_not_widened_to_the_other_spelling() {
    let p = policy(&format!("read \"~/{NFC}\""));
    assert!(read(&p, &format!("~/{NFC}/menu.txt")));
    assert!(!read(&p, &format!("~/{NFD}/menu.txt")));
    assert_eq!(p.fs.mounts.len(), 1);
}

#[test]
fn adversarial_33_paths_ascii_denies_and_both_spellings_written_add_nothing() {
    let p = policy("read \"~\"; deny \"~/.ssh\"");
    assert_eq!(p.fs.denies.len(), 1);
    let c = run(&format!(
        "policy p {{ isolation process; syscalls {{ allow read }}; fs {{ read \"~\"; deny \"~/{NFC}\"; deny \"~/{NFD}\" }} }}"
    ));
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    assert_eq!(c.policies[0].fs.denies.len(), 2);
}
