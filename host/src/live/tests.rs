//! Live tests: small policies and their own test cases run through every layer of their
//! stack for real. Each live verdict that is `Allow` or `Deny` must be the test case's
//! expectation and agree with the layer's simulator; the stack must deny what the policy
//! denies. A layer that is unavailable fails the
//! test under `POLICYC_REQUIRE_LIVE=1` and is skipped (with a message) otherwise; a layer
//! that fails always fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::{run, LayerStatus, LiveRun, LiveVerdict};
use policyc_compiler::diag::render_human;
use policyc_compiler::ir::Policy;
use policyc_compiler::{compile, decide, Request, SourceMap};
use policyc_targets::{registry, EmitContext, Verdict};

/// Compile a policy text with the standard library; the one policy it holds.
pub(super) fn compile_one(name: &str, text: &str) -> Policy {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let out = compile(&mut sources, id, &policyc_stdlib::Loader);
    let errors: String = out
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| render_human(d, &sources))
        .collect();
    assert!(errors.is_empty(), "{name}:\n{errors}");
    out.policies.into_iter().next().unwrap()
}

/// Every test case of a policy: the request and whether it must be allowed. The
/// reference semantics must agree with each (the policies' tests are right).
pub(super) fn cases(policy: &Policy) -> Vec<(Request, bool)> {
    let cases: Vec<(Request, bool)> = policy
        .tests
        .iter()
        .flat_map(|t| t.cases.iter().map(|c| (c.request.clone(), c.expect_allow)))
        .collect();
    for (r, allow) in &cases {
        assert_eq!(decide(policy, r).allow, *allow, "{}: {r}", policy.name);
    }
    cases
}

/// Counts of a run's verdicts, for the test output.
fn counts(run: &LiveRun) -> String {
    let n = |f: &dyn Fn(&LiveVerdict) -> bool| run.verdicts.iter().filter(|v| f(v)).count();
    format!(
        "{} allow, {} deny, {} not mediated, {} unverifiable",
        n(&|v| *v == Verdict::Allow),
        n(&|v| *v == Verdict::Deny),
        n(&|v| *v == Verdict::NotMediated),
        n(&|v| matches!(v, LiveVerdict::Unverifiable(_)))
    )
}

/// The simulator's verdicts for the same requests (artifacts emitted for another home, in
/// no scratch area or tmpfs: `~` paths are answered relative to it the same way).
fn simulated(policy: &Policy, layer: &str, requests: &[Request]) -> Vec<Verdict> {
    let ctx = EmitContext {
        home: Some("/home/policyc-live".to_string()),
    };
    let t = registry().iter().find(|t| t.name() == layer).unwrap();
    let e = t.emit(policy, &ctx).unwrap();
    requests
        .iter()
        .map(|r| t.simulate(&e.artifacts, r))
        .collect()
}

/// Run a policy's cases live and check every layer; returns the runs (`None` when a layer
/// is unavailable and live runs are not required).
pub(super) fn check_live(policy: &Policy, cases: &[(Request, bool)]) -> Option<Vec<LiveRun>> {
    let requests: Vec<Request> = cases.iter().map(|(r, _)| r.clone()).collect();
    let runs = run(policy, &requests);
    let mut skip = false;
    for run in &runs {
        eprintln!(
            "{} / {}: {:?}: {}",
            policy.name,
            run.layer,
            run.status,
            counts(run)
        );
        for note in &run.notes {
            eprintln!("  note: {note}");
        }
        match &run.status {
            LayerStatus::Unavailable(why) => {
                assert!(
                    !policyc_verify::live::required(),
                    "{}: {} is unavailable: {why}",
                    policy.name,
                    run.layer
                );
                eprintln!("skipping the live check of `{}`: {why}", run.layer);
                skip = true;
            }
            LayerStatus::Failed(why) => panic!("{}: {} failed: {why}", policy.name, run.layer),
            LayerStatus::Ran | LayerStatus::CompiledOnly => {}
        }
        assert_eq!(run.verdicts.len(), cases.len());
        assert_eq!(run.evidence.len(), cases.len());
    }
    if skip {
        return None;
    }
    for run in &runs {
        check_layer(policy, run, cases, &requests);
    }
    check_stack(policy, &runs, cases);
    Some(runs)
}

