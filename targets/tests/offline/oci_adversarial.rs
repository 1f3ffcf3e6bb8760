//! The OCI classes of ADVERSARIAL.md (23-26), one permanent regression test each, plus
//! checks that the simulator reads what the file says (not what policyc usually emits).

use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::{Isolation, Policy};
use policyc_compiler::{Code, Diagnostic, Request, SourceMap};
use policyc_targets::oci::{emit_with, Oci, Options, FILE};
use policyc_targets::seccomp::{Seccomp, JSON_ARTIFACT};
use policyc_targets::{Artifacts, EmitContext, Target, Verdict};
use policyc_testkit::stdlib::{self, ctx, policies};
use serde_json::Value;

/// The one policy of `text`, and its sources.
fn compile_text(text: &str) -> (SourceMap, Policy) {
    let (sources, policies) = stdlib::compile_text("t.policy", text);
    (sources, policies.into_iter().next().unwrap())
}

/// A container policy with one `fs` body and a filter that denies namespaces.
fn container(fs: &str) -> String {
    format!(
        "use std::runtime::static\npolicy p {{\n    isolation container\n    fs {{\n{fs}\n    }}\n    include runtime_guards\n    syscalls {{ allow static_binary; default errno EPERM }}\n}}\n"
    )
}

/// The errors of building `fs` for oci, as (code, source line).
fn errors(fs: &str) -> Vec<(Code, String)> {
    let text = container(fs);
    let (sources, policy) = compile_text(&text);
    let d = Oci.emit(&policy, &ctx()).err().unwrap_or_default();
    d.iter().map(|d| (d.code, line_of(&sources, d))).collect()
}

fn line_of(sources: &SourceMap, d: &Diagnostic) -> String {
    let f = sources.get(d.span.file).unwrap();
    let (line, _) = f.line_col(d.span.start);
    f.line_text(line).trim().to_string()
}

