//! EGRESS.md cases 11, 12 and 15 through the egress supervisor, live, in the fixture of
//! [`super::egress`]: a subdomain of an exactly named host, raw and packet sockets and
//! DNS over HTTPS, and a live audit log edited, reordered or cut.

use super::egress::{live, op, World, FORBIDDEN, TUNNEL};

#[test]
fn egress_case_11_a_subdomain_of_an_exactly_named_host_is_refused() {
    if !live() {
        return;
    }
    let w = World::new();
    let (t, h) = (w.tls.port.to_string(), w.http.port.to_string());
    let got = w.probe(&[
        op(&["connect", &format!("sub.allowed.test:{t}")]),
        op(&["connect", &format!("a.b.allowed.test:{t}")]),
        op(&[
            "get",
            &format!("http://sub.plain.test:{h}/"),
            &format!("sub.plain.test:{h}"),
        ]),
        op(&[
            "connect-tls",
            &format!("allowed.test:{t}"),
            "sub.allowed.test",
        ]),
        op(&["tls", &w.address("allowed.test"), &t, "sub.allowed.test"]),
        op(&["resolve", "sub.allowed.test"]),
        op(&["resolve", "www.plain.test"]),
    ]);
    let closed = format!("{TUNNEL} / closed");
    assert_eq!(
        got,
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            closed.as_str(),
            "closed",
            "error -2",
            "error -2"
        ]
    );
    assert_eq!(w.hits(), 0, "a subdomain reached an upstream");
}

#[test]
fn egress_case_12_raw_and_packet_sockets_reach_nothing_beyond_lo() {
    if !live() {
        return;
    }
    let w = World::new();
    // The host's own interfaces, named from outside the namespace: none is there inside.
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    host.push("eth0".into());
    host.sort();
    host.dedup();
    let mut ops = vec![
        op(&["interfaces"]),
        op(&["raw", "8.8.8.8"]),
        op(&["raw", "169.254.169.254"]),
        op(&["raw", "2001:4860:4860::8888"]),
        // DoH: the resolver's name through the proxy, its address directly.
        op(&["connect", "dns.google:443"]),
        op(&["get", "http://dns.google/dns-query?name=x", "dns.google"]),
        op(&["direct", "8.8.8.8", "443", "tcp"]),
    ];
    ops.extend(host.iter().map(|n| op(&["packet", n])));
    let got = w.probe_namespace_only(&ops);
    // EPERM: the program has no CAP_NET_RAW, so no raw or packet socket opens at all (and
    // the namespace it would send from has nothing but `lo`).
    let mut want = vec![
        "lo".to_string(),
        "errno 1".into(),
        "errno 1".into(),
        "errno 1".into(),
        FORBIDDEN.into(),
        FORBIDDEN.into(),
        "errno 101".into(),
    ];
    want.extend(host.iter().map(|_| "errno 1".to_string()));
    assert_eq!(got, want, "host interfaces tried: {host:?}");
    assert_eq!(w.hits(), 0);
}

#[test]
fn egress_case_15_an_edited_truncated_or_reordered_live_audit_log_fails_verification() {
    use policyc_verify::audit::{verify, Anchor};
    if !live() {
        return;
    }
    let w = World::new();
    let log = w.dir.join("audit/egress.jsonl");
    let anchor_file = w.dir.join("audit/anchor.json");
    let p = w.tls.port;
    let script = format!(
        "/usr/bin/python3 -I probe.py '{}' '{}'",
        op(&["connect-tls", &format!("allowed.test:{p}"), "allowed.test"]),
        op(&["connect", "evil.example:443"])
    );
    // Two sessions in one log, as two runs with the same --audit-log and --audit-anchor.
    for _ in 0..2 {
        let mut config = w.config(Some(log.clone()));
        config.audit_anchor = Some(anchor_file.clone());
        let (code, out) = w.run_with(config, true, &script);
        assert_eq!(code, 0, "{out}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let anchor: Anchor =
        serde_json::from_str(&std::fs::read_to_string(&anchor_file).unwrap()).unwrap();
    let intact = verify(text.as_bytes(), Some(&anchor)).unwrap();
    assert_eq!((intact.records, intact.sessions), (8, 2), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let code = |damaged: &str, anchor: Option<&Anchor>| {
        let broken = verify(damaged.as_bytes(), anchor).expect_err("a damaged log verified");
        (broken.code.as_str(), broken.line)
    };

    // Edited: the denial made an allowance.
    let edited = text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1);
    assert_ne!(edited, text);
    assert_eq!(code(&edited, None).0, "P1702");
    // Reordered: two records swapped; one removed from the middle.
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    assert_eq!(code(&join(&swapped), None), ("P1703", 2));
    let mut removed = lines.clone();
    removed.remove(1);
    assert_eq!(code(&join(&removed), None).0, "P1703");
    // Truncated: the last line cut in half; the last session's end dropped; and the whole
    // second session dropped, which only the anchor kept elsewhere shows.
    let half = &text[..text.len() - lines[7].len() / 2];
    assert_eq!(code(half, None).0, "P1704");
    assert_eq!(code(&join(&lines[..7]), None).0, "P1704");
    let first_session = join(&lines[..4]);
    assert!(verify(first_session.as_bytes(), None).is_ok());
    assert_eq!(code(&first_session, Some(&anchor)).0, "P1705");
}