fn check_layer(policy: &Policy, run: &LiveRun, cases: &[(Request, bool)], requests: &[Request]) {
    let sim = simulated(policy, run.layer, requests);
    for (i, ((r, allow), v)) in cases.iter().zip(&run.verdicts).enumerate() {
        let evidence = &run.evidence[i];
        eprintln!("  {:<8} {r} -> {v:?}: {evidence}", run.layer);
        let live_allow = match v {
            LiveVerdict::Observed(Verdict::Allow) => true,
            LiveVerdict::Observed(Verdict::Deny) => false,
            _ => continue,
        };
        assert_eq!(
            live_allow,
            *allow,
            "{} / {}: `{r}` is {v:?} live ({evidence}), the policy says {}",
            policy.name,
            run.layer,
            if *allow { "allow" } else { "deny" }
        );
        let want = if live_allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        assert!(
            sim[i] == want || sim[i] == Verdict::NotMediated,
            "{} / {}: `{r}` is {v:?} live ({evidence}), the simulator says {:?}",
            policy.name,
            run.layer,
            sim[i]
        );
    }
}

/// Every request the policy denies is denied live by some layer, and none it allows is.
fn check_stack(policy: &Policy, runs: &[LiveRun], cases: &[(Request, bool)]) {
    let mut unproven = Vec::new();
    for (i, (r, allow)) in cases.iter().enumerate() {
        let denied_by: Vec<&str> = runs
            .iter()
            .filter(|run| run.verdicts[i] == Verdict::Deny)
            .map(|run| run.layer)
            .collect();
        if !*allow && denied_by.is_empty() {
            unproven.push(r.to_string());
        }
    }
    eprintln!(
        "{}: {} of {} denied cases denied live by some layer; not shown live: {unproven:?}",
        policy.name,
        cases.iter().filter(|(_, a)| !a).count() - unproven.len(),
        cases.iter().filter(|(_, a)| !a).count()
    );
}

/// The verdicts of one layer, by request text.
pub(super) fn layer<'r>(runs: &'r [LiveRun], name: &str) -> &'r LiveRun {
    runs.iter().find(|r| r.layer == name).unwrap()
}

pub(super) fn verdict_of<'r>(
    run: &'r LiveRun,
    cases: &[(Request, bool)],
    text: &str,
) -> (&'r LiveVerdict, &'r str) {
    let i = cases
        .iter()
        .position(|(r, _)| r.to_string() == text)
        .unwrap_or_else(|| panic!("no case `{text}`"));
    (&run.verdicts[i], &run.evidence[i])
}

const PROCESS: &str = r#"
policy proc_live {
    isolation process
    fs {
        read "~/docs"
        write "~/work"
        exec "~/tools"
        tmpfs "/tmp" size 4MiB
        deny write "~/docs/locked"
        deny "~/.ssh"
    }
    net {
        egress direct {
            allow "api.example.com":443
        }
    }
    syscalls {
        allow read, write, openat, close, exit_group
        allow socket if arg0 == 1
        allow ioctl
        deny ioctl if arg1 & 0xffffffff == 0x5412 errno EPERM
        deny ptrace errno EPERM
        deny kexec_load kill
        deny clone3 errno ENOSYS
        default errno EACCES
    }
    test "files" {
        allow read "~/docs/report.txt"
        allow read "~/docs"
        deny write "~/docs/report.txt"
        deny exec "~/docs/report.txt"
        allow read "~/docs/locked/a.txt"
        deny write "~/docs/locked/a.txt"
        allow write "~/work/out.txt"
        allow read "~/work/out.txt"
        allow write "~/work"
        deny exec "~/work/run.sh"
        allow exec "~/tools/garbage"
        allow read "~/tools/garbage"
        deny write "~/tools/garbage"
        deny read "~/.ssh/id_ed25519"
        deny write "~/.bashrc"
        deny read "~/elsewhere/x"
        allow write "/tmp/buffer"
        allow read "/tmp/buffer"
        deny exec "/tmp/buffer"
        allow write "/tmp"
        deny read "/etc/passwd"
    }
    test "syscalls" {
        allow syscall read
        allow syscall write(1, 0, 0)
        allow syscall exit_group
        deny syscall ptrace
        deny syscall kexec_load
        deny syscall clone3
        deny syscall ioctl(1, 0x5412)
        deny syscall ioctl(1, 0x100005412)
        allow syscall ioctl(1, 0x5401)
        deny syscall mount
        allow syscall socket(1, 1, 0)
        deny syscall socket(2, 1, 0)
        deny syscall seccomp
    }
    test "network" {
        allow connect "api.example.com":443
        deny connect "api.example.com":80
        deny connect "evil.example.com":443
    }
}
"#;

