//! Checks that guard mistakes a policy author makes without noticing: ordering comparisons
//! on signed syscall arguments (which seccomp compares as unsigned), and code run from a
//! memory file where the policy forbids running what the agent writes.

use super::*;

fn run(src: &str) -> Compiled {
    let mut sources = SourceMap::new();
    let id = sources.add("lints.policy", src);
    compile(&mut sources, id, &NoModules)
}

/// The diagnostics with code `code` (as printed, e.g. `P0409`).
fn with_code<'c>(c: &'c Compiled, code: &str) -> Vec<&'c Diagnostic> {
    c.diagnostics
        .iter()
        .filter(|d| d.code.as_str() == code)
        .collect()
}

/// A process policy with `rules` in its `syscalls` block.
fn syscalls(rules: &str) -> String {
    format!("policy p {{\n    isolation process\n    syscalls {{ allow read, exit_group; {rules} }}\n}}\n")
}

// ------------------------------------------------------------ signed arguments

#[test]
fn adversarial_37_signed_arguments_an_ordering_comparison_is_warned_about() {
    let src = syscalls("allow setpriority if arg2 > 0");
    let c = run(&src);
    let found = with_code(&c, "P0409");
    assert_eq!(found.len(), 1, "{:#?}", c.diagnostics);
    let d = found[0];
    assert!(!d.is_error());
    assert!(!c.policies.is_empty());
    assert!(
        d.message.contains("setpriority") && d.message.contains("arg2"),
        "{}",
        d.message
    );
    assert!(d.message.contains("-1"), "{}", d.message);
    // The span is the rule: `setpriority if arg2 > 0`.
    let start = src.find("setpriority").unwrap();
    assert_eq!(d.span.start as usize, start);
    assert_eq!(d.span.end as usize, start + "setpriority if arg2 > 0".len());
    assert!(d.hint.as_deref().unwrap_or_default().contains("=="));
}

#[test]
fn adversarial_37_signed_arguments_every_ordering_and_denies_too_are_checked() {
    for rule in [
        "allow kill if arg0 >= 1",
        "allow setpriority if arg2 < 20",
        "allow setpriority if arg2 <= 19",
        "allow lseek if arg1 > 0",
        "allow poll if arg2 < 1000",
        "deny kill if arg0 < 1 errno EPERM",
        "allow openat if arg0 > 2",
    ] {
        let c = run(&syscalls(rule));
        assert_eq!(
            with_code(&c, "P0409").len(),
            1,
            "{rule}: {:#?}",
            c.diagnostics
        );
    }
}

#[test]
fn adversarial_37_signed_arguments_unsigned_ones_equalities_and_closed_ranges_are_fine() {
    for rule in [
        // `ioctl`'s request and `read`'s count are unsigned in the kernel ABI.
        "allow ioctl if arg1 > 0x5400",
        "allow write if arg2 < 4096",
        // Equalities mean the same signed or unsigned.
        "allow kill if arg0 == 0",
        "allow socket if arg0 == 1 and arg1 != 3",
        // Both bounds: a negative value is above the upper one, as the author means.
        "allow setpriority if arg2 >= 0 and arg2 <= 19",
        "allow kill if arg0 > 0 and arg0 < 100000",
        // Bit tests.
        "allow socket if arg1 & 0xff == 1",
    ] {
        let c = run(&syscalls(rule));
        assert!(
            with_code(&c, "P0409").is_empty(),
            "{rule}: {:#?}",
            c.diagnostics
        );
    }
}

// ------------------------------------------------------------ code from memory

#[test]
fn adversarial_36_code_from_memory_memfd_create_with_exec_is_warned_about() {
    for exec in ["execve", "execveat"] {
        let src = syscalls(&format!("allow memfd_create, {exec}"));
        let c = run(&src);
        let found = with_code(&c, "P0410");
        assert_eq!(found.len(), 1, "{exec}: {:#?}", c.diagnostics);
        let d = found[0];
        assert!(!d.is_error());
        assert!(d.message.contains("memfd_create") && d.message.contains(exec));
        let start = src.find("memfd_create").unwrap();
        assert_eq!(d.span.start as usize, start);
        assert!(d
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("MFD_NOEXEC_SEAL"));
    }
}

#[test]
fn adversarial_36_code_from_memory_memfd_create_alone_sealed_or_denied_is_fine() {
    for rules in [
        "allow memfd_create",
        "allow execve",
        "allow memfd_create, execve; deny memfd_create",
        "allow memfd_create, execveat; deny execveat",
        "allow execve, memfd_create if arg1 & 0x8 == 0x8",
        "allow execve, memfd_create if arg1 == 0xa",
    ] {
        let c = run(&syscalls(rules));
        assert!(
            with_code(&c, "P0410").is_empty(),
            "{rules}: {:#?}",
            c.diagnostics
        );
    }
    // Under wasm isolation the program makes no syscalls of its own.
    let c = run("policy p { isolation wasm; syscalls { allow memfd_create, execve } }");
    assert!(with_code(&c, "P0410").is_empty(), "{:#?}", c.diagnostics);
}
