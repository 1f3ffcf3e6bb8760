//! `policyc audit verify` and `show`: on a log written here with the format's own writer,
//! and (live, as root) on the log `policyc exec --audit-log` writes for a program that
//! makes allowed and denied connections and lookups; an edit must fail verification.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};
use policyc_testkit::live::cannot_run;
use policyc_verify::audit::{hash, Chain};
use serde_json::{json, Map, Value};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A session with an allowed connection (token `api`), a denied one and a denied lookup.
fn written_log() -> String {
    let mut c = Chain::resume("0123456789abcdef", &hash(b"policy p {}"), b"").unwrap();
    let lines = [
        c.start(1_000, fields(json!({"policy": "p", "process": {"pid": 7, "name": "curl"}}))),
        c.event(
            1_001,
            "egress",
            fields(json!({"decision": "allow", "rule": "p.policy:5", "token": {"name": "api"},
                "dst_endpoint": {"hostname": "api.example.com", "port": 443},
                "connection_info": {"via": "proxy-connect"}, "reason": "the TLS server name is the allowed host"})),
        ),
        c.event(
            1_002,
            "egress",
            fields(json!({"decision": "deny", "dst_endpoint": {"hostname": "evil.example", "port": 443},
                "connection_info": {"via": "proxy-connect"}, "reason": "no allow rule for evil.example:443"})),
        ),
        c.event(
            1_003,
            "dns",
            fields(json!({"decision": "deny", "query": {"hostname": "evil.example", "type": "A"}, "rcode": "NXDOMAIN", "reason": "not-allowed"})),
        ),
        c.end(2_000, Map::new()),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn verify_passes_an_intact_log_and_names_the_first_bad_line_of_a_damaged_one() {
    let dir = scratch("audit-verify");
    let log = written_log();
    write(&dir, "a.jsonl", &log);
    let o = policyc(&["audit", "verify", "a.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .starts_with("a.jsonl: intact: 5 records in 1 sessions; the last is seq 4 sha256:"),
        "{}",
        stdout(&o)
    );

    let lines: Vec<&str> = log.lines().collect();
    let edited = log.replacen("\"allow\"", "\"deny\"", 1);
    write(&dir, "edited.jsonl", &edited);
    let o = policyc(&["audit", "verify", "edited.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "error[P1702]: edited.jsonl:2: line 2 was edited");
    assert_stderr_has(&o, "= hint: ");

    let swapped = [lines[0], lines[2], lines[1], lines[3], lines[4]].join("\n") + "\n";
    write(&dir, "swapped.jsonl", &swapped);
    let o = policyc(&["audit", "verify", "swapped.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "error[P1703]: swapped.jsonl:2:");

    let cut = lines[..4].join("\n") + "\n";
    write(&dir, "cut.jsonl", &cut);
    let o = policyc(
        &["audit", "verify", "cut.jsonl", "--error-format", "json"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let err: Value = serde_json::from_str(stderr(&o).trim()).unwrap();
    assert_eq!(err["code"], "P1704");
    assert_eq!(err["line"], 5);

    // Against the anchor of a longer log, the shorter one fails; a malformed anchor is a
    // usage error.
    write(&dir, "anchor", r#"{"seq":9,"hash":"sha256:00"}"#);
    let o = policyc(&["audit", "verify", "a.jsonl", "--anchor", "anchor"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "error[P1705]");
    write(&dir, "bad-anchor", "seq 9");
    let o = policyc(
        &["audit", "verify", "a.jsonl", "--anchor", "bad-anchor"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = policyc(&["audit", "verify", "missing.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn show_prints_records_readably_and_filters_them() {
    let dir = scratch("audit-show");
    write(&dir, "a.jsonl", &written_log());
    let o = policyc(&["audit", "show", "a.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].contains("1970-01-01T00:00:01.000Z")
            && lines[0].contains("session 0123456789ab policy `p`"),
        "{out}"
    );
    assert!(
        lines[1].contains("allow  egress")
            && lines[1].contains("api.example.com:443 via proxy-connect token api rule p.policy:5"),
        "{out}"
    );
    assert!(
        lines[3].contains("evil.example A -> NXDOMAIN: not-allowed"),
        "{out}"
    );
    assert!(lines[4].contains("session 0123456789ab: 3 events"), "{out}");

    let o = policyc(
        &["audit", "show", "a.jsonl", "--decision", "deny", "--json"],
        &dir,
    );
    let out = stdout(&o);
    let kinds: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("egress"), json!("dns")], "{out}");

    let o = policyc(
        &["audit", "show", "a.jsonl", "--host", "EVIL.example"],
        &dir,
    );
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    let o = policyc(&["audit", "show", "a.jsonl", "--token", "api"], &dir);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("api.example.com"));

    write(
        &dir,
        "edited.jsonl",
        &written_log().replacen("evil", "good", 1),
    );
    let o = policyc(&["audit", "show", "edited.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(0));
    assert_stderr_has(&o, "warning: edited.jsonl:3: the log is not intact (P1702)");
}

fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A plain HTTP server on loopback answering `plain`.
fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
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
    port
}

#[test]
fn exec_writes_a_log_that_verifies_with_rules_by_line_and_fails_once_edited() {
    if !root() || !Path::new("/usr/bin/python3").exists() {
        cannot_run("policyc exec with an audit log needs root and /usr/bin/python3");
        return;
    }
    let dir = scratch("audit-exec");
    let port = server();
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
    audit {{ egress; dns }}
    include runtime_guards
}}
"#
    );
    let rule_line = policy
        .lines()
        .position(|l| l.contains("allow \"plain.test\""))
        .unwrap()
        + 1;
    write(&dir, "web.policy", &policy);
    let script = format!(
        "import socket, urllib.request, urllib.error\n\
         print(socket.gethostbyname('plain.test').startswith('127.'))\n\
         try:\n    socket.gethostbyname('evil.example')\nexcept socket.gaierror:\n    print('nxdomain')\n\
         print(urllib.request.urlopen('http://plain.test:{port}/', timeout=10).read().decode().strip())\n\
         try:\n    urllib.request.urlopen('http://evil.example/', timeout=10)\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n"
    );
    let pin = format!("plain.test:{port}:127.0.0.1");
    let o = policyc(
        &[
            "exec",
            "web.policy",
            "--resolve",
            &pin,
            "--audit-log",
            "audit.jsonl",
            "--audit-anchor",
            "anchor.json",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            &script,
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "True\nnxdomain\nplain\n403\n", "{}", stderr(&o));
    assert_stderr_has(
        &o,
        "policyc exec: audit log audit.jsonl: 4 events; it ends at seq 5 sha256:",
    );

    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = format!("web.policy:{rule_line}");
    let find = |kind: &str, decision: &str| {
        records
            .iter()
            .find(|r| r["kind"] == kind && r["decision"] == decision)
            .unwrap_or_else(|| panic!("no {decision} {kind} record in\n{text}"))
    };
    let dns_allow = find("dns", "allow");
    assert_eq!(
        (
            &dns_allow["query"]["hostname"],
            &dns_allow["rule"],
            &dns_allow["class_uid"]
        ),
        (&json!("plain.test"), &json!(at), &json!(4003)),
        "{text}"
    );
    let dns_deny = find("dns", "deny");
    assert_eq!(
        (&dns_deny["query"]["hostname"], &dns_deny["rcode"]),
        (&json!("evil.example"), &json!("NXDOMAIN")),
        "{text}"
    );
    let allowed = find("egress", "allow");
    assert_eq!(
        (&allowed["dst_endpoint"]["hostname"], &allowed["rule"]),
        (&json!("plain.test"), &json!(at)),
        "{text}"
    );
    assert_eq!(
        allowed["http_request"]["host"],
        json!(format!("plain.test:{port}")),
        "{text}"
    );
    let denied = find("egress", "deny");
    assert_eq!(denied["dst_endpoint"]["hostname"], "evil.example", "{text}");
    assert!(
        records
            .iter()
            .all(|r| r["policy_hash"] == json!(hash(policy.as_bytes()))),
        "{text}"
    );

    let o = policyc(
        &["audit", "verify", "audit.jsonl", "--anchor", "anchor.json"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = policyc(
        &["audit", "show", "audit.jsonl", "--decision", "deny"],
        &dir,
    );
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));

    let edited = text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1);
    assert_ne!(edited, text);
    write(&dir, "audit.jsonl", &edited);
    let o = policyc(&["audit", "verify", "audit.jsonl"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_stderr_has(&o, "error[P1702]");
}