#[test]
fn a_process_policy_live() {
    let policy = compile_one("proc_live.policy", PROCESS);
    let cases = cases(&policy);
    let Some(runs) = check_live(&policy, &cases) else {
        return;
    };
    let sc = layer(&runs, "seccomp");
    let expect = [
        ("syscall ptrace", "EPERM"),
        ("syscall kexec_load", "SIGSYS"),
        ("syscall clone3", "ENOSYS"),
        ("syscall ioctl(1, 0x5412)", "EPERM"),
        ("syscall ioctl(1, 0x100005412)", "EPERM"),
        ("syscall mount", "EACCES"),
        ("syscall seccomp", "EACCES"),
    ];
    for (text, why) in expect {
        let (v, e) = verdict_of(sc, &cases, text);
        assert_eq!(*v, Verdict::Deny, "{text}: {e}");
        assert!(e.contains(why), "{text}: `{e}` does not name {why}");
    }
    let (v, e) = verdict_of(sc, &cases, "read \"~/docs\"");
    assert_eq!(*v, Verdict::NotMediated, "{e}");
    let ll = layer(&runs, "landlock");
    for text in [
        "connect \"api.example.com\":443",
        "connect \"evil.example.com\":443",
    ] {
        let (v, e) = verdict_of(ll, &cases, text);
        assert_eq!(*v, Verdict::NotMediated, "{text}: {e}");
    }
    let (v, e) = verdict_of(ll, &cases, "connect \"api.example.com\":80");
    assert_eq!(*v, Verdict::Deny, "{e}");
    let decided = |run: &LiveRun| {
        run.verdicts
            .iter()
            .filter(|v| matches!(v, LiveVerdict::Observed(Verdict::Allow | Verdict::Deny)))
            .count()
    };
    assert_eq!(decided(sc), 13, "every syscall case is decided by seccomp");
    // Without root there is no private tmpfs on `/tmp`, so its four cases are unverifiable.
    let want = if crate::sys::euid() == 0 { 22 } else { 18 };
    assert_eq!(
        decided(ll),
        want,
        "every file case and one connect are decided by Landlock"
    );
    let aa = layer(&runs, "apparmor");
    assert!(matches!(
        aa.status,
        LayerStatus::CompiledOnly | LayerStatus::Unavailable(_)
    ));
}

const WASM: &str = r#"
policy wasm_live {
    isolation wasm
    fs {
        read "~/in" at "/in"
        write "~/rw" at "/rw"
        scratch "/out" size 1MiB
    }
    net { egress none }
    test "wasm" {
        allow read "/in/a.txt"
        allow read "/in"
        allow read "/in/sub/b.txt"
        deny write "/in/a.txt"
        deny write "/in"
        allow write "/rw/b.txt"
        allow write "/rw"
        allow read "/rw/b.txt"
        allow write "/out/new/c.txt"
        allow read "/out/r.txt"
        allow read "/out"
        deny exec "/out/r.txt"
        deny exec "/in/a.txt"
        deny read "/in2/x"
        deny read "/i"
        deny read "/etc/passwd"
        allow read "~/in/a.txt"
        deny write "~/in/a.txt"
        allow write "~/rw/b.txt"
        deny read "~/.ssh/id_rsa"
        deny connect "example.com":443
        deny connect "93.184.216.34":443
        deny resolve "example.com"
        deny syscall ptrace
    }
}
"#;

#[test]
fn a_wasm_policy_live() {
    let policy = compile_one("wasm_live.policy", WASM);
    let cases = cases(&policy);
    let Some(runs) = check_live(&policy, &cases) else {
        return;
    };
    let w = layer(&runs, "wasi");
    assert_eq!(w.status, LayerStatus::Ran);
    let n = w
        .verdicts
        .iter()
        .filter(|v| matches!(v, LiveVerdict::Observed(Verdict::Allow | Verdict::Deny)))
        .count();
    assert_eq!(
        n,
        cases.len() - 1,
        "every case but the syscall is decided live"
    );
}

/// The fixture makes what the requests name, and keeps it inside itself.
#[test]
fn the_fixture_holds_every_named_object() {
    let policy = compile_one("proc_live.policy", PROCESS);
    let requests: Vec<Request> = cases(&policy).into_iter().map(|(r, _)| r).collect();
    let f = super::Fixture::new(&policy, &requests).unwrap();
    let home = f
        .host(&policyc_compiler::paths::CanonPath::parse("~").unwrap())
        .unwrap();
    assert!(home.starts_with(f.root()));
    for (p, dir) in [
        ("docs/report.txt", false),
        ("docs/locked/a.txt", false),
        ("work", true),
        ("tools/garbage", false),
        (".ssh/id_ed25519", false),
        (".bashrc", false),
    ] {
        let o = f.object(&home.join(p)).unwrap_or_else(|| panic!("{p}"));
        assert_eq!(o.dir, dir, "{p}");
    }
    assert_eq!(
        std::fs::read(home.join("tools/garbage")).unwrap(),
        super::fixture::PROBE_CONTENT
    );
    let root = f.root().to_path_buf();
    drop(f);
    assert!(!root.exists(), "the fixture is removed");
}

