//! Capability tokens, live: a program under the egress supervisor holds only a capability
//! (`POLICYC_TOKEN_API`); the supervisor terminates its TLS with the session CA, verifies
//! the capability and puts the real secret in `Authorization` for the bound host only. A
//! loopback HTTPS upstream this test starts records every Authorization header and counts
//! connections: refused capabilities (missing, expired, for another audience, tampered)
//! must leave the count where it was. Nothing leaves this machine.

use super::tempdir;
use policyc_compiler::hosts::Host;
use policyc_host::egress::tokens::{Secret, Settings};
use policyc_host::egress::upstream::Pin;
use policyc_host::egress::{Config, Supervisor};
use policyc_targets::egress::{Artifact, Egress, FILE};
use policyc_targets::{EmitContext, Target as _};
use policyc_testkit::live::cannot_run;
use policyc_testkit::stdlib::compile_text;
use policyc_token::Grant;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_rustls::rustls;

const SECRET: &str = "sk-live-5ecret-only-the-supervisor-holds";
const SECRET_VAR: &str = "POLICYC_LIVE_TOKEN_TEST_SECRET";

fn live() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if root && Path::new("/usr/bin/curl").exists() {
        return true;
    }
    cannot_run("the live token tests need root and /usr/bin/curl");
    false
}

/// A loopback HTTPS server for `name` (its certificate signed by a CA made now) that counts
/// connections and records each request's Authorization header.
struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
    auth: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start(dir: &Path, name: &str) -> (Upstream, PathBuf) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "upstream test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let ca_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let (h, a) = (Arc::clone(&hits), Arc::clone(&auth));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                let (config, a) = (Arc::clone(&config), Arc::clone(&a));
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, s);
                    let mut seen = String::from("(none)");
                    {
                        let mut r = BufReader::new(&mut tls);
                        let mut line = String::new();
                        while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                            if let Some(v) = line.strip_prefix("Authorization: ") {
                                seen = v.trim().to_string();
                            }
                            line.clear();
                        }
                    }
                    a.lock().unwrap().push(seen);
                    let _ = write!(
                        tls,
                        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nupstream\n"
                    );
                    let _ = tls.flush();
                });
            }
        });
        (Upstream { port, hits, auth }, ca_file)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn auth(&self) -> Vec<String> {
        self.auth.lock().unwrap().clone()
    }
}

struct Fixture {
    _d: tempfile::TempDir,
    dir: PathBuf,
    api: Upstream,
    other: Upstream,
    roots: Vec<PathBuf>,
}

impl Fixture {
    fn new() -> Fixture {
        let (d, dir) = tempdir();
        let (api, ca1) = Upstream::start(&dir, "api.test");
        let (other, ca2) = Upstream::start(&dir, "other.test");
        Fixture {
            _d: d,
            dir,
            api,
            other,
            roots: vec![ca1, ca2],
        }
    }

    fn config(&self, audit: PathBuf) -> Config {
        let (a, o) = (self.api.port, self.other.port);
        let text = format!(
            r#"policy tokens_test {{
    isolation process
    net {{
        egress via proxy {{
            allow "api.test":{a} with token api
            allow "other.test":{o}
        }}
        dns allow-listed-only
    }}
    token api {{
        audience "api.test"
        scope "read"
        ttl 15m
    }}
    audit {{ egress; tokens }}
}}
"#
        );
        let (_, policies) = compile_text("tokens.policy", &text);
        let policy = policies.first().unwrap();
        let emitted = Egress.emit(policy, &EmitContext::default()).unwrap();
        let artifact = Artifact::parse(emitted.artifacts.get(FILE).unwrap()).unwrap();
        let pin = |host: &str, port: u16| Pin {
            host: Host::parse(host).unwrap(),
            port,
            addr: "127.0.0.1".parse().unwrap(),
        };
        // The supervisor reads the secret from its own environment, as `--secret
        // api=env:VAR` does; the program's environment must not have it.
        std::env::set_var(SECRET_VAR, SECRET);
        let arg = format!("api=env:{SECRET_VAR}").parse().unwrap();
        let secret = Secret::read(&arg).unwrap();
        Config {
            locations: vec![String::new(); artifact.rules.len()],
            artifact,
            pins: vec![pin("api.test", a), pin("other.test", o)],
            audit_log: Some(audit),
            record_egress: true,
            policy_hash: "sha256:test".into(),
            audit_anchor: None,
            dns_upstream: None,
            tokens: Settings {
                policy_hash: "sha256:test".into(),
                secrets: [("api".to_string(), secret)].into_iter().collect(),
                hide_env: vec![SECRET_VAR.to_string()],
                upstream_roots: self.roots.clone(),
                ..Settings::default()
            },
        }
    }
}

/// Run `script` under `sh -c` with the supervisor; prepare the capabilities it uses with
/// `setup` (given the session's issuer) first. Its exit code and output.
fn run(
    f: &Fixture,
    audit: PathBuf,
    setup: impl FnOnce(&Supervisor),
    script: &str,
) -> (i32, String) {
    let supervisor = Supervisor::prepare(f.config(audit)).unwrap();
    setup(&supervisor);
    let out = f.dir.join("out");
    super::run_behind(supervisor, None, &f.dir, &out, script)
}

