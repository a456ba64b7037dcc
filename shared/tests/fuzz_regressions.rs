//! Regression tests for the fuzz targets in `fuzz/` (see `fuzz/README.md`): input-driven times,
//! lifetimes and sizes at their extremes must give an answer, never an arithmetic panic (these
//! tests run in debug builds, where an overflow panics). Inputs a fuzz target ever crashes on are
//! replayed here as plain tests.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::block_on;
use common::fake::FakePlatform;
use edgeward::claims::{self, ClaimRules};
use edgeward::error::TokenFault;
use edgeward::jws;
use edgeward::platform::FetchResponse;
use edgeward::{Gateway, Headers, Outcome, Request};
use serde_json::{json, Value};

fn answer(content_type: &str, cache_control: &str, body: &Value) -> FetchResponse {
    FetchResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("cache-control".into(), cache_control.into()),
            ("age".into(), "99999999999999999999999".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Forward(_) => 200,
        Outcome::Respond(r) => r.status,
        Outcome::ReadBody { .. } => 0,
    }
}

fn get(token: &str) -> Request {
    let mut headers = Headers::new();
    headers.append("authorization", &format!("Bearer {token}"));
    Request {
        method: "GET".into(),
        url: "https://gw.test/api".into(),
        headers,
        client_cert: None,
    }
}

/// `claims::check` compares in f64, so `exp + leeway` and `iat + max_age + leeway` cannot overflow
/// whatever the token or the configuration says; pinned here with every extreme at once.
#[test]
fn claim_times_at_the_extremes() {
    // The shape of fuzz/corpus/jws/seed-huge-times.
    let b64 = |v: Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let token = format!(
        "{}.{}.{}",
        b64(json!({ "alg": "ES256", "typ": "at+jwt" })),
        b64(
            json!({ "iss": "https://issuer.example", "aud": "edgeward", "sub": "s",
            "exp": 1.7e308, "nbf": -1.7e308, "iat": u64::MAX })
        ),
        Base64UrlUnpadded::encode_string(&[0; 64]),
    );
    let parsed = jws::parse(&token, 16 * 1024).unwrap();
    let mut rules = ClaimRules::new("https://issuer.example", vec!["edgeward".into()]);
    for (leeway, max_age) in [(0, None), (u64::MAX, Some(u64::MAX)), (0, Some(0))] {
        rules.leeway = leeway;
        rules.max_age = max_age;
        for now in [0, 1_900_000_000, u64::MAX] {
            let _ = claims::check(&parsed.header, &parsed.claims, &rules, now);
        }
    }

    let header = parsed.header.clone();
    let claims = |exp: Value| {
        json!({ "iss": "https://issuer.example", "aud": "edgeward", "exp": exp })
            .as_object()
            .unwrap()
            .clone()
    };
    rules.max_age = None;
    rules.leeway = u64::MAX;
    assert_eq!(
        claims::check(&header, &claims(json!(u64::MAX)), &rules, u64::MAX),
        Ok(())
    );
    rules.leeway = 0;
    assert_eq!(
        claims::check(&header, &claims(json!(i64::MIN)), &rules, 0),
        Err(TokenFault::Expired)
    );
    assert_eq!(
        claims::check(&header, &claims(json!(-1.7e308)), &rules, 0),
        Err(TokenFault::Expired)
    );
}

