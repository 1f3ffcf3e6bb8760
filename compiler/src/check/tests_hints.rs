//! Hints say what fixes the diagnostic they are on: an error's hint never suggests accepting
//! it, and a hint names a standard library module only when the compilation can import it.

use super::*;
use crate::diag::Severity;

/// Serves the named modules, each as a file with one empty `paths` list.
struct Serves(&'static [&'static str]);

impl ModuleLoader for Serves {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let name = path.join("::");
        self.0.contains(&name.as_str()).then(|| {
            let list = path.last().map_or("x", String::as_str);
            (format!("{name}.policy"), format!("paths {list}_list {{ }}"))
        })
    }
}

/// Every standard library module.
const STD: Serves = Serves(&[
    "std::secrets",
    "std::runtime::base",
    "std::runtime::python",
    "std::runtime::node",
    "std::runtime::static",
]);

fn compile_with(src: &str, loader: &dyn ModuleLoader) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("hints.policy", src);
    compile(&mut sources, id, loader)
}

/// The one diagnostic with `code`.
fn the(c: &Compiled, code: Code) -> Diagnostic {
    let found: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "{:#?}", c.diagnostics);
    found[0].clone()
}

fn hint(d: &Diagnostic) -> &str {
    d.hint.as_deref().unwrap_or_default()
}

const NESTED_WRITE: &str = r#"policy p {
    isolation wasm
    THREATS
    fs { read "/srv/project"; scratch "/srv/project/tmp" size 1MiB }
}"#;

#[test]
fn p0404_offers_to_accept_a_warning_but_not_an_error() {
    let warned = compile_with(&NESTED_WRITE.replace("THREATS", ""), &NoModules);
    let d = the(&warned, Code::WriteInsideReadOnly);
    assert_eq!(d.severity, Severity::Warning);
    assert!(hint(&d).contains("keep writable areas outside read-only trees"));
    let failed = compile_with(
        &NESTED_WRITE.replace("THREATS", "threats tampering"),
        &NoModules,
    );
    let d = the(&failed, Code::WriteInsideReadOnly);
    assert_eq!(d.severity, Severity::Error);
    assert!(!hint(&d).contains("accept"), "{}", hint(&d));
    assert!(!hint(&d).contains("comment"), "{}", hint(&d));
    assert!(hint(&d).contains("tampering"), "{}", hint(&d));
}

#[test]
fn p0405_offers_a_comment_for_a_warning_but_not_for_an_error() {
    let src = "policy p { isolation process; THREATS; syscalls { allow read, ptrace } }";
    let warned = compile_with(&src.replace("THREATS", "threats tampering"), &NoModules);
    let d = the(&warned, Code::DangerousSyscallAllowed);
    assert_eq!(d.severity, Severity::Warning);
    assert!(hint(&d).contains("comment"));
    let failed = compile_with(
        &src.replace("THREATS", "threats privilege_escalation"),
        &NoModules,
    );
    let d = the(&failed, Code::DangerousSyscallAllowed);
    assert_eq!(d.severity, Severity::Error);
    assert!(!hint(&d).contains("comment"), "{}", hint(&d));
    assert!(hint(&d).contains("privilege_escalation"), "{}", hint(&d));
}

/// Every `std::...` module a hint names.
fn named_modules(h: &str) -> Vec<String> {
    h.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("std::"))
        .map(|w| w.trim_end_matches(':').to_string())
        .collect()
}

/// Sources whose diagnostics have hints that may name standard library modules.
const NEEDS_A_MODULE: &[&str] = &[
    "use std::nonexistent\npolicy p { isolation wasm }",
    "use std::python\npolicy p { isolation wasm }",
    "policy p { isolation wasm; fs { read \"/\"; deny secrets } }",
    "policy p { isolation container; fs { read \"/data\" } }",
];

#[test]
fn hints_name_only_modules_the_loader_provides() {
    let some = Serves(&["std::runtime::python"]);
    for loader in [&NoModules as &dyn ModuleLoader, &some, &STD] {
        for src in NEEDS_A_MODULE {
            let c = compile_with(src, loader);
            assert!(!c.diagnostics.is_empty(), "{src}");
            for d in c.diagnostics.iter() {
                for m in named_modules(hint(d)) {
                    let path: Vec<String> = m.split("::").map(String::from).collect();
                    assert!(
                        loader.load(&path).is_some(),
                        "{src}: the hint names `{m}`, which cannot be imported: {}",
                        hint(d)
                    );
                }
            }
        }
    }
}

#[test]
fn with_the_standard_library_the_hints_name_its_modules() {
    let c = compile_with(NEEDS_A_MODULE[0], &STD);
    let h = hint(&the(&c, Code::UnknownModule)).to_string();
    assert!(
        h.contains("std::secrets") && h.contains("std::runtime::static"),
        "{h}"
    );
    let c = compile_with(NEEDS_A_MODULE[1], &STD);
    assert_eq!(
        hint(&the(&c, Code::UnknownModule)),
        "did you mean `std::runtime::python`?"
    );
    let c = compile_with(NEEDS_A_MODULE[2], &STD);
    assert!(hint(&the(&c, Code::UnknownPathList)).contains("use std::secrets"));
    let c = compile_with(NEEDS_A_MODULE[3], &STD);
    assert!(hint(&the(&c, Code::NoSyscallPolicy)).contains("use std::runtime::python"));
}