fn grant(audience: &str) -> Grant {
    Grant {
        name: "api".into(),
        audience: audience.into(),
        scopes: vec!["read".into()],
        ttl: Duration::from_secs(60),
        approval: false,
    }
}

#[test]
fn the_upstream_gets_the_real_secret_only_through_the_supervisor_and_only_for_its_host() {
    if !live() {
        return;
    }
    let f = Fixture::new();
    let audit = f.dir.join("audit.jsonl");
    let dir = f.dir.clone();
    let (a, o) = (f.api.port, f.other.port);
    let curl = "curl -sS --max-time 10";
    let script = format!(
        "tr '\\0' '\\n' </proc/$$/environ >environ.txt; \
         {curl} -H \"Authorization: Bearer $POLICYC_TOKEN_API\" https://api.test:{a}/good; echo \"good $?\"; \
         {curl} --cacert other.test-ca.pem -H \"Authorization: Bearer $POLICYC_TOKEN_API\" https://other.test:{o}/leak; echo \"other $?\"; \
         {curl} https://api.test:{a}/missing; echo \"missing $?\"; \
         {curl} -H \"Authorization: Bearer $(cat expired.cap)\" https://api.test:{a}/expired; echo \"expired $?\"; \
         {curl} -H \"Authorization: Bearer $(cat audience.cap)\" https://api.test:{a}/audience; echo \"audience $?\"; \
         {curl} -H \"Authorization: Bearer $(cat tampered.cap)\" https://api.test:{a}/tampered; echo \"tampered $?\"; \
         {curl} -H \"Authorization: Bearer $(cat foreign.cap)\" https://api.test:{a}/foreign; echo \"foreign $?\""
    );
    let (code, out) = run(
        &f,
        audit.clone(),
        |s| {
            let t = s.tokens().unwrap();
            let hour_ago = SystemTime::now() - Duration::from_secs(3600);
            let (expired, _) = t.issuer.mint(&grant("api.test"), hour_ago).unwrap();
            let (other, _) = t
                .issuer
                .mint(&grant("other.test"), SystemTime::now())
                .unwrap();
            let good = t.bound["api"].capability.clone().unwrap();
            let mut tampered = good.clone().into_bytes();
            let mid = tampered.len() / 2;
            tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
            let foreign = policyc_token::Issuer::generate("x")
                .mint(&grant("api.test"), SystemTime::now())
                .unwrap()
                .0;
            std::fs::write(dir.join("expired.cap"), expired).unwrap();
            std::fs::write(dir.join("audience.cap"), other).unwrap();
            std::fs::write(dir.join("tampered.cap"), tampered).unwrap();
            std::fs::write(dir.join("foreign.cap"), foreign).unwrap();
        },
        &script,
    );
    assert_eq!(code, 0, "{out}");
    // The good request reached the upstream with the real secret, and only it did.
    assert!(out.contains("upstream\ngood 0"), "{out}");
    assert_eq!(
        f.api.hits(),
        1,
        "refused capabilities reached the upstream:\n{out}"
    );
    assert_eq!(f.api.auth(), [format!("Bearer {SECRET}")]);
    // The host without a token got what the program sent (its capability), not the secret.
    assert!(out.contains("upstream\nother 0"), "{out}");
    assert_eq!(f.other.hits(), 1);
    let other_auth = f.other.auth();
    assert_eq!(other_auth.len(), 1);
    assert!(other_auth[0].starts_with("Bearer ") && !other_auth[0].contains(SECRET));
    for case in ["missing", "expired", "audience", "tampered", "foreign"] {
        assert!(out.contains(&format!("{case} 0")), "{case}: {out}");
    }
    for refusal in ["(missing)", "(expired)", "(wrong-audience)", "(tampered)"] {
        assert!(
            out.contains(&format!("capability refused {refusal}")),
            "{refusal}: {out}"
        );
    }
    // The program's environment holds the capability, never the secret or its variable.
    let environ = std::fs::read_to_string(f.dir.join("environ.txt")).unwrap();
    assert!(environ.contains("POLICYC_TOKEN_API="), "{environ}");
    assert!(
        !environ.contains(SECRET),
        "the secret is in the program's environment"
    );
    assert!(!environ.contains(SECRET_VAR), "{environ}");
    assert!(environ.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));
    // Every decision is audited, with the capability's id but never a secret.
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(!log.contains(SECRET), "the secret is in the audit log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["token"]["name"] == "api" && l["decision"] == "deny")
        .collect();
    assert_eq!(refused.len(), 5, "{log}");
    assert!(
        refused
            .iter()
            .all(|l| l["dst_endpoint"]["dialled"].is_null()),
        "{log}"
    );
    let allowed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["token"]["name"] == "api" && l["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 1, "{log}");
    assert_eq!(allowed[0]["token_id"].as_str().unwrap().len(), 32);
}

#[test]
fn plain_http_to_a_token_bound_endpoint_is_refused_without_a_dial() {
    if !live() {
        return;
    }
    let f = Fixture::new();
    let a = f.api.port;
    let (code, out) = run(
        &f,
        f.dir.join("audit.jsonl"),
        |_| {},
        &format!(
            "curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}\\n' -H \"Authorization: Bearer $POLICYC_TOKEN_API\" http://api.test:{a}/; echo \"plain $?\""
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("403\nplain 0"), "{out}");
    assert_eq!(f.api.hits(), 0);
}

#[test]
fn egress_case_04_a_host_header_for_another_host_on_a_credentialed_endpoint_gets_no_credential() {
    if !live() {
        return;
    }
    let f = Fixture::new();
    let audit = f.dir.join("audit.jsonl");
    let (a, o) = (f.api.port, f.other.port);
    let curl = "curl -sS --max-time 10 -o /dev/null -w '%{http_code}\\n' -H \"Authorization: Bearer $POLICYC_TOKEN_API\"";
    // The TLS server name is the bound host; the request inside names another.
    let (code, out) = run(
        &f,
        audit.clone(),
        |_| {},
        &format!(
            "{curl} -H 'Host: other.test:{o}' https://api.test:{a}/; \
             {curl} -H 'Host: evil.example' https://api.test:{a}/; \
             {curl} -H 'Host: api.test:{a}' https://api.test:{a}/"
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "403\n403\n200\n", "{out}");
    assert_eq!(f.api.hits(), 1, "a refused Host reached the bound upstream");
    assert_eq!(
        f.other.hits(),
        0,
        "a refused Host reached the host it named"
    );
    assert_eq!(f.api.auth(), [format!("Bearer {SECRET}")]);
    let log = std::fs::read_to_string(&audit).unwrap();
    let denied = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["decision"] == "deny" && l["dst_endpoint"]["dialled"].is_null())
        .count();
    assert_eq!(denied, 2, "{log}");
}

/// `text` (a capability) without its last block: the protobuf's last `blocks` field
/// (number 3) is dropped, everything else is kept as it was, the proof included.
fn strip_last_block(text: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE;
    let bytes = engine.decode(text.trim()).unwrap();
    let varint = |b: &[u8], at: &mut usize| {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    };
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let key = varint(&bytes, &mut at);
        match key & 7 {
            0 => {
                varint(&bytes, &mut at);
            }
            2 => {
                let len = usize::try_from(varint(&bytes, &mut at)).unwrap();
                at += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
        fields.push((key >> 3, bytes[start..at].to_vec()));
    }
    let last = fields.iter().rposition(|(n, _)| *n == 3).unwrap();
    fields.remove(last);
    engine.encode(fields.into_iter().flat_map(|(_, b)| b).collect::<Vec<u8>>())
}

#[test]
fn egress_case_13_a_capability_stripped_of_its_attenuation_is_refused_without_a_dial() {
    if !live() {
        return;
    }
    let f = Fixture::new();
    let audit = f.dir.join("audit.jsonl");
    let dir = f.dir.clone();
    let a = f.api.port;
    let curl = "curl -sS --max-time 10 -o /dev/null -w '%{http_code}\\n'";
    let (code, out) = run(
        &f,
        audit.clone(),
        |s| {
            let good = s.tokens().unwrap().bound["api"].capability.clone().unwrap();
            // Narrowed to have expired a minute ago; stripped of that narrowing, it would
            // be the session's own capability again, if stripping went unnoticed.
            let narrowing = policyc_token::Narrowing {
                expires: Some(SystemTime::now() - Duration::from_secs(60)),
                ..Default::default()
            };
            let narrowed = policyc_token::attenuate(&good, &narrowing).unwrap();
            let stripped = strip_last_block(&narrowed);
            let blocks = |t: &str| policyc_token::inspect(t, None).unwrap().blocks.len();
            assert_eq!((blocks(&good), blocks(&narrowed), blocks(&stripped)), (1, 2, 1));
            assert_ne!(stripped, good);
            std::fs::write(dir.join("narrowed.cap"), narrowed).unwrap();
            std::fs::write(dir.join("stripped.cap"), stripped).unwrap();
        },
        &format!(
            "{curl} -H \"Authorization: Bearer $(cat narrowed.cap)\" https://api.test:{a}/narrowed; \
             {curl} -H \"Authorization: Bearer $(cat stripped.cap)\" https://api.test:{a}/stripped"
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "403\n403\n", "{out}");
    assert_eq!(f.api.hits(), 0, "a refused capability reached the upstream");
    let log = std::fs::read_to_string(&audit).unwrap();
    let reasons: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["token"]["name"] == "api" && l["decision"] == "deny")
        .inspect(|l| assert!(l["dst_endpoint"]["dialled"].is_null(), "{log}"))
        .map(|l| l["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(reasons.len(), 2, "{log}");
    assert!(
        reasons[1].starts_with("capability refused (tampered)"),
        "{reasons:?}"
    );
}
