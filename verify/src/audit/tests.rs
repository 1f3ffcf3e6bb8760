#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use policyc_compiler::Code;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// A log of `sessions` sessions with `events` events each, at fixed times.
fn log(sessions: usize, events: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for s in 0..sessions {
        let id = format!("session-{s}");
        let mut c = Chain::resume(&id, &hash(b"policy p {}"), &out).unwrap();
        let mut push = |line: String| {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        };
        push(c.start(1_000, fields(json!({"policy": "p"}))));
        for e in 0..events {
            let d = if e % 2 == 0 { "allow" } else { "deny" };
            push(c.event(
                1_001 + e as u64,
                "egress",
                fields(json!({"decision": d, "host": "api.example.com"})),
            ));
        }
        push(c.end(2_000, Map::new()));
    }
    out
}

fn lines(log: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = log.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    v.pop();
    v
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

#[test]
fn an_intact_log_verifies_and_names_its_last_record() {
    let l = log(2, 3);
    let s = verify(&l, None).unwrap();
    assert_eq!(s.records, 10);
    assert_eq!(s.sessions, 2);
    assert_eq!(s.last.seq, 9);
    assert_eq!(s.last.hash, hash(&lines(&l)[9]));
    assert_eq!(verify(&l, Some(&s.last)), Ok(s.clone()));
}

#[test]
fn the_format_is_as_documented() {
    let l = log(1, 1);
    let ls = lines(&l);
    let first = String::from_utf8(ls[0].clone()).unwrap();
    assert!(
        first.starts_with(&format!(
            "{{\"seq\":0,\"prev\":\"{GENESIS}\",\"session\":\"session-0\",\"policy_hash\":\"sha256:"
        )),
        "{first}"
    );
    assert!(first.contains("\"time\":1000,\"kind\":\"session-start\",\"format\":\"policyc-audit\",\"version\":1,\"policy\":\"p\"}"), "{first}");
    let second: Value = serde_json::from_slice(&ls[1]).unwrap();
    assert_eq!(second["prev"], json!(hash(&ls[0])));
    let end = String::from_utf8(ls[2].clone()).unwrap();
    assert!(
        end.contains("\"kind\":\"session-end\",\"count\":1,\"seal\":\"sha256:"),
        "{end}"
    );
}

#[test]
fn an_event_cannot_forge_the_header() {
    let mut c = Chain::resume("s", "h", b"").unwrap();
    let start = c.start(1, Map::new());
    let line = c.event(
        2,
        "egress",
        fields(json!({"kind": "forged", "seq": 99, "prev": "x", "session": "other"})),
    );
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["seq"], json!(1));
    assert_eq!(v["prev"], json!(hash(start.as_bytes())));
    assert_eq!(v["session"], json!("s"));
    assert_eq!(v["kind"], json!("egress"));
}

#[test]
fn each_kind_of_damage_has_its_code_and_line() {
    let ls = lines(&log(1, 3));
    let check = |l: Vec<u8>| verify(&l, None).unwrap_err();

    // An edited event: detected where the next line's `prev` disagrees, named as line 2.
    let mut edited = ls.clone();
    edited[1] = String::from_utf8(edited[1].clone())
        .unwrap()
        .replace("allow", "deny!")
        .into_bytes();
    let b = check(join(&edited));
    assert_eq!((b.code, b.line), (Code::AuditEdited, 2), "{b:?}");

    let mut swapped = ls.clone();
    swapped.swap(1, 2);
    let b = check(join(&swapped));
    assert_eq!((b.code, b.line), (Code::AuditReordered, 2), "{b:?}");

    let mut dropped = ls.clone();
    dropped.remove(2);
    let b = check(join(&dropped));
    assert_eq!((b.code, b.line), (Code::AuditReordered, 3), "{b:?}");

    let b = check(join(&ls[..4]));
    assert_eq!((b.code, b.line), (Code::AuditTruncated, 5), "{b:?}");
    assert!(b.message.contains("without a session-end"), "{b:?}");

    let b = check(join(&ls[1..]));
    assert_eq!((b.code, b.line), (Code::AuditTruncated, 1), "{b:?}");

    let mut cut = join(&ls);
    cut.truncate(cut.len() - 10);
    let b = check(cut);
    assert_eq!((b.code, b.line), (Code::AuditTruncated, 5), "{b:?}");

    let mut junk = ls.clone();
    junk.insert(2, b"hello".to_vec());
    let b = check(join(&junk));
    assert_eq!((b.code, b.line), (Code::AuditMalformed, 3), "{b:?}");

    let mut recount = ls.clone();
    recount[4] = String::from_utf8(recount[4].clone())
        .unwrap()
        .replace("\"count\":3", "\"count\":2")
        .into_bytes();
    let b = check(join(&recount));
    assert_eq!((b.code, b.line), (Code::AuditEdited, 5), "{b:?}");

    assert_eq!(check(Vec::new()).code, Code::AuditTruncated);
}

