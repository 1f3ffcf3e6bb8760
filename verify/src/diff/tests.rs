//! Unit tests of the effective-permission diff: subtree exceptions, added and removed
//! policies, syscall argument conditions and denies, limits.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::{diff, Class, Input, Report};
use policyc_testkit::stdlib::compile_text;

fn report(old: &str, new: &str) -> Report {
    let (os, op) = compile_text("old.policy", old);
    let (ns, np) = compile_text("new.policy", new);
    diff(
        &[Input {
            policies: &op,
            sources: &os,
        }],
        &[Input {
            policies: &np,
            sources: &ns,
        }],
    )
}

fn changes(r: &Report) -> Vec<(Class, String)> {
    r.policies
        .iter()
        .flat_map(|p| p.entries.iter().map(|e| (e.class, e.change.clone())))
        .collect()
}

const HOME_READ: &str = "policy p {\n    isolation process\n    fs {\n        read \"~/docs\"\n        deny \"~/docs/private\"\n    }\n}\n";

#[test]
fn a_subtree_change_lists_the_paths_below_it_that_do_not_follow() {
    let wider = HOME_READ.replace("read \"~/docs\"", "write \"~/docs\"");
    let r = report(HOME_READ, &wider);
    assert_eq!(
        changes(&r),
        vec![(
            Class::Widens,
            "+ write ~/docs/** except ~/docs/private/**".to_string()
        )]
    );
    let e = &r.policies[0].entries[0];
    assert_eq!(e.new.at.as_ref().unwrap().line, 4);
    assert!(!e.new.at.as_ref().unwrap().module);
}

#[test]
fn dropping_a_deny_widens_only_what_it_covered() {
    let r = report(
        HOME_READ,
        &HOME_READ.replace("        deny \"~/docs/private\"\n", ""),
    );
    let c = changes(&r);
    assert!(
        c.contains(&(Class::Widens, "+ read ~/docs/private/**".to_string())),
        "{c:?}"
    );
    assert!(c.iter().all(|(class, _)| *class == Class::Widens), "{c:?}");
}

#[test]
fn a_policy_on_one_side_is_diffed_against_one_granting_nothing() {
    let two = format!(
        "{HOME_READ}\npolicy q {{\n    isolation process\n    fs {{ read \"/srv\" }}\n}}\n"
    );
    let r = report(HOME_READ, &two);
    let q = r.policies.iter().find(|p| p.policy == "q").unwrap();
    let c: Vec<&str> = q.entries.iter().map(|e| e.change.as_str()).collect();
    assert!(c.contains(&"+ policy q"), "{c:?}");
    assert!(c.contains(&"+ read /srv/**"), "{c:?}");
    assert!(q.old_file.is_none());
    let back = report(&two, HOME_READ);
    let q = back.policies.iter().find(|p| p.policy == "q").unwrap();
    assert!(q.entries.iter().all(|e| e.class == Class::Narrows));
}

const SYS: &str = "policy p {\n    isolation process\n    syscalls {\n        allow read, ioctl\n        deny ioctl if arg1 == 0x5412\n    }\n}\n";

#[test]
fn dropping_an_argument_deny_widens_the_calls_it_caught() {
    let r = report(
        SYS,
        &SYS.replace("        deny ioctl if arg1 == 0x5412\n", ""),
    );
    assert_eq!(
        changes(&r),
        vec![(
            Class::Widens,
            "+ syscall ioctl: now always (was always unless arg1 == 0x5412)".to_string()
        )]
    );
}

#[test]
fn a_changed_errno_is_neutral_and_a_conditional_allow_both_ways_widens() {
    let r = report(SYS, &SYS.replace("arg1 == 0x5412", "arg1 == 0x5412 kill"));
    assert_eq!(
        changes(&r),
        vec![(
            Class::Neutral,
            "~ syscall ioctl: errno EPERM -> kill".to_string()
        )]
    );
    let errno = SYS.replace(
        "allow read, ioctl",
        "allow read, ioctl\n        deny ptrace errno EPERM",
    );
    let r = report(&errno, &errno.replace("errno EPERM", "kill"));
    assert_eq!(
        changes(&r),
        vec![(
            Class::Neutral,
            "~ syscall ptrace: errno EPERM -> kill".to_string()
        )]
    );
    let cond = SYS.replace("allow read, ioctl", "allow read, ioctl if arg0 == 1");
    let r = report(&cond, &cond.replace("arg0 == 1", "arg0 == 2"));
    assert_eq!(r.policies[0].entries[0].class, Class::Widens);
    assert!(r.policies[0].entries[0]
        .change
        .starts_with("± syscall ioctl"));
}

#[test]
fn raised_and_removed_limits_widen() {
    let p = "policy p {\n    isolation process\n    limits { memory 256MiB; pids 32 }\n}\n";
    let r = report(p, &p.replace("memory 256MiB; pids 32", "memory 1GiB"));
    assert_eq!(
        changes(&r),
        vec![
            (Class::Widens, "~ limit memory: 256MiB -> 1GiB".to_string()),
            (Class::Widens, "~ limit pids: 32 -> unlimited".to_string()),
        ]
    );
}
