//! `policyc exec` of a WASI preview 2 component (the test component of the host's live
//! tests: it resolves a name, connects, reads a banner, writes a line and reads its echo)
//! under a wasm policy with egress rules: the egress supervisor's network, fail closed.

use super::{policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CONNECT: &str = include_str!("../../../host/tests/live/wasi_components/connect.wat");

fn root() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if !root {
        cannot_run("exec of a wasm component with egress needs root for the namespace");
    }
    root
}

/// A loopback server that speaks first and echoes one line; how many connections it got.
fn banner() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = s.write_all(b"* OK ready\r\n");
                let mut line = String::new();
                let _ = BufReader::new(s.try_clone().unwrap()).read_line(&mut line);
                let _ = s.write_all(line.as_bytes());
            });
        }
    });
    (port, hits)
}

/// The policy and the component for `host:port`, written into `dir`.
fn setup(dir: &Path, allowed_port: u16, host: &str, port: u16) {
    let policy = format!(
        "policy c {{\n    isolation wasm\n    net {{\n        egress via proxy {{\n            allow \"banner.test\":{allowed_port}\n        }}\n        dns allow-listed-only\n    }}\n}}\n"
    );
    std::fs::write(dir.join("c.policy"), policy).unwrap();
    let text = CONNECT
        .replace("@HOSTLEN@", &host.len().to_string())
        .replace("@HOST@", host)
        .replace("@PORT@", &port.to_string())
        .replace("@LINELEN@", "6")
        .replace("@LINE@", "hello");
    std::fs::write(dir.join("connect.wasm"), wat::parse_str(text).unwrap()).unwrap();
}

#[test]
fn a_component_reaches_its_allowed_endpoint_through_the_supervisor_and_nothing_else() {
    if !root() {
        return;
    }
    let dir = scratch("exec-wasm-component");
    let (port, hits) = banner();
    let pin = format!("banner.test:{port}:127.0.0.1");
    let exec = |dir: &Path| {
        policyc(
            &["exec", "--resolve", &pin, "c.policy", "--", "connect.wasm"],
            dir,
        )
    };
    setup(&dir, port, "banner.test", port);
    let o = exec(&dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "lookup ok 127.80.0.1\nconnected\nread * OK ready\r\nread hello\n"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    setup(&dir, port, "evil.test", port);
    let o = exec(&dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "lookup 18\n");

    setup(&dir, port, "banner.test", port.wrapping_add(1).max(1));
    let o = exec(&dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "lookup ok 127.80.0.1\nconnect 1\n");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_component_does_not_run_when_its_supervisor_cannot_start_unless_best_effort() {
    if !root() {
        return;
    }
    let dir = scratch("exec-wasm-component-fail");
    let (port, hits) = banner();
    setup(&dir, port, "banner.test", port);
    let pin = format!("banner.test:{port}:127.0.0.1");
    // An audit log that cannot be opened: the supervisor cannot start.
    let args = |best: bool| {
        let mut a = vec![
            "exec",
            "--resolve",
            &pin,
            "--audit-log",
            "/proc/policyc-none/a.jsonl",
        ];
        if best {
            a.push("--best-effort");
        }
        a.extend(["c.policy", "--", "connect.wasm"]);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |best: bool| {
        let a = args(best);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        policyc(&a, &dir)
    };
    let o = run(false);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing to run"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let o = run(true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOT enforced"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "lookup 20\n");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
