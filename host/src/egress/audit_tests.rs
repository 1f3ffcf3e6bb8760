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