#[test]
fn a_session_without_its_end_is_reported_where_the_next_begins() {
    let mut out = Vec::new();
    let mut c = Chain::resume("a", "h", &out).unwrap();
    out.extend_from_slice(c.start(1, Map::new()).as_bytes());
    out.push(b'\n');
    let mut c = Chain::resume("b", "h", &out).unwrap();
    out.extend_from_slice(c.start(2, Map::new()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(c.end(3, Map::new()).as_bytes());
    out.push(b'\n');
    let b = verify(&out, None).unwrap_err();
    assert_eq!((b.code, b.line), (Code::AuditTruncated, 2), "{b:?}");
    assert!(b.message.contains("line 1 has no end record"), "{b:?}");
}

#[test]
fn the_anchor_catches_a_cut_after_a_session_end_and_a_rewrite() {
    let l = log(2, 1);
    let anchor = verify(&l, None).unwrap().last;
    let first = join(&lines(&l)[..3]);
    assert!(
        verify(&first, None).is_ok(),
        "a whole session cut off is not detectable alone"
    );
    let b = verify(&first, Some(&anchor)).unwrap_err();
    assert_eq!(b.code, Code::AuditAnchorMismatch);
    let other = log(2, 1)
        .iter()
        .map(|b| if *b == b'p' { b'q' } else { *b })
        .collect::<Vec<u8>>();
    let rewritten = {
        // A rewrite that recomputes the chain verifies alone, but not against the anchor.
        let mut out = Vec::new();
        for s in 0..2 {
            let mut c = Chain::resume(&format!("s{s}"), "h", &out).unwrap();
            for line in [
                c.start(5, Map::new()),
                c.event(6, "dns", Map::new()),
                c.end(7, Map::new()),
            ] {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        out
    };
    assert!(verify(&rewritten, None).is_ok());
    assert_eq!(
        verify(&rewritten, Some(&anchor)).unwrap_err().code,
        Code::AuditAnchorMismatch
    );
    assert!(verify(&other, None).is_err());
}

#[test]
fn resuming_refuses_what_is_not_a_log() {
    assert_eq!(
        Chain::resume("s", "h", b"{\"seq\":1}"),
        Err(ResumeError::Incomplete)
    );
    assert!(matches!(
        Chain::resume("s", "h", b"hello\n"),
        Err(ResumeError::NotALog(_))
    ));
    let l = log(1, 1);
    let c = Chain::resume("s", "h", &l).unwrap();
    assert_eq!(c.next_seq(), 3);
    assert_eq!(c.last_hash(), hash(&lines(&l)[2]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_single_byte_edit_is_detected(events in 0usize..5, at in any::<prop::sample::Index>(), to in any::<u8>()) {
        let mut l = log(1, events);
        let i = at.index(l.len());
        prop_assume!(l[i] != to);
        l[i] = to;
        prop_assert!(verify(&l, None).is_err());
    }

    #[test]
    fn any_swap_drop_or_tail_cut_is_detected(events in 1usize..6, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let l = log(1, events);
        let ls = lines(&l);
        let (i, j) = (a.index(ls.len()), b.index(ls.len()));
        if i != j {
            let mut swapped = ls.clone();
            swapped.swap(i, j);
            prop_assert!(verify(&join(&swapped), None).is_err());
        }
        let mut dropped = ls.clone();
        dropped.remove(i);
        prop_assert!(verify(&join(&dropped), None).is_err());
        let n = cut.index(l.len());
        prop_assert!(verify(&l[..n], None).is_err());
    }
}
