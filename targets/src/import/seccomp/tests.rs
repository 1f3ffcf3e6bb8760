#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use policyc_compiler::Code;

fn opts() -> Options {
    Options::new("p", "test.json")
}

fn import_ok(json: &str) -> String {
    match import(json, &opts()) {
        Ok(i) => i.text,
        Err(e) => panic!("{e}"),
    }
}

fn import_err(json: &str) -> ImportError {
    import(json, &opts()).expect_err("should fail")
}

#[test]
fn a_small_profile_becomes_a_syscalls_block() {
    let text = import_ok(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
            {"names": ["read", "write", "exit_group", "close", "openat"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["chown32", "_llseek"], "action": "SCMP_ACT_ALLOW"}
        ]}"#,
    );
    assert!(text.contains("allow personality if arg0 == 8"), "{text}");
    assert!(
        text.contains("allow clone if arg0 & 0x7e020000 == 0"),
        "{text}"
    );
    assert!(text.contains("deny clone3 errno ENOSYS"), "{text}");
    assert!(text.contains("default errno EPERM"), "{text}");
    assert!(text.contains("32-bit ABIs"), "{text}");
    assert!(text.contains("_llseek, chown32"), "{text}");
    assert!(!text.contains("allow chown32"), "{text}");
}

#[test]
fn includes_and_excludes_follow_caps_and_arches() {
    let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["uname"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.0"}}
    ]}"#;
    let plain = import_ok(json);
    assert!(!plain.contains("chroot"), "{plain}");
    assert!(plain.contains("arch_prctl"), "{plain}");
    assert!(plain.contains("ptrace"), "{plain}");
    assert!(!plain.contains("uname"), "{plain}");
    let mut o = opts();
    o.caps.insert(capability("sys_chroot"));
    o.kernel = (4, 0);
    let with = import(json, &o).unwrap().text;
    assert!(with.contains("chroot"), "{with}");
    assert!(!with.contains("ptrace"), "{with}");
}

#[test]
fn what_a_policy_cannot_say_names_the_json_path() {
    let e = import_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#,
    );
    assert_eq!(e.place, "syscalls[0].args[0].op");
    assert_eq!(e.code, Code::ImportInvalid);
    let e = import_err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#);
    assert_eq!(
        (e.place.as_str(), e.code),
        ("defaultAction", Code::ImportInexact)
    );
    let e = import_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_LOG"}]}"#,
    );
    assert_eq!(e.place, "syscalls[0].action");
    let e = import_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}]}"#,
    );
    assert_eq!(e.place, "syscalls[0].includes.arches");
    assert_eq!(e.code, Code::ImportInexact);
    let e = import_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GT"}]},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [{"index": 0, "value": 9, "op": "SCMP_CMP_LT"}]}]}"#,
    );
    assert_eq!(e.place, "syscalls[1]");
    let e = import_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 5, "op": "SCMP_CMP_GT"}]}]}"#,
    );
    assert_eq!(e.place, "syscalls[0].args[0].index");
    let e = import_err("{");
    assert_eq!(e.code, Code::ImportInvalid);
}

#[test]
fn disjoint_conditions_with_different_actions_import() {
    let text = import_ok(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]}
        ]}"#,
    );
    assert!(
        text.contains("deny socket if arg0 == 16 and arg2 == 9 errno EINVAL"),
        "{text}"
    );
    assert!(text.contains("default errno ENOSYS"), "{text}");
}

#[test]
fn output_is_fmt_clean_and_compiles() {
    let text = import_ok(
        r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["a", "b", "c", "d", "e"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(format_policy(&text).unwrap(), text);
    let mut sources = policyc_compiler::SourceMap::new();
    let id = sources.add("t.policy", text.clone());
    let out = policyc_compiler::compile(&mut sources, id, &policyc_compiler::NoModules);
    assert!(
        !out.diagnostics.has_errors(),
        "{text}\n{:?}",
        out.diagnostics
    );
    assert!(text.contains("default kill"), "{text}");
}
