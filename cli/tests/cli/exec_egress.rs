//! `policyc exec` with egress rules, end to end: the command runs behind the egress
//! supervisor, reaches the upstream its policy allows (pinned to a loopback server this test
//! starts, with `--resolve`), gets a 403 for any other host and has no route to any other
//! address; `--audit-log` records each decision. Needs root; fails instead of skipping under
//! `POLICYC_REQUIRE_LIVE=1`.

use super::{policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A plain HTTP server on loopback answering `plain`; the connections it accepted.
fn server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nplain\n",
            );
        }
    });
    (port, hits)
}

#[test]
fn egress_rules_run_behind_the_supervisor() {
    if !root() || !std::path::Path::new("/usr/bin/python3").exists() {
        cannot_run("policyc exec with egress rules needs root and /usr/bin/python3");
        return;
    }
    let dir = scratch("exec-egress");
    let (port, hits) = server();
    let policy = format!(
        r#"use std::runtime::base
use std::runtime::static
use std::runtime::python

policy web {{
    isolation process
    fs {{
        exec "/usr"
        read "/etc"
    }}
    net {{
        egress via proxy {{
            allow "plain.test":{port}
        }}
        dns allow-listed-only
    }}
    syscalls {{ allow static_binary, python }}
    include runtime_guards
}}
"#
    );
    std::fs::write(dir.join("web.policy"), policy).unwrap();
    let script = format!(
        "import socket, urllib.request, urllib.error\n\
         print(urllib.request.urlopen('http://plain.test:{port}/', timeout=10).read().decode().strip())\n\
         try:\n    urllib.request.urlopen('http://evil.example/', timeout=10)\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n\
         s = socket.socket()\n\
         try:\n    s.connect(('192.0.2.1', {port}))\nexcept OSError as e:\n    print(e.errno)\n"
    );
    let pin = format!("plain.test:{port}:127.0.0.1");
    let log = dir.join("audit.jsonl");
    let o = policyc(
        &[
            "exec",
            "web.policy",
            "--resolve",
            &pin,
            "--audit-log",
            &log.display().to_string(),
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            &script,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "plain\n403\n101\n", "{}", stderr(&o));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let audit = std::fs::read_to_string(&log).unwrap();
    let mut decisions: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains(r#""kind":"egress""#))
        .map(|l| {
            if l.contains(r#""decision":"allow""#) {
                "allow"
            } else {
                "deny"
            }
        })
        .collect();
    decisions.sort_unstable();
    assert_eq!(decisions, ["allow", "deny"], "{audit}");
    assert!(audit.contains(r#""rule":"web.policy:13""#), "{audit}");

    let bad = policyc(
        &[
            "exec",
            "web.policy",
            "--resolve",
            "plain.test",
            "--",
            "/bin/true",
        ],
        &dir,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
