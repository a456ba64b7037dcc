//! Differential test (issue #13, defect 7): `edgeward inspect` and the gateway judge the same tokens
//! against the same keys and must agree. The gateway is `Gateway::handle` on a request carrying the
//! token, with a fake platform (fixed clock, no network); the CLI is the real binary. Before
//! `inspect` ran the core's verify stage it tried every JWK with a matching `kid` (or every key
//! without one) and said VALID for tokens the gateway refuses.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{mint_x5c, ok, pki, run, AUD, ISS};
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Outcome, Request};
use futures_executor::block_on;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_cert::der::Encode;
use x509_cert::Certificate;

const NOW: u64 = 1_800_000_000;

/// The gateway's host: a fixed clock, nothing to fetch.
struct Fake {
    now: u64,
}

impl Platform for Fake {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn log(&self, _: LogLevel, _: &str) {}
    fn random(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
    async fn fetch(&self, _: FetchRequest) -> Result<FetchResponse, FetchError> {
        Err(FetchError::Unreachable)
    }
}

/// The gateway's verdict on `token` as a Bearer credential on a protected route: `None` when it
/// is forwarded, else the error code it answers.
fn gateway_verdict(gateway: &Gateway, now: u64, token: &str) -> Option<String> {
    let request = Request {
        method: "GET".into(),
        url: "https://gw.test/api/orders".into(),
        headers: [("authorization", format!("Bearer {token}").as_str())]
            .into_iter()
            .collect(),
        client_cert: None,
    };
    match block_on(gateway.handle(&Fake { now }, &request)) {
        Outcome::Forward(_) => None,
        Outcome::Respond(response) => {
            let body: Value = serde_json::from_slice(&response.body).unwrap();
            Some(body["code"].as_str().unwrap().to_owned())
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A gateway with one issuer, as `inspect --iss ISS --aud AUD` describes it, and this key source.
fn gateway(key_source: Value, anchors: &'static [&'static [u8]]) -> Gateway {
    let mut issuer = json!({
        "issuer": ISS, "audiences": [AUD],
        "algorithms": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
    });
    for (name, value) in key_source.as_object().unwrap() {
        issuer[name] = value.clone();
    }
    let config = json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/api/*" }],
        "issuers": [issuer],
    });
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", anchors)
}

fn jwk(key: &SigningKey, kid: Option<&str>) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let mut jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig",
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature: Signature = key.sign(input.as_bytes());
    let signature = Base64UrlUnpadded::encode_string(&signature.to_bytes());
    format!("{input}.{signature}")
}

/// `inspect`'s verdict: `None` for VALID, else the reason after `INVALID: `.
fn cli_verdict(dir: &Path, token: &str, key_flags: &[&str], now: Option<u64>) -> Option<String> {
    let now = now.map(|n| n.to_string());
    let mut args = vec!["inspect", token, "--iss", ISS, "--aud", AUD];
    args.extend_from_slice(key_flags);
    if let Some(now) = &now {
        args.extend(["--now", now.as_str()]);
    }
    let r = run(dir, &args);
    match r.code {
        0 => {
            assert!(r.verdict().starts_with("VALID"), "{}", r.stdout);
            None
        }
        1 => Some(
            r.verdict()
                .strip_prefix("INVALID: ")
                .unwrap_or_else(|| panic!("{}", r.stdout))
                .to_owned(),
        ),
        code => panic!("exit {code}: {}{}", r.stdout, r.stderr),
    }
}

/// One token and its expected verdict: `None` for valid, else the gateway's code and the start of
/// the CLI's reason.
type Case<'a> = (&'a str, String, Option<(&'a str, &'a str)>);

/// Both verdicts for each case must agree, and be the expected one.
fn check_agreement(
    cases: &[Case<'_>],
    cli: impl Fn(&str) -> Option<String>,
    gateway: impl Fn(&str) -> Option<String>,
) {
    for (name, token, expected) in cases {
        let (cli, gateway) = (cli(token), gateway(token));
        assert_eq!(
            cli.is_none(),
            gateway.is_none(),
            "{name}: inspect says {cli:?}, the gateway {gateway:?}"
        );
        match expected {
            None => assert_eq!((cli, gateway), (None, None), "{name}"),
            Some((code, reason)) => {
                assert_eq!(gateway.as_deref(), Some(*code), "{name}");
                let cli = cli.unwrap_or_default();
                assert!(cli.starts_with(reason), "{name}: inspect says {cli:?}");
            }
        }
    }
}

#[test]
fn inspect_agrees_with_the_gateway_on_jwks_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let signer = SigningKey::from_slice(&[1; 32]).unwrap();
    let other = SigningKey::from_slice(&[2; 32]).unwrap();
    // Two keys share the kid "dup", the other one first: the gateway takes the first key for a
    // kid, so a token signed by the second is refused. So is a token without a kid, which the
    // set's first key (the other one) does not verify.
    let jwks = json!({ "keys": [
        jwk(&other, Some("dup")),
        jwk(&signer, Some("dup")),
        jwk(&signer, Some("k1")),
    ] });
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
    let gw = gateway(json!({ "jwks": jwks }), &[]);

    let claims = |extra: Value| {
        let mut claims = json!({
            "iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 600,
        });
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let token = |kid: Option<&str>, extra: Value| {
        let mut header = json!({ "alg": "ES256", "typ": "at+jwt" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        sign(&signer, &header, &claims(extra))
    };
    let valid = token(Some("k1"), json!({}));
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let forged = claims(json!({ "sub": "mallory" })).to_string();
        let forged = Base64UrlUnpadded::encode_string(forged.as_bytes());
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let signature = Some(("ERR_JWS_SIGNATURE_INVALID", "signature: does not verify"));
    let cases = [
        ("valid", valid.clone(), None),
        (
            "duplicate kid, signed by the second key",
            token(Some("dup"), json!({})),
            signature,
        ),
        (
            "no kid, signed by the second key of the set",
            token(None, json!({})),
            signature,
        ),
        ("bad signature", tampered, signature),
        (
            "expired",
            token(Some("k1"), json!({ "exp": NOW - 3600 })),
            Some(("ERR_JWT_EXPIRED", "claim exp: expired 3600 s ago")),
        ),
        (
            "not yet valid",
            token(Some("k1"), json!({ "nbf": NOW + 3600 })),
            Some(("ERR_JWT_NOT_YET_VALID", "claim nbf")),
        ),
        (
            "wrong audience",
            token(Some("k1"), json!({ "aud": "https://other.example" })),
            Some(("ERR_JWT_AUDIENCE_MISMATCH", "claim aud")),
        ),
        (
            "unknown issuer",
            token(Some("k1"), json!({ "iss": "https://evil.example" })),
            Some(("ERR_JWT_ISSUER_UNKNOWN", "claim iss")),
        ),
        (
            "unknown kid",
            token(Some("k9"), json!({})),
            Some(("ERR_JWKS_NO_MATCHING_KEY", "jwks: no usable ES256 key")),
        ),
        (
            "not a JWS",
            "not.a.jws".to_owned(),
            Some(("ERR_JWS_MALFORMED", "jws:")),
        ),
    ];
    check_agreement(
        &cases,
        |token| cli_verdict(dir, token, &["--jwks", "jwks.json"], Some(NOW)),
        |token| gateway_verdict(&gw, NOW, token),
    );
}

#[test]
fn inspect_agrees_with_the_gateway_on_x5c_tokens() {
    let (_tmp, dir) = pki(true);
    ok(&dir, &["ca", "init", "--dir", "other"]);
    let pem = std::fs::read_to_string(dir.join("ca/trust-anchors.pem")).unwrap();
    let anchors: Vec<&'static [u8]> = Certificate::load_pem_chain(pem.as_bytes())
        .unwrap()
        .iter()
        .map(|cert| &*Vec::leak(cert.to_der().unwrap()))
        .collect();
    let gw = gateway(json!({ "x5c": {} }), Vec::leak(anchors));
    // `token mint` stamps the current time, so both judge at the current time.
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let from_other_ca = {
        ok(
            &dir,
            &[
                "cert",
                "issue",
                "--ca-dir",
                "other",
                "--name",
                "other signer",
            ],
        );
        let args = [
            "token",
            "mint",
            "--key",
            "other/signing.key",
            "--x5c",
            "other/chain.pem",
            "--iss",
            ISS,
            "--aud",
            AUD,
        ];
        ok(&dir, &args).stdout.trim().to_owned()
    };
    let cases = [
        ("valid", mint_x5c(&dir, &[]), None),
        (
            "expired",
            mint_x5c(&dir, &["--exp-in", "-3600"]),
            Some(("ERR_JWT_EXPIRED", "claim exp")),
        ),
        (
            "chain from another CA",
            from_other_ca,
            Some(("ERR_X5C_UNTRUSTED", "x5c chain: no path to a trust anchor")),
        ),
    ];
    let anchors_flag = ["--trust-anchors", "ca/trust-anchors.pem"];
    check_agreement(
        &cases,
        |token| cli_verdict(&dir, token, &anchors_flag, None),
        |token| gateway_verdict(&gw, now(), token),
    );
}
