//! Table tests for the RFC 7519 / RFC 9068 claim checks, including the leeway boundaries.

use edgeward::claims::{check, ClaimRules, DEFAULT_LEEWAY};
use edgeward::error::TokenFault;
use edgeward::jws::Header;
use serde_json::{json, Map, Value};

const NOW: u64 = 1_700_000_000;

fn header(typ: Option<&str>) -> Header {
    let mut raw = json!({"alg": "ES256"});
    if let Some(typ) = typ {
        raw["typ"] = Value::from(typ);
    }
    let Value::Object(raw) = raw else {
        unreachable!()
    };
    Header::from_raw(raw, &[]).unwrap()
}

fn rules() -> ClaimRules {
    ClaimRules::new("https://issuer.example", vec!["api".into(), "edge".into()])
}

/// A valid claims set with `changes` applied (`null` removes a member).
fn claims(changes: Value) -> Map<String, Value> {
    let mut base = json!({
        "iss": "https://issuer.example",
        "aud": "api",
        "exp": NOW + 300,
        "nbf": NOW - 10,
        "iat": NOW - 10,
        "sub": "alice",
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base.as_object().unwrap().clone()
}

#[test]
fn default_leeway_is_sixty_seconds() {
    assert_eq!(DEFAULT_LEEWAY, 60);
    assert_eq!(rules().leeway, 60);
}

#[test]
fn claim_table() {
    let leeway = DEFAULT_LEEWAY;
    let cases: Vec<(&str, Value, Result<(), TokenFault>)> = vec![
        ("valid", json!({}), Ok(())),
        // iss
        (
            "iss other",
            json!({"iss": "https://evil.example"}),
            Err(TokenFault::UnknownIssuer),
        ),
        (
            "iss trailing slash",
            json!({"iss": "https://issuer.example/"}),
            Err(TokenFault::UnknownIssuer),
        ),
        (
            "iss case",
            json!({"iss": "https://ISSUER.example"}),
            Err(TokenFault::UnknownIssuer),
        ),
        (
            "iss missing",
            json!({"iss": null}),
            Err(TokenFault::MissingClaim),
        ),
        ("iss number", json!({"iss": 1}), Err(TokenFault::Malformed)),
        // aud
        ("aud array hit", json!({"aud": ["other", "edge"]}), Ok(())),
        (
            "aud array miss",
            json!({"aud": ["other"]}),
            Err(TokenFault::WrongAudience),
        ),
        (
            "aud empty array",
            json!({"aud": []}),
            Err(TokenFault::WrongAudience),
        ),
        (
            "aud string miss",
            json!({"aud": "API"}),
            Err(TokenFault::WrongAudience),
        ),
        (
            "aud missing",
            json!({"aud": null}),
            Err(TokenFault::MissingClaim),
        ),
        ("aud number", json!({"aud": 1}), Err(TokenFault::Malformed)),
        (
            "aud object",
            json!({"aud": {"api": true}}),
            Err(TokenFault::Malformed),
        ),
        (
            "aud array with number",
            json!({"aud": ["api", 1]}),
            Err(TokenFault::Malformed),
        ),
        // exp
        (
            "exp at now+leeway boundary",
            json!({"exp": NOW - leeway}),
            Ok(()),
        ),
        (
            "exp one second past",
            json!({"exp": NOW - leeway - 1}),
            Err(TokenFault::Expired),
        ),
        (
            "exp float inside",
            json!({"exp": (NOW - leeway) as f64 - 0.0}),
            Ok(()),
        ),
        (
            "exp float past",
            json!({"exp": (NOW - leeway) as f64 - 0.5}),
            Err(TokenFault::Expired),
        ),
        (
            "exp missing",
            json!({"exp": null}),
            Err(TokenFault::Expired),
        ),
        (
            "exp string",
            json!({"exp": "9999999999"}),
            Err(TokenFault::Malformed),
        ),
        ("exp bool", json!({"exp": true}), Err(TokenFault::Malformed)),
        ("exp negative", json!({"exp": -1}), Err(TokenFault::Expired)),
        // nbf
        ("nbf at boundary", json!({"nbf": NOW + leeway}), Ok(())),
        (
            "nbf one second later",
            json!({"nbf": NOW + leeway + 1}),
            Err(TokenFault::NotYetValid),
        ),
        ("nbf missing is fine", json!({"nbf": null}), Ok(())),
        (
            "nbf string",
            json!({"nbf": "0"}),
            Err(TokenFault::Malformed),
        ),
        // iat
        ("iat at boundary", json!({"iat": NOW + leeway}), Ok(())),
        (
            "iat one second later",
            json!({"iat": NOW + leeway + 1}),
            Err(TokenFault::NotYetValid),
        ),
        ("iat missing is fine", json!({"iat": null}), Ok(())),
        ("iat array", json!({"iat": [1]}), Err(TokenFault::Malformed)),
    ];
    for (name, changes, expected) in cases {
        assert_eq!(
            check(&header(None), &claims(changes), &rules(), NOW),
            expected,
            "{name}"
        );
    }
}

#[test]
fn leeway_is_configurable() {
    let mut strict = rules();
    strict.leeway = 0;
    assert_eq!(
        check(&header(None), &claims(json!({"exp": NOW})), &strict, NOW),
        Ok(())
    );
    assert_eq!(
        check(
            &header(None),
            &claims(json!({"exp": NOW - 1})),
            &strict,
            NOW
        ),
        Err(TokenFault::Expired)
    );
}

#[test]
fn max_age() {
    let mut r = rules();
    r.max_age = Some(3600);
    let at = |iat: u64| check(&header(None), &claims(json!({"iat": iat})), &r, NOW);
    assert_eq!(at(NOW - 3600 - DEFAULT_LEEWAY), Ok(()));
    assert_eq!(at(NOW - 3600 - DEFAULT_LEEWAY - 1), Err(TokenFault::TooOld));
    assert_eq!(
        check(&header(None), &claims(json!({"iat": null})), &r, NOW),
        Err(TokenFault::MissingClaim)
    );
}

#[test]
fn typ_rules() {
    let mut r = rules();
    r.require_typ = Some("at+jwt".into());
    let c = claims(json!({}));
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+jwt",
    ] {
        assert_eq!(check(&header(Some(typ)), &c, &r, NOW), Ok(()), "{typ}");
    }
    for typ in ["JWT", "at+jwt ", "text/at+jwt", "application/", "dpop+jwt"] {
        assert_eq!(
            check(&header(Some(typ)), &c, &r, NOW),
            Err(TokenFault::WrongType),
            "{typ}"
        );
    }
    assert_eq!(
        check(&header(None), &c, &r, NOW),
        Err(TokenFault::WrongType)
    );
    // Configured with the prefix, the short form still matches.
    r.require_typ = Some("application/at+jwt".into());
    assert_eq!(check(&header(Some("at+jwt")), &c, &r, NOW), Ok(()));
    // Without a requirement any typ (or none) is accepted.
    assert_eq!(check(&header(Some("JWT")), &c, &rules(), NOW), Ok(()));
}

#[test]
fn required_claims() {
    let mut r = rules();
    r.required_claims = vec!["sub".into(), "client_id".into()];
    assert_eq!(
        check(&header(None), &claims(json!({})), &r, NOW),
        Err(TokenFault::MissingClaim)
    );
    assert_eq!(
        check(&header(None), &claims(json!({"client_id": "c"})), &r, NOW),
        Ok(())
    );
}

#[test]
fn no_configured_audience_accepts_nothing() {
    let r = ClaimRules::new("https://issuer.example", vec![]);
    assert_eq!(
        check(&header(None), &claims(json!({})), &r, NOW),
        Err(TokenFault::WrongAudience)
    );
}