/// Introspection: `now + max_ttl` / `now + negative_ttl` and an `exp` of u64::MAX near the end of
/// time (introspection.rs uses saturating_add).
#[test]
fn introspection_lifetimes_at_the_extremes() {
    let config = json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/*" }],
        "issuers": [{ "issuer": "https://as.test", "audiences": ["gw"], "jwks_uri": "https://as.test/jwks" }],
        "introspection": { "endpoint": "https://as.test/introspect", "issuer": "https://as.test",
            "client_id": "gw", "client_secret_name": "S", "max_ttl": u64::MAX, "negative_ttl": u64::MAX },
    })
    .to_string();
    let secrets = |_: &str| Some("s".to_owned());
    for active in [true, false] {
        for now in [0, u64::MAX - 1, u64::MAX] {
            let gateway = Gateway::with_trust_anchors(Some(&config), &secrets, "test", &[]);
            let body = json!({ "active": active, "exp": u64::MAX, "aud": "gw" });
            let platform =
                FakePlatform::new(now).serving(answer("application/json", "max-age=1", &body));
            let first = status(&block_on(gateway.handle(&platform, &get("opaque"))));
            let second = status(&block_on(gateway.handle(&platform, &get("opaque"))));
            let expected = if active && now < u64::MAX { 200 } else { 401 };
            assert_eq!(
                (first, second),
                (expected, expected),
                "active {active} now {now}"
            );
        }
    }
}

/// Remote JWKS: a huge `max-age`, a huge `Age`, and `max_stale` / `max_ttl` of u64::MAX near the
/// end of time (jwks.rs uses saturating_add and a capped delta-seconds parser).
#[test]
fn jwks_cache_lifetimes_at_the_extremes() {
    let config = json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/*" }],
        "issuers": [{ "issuer": "https://issuer.example", "audiences": ["edgeward"],
            "jwks_uri": "https://issuer.example/jwks",
            "jwks_cache": { "min_ttl": 0, "max_ttl": u64::MAX, "default_ttl": u64::MAX,
                "refresh_cooldown": u64::MAX, "max_stale": u64::MAX, "timeout_ms": 1 } }],
    })
    .to_string();
    let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "k",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] });
    // Signed by nobody: the key lookup and cache run, the signature check then fails (401).
    let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let secrets = |_: &str| None;
    // At now = u64::MAX nothing cached is ever fresh or within max_stale (`now < fresh_until`
    // with a saturated fresh_until), so the answer is the fail-closed 503: a harmless edge at the
    // end of time, not a panic. Everywhere else the key is found and the signature fails (401).
    let expected = |now: u64| -> &[u16] {
        if now == u64::MAX {
            &[503]
        } else {
            &[401]
        }
    };
    for cache_control in ["max-age=99999999999999999999999", "no-store", ""] {
        for now in [0, u64::MAX - 1, u64::MAX] {
            let gateway = Gateway::with_trust_anchors(Some(&config), &secrets, "test", &[]);
            let platform =
                FakePlatform::new(now).serving(answer("application/json", cache_control, &jwks));
            for now in [now, now, now.saturating_add(1)] {
                platform.now.set(now);
                let outcome = block_on(gateway.handle(&platform, &get(token)));
                assert!(
                    expected(now).contains(&status(&outcome)),
                    "{cache_control} at {now}"
                );
            }
        }
    }
}

/// Found by the `config` fuzz target: a non-ASCII host name made `url`'s IDNA adapter panic.
/// It must be an ordinary configuration error, and a request URL with such a host a 400.
#[test]
fn non_ascii_hosts_are_errors_not_panics() {
    let config = "{\"origin\":\"http://origin.ex\u{20f}ample.test\"}";
    let _ = edgeward::Config::from_json(config);
    let _ = edgeward::Config::from_json("{\"origin\":\"http://b\u{fc}cher.example\"}");
    let gw = Gateway::with_trust_anchors(
        Some(r#"{"origin":"http://origin.test","routes":[{"path":"/*","anonymous":true}]}"#),
        &|_| None,
        "test",
        &[],
    );
    let fake = FakePlatform::new(1_800_000_000).serving(answer("application/json", "", &json!({})));
    let request = Request {
        method: "GET".into(),
        url: "http://gate\u{20f}way.example/x".into(),
        headers: Headers::new(),
        client_cert: None,
    };
    let _ = block_on(gw.handle(&fake, &request));
}

/// `fuzz/` target `htu` (crash-25952fc2…): a `%` that starts no escape was kept bare, so
/// `%%615` became `%a5` — an escape the input did not have, and not in normal form (normalising
/// again gave `%A5`). A bare `%` is data (RFC 3986 §2.4) and now becomes `%25`.
#[test]
fn htu_with_a_bare_percent_is_in_normal_form() {
    use edgeward::internal::dpop::normalize_htu;
    let once = normalize_htu("http:/.!3/1%%615&/,62.7").unwrap();
    assert_eq!(once, "http://.!3/1%25a5&/,62.7");
    assert_eq!(normalize_htu(&once).as_deref(), Some(once.as_str()));
    // Different octets stay different: a proof for /%A5 does not fit a request for /%%A5.
    assert_ne!(
        normalize_htu("https://h.test/%A5"),
        normalize_htu("https://h.test/%%A5")
    );
    // The same octets spelled two ways stay equal, and stray percents elsewhere are kept as data.
    assert_eq!(
        normalize_htu("https://h.test/%4%31").as_deref(),
        Some("https://h.test/%2541")
    );
    assert_eq!(
        normalize_htu("https://h.test/%zz/100%").as_deref(),
        Some("https://h.test/%25zz/100%25")
    );
}

/// `fuzz/` target `htu` (CI, session 9): `xn--3ug` is Punycode for U+200F, which idna 1.1.0's
/// `is_bidi` asserts it never sees, so a debug-assertions build panicked on an ASCII host. The
/// assertion is compiled out of the functions (release); the fuzz and test profiles now leave it
/// out of `idna` too (fuzz/Cargo.toml), and such a host must get the release build's answer: a
/// host like any other, in normal form, and a request to it an ordinary verdict.
#[test]
fn a_punycode_bidi_control_host_gets_an_answer() {
    use edgeward::internal::dpop::normalize_htu;
    for host in ["xn--3ug", "xn--a-ygn", "xn--mgba900r"] {
        let once = normalize_htu(&format!("https://{host}/a")).expect("a host like any other");
        assert_eq!(normalize_htu(&once).as_deref(), Some(once.as_str()));
        assert_eq!(
            normalize_htu(&format!("HTTPS://{}:443/%61", host.to_uppercase())).as_deref(),
            Some(once.as_str())
        );
    }
    let gw = Gateway::with_trust_anchors(
        Some(r#"{"origin":"http://origin.test","routes":[{"path":"/*"}]}"#),
        &|_| None,
        "test",
        &[],
    );
    let fake = FakePlatform::new(1_800_000_000);
    let request = Request {
        method: "GET".into(),
        url: "https://xn--3ug/x".into(),
        headers: Headers::new(),
        client_cert: None,
    };
    assert_eq!(status(&block_on(gw.handle(&fake, &request))), 401);
}
