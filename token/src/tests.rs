#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn grant(scopes: &[&str], approval: bool) -> Grant {
    Grant {
        name: "api".into(),
        audience: "api.example.com".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ttl: Duration::from_secs(900),
        approval,
    }
}

fn req(audience: &str, scope: &str, after: u64) -> Request<'static> {
    Request {
        audience: Box::leak(audience.to_string().into_boxed_str()),
        scope: Box::leak(scope.to_string().into_boxed_str()),
        now: t0() + Duration::from_secs(after),
    }
}

#[test]
fn a_capability_verifies_for_its_audience_and_scope_until_it_expires() {
    let i = Issuer::generate("sha256:abc");
    let (text, claims) = i.mint(&grant(&["read", "write"], false), t0()).unwrap();
    assert_eq!(claims.audience, "api.example.com");
    assert_eq!(claims.scopes, ["read", "write"]);
    assert_eq!(claims.policy, "sha256:abc");
    assert_eq!(claims.expires, 1_800_000_900);
    assert_eq!(claims.id.len(), 32);
    assert!(i.verify(&text, &req("api.example.com", "read", 0)).is_ok());
    assert!(i
        .verify(&text, &req("api.example.com", "write", 900))
        .is_ok());
    let e = i
        .verify(&text, &req("api.example.com", "read", 901))
        .unwrap_err();
    assert_eq!(e.kind(), "expired", "{e}");
    let e = i
        .verify(&text, &req("evil.example", "read", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "wrong-audience", "{e}");
    let e = i
        .verify(&text, &req("api.example.com", "admin", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "wrong-scope", "{e}");
    assert_eq!(
        i.verify("", &req("api.example.com", "read", 0))
            .unwrap_err(),
        Refusal::Missing
    );
}

#[test]
fn another_sessions_key_refuses_it() {
    let (text, _) = Issuer::generate("p")
        .mint(&grant(&["read"], false), t0())
        .unwrap();
    let e = Issuer::generate("p")
        .verify(&text, &req("api.example.com", "read", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "tampered", "{e}");
}

#[test]
fn the_key_round_trips_through_its_text_and_the_public_key_is_not_the_secret() {
    let i = Issuer::generate("p");
    let again = Issuer::from_key_text(&i.key_text(), "p").unwrap();
    assert_eq!(i.public_key(), again.public_key());
    assert!(!i.key_text().contains(&i.public_key()));
    assert!(!format!("{i:?}").contains(i.key_text().as_str()));
    assert!(matches!(
        Issuer::from_key_text("nope", "p"),
        Err(Error::BadKey(_))
    ));
}

#[test]
fn attenuation_narrows_scope_expiry_and_audience() {
    let i = Issuer::generate("p");
    let (text, _) = i.mint(&grant(&["read", "write"], false), t0()).unwrap();
    let only_read = attenuate(
        &text,
        &Narrowing {
            scopes: Some(vec!["read".into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    assert!(i
        .verify(&only_read, &req("api.example.com", "read", 0))
        .is_ok());
    let e = i
        .verify(&only_read, &req("api.example.com", "write", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "narrowed", "{e}");
    let sooner = attenuate(
        &only_read,
        &Narrowing {
            expires: Some(t0() + Duration::from_secs(10)),
            ..Narrowing::default()
        },
    )
    .unwrap();
    assert!(i
        .verify(&sooner, &req("api.example.com", "read", 10))
        .is_ok());
    let e = i
        .verify(&sooner, &req("api.example.com", "read", 11))
        .unwrap_err();
    assert_eq!(e.kind(), "narrowed", "{e}");
    let other = attenuate(
        &text,
        &Narrowing {
            audience: Some("other.example".into()),
            ..Narrowing::default()
        },
    )
    .unwrap();
    let e = i
        .verify(&other, &req("api.example.com", "read", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "narrowed", "{e}");
    assert!(matches!(
        attenuate(&text, &Narrowing::default()),
        Err(Error::BadNarrowing(_))
    ));
    let shown = inspect(&sooner, Some(&i)).unwrap();
    assert_eq!(shown.blocks.len(), 3);
    assert!(shown.verified);
    assert!(inspect(&sooner, None).unwrap().claims.is_none());
}

#[test]
fn an_attenuation_cannot_add_a_scope_by_stating_a_fact() {
    // A holder who writes `scope("admin")` into a block of their own gains nothing: the
    // verifier's allow policy reads the authority block only.
    let i = Issuer::generate("p");
    let (text, _) = i.mint(&grant(&["read"], false), t0()).unwrap();
    let raw = biscuit_auth::UnverifiedBiscuit::from_base64(&text).unwrap();
    let block = biscuit_auth::builder::BlockBuilder::new()
        .code(r#"scope("admin"); audience("evil.example");"#)
        .unwrap();
    let forged = raw.append(block).unwrap().to_base64().unwrap();
    let e = i
        .verify(&forged, &req("api.example.com", "admin", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "wrong-scope", "{e}");
    let e = i
        .verify(&forged, &req("evil.example", "read", 0))
        .unwrap_err();
    assert_eq!(e.kind(), "wrong-audience", "{e}");
}

#[test]
fn a_single_use_capability_is_refused_the_second_time() {
    let i = Issuer::generate("p");
    let (text, claims) = i.mint(&grant(&["send"], true), t0()).unwrap();
    assert!(claims.approval);
    let r = req("api.example.com", "send", 0);
    assert!(i.verify(&text, &r).is_ok());
    assert_eq!(i.verify(&text, &r).unwrap_err().kind(), "replayed");
    let (again, _) = i.mint(&grant(&["send"], true), t0()).unwrap();
    assert!(
        i.verify(&again, &r).is_ok(),
        "a fresh approval has a fresh id"
    );
}

#[test]
fn grants_that_cannot_be_expressed_are_errors() {
    let i = Issuer::generate("p");
    let mut g = grant(&[], false);
    assert!(matches!(i.mint(&g, t0()), Err(Error::BadGrant(_))));
    g = grant(&["read"], false);
    g.ttl = Duration::ZERO;
    assert!(matches!(i.mint(&g, t0()), Err(Error::BadGrant(_))));
    assert!(matches!(
        inspect("not a token", None),
        Err(Error::Malformed(_))
    ));
}

fn scope_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["read", "write", "send", "admin", "delete"]).prop_map(String::from)
}

fn narrowing() -> impl Strategy<Value = Narrowing> {
    (
        prop::option::of(prop::collection::vec(scope_name(), 1..4)),
        prop::option::of(0u64..2000),
        prop::option::of(prop::sample::select(vec![
            "api.example.com",
            "other.example",
        ])),
    )
        .prop_map(|(scopes, exp, aud)| Narrowing {
            scopes,
            expires: exp.map(|s| t0() + Duration::from_secs(s)),
            audience: aud.map(String::from),
        })
        .prop_filter("narrows something", |n| {
            n.scopes.is_some() || n.expires.is_some() || n.audience.is_some()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever a chain of attenuations says, the result allows a request only if the
    /// original allows it and every step's own restriction does.
    #[test]
    fn no_sequence_of_attenuations_widens_a_capability(
        granted in prop::collection::btree_set(scope_name(), 1..4),
        steps in prop::collection::vec(narrowing(), 0..4),
        audience in prop::sample::select(vec!["api.example.com", "other.example", "evil.example"]),
        scope in scope_name(),
        after in 0u64..2000,
    ) {
        let i = Issuer::generate("p");
        let g = grant(&granted.iter().map(String::as_str).collect::<Vec<_>>(), false);
        let (mut text, _) = i.mint(&g, t0()).unwrap();
        let r = req(audience, &scope, after);
        let original = i.verify(&text, &r).is_ok();
        let mut each_allows = true;
        for n in &steps {
            text = attenuate(&text, n).unwrap();
            each_allows &= n.scopes.as_ref().is_none_or(|s| s.contains(&scope))
                && n.expires.is_none_or(|e| r.now <= e)
                && n.audience.as_deref().is_none_or(|a| a == audience);
        }
        let now = i.verify(&text, &r).is_ok();
        prop_assert!(!now || original, "attenuation widened: {steps:?}");
        prop_assert_eq!(now, original && each_allows, "{:?}", steps);
    }

    /// A capability verifies only for the audience it was minted for and the scopes it
    /// grants.
    #[test]
    fn a_capability_verifies_only_for_its_own_audience_and_scope(
        granted in prop::collection::btree_set(scope_name(), 1..4),
        audience in prop::sample::select(vec!["api.example.com", "other.example", "api.example.com.evil"]),
        scope in scope_name(),
    ) {
        let i = Issuer::generate("p");
        let g = grant(&granted.iter().map(String::as_str).collect::<Vec<_>>(), false);
        let (text, _) = i.mint(&g, t0()).unwrap();
        let ok = i.verify(&text, &req(audience, &scope, 0)).is_ok();
        prop_assert_eq!(ok, audience == "api.example.com" && granted.contains(&scope));
    }

    /// Changing any byte of a capability makes it fail verification.
    #[test]
    fn tampering_with_any_byte_fails_verification(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let i = Issuer::generate("p");
        let (text, _) = i.mint(&grant(&["read"], false), t0()).unwrap();
        let text = attenuate(&text, &Narrowing { scopes: Some(vec!["read".into()]), ..Narrowing::default() }).unwrap();
        let mut bytes = biscuit_auth::UnverifiedBiscuit::from_base64(&text).unwrap().to_vec().unwrap();
        let k = at.index(bytes.len());
        bytes[k] ^= flip;
        let tampered = match biscuit_auth::UnverifiedBiscuit::from(&bytes[..]) {
            Ok(t) => t.to_base64().unwrap_or_default(),
            Err(_) => continue_with_garbage(&bytes),
        };
        let r = req("api.example.com", "read", 0);
        prop_assert!(i.verify(&tampered, &r).is_err(), "byte {k} ^ {flip} still verifies");
    }
}

/// Bytes that do not even parse, presented in the capability's text encoding.
fn continue_with_garbage(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
