//! `policyc token mint|inspect|verify|attenuate`: key files, JSON output, refusals with
//! their codes, and a key file's secret never printed.

use super::{assert_stderr_has, policyc, scratch, stderr, stdout};

const POLICY: &str = "policy p {
    isolation process
    net {
        egress via proxy {
            allow \"api.example.com\":443 with token api
        }
        dns allow-listed-only
    }
    token api {
        audience \"api.example.com\"
        scope \"read\", \"write\"
        ttl 15m
    }
}
";

#[test]
fn mint_from_a_policy_verifies_for_its_audience_and_scope_only() {
    let dir = scratch("token-mint");
    std::fs::write(dir.join("p.policy"), POLICY).unwrap();
    let out = policyc(
        &["token", "mint", "--key", "k", "p.policy", "--token", "api"],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_stderr_has(&out, "created the key file `k`");
    let key = std::fs::read_to_string(dir.join("k")).unwrap();
    assert!(key.starts_with("ed25519-private/"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.join("k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = key.trim().trim_start_matches("ed25519-private/");
    assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    let cap = stdout(&out).trim().to_string();
    std::fs::write(dir.join("cap"), &cap).unwrap();

    let ok = policyc(
        &[
            "token",
            "verify",
            "--key",
            "k",
            "--audience",
            "api.example.com",
            "--scope",
            "write",
            "@cap",
        ],
        &dir,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("token:    api"), "{}", stdout(&ok));

    let other = policyc(
        &[
            "token",
            "verify",
            "--key",
            "k",
            "--audience",
            "evil.example",
            "--scope",
            "read",
            "--json",
            "@cap",
        ],
        &dir,
    );
    assert_eq!(other.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&other)).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["refusal"], "wrong-audience");
    assert_stderr_has(&other, "error[P1603]");
    assert_stderr_has(&other, "hint:");

    let scope = policyc(
        &[
            "token",
            "verify",
            "--key",
            "k",
            "--audience",
            "api.example.com",
            "--scope",
            "admin",
            "@cap",
        ],
        &dir,
    );
    assert_eq!(scope.status.code(), Some(1));
    assert_stderr_has(&scope, "(wrong-scope)");
}

#[test]
fn attenuate_narrows_and_inspect_shows_blocks_and_claims() {
    let dir = scratch("token-attenuate");
    let out = policyc(
        &[
            "token",
            "mint",
            "--key",
            "k",
            "--name",
            "api",
            "--audience",
            "api.example.com",
            "--scope",
            "read",
            "--scope",
            "write",
            "--ttl",
            "10m",
            "--json",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["claims"]["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(v["claims"]["policy"], "none");
    let cap = v["capability"].as_str().unwrap().to_string();

    let narrowed = policyc(&["token", "attenuate", "--scope", "read", &cap], &dir);
    assert!(narrowed.status.success(), "{}", stderr(&narrowed));
    let narrowed = stdout(&narrowed).trim().to_string();
    let verify = |scope: &str| {
        policyc(
            &[
                "token",
                "verify",
                "--key",
                "k",
                "--audience",
                "api.example.com",
                "--scope",
                scope,
                &narrowed,
            ],
            &dir,
        )
    };
    assert!(verify("read").status.success());
    let write = verify("write");
    assert_eq!(write.status.code(), Some(1));
    assert_stderr_has(&write, "(narrowed)");

    let shown = policyc(
        &["token", "inspect", "--key", "k", "--json", &narrowed],
        &dir,
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    let v: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 2);
    assert!(v["blocks"][1].as_str().unwrap().contains("request_scope"));
    let unkeyed = policyc(&["token", "inspect", &narrowed], &dir);
    assert!(stdout(&unkeyed).contains("signatures: not checked"));

    let nothing = policyc(&["token", "attenuate", &cap], &dir);
    assert_eq!(nothing.status.code(), Some(2));
    assert_stderr_has(&nothing, "error[P1604]");
}

#[test]
fn bad_inputs_have_stable_codes() {
    let dir = scratch("token-errors");
    std::fs::write(dir.join("bad-key"), "ed25519-private/zz").unwrap();
    let key = policyc(
        &[
            "token",
            "mint",
            "--key",
            "bad-key",
            "--audience",
            "a.example",
            "--scope",
            "r",
            "--ttl",
            "1m",
        ],
        &dir,
    );
    assert_eq!(key.status.code(), Some(2));
    assert_stderr_has(&key, "error[P1601]");
    let junk = policyc(&["token", "inspect", "not-a-capability"], &dir);
    assert_eq!(junk.status.code(), Some(2));
    assert_stderr_has(&junk, "error[P1602]");
    let ttl = policyc(
        &[
            "--error-format",
            "json",
            "token",
            "mint",
            "--key",
            "k",
            "--audience",
            "a.example",
            "--scope",
            "r",
            "--ttl",
            "soon",
        ],
        &dir,
    );
    assert_eq!(ttl.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(stderr(&ttl).lines().last().unwrap()).unwrap();
    assert_eq!(v["code"], "P1604");
    std::fs::write(dir.join("p.policy"), POLICY).unwrap();
    let unknown = policyc(
        &["token", "mint", "--key", "k", "p.policy", "--token", "nope"],
        &dir,
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert_stderr_has(&unknown, "has no token `nope` (it has: api)");

    // A capability minted with another key is refused as tampered or foreign.
    let a = policyc(
        &[
            "token",
            "mint",
            "--key",
            "k1",
            "--audience",
            "a.example",
            "--scope",
            "r",
            "--ttl",
            "1m",
        ],
        &dir,
    );
    let cap = stdout(&a).trim().to_string();
    let _ = policyc(
        &[
            "token",
            "mint",
            "--key",
            "k2",
            "--audience",
            "a.example",
            "--scope",
            "r",
            "--ttl",
            "1m",
        ],
        &dir,
    );
    let foreign = policyc(
        &[
            "token",
            "verify",
            "--key",
            "k2",
            "--audience",
            "a.example",
            "--scope",
            "r",
            &cap,
        ],
        &dir,
    );
    assert_eq!(foreign.status.code(), Some(1));
    assert_stderr_has(&foreign, "(tampered)");
}