/// Without requests nothing is probed: no container, no child, no module; every layer
/// that can run reports no verdict.
#[test]
fn no_requests_probe_nothing() {
    for text in [PROCESS, WASM] {
        let policy = compile_one("p.policy", text);
        for r in run(&policy, &[]) {
            assert!(r.verdicts.is_empty() && r.evidence.is_empty(), "{r:?}");
            assert!(
                !matches!(r.status, LayerStatus::Failed(_)),
                "{}: {:?}",
                r.layer,
                r.status
            );
        }
    }
    let (_, text) = policyc_stdlib::policies()
        .iter()
        .find(|(f, _)| f.contains("document_organizer"))
        .unwrap();
    let policy = compile_one("d.policy", text);
    let oci = run(&policy, &[]);
    assert_eq!(layer(&oci, "oci").status, LayerStatus::Ran);
}

const CONTAINER: &str = r#"
use std::secrets
use std::runtime::static
policy container_live {
    isolation container
    fs {
        read "~/docs" at "/mnt/docs"
        write "~/out" at "/mnt/out"
        exec "~/tools" at "/opt/tools"
        read "~/archive" at "/mnt/archive"
        scratch "/mnt/scratch" size 8MiB
        tmpfs "/tmp" size 4MiB
        deny secrets
        deny write persistence
        deny "~/docs/private"
        deny "~/docs/key.txt"
        deny read "~/archive"
    }
    net { egress none }
    include runtime_guards
    syscalls {
        allow static_binary
        allow fstatfs
        deny unshare, setns, mount, umount2 errno EPERM
        default errno EPERM
    }
    limits { memory 64MiB; pids 32; files 64; cpus 1 }
    test "mounts, masks and the image" {
        allow read "/mnt/docs/readme.txt"
        allow read "~/docs/readme.txt"
        deny write "/mnt/docs/readme.txt"
        deny read "/mnt/docs/private/secret.txt"
        deny read "~/docs/private/secret.txt"
        deny read "/mnt/docs/key.txt"
        deny read "~/docs/key.txt"
        allow write "/mnt/out/report.txt"
        allow write "~/out/report.txt"
        allow write "/mnt/out"
        deny exec "/mnt/out/run.sh"
        allow exec "/opt/tools/tool"
        allow exec "~/tools/tool"
        deny write "/opt/tools/tool"
        deny read "/mnt/archive/old.txt"
        deny read "~/archive/old.txt"
        allow write "/mnt/scratch/a/b.txt"
        allow read "/mnt/scratch/a/c.txt"
        deny exec "/mnt/scratch/a/b.txt"
        allow write "/tmp/t"
        deny write "/etc/hosts"
        deny read "~/.ssh/id_ed25519"
        deny connect "1.1.1.1":53
        deny connect "example.com":443
        deny resolve "example.com"
        deny syscall mount
    }
}
"#;

#[test]
fn a_container_policy_live() {
    let policy = compile_one("container_live.policy", CONTAINER);
    let cases = cases(&policy);
    let Some(runs) = check_live(&policy, &cases) else {
        return;
    };
    let oci = layer(&runs, "oci");
    let (v, e) = verdict_of(oci, &cases, "read \"/mnt/docs/key.txt\"");
    assert_eq!(*v, Verdict::Deny);
    assert!(
        e.contains("another file"),
        "a masked file is seen as such: {e}"
    );
    for text in ["exec \"/opt/tools/tool\"", "exec \"~/tools/tool\""] {
        let (v, e) = verdict_of(oci, &cases, text);
        assert_eq!(*v, Verdict::Allow, "{text}: {e}");
        assert!(e.contains("ENOEXEC"), "{e}");
    }
    let (v, e) = verdict_of(oci, &cases, "write \"/etc/hosts\"");
    assert_eq!(*v, Verdict::Deny, "{e}");
    let unverifiable: Vec<&LiveVerdict> = oci
        .verdicts
        .iter()
        .filter(|v| matches!(v, LiveVerdict::Unverifiable(_)))
        .collect();
    assert!(unverifiable.is_empty(), "{unverifiable:?}");
}
