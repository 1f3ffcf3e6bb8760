#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::egress::dns::{Decision, DnsEvent, Rcode, Reason, Transport};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::{EmitContext, Target as _};
use policyc_verify::audit::{hash, verify};

const POLICY: &str = r#"policy p {
    isolation process
    net {
        egress via proxy {
            allow "api.example.com":443 with token api
        }
        dns allow-listed-only
    }
    token api { audience "api.example.com"; scope "read"; ttl 5m }
}
"#;

fn rules() -> Rules {
    let mut sources = policyc_compiler::SourceMap::new();
    let id = sources.add("p.policy", POLICY.to_string());
    let out = policyc_compiler::compile(&mut sources, id, &policyc_compiler::NoModules);
    assert!(!out.diagnostics.has_errors(), "{:?}", out.diagnostics);
    let emitted = Egress
        .emit(out.policies.first().unwrap(), &EmitContext::default())
        .unwrap();
    let artifact = Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap();
    Rules::new(artifact, vec!["p.policy:5".to_string()])
}

fn open(path: &Path, anchor: Option<PathBuf>) -> Log {
    let settings = Settings {
        policy: "p".into(),
        policy_hash: hash(POLICY.as_bytes()),
        egress: true,
        denials: false,
        anchor,
    };
    Log::open(settings, &rules(), Some(path))
        .unwrap()
        .with_clock(|| 1_000)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_session_is_chained_with_rule_locations_and_token_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/audit.jsonl");
    let anchor = dir.path().join("anchor.json");
    let log = open(&path, Some(anchor.clone()));
    let text = rules().artifact().rules[0].rule.clone();
    log.start(42, "curl");
    let mut r = Record::new(Via::Connect, 443);
    r.host = Some("api.example.com".into());
    r.rule = Some("p.policy:5".into());
    r.rule_text = Some(text.clone());
    r.sni = Some("api.example.com".into());
    r.dialled = Some("203.0.113.7:443".parse().unwrap());
    r.allowed = true;
    r.bytes_in = 10;
    log.write(&r);
    log.write_dns(&DnsEvent {
        name: "api.example.com".into(),
        qtype: "A".into(),
        rcode: Rcode::NoError,
        decision: Decision::Allow,
        reason: Reason::Listed,
        answer: Some("127.80.0.1".parse().unwrap()),
        rule: Some(text),
        upstream: false,
        transport: Transport::Udp,
    });
    log.end(Duration::ZERO);
    log.write(&r);

    let bytes = std::fs::read(&path).unwrap();
    let summary = verify(&bytes, None).unwrap();
    assert_eq!((summary.records, summary.sessions), (4, 1));
    let kept: Anchor = serde_json::from_slice(&std::fs::read(&anchor).unwrap()).unwrap();
    assert_eq!(kept, summary.last);
    let l = lines(&path);
    assert_eq!(l[0]["process"], json!({"pid": 42, "name": "curl"}));
    assert!(l.iter().all(|r| r["time"] == 1_000));
    assert_eq!(l[1]["class_uid"], 4002);
    assert_eq!(l[1]["type_uid"], 400_201);
    assert_eq!(l[1]["rule"], "p.policy:5");
    assert_eq!(
        l[1]["token"],
        json!({"name": "api", "audience": "api.example.com", "scopes": ["read"]})
    );
    assert_eq!(l[1]["dst_endpoint"]["ip"], "203.0.113.7");
    assert_eq!(l[2]["class_uid"], 4003);
    assert_eq!(
        l[2]["rule"], "p.policy:5",
        "a lookup names the rule by its line"
    );
    assert_eq!(l[2]["answers"][0]["rdata"], "127.80.0.1");
    assert_eq!(l[3]["count"], 2);

    // The next session continues the chain in the same file.
    let again = open(&path, None);
    again.start(43, "curl");
    again.end(Duration::ZERO);
    let summary = verify(&std::fs::read(&path).unwrap(), Some(&kept)).unwrap();
    assert_eq!((summary.records, summary.sessions), (6, 2));
}

#[test]
fn a_file_that_is_not_a_log_is_not_continued_and_no_path_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello\n").unwrap();
    let settings = Settings::default();
    let err = Log::open(settings.clone(), &rules(), Some(&path)).unwrap_err();
    assert!(
        err.to_string().contains("not a policyc audit record"),
        "{err}"
    );
    std::fs::write(&path, "{\"seq\":1").unwrap();
    assert!(Log::open(settings.clone(), &rules(), Some(&path)).is_err());
    let none = Log::open(settings, &rules(), None).unwrap();
    none.start(1, "x");
    none.end(Duration::ZERO);
    assert!(none.path().is_none());
}