/// Every bundle policyc builds in these tests: the stdlib's and a few written here.
fn bundles() -> Vec<(Policy, Value)> {
    let mut out = Vec::new();
    for (_, p) in policies() {
        if p.isolation == Isolation::Container {
            let e = Oci.emit(&p, &ctx()).unwrap();
            out.push((p, serde_json::from_slice(&e.artifacts[FILE]).unwrap()));
        }
    }
    for fs in [
        "read \"~/a\" at \"/a\"\nexec \"~/t\" at \"/t\"\nwrite \"~/o\" at \"/o\"\ndeny \"~/a/x\"",
        "tmpfs \"/tmp\" size 1MiB",
    ] {
        let (_, p) = compile_text(&container(fs));
        let e = Oci.emit(&p, &ctx()).unwrap();
        out.push((p, serde_json::from_slice(&e.artifacts[FILE]).unwrap()));
    }
    out
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn adv23_runtime_socket_mount_is_rejected() {
    let cases: &[(&str, Code)] = &[
        (
            "read \"/var/run/docker.sock\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        (
            "write \"/run/docker.sock\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        (
            "read \"/run/containerd/containerd.sock\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        (
            "read \"/run/crio/crio.sock\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        (
            "read \"/run/podman/podman.sock\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        ("read \"/var/run\" at \"/s\"", Code::OciRuntimeSocket),
        ("read \"/run\" at \"/s\"", Code::OciRuntimeSocket),
        ("read \"/var\" at \"/s\"", Code::OciRuntimeSocket),
        (
            "read \"/var/lib/docker/volumes\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        (
            "read \"/run/dbus/system_bus_socket\" at \"/s\"",
            Code::OciRuntimeSocket,
        ),
        ("read \"/\" at \"/host\"", Code::OciSystemSource),
        ("read \"/proc\" at \"/p\"", Code::OciSystemSource),
        ("read \"/proc/sys/kernel\" at \"/p\"", Code::OciSystemSource),
        ("read \"/sys\" at \"/p\"", Code::OciSystemSource),
        ("write \"/dev\" at \"/p\"", Code::OciSystemSource),
        ("read \"/dev/shm\" at \"/p\"", Code::OciSystemSource),
        ("read \"~\" at \"/h\"", Code::OciCredentialSource),
        ("read \"/home\" at \"/h\"", Code::OciCredentialSource),
        ("read \"/home/user\" at \"/h\"", Code::OciCredentialSource),
        ("read \"~/.ssh\" at \"/k\"", Code::OciCredentialSource),
        (
            "read \"~/.ssh/id_ed25519\" at \"/k\"",
            Code::OciCredentialSource,
        ),
        ("read \"~/.gnupg\" at \"/k\"", Code::OciCredentialSource),
        ("read \"~/.aws\" at \"/k\"", Code::OciCredentialSource),
        ("read \"~/.kube\" at \"/k\"", Code::OciCredentialSource),
        ("read \"~/.docker\" at \"/k\"", Code::OciCredentialSource),
        ("read \"~/.config\" at \"/k\"", Code::OciCredentialSource),
        (
            "read \"/home/user/.ssh\" at \"/k\"",
            Code::OciCredentialSource,
        ),
        ("read \"/run/user/1000\" at \"/r\"", Code::OciUserRuntimeDir),
        (
            "read \"/var/run/user/1000/gnupg\" at \"/r\"",
            Code::OciUserRuntimeDir,
        ),
    ];
    for (fs, code) in cases {
        let e = errors(&format!("        {fs}"));
        assert!(
            e.iter().any(|(c, line)| c == code && line == fs),
            "`{fs}`: expected {} on its line, got {e:?}",
            code.as_str()
        );
    }
    // Ordinary folders are fine, including ones whose names start like a dangerous one.
    for fs in [
        "read \"~/Documents\" at \"/d\"",
        "read \"~/.sshkeys-backup-notes\" at \"/d\"",
        "read \"/srv/data\" at \"/d\"",
        "read \"/runtime\" at \"/d\"",
        "read \"/devices\" at \"/d\"",
        "read \"/home/other\" at \"/d\"",
    ] {
        assert_eq!(errors(&format!("        {fs}")), vec![], "`{fs}`");
    }
}

#[test]
fn adv24_capabilities_empty_and_no_new_privs() {
    for (p, v) in bundles() {
        let proc = &v["process"];
        for set in [
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ] {
            assert_eq!(
                proc["capabilities"][set],
                serde_json::json!([]),
                "{}: {set}",
                p.name
            );
        }
        assert_eq!(proc["noNewPrivileges"], true, "{}", p.name);
        assert_eq!(v["root"]["readonly"], true, "{}", p.name);
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(
            proc["apparmorProfile"],
            format!("policyc.{}", p.name).as_str()
        );
        assert_eq!(strs(&proc["env"]).len(), 1);
        assert!(strs(&proc["env"])[0].starts_with("PATH="));
        let masked = strs(&v["linux"]["maskedPaths"]);
        for m in [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ] {
            assert!(masked.contains(&m.to_string()), "{}: {m}", p.name);
        }
        let ro = strs(&v["linux"]["readonlyPaths"]);
        for r in [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ] {
            assert!(ro.contains(&r.to_string()), "{}: {r}", p.name);
        }
        // The runtime's /dev and /sys are read-only; nothing is executable outside an exec
        // grant and the image.
        for m in v["mounts"].as_array().unwrap() {
            let dest = m["destination"].as_str().unwrap();
            let opts = strs(&m["options"]);
            assert!(opts.contains(&"nosuid".to_string()), "{}: {dest}", p.name);
            if ["/dev", "/sys"].contains(&dest) {
                assert!(opts.contains(&"ro".to_string()), "{}: {dest}", p.name);
            }
        }
        assert!(v.get("hooks").is_none());
    }
}

#[test]
fn adv25_only_standard_devices() {
    let standard = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0)];
    for (p, v) in bundles() {
        let devices: Vec<(i64, i64)> = v["linux"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["type"], "c");
                (d["major"].as_i64().unwrap(), d["minor"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(devices, standard, "{}", p.name);
        let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
        assert_eq!(
            rules[0],
            serde_json::json!({"allow": false, "access": "rwm"})
        );
        let allowed: Vec<(i64, i64)> = rules[1..]
            .iter()
            .map(|r| {
                assert_eq!(r["allow"], true);
                assert_eq!(r["type"], "c");
                (r["major"].as_i64().unwrap(), r["minor"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(allowed, standard, "{}", p.name);
        // No user namespace, and every other one fresh (no `path`).
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert!(n.get("path").is_none());
                n["type"].as_str().unwrap()
            })
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        assert!(v["linux"].get("uidMappings").is_none());
        // The embedded filter refuses to create a user namespace.
        let seccomp = Seccomp.emit(&p, &ctx()).unwrap();
        for (name, flags) in [("unshare", 0x1000_0000), ("clone", 0x1000_0000 | 17)] {
            let r = Request::Syscall {
                name: name.to_string(),
                args: [flags, 0, 0, 0, 0, 0],
            };
            assert_eq!(
                Seccomp.simulate(&seccomp.artifacts, &r),
                Verdict::Deny,
                "{}: {r}",
                p.name
            );
        }
    }
    // A filter that allows it fails the build, naming the rule.
    for allow in ["unshare", "clone", "clone3"] {
        let text = format!(
            "policy p {{\n    isolation container\n    fs {{ tmpfs \"/tmp\" size 1MiB }}\n    syscalls {{\n        allow read, {allow}\n        default errno EPERM\n    }}\n}}\n"
        );
        let (sources, p) = compile_text(&text);
        let d = Oci.emit(&p, &ctx()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::OciUserNamespace, "{allow}");
        assert!(line_of(&sources, &d[0]).contains(allow), "{allow}");
    }
}

#[test]
fn adv26_no_proc_self_fd_paths() {
    for (p, v) in bundles() {
        assert_eq!(v["process"]["cwd"], "/", "{}", p.name);
        for m in v["mounts"].as_array().unwrap() {
            for key in ["source", "destination"] {
                let s = m[key].as_str().unwrap();
                assert!(
                    !s.starts_with("/proc/") && !s.starts_with("/dev/fd"),
                    "{}: {key} {s}",
                    p.name
                );
            }
        }
    }
    for fs in [
        "read \"/proc/self/fd/3\" at \"/d\"",
        "read \"/proc/thread-self/fd/3\" at \"/d\"",
        "read \"/proc/1234/fd/3\" at \"/d\"",
        "read \"/proc/1/root\" at \"/d\"",
        "read \"/proc/self/cwd/x\" at \"/d\"",
        "read \"/dev/fd/3\" at \"/d\"",
        "read \"~/Documents\" at \"/proc/self/fd/3\"",
        "tmpfs \"/proc/1/fd\" size 1MiB",
    ] {
        let e = errors(&format!("        {fs}"));
        assert!(
            e.iter()
                .any(|(c, line)| *c == Code::OciProcFd && line == fs),
            "`{fs}`: {e:?}"
        );
    }
    // A home directory through a process's handles resolves `~` anywhere.
    let (_, p) = compile_text(&container("        read \"~/Documents\" at \"/d\""));
    for home in ["/proc/self/fd/3", "/proc/1/root/home/u", "/dev/fd/5"] {
        let d = Oci
            .emit(
                &p,
                &EmitContext {
                    home: Some(home.to_string()),
                },
            )
            .unwrap_err();
        assert_eq!(d[0].code, Code::OciProcFd, "{home}");
    }
    for home in ["relative/home", "/", "~"] {
        let d = Oci
            .emit(
                &p,
                &EmitContext {
                    home: Some(home.to_string()),
                },
            )
            .unwrap_err();
        assert_eq!(d[0].code, Code::OciHomeUnknown, "{home}");
    }
}

#[test]
fn the_seccomp_section_is_the_seccomp_targets_document() {
    for (p, v) in bundles() {
        let s = Seccomp.emit(&p, &ctx()).unwrap();
        let want: Value = serde_json::from_slice(&s.artifacts[JSON_ARTIFACT]).unwrap();
        assert_eq!(v["linux"]["seccomp"], want, "{}", p.name);
    }
}

#[test]
fn limits_become_cgroup_limits_and_rlimits() {
    let text = "policy p {\n    isolation container\n    fs { tmpfs \"/tmp\" size 1MiB }\n    syscalls { allow read; default errno EPERM }\n    limits { memory 256MiB; pids 16; cpus 1.5; files 99 }\n}\n";
    let (_, p) = compile_text(text);
    let v: Value = serde_json::from_slice(&Oci.emit(&p, &ctx()).unwrap().artifacts[FILE]).unwrap();
    let r = &v["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 256 << 20);
    assert_eq!(r["memory"]["swap"], 256 << 20);
    assert_eq!(r["pids"]["limit"], 16);
    assert_eq!(r["cpu"]["quota"], 150_000);
    assert_eq!(r["cpu"]["period"], 100_000);
    let rl = &v["process"]["rlimits"];
    assert_eq!(
        rl[0],
        serde_json::json!({"type": "RLIMIT_NOFILE", "hard": 99, "soft": 99})
    );
    assert_eq!(
        rl[1],
        serde_json::json!({"type": "RLIMIT_CORE", "hard": 0, "soft": 0})
    );
    assert!(!v.to_string().contains("RLIMIT_NPROC"));
}

#[test]
fn launcher_options_set_the_user_and_command() {
    let (_, p) = compile_text(&container("        scratch \"/out\" size 1MiB"));
    let opts = Options {
        args: vec!["/usr/bin/agent".to_string(), "--once".to_string()],
        uid: 1000,
        gid: 1001,
    };
    let e = emit_with(&p, &ctx(), &opts).unwrap();
    let v: Value = serde_json::from_slice(&e.artifacts[FILE]).unwrap();
    assert_eq!(v["process"]["user"]["uid"], 1000);
    assert_eq!(v["process"]["user"]["gid"], 1001);
    assert_eq!(strs(&v["process"]["args"]), ["/usr/bin/agent", "--once"]);
    let out = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/out")
        .unwrap();
    let o = strs(&out["options"]);
    assert!(o.contains(&"uid=1000".to_string()) && o.contains(&"gid=1001".to_string()));
    assert!(!e.report.iter().any(|d| d.message.contains("runs as uid 0")));
}

#[test]
fn non_container_policies_get_no_bundle() {
    for iso in ["process", "wasm"] {
        let text = format!("policy p {{\n    isolation {iso}\n    fs {{ read \"/data\" }}\n}}\n");
        let (_, p) = compile_text(&text);
        let e = Oci.emit(&p, &ctx()).unwrap();
        assert!(e.artifacts.is_empty());
        assert_eq!(e.report[0].code, Code::OciNotMediated);
    }
}

// ------------------------------------------------------- the simulator reads the file

fn fs(access: Access, p: &str) -> Request {
    policyc_testkit::spelling::fs(access, p).unwrap()
}

/// The bundle of a small policy, as JSON to edit.
fn base() -> Value {
    let (_, p) = compile_text(&container(
        "        read \"~/a\" at \"/a\"\n        deny \"~/a/secret\"\n        read \"~/gone\" at \"/gone\"\n        deny read \"~/gone\"",
    ));
    serde_json::from_slice(&Oci.emit(&p, &ctx()).unwrap().artifacts[FILE]).unwrap()
}

fn sim(v: &Value, r: &Request) -> Verdict {
    let mut a = Artifacts::new();
    a.insert(FILE.to_string(), serde_json::to_vec(v).unwrap());
    Oci.simulate(&a, r)
}

fn mount_mut<'v>(v: &'v mut Value, dest: &str) -> &'v mut Value {
    v["mounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["destination"] == dest)
        .unwrap()
}

#[test]
fn simulator_reads_flags_not_assumptions() {
    let v = base();
    assert_eq!(sim(&v, &fs(Access::Read, "/a/x")), Verdict::Allow);
    assert_eq!(sim(&v, &fs(Access::Write, "/a/x")), Verdict::Deny);
    assert_eq!(sim(&v, &fs(Access::Exec, "/a/x")), Verdict::Deny);
    assert_eq!(sim(&v, &fs(Access::Read, "/a/secret/k")), Verdict::Deny);
    assert_eq!(sim(&v, &fs(Access::Read, "~/a/secret/k")), Verdict::Deny);
    assert_eq!(sim(&v, &fs(Access::Read, "~/a/ok")), Verdict::Allow);
    assert_eq!(sim(&v, &fs(Access::Read, "/gone/x")), Verdict::Deny);
    assert_eq!(
        sim(&v, &fs(Access::Read, "/etc/passwd")),
        Verdict::NotMediated
    );
    assert_eq!(sim(&v, &fs(Access::Write, "/etc/passwd")), Verdict::Deny);
    assert_eq!(
        sim(&v, &fs(Access::Write, "/dev/shm/x")),
        Verdict::NotMediated
    );
    assert_eq!(sim(&v, &fs(Access::Exec, "/dev/shm/x")), Verdict::Deny);
    assert_eq!(sim(&v, &fs(Access::Write, "/sys/x")), Verdict::Deny);
    assert_eq!(
        sim(&v, &fs(Access::Write, "/proc/sys/kernel/x")),
        Verdict::Deny
    );

    // `ro` without `rro` on a recursive bind: submounts may be writable.
    let mut w = v.clone();
    let opts = mount_mut(&mut w, "/a")["options"].as_array_mut().unwrap();
    opts.retain(|o| o != "rro");
    assert_eq!(sim(&w, &fs(Access::Write, "/a/x")), Verdict::NotMediated);
    // `rw` written after `ro` wins.
    mount_mut(&mut w, "/a")["options"]
        .as_array_mut()
        .unwrap()
        .push("rw".into());
    assert_eq!(sim(&w, &fs(Access::Write, "/a/x")), Verdict::Allow);

    // A later mount at the same destination shadows the earlier one.
    let mut w = v.clone();
    let mut again = mount_mut(&mut w, "/a").clone();
    again["options"] = serde_json::json!(["rbind", "rw"]);
    w["mounts"].as_array_mut().unwrap().push(again);
    assert_eq!(sim(&w, &fs(Access::Write, "/a/x")), Verdict::Allow);
    assert_eq!(sim(&w, &fs(Access::Exec, "/a/x")), Verdict::Allow);

    // The mode-000 mask stops only a process without DAC capabilities.
    let mut w = v.clone();
    w["process"]["capabilities"]["effective"] = serde_json::json!(["CAP_DAC_OVERRIDE"]);
    assert_eq!(sim(&w, &fs(Access::Read, "/gone/x")), Verdict::Allow);

    // Without masks, the denied object is reachable.
    let mut w = v.clone();
    w["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p != "/a/secret");
    assert_eq!(sim(&w, &fs(Access::Read, "~/a/secret/k")), Verdict::Allow);

    // A writable root is not the bundle's to deny.
    let mut w = v.clone();
    w["root"]["readonly"] = false.into();
    assert_eq!(
        sim(&w, &fs(Access::Write, "/etc/passwd")),
        Verdict::NotMediated
    );

    // Without the home annotation, host objects are not mediated.
    let mut w = v.clone();
    w["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("dev.policyc.home");
    assert_eq!(sim(&w, &fs(Access::Read, "~/a/ok")), Verdict::NotMediated);
}

#[test]
fn simulator_denies_egress_only_in_an_unwired_namespace() {
    let v = base();
    let connect = |h: &str| Request::Connect {
        host: Host::parse(h).unwrap(),
        port: 443,
    };
    let resolve = |h: &str| Request::Resolve {
        host: Host::parse(h).unwrap(),
    };
    assert_eq!(sim(&v, &connect("example.com")), Verdict::Deny);
    assert_eq!(sim(&v, &connect("93.184.216.34")), Verdict::Deny);
    assert_eq!(sim(&v, &connect("127.0.0.1")), Verdict::NotMediated);
    assert_eq!(sim(&v, &connect("[::1]")), Verdict::NotMediated);
    assert_eq!(sim(&v, &connect("localhost")), Verdict::NotMediated);
    assert_eq!(sim(&v, &resolve("example.com")), Verdict::Deny);
    assert_eq!(sim(&v, &resolve("localhost")), Verdict::NotMediated);
    let mut w = v.clone();
    w["annotations"]["dev.policyc.network"] = "launcher".into();
    assert_eq!(sim(&w, &connect("example.com")), Verdict::NotMediated);
    let mut w = v.clone();
    w["hooks"] = serde_json::json!({"createRuntime": [{"path": "/usr/bin/net-setup"}]});
    assert_eq!(sim(&w, &connect("example.com")), Verdict::NotMediated);
    let mut w = v.clone();
    w["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    assert_eq!(sim(&w, &connect("example.com")), Verdict::NotMediated);
    let syscall = Request::Syscall {
        name: "ptrace".to_string(),
        args: [0; 6],
    };
    assert_eq!(sim(&v, &syscall), Verdict::NotMediated);
}
