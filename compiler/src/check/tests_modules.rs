//! `use` of modules outside the standard library: loading order, import cycles with the
//! chain and span, and hints that come from the loader.

use super::*;

/// Serves `("acme::a", text)` pairs, and says where it looked for the rest.
struct Lib(Vec<(&'static str, &'static str)>);

impl ModuleLoader for Lib {
    fn load(&self, path: &[String]) -> Option<(String, String)> {
        let key = path.join("::");
        self.0.iter().find(|(k, _)| *k == key).map(|(k, t)| {
            (
                format!("lib/{}.policy", k.replace("::", "/")),
                t.to_string(),
            )
        })
    }

    fn missing_hint(&self, path: &[String]) -> Option<String> {
        Some(format!("no file `lib/{}.policy`", path.join("/")))
    }

    fn modules(&self) -> Vec<String> {
        self.0.iter().map(|(k, _)| (*k).to_string()).collect()
    }
}

fn compile_with(src: &str, loader: &dyn ModuleLoader) -> (Compiled, SourceMap) {
    let mut sources = SourceMap::new();
    let id = sources.add("main.policy", src);
    let c = compile(&mut sources, id, loader);
    (c, sources)
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

const POLICY: &str = "use acme::a\npolicy p { isolation wasm; fs { read \"/\"; deny secrets } }";

#[test]
fn a_user_module_is_loaded_with_what_it_imports() {
    let lib = Lib(vec![
        ("acme::a", "use acme::b\nfragment unused { }"),
        ("acme::b", "paths secrets { \"~/.ssh\" }"),
    ]);
    let (c, sources) = compile_with(POLICY, &lib);
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    assert_eq!(c.policies[0].fs.denies.len(), 1);
    let names: Vec<&str> = (1..3)
        .filter_map(|i| sources.get(FileId(i)).map(|f| f.name.as_str()))
        .collect();
    assert_eq!(names, ["lib/acme/a.policy", "lib/acme/b.policy"]);
}

#[test]
fn a_cycle_of_modules_is_reported_on_the_use_that_closes_it() {
    let lib = Lib(vec![
        ("acme::a", "use acme::b\npaths secrets { \"~/.ssh\" }"),
        ("acme::b", "paths other { \"/x\" }\nuse acme::c"),
        ("acme::c", "use acme::a"),
    ]);
    let (c, sources) = compile_with(POLICY, &lib);
    assert_eq!(codes(&c), ["P0112"]);
    let d = &c.diagnostics.0[0];
    assert_eq!(
        d.message,
        "modules import each other in a cycle: `acme::a` -> `acme::b` -> `acme::c` -> `acme::a`"
    );
    assert_eq!(sources.location(d.span), "lib/acme/c.policy:1:1");
    assert!(d
        .hint
        .as_deref()
        .unwrap_or_default()
        .contains("remove this `use`"));
    assert!(c.policies.is_empty());
}

#[test]
fn a_diamond_of_imports_is_not_a_cycle() {
    let lib = Lib(vec![
        ("acme::a", "use acme::b\nuse acme::c"),
        ("acme::b", "use acme::d"),
        ("acme::c", "use acme::d"),
        ("acme::d", "paths secrets { \"~/.ssh\" }"),
    ]);
    let (c, _) = compile_with(POLICY, &lib);
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
}

#[test]
fn a_missing_user_module_gets_the_loaders_hint_and_the_nearest_module() {
    let lib = Lib(vec![("acme::secrets", "paths secrets { \"~/.ssh\" }")]);
    let (c, sources) = compile_with("use acme::secret\npolicy p { isolation wasm }", &lib);
    assert_eq!(codes(&c), ["P0101"]);
    let d = &c.diagnostics.0[0];
    assert_eq!(sources.location(d.span), "main.policy:1:1");
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `acme::secrets`? (no file `lib/acme/secret.policy`)")
    );
    let (c, _) = compile_with("use zzz::qqq\npolicy p { isolation wasm }", &lib);
    assert_eq!(
        c.diagnostics.0[0].hint.as_deref(),
        Some("no file `lib/zzz/qqq.policy`")
    );
}

#[test]
fn a_missing_std_module_keeps_the_standard_library_hint() {
    let lib = Lib(vec![("acme::secrets", "paths secrets { \"~/.ssh\" }")]);
    let (c, _) = compile_with("use std::secrets\npolicy p { isolation wasm }", &lib);
    assert_eq!(codes(&c), ["P0101"]);
    assert_eq!(
        c.diagnostics.0[0].hint.as_deref(),
        Some("this compilation provides no standard library module to import")
    );
}

#[test]
fn a_user_module_with_a_policy_is_an_error_in_the_module() {
    let lib = Lib(vec![("acme::a", "policy q { isolation wasm }")]);
    let (c, sources) = compile_with("use acme::a\npolicy p { isolation wasm }", &lib);
    assert_eq!(codes(&c), ["P0101"]);
    assert_eq!(
        sources.location(c.diagnostics.0[0].span),
        "lib/acme/a.policy:1:8"
    );
}