#[test]
fn denials_and_writes_are_chained_records_with_their_fields() {
    use crate::sandbox::writes::{Kind, Summary, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let settings = Settings {
        policy: "p".into(),
        policy_hash: hash(POLICY.as_bytes()),
        egress: false,
        denials: true,
        anchor: None,
    };
    let log = Log::open_plain(settings, Some(&path))
        .unwrap()
        .with_clock(|| 7);
    log.start(42, "python3");
    log.write_denial(&Denial {
        layer: "seccomp",
        syscall: Some("acct".into()),
        nr: 163,
        pid: 43,
        args: [0; 6],
        errno: "EPERM".into(),
        rule: "p.policy:2".into(),
        reason: "not allowed by any rule of the syscalls block".into(),
    });
    // A refused connection is recorded under `denials` although `egress` is off; an
    // allowed one is not.
    let mut refused = Record::new(Via::Connect, 443);
    refused.host = Some("evil.example".into());
    refused.reason = "no allow rule".into();
    log.write(&refused);
    let mut allowed = refused.clone();
    allowed.allowed = true;
    log.write(&allowed);
    log.write_files(&Summary {
        writes: vec![
            Write {
                kind: Kind::Create,
                path: "/o/a".into(),
                from: None,
                folder: false,
                count: 1,
            },
            Write {
                kind: Kind::Rename,
                path: "/o/c".into(),
                from: Some("/o/b".into()),
                folder: true,
                count: 2,
            },
        ],
        unattributed: 3,
        overflowed: false,
    });
    log.end(Duration::ZERO);
    let v = lines(&path);
    let kinds: Vec<&str> = v.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "session-start",
            "denial",
            "egress",
            "write",
            "write",
            "session-end"
        ]
    );
    let d = &v[1];
    assert_eq!(
        (d["layer"].as_str(), d["syscall"].as_str(), d["nr"].as_u64()),
        (Some("seccomp"), Some("acct"), Some(163))
    );
    assert_eq!(
        (d["pid"].as_u64(), d["errno"].as_str(), d["rule"].as_str()),
        (Some(43), Some("EPERM"), Some("p.policy:2"))
    );
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["process"]["pid"], 42);
    assert_eq!(v[2]["decision"], "deny");
    let create = &v[3];
    assert_eq!(create["class_uid"], 1001);
    assert_eq!(create["type_uid"], 100_101);
    assert_eq!(create["write"], "create");
    assert_eq!(create["file"]["path"], "/o/a");
    assert_eq!(create["file"]["type"], "Regular File");
    assert!(create.get("file_result").is_none());
    let rename = &v[4];
    assert_eq!(rename["activity_name"], "Rename");
    assert_eq!(rename["file"]["path"], "/o/b");
    assert_eq!(rename["file_result"]["path"], "/o/c");
    assert_eq!(rename["file"]["type"], "Folder");
    assert_eq!(rename["count"], 2);
    let end = &v[5];
    assert_eq!(end["count"], 4);
    assert_eq!(end["writes_unattributed"], 3);
    assert_eq!(end["writes_lost"], false);
    let bytes = std::fs::read(&path).unwrap();
    verify(&bytes, None).unwrap();
    // An edited write record no longer verifies.
    let edited = String::from_utf8(bytes)
        .unwrap()
        .replacen("/o/a", "/o/z", 1);
    assert!(verify(edited.as_bytes(), None).is_err());
}

#[test]
fn without_denials_a_denial_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = open(&path, None);
    log.start(1, "x");
    log.write_denial(&Denial {
        layer: "seccomp",
        syscall: None,
        nr: 1,
        pid: 1,
        args: [0; 6],
        errno: "EPERM".into(),
        rule: String::new(),
        reason: String::new(),
    });
    log.end(Duration::ZERO);
    let kinds: Vec<String> = lines(&path)
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["session-start", "session-end"]);
}

#[test]
fn a_log_another_session_is_writing_is_not_opened_until_that_session_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = open(&path, None);
    first.start(1, "a");
    let err = Log::open(Settings::default(), &rules(), Some(&path)).unwrap_err();
    assert!(
        err.to_string().contains("another `policyc exec` session"),
        "{err}"
    );
    first.end(Duration::ZERO);
    drop(first);
    let second = open(&path, None);
    second.start(2, "b");
    second.end(Duration::ZERO);
    drop(second);
    let summary = verify(&std::fs::read(&path).unwrap(), None).unwrap();
    assert_eq!(summary.sessions, 2);
}
