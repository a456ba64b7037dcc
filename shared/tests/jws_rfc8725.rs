//! RFC examples (RFC 7515 Appendix A.3, RFC 8037 Appendix A) and one test per RFC 8725 threat at the
//! JWS level.

use base64ct::{Base64UrlUnpadded, Encoding};
use edgeward::crypto::{PublicKey, RustCrypto};
use edgeward::error::TokenFault;
use edgeward::jwk::{Jwk, JwkError, JwkSet};
use edgeward::jws::{self, Alg, Header, Jws};
use futures_executor::block_on;
use p256::ecdsa::signature::Signer;

const MAX: usize = edgeward::config::DEFAULT_MAX_TOKEN_BYTES;

/// RFC 7515 Appendix A.3: the ES256 example key (public part) and JWS.
const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 8037 Appendix A.2 / A.4: the Ed25519 example key and JWS.
const RFC8037_JWK: &str =
    r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
const RFC8037_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn a3_key() -> PublicKey {
    Jwk::parse(A3_JWK.as_bytes()).unwrap().public_key().clone()
}

/// The configured issuer's key for tokens these tests sign themselves (a fixed test scalar).
fn issuer_signer() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[42u8; 32]).unwrap()
}

fn issuer_key() -> PublicKey {
    let point = issuer_signer().verifying_key().to_encoded_point(false);
    PublicKey::P256(point.as_bytes().to_vec())
}

/// Signs `header` and `payload` (JSON text) with ES256 and returns the compact JWS.
fn es256(signer: &p256::ecdsa::SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig: p256::ecdsa::Signature = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

fn verify(token: &str, key: &PublicKey) -> Result<(), TokenFault> {
    let jws = jws::parse(token, MAX)?;
    block_on(jws.verify(key, &RustCrypto))
}

fn replace_segment(token: &str, index: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

#[test]
fn rfc7515_a3_es256_example_verifies_and_tampering_fails() {
    let key = a3_key();
    assert_eq!(verify(A3_TOKEN, &key), Ok(()));
    let jws = jws::parse(A3_TOKEN, MAX).unwrap();
    assert_eq!(jws.claims["iss"], "joe");
    // Flip one bit of the signature, and separately one bit of the payload.
    let mut sig = jws.signature.clone();
    sig[10] ^= 1;
    assert_eq!(
        verify(&replace_segment(A3_TOKEN, 2, &b64(&sig)), &key),
        Err(TokenFault::BadSignature)
    );
    let payload = br#"{"iss":"joe","exp":1300819380,"http://example.com/is_root":false}"#;
    assert_eq!(
        verify(&replace_segment(A3_TOKEN, 1, &b64(payload)), &key),
        Err(TokenFault::BadSignature)
    );
}

#[test]
fn rfc8037_a4_ed25519_example_verifies_and_tampering_fails() {
    let jwk = Jwk::parse(RFC8037_JWK.as_bytes()).unwrap();
    // RFC 8037 Appendix A.3: the thumbprint of the example key.
    assert_eq!(
        jwk.thumbprint_sha256(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    // The example's payload is plain text, not a JWT claims set, so `parse` refuses it ...
    assert_eq!(jws::parse(RFC8037_TOKEN, MAX), Err(TokenFault::Malformed));
    // ... and the signature is checked through `Jws::verify` with the parts assembled by hand.
    let (signing_input, sig) = RFC8037_TOKEN.rsplit_once('.').unwrap();
    let header = serde_json::from_slice(
        &Base64UrlUnpadded::decode_vec(signing_input.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    let mut jws = Jws {
        header: std::sync::Arc::new(Header::from_raw(header, &[]).unwrap()),
        claims: Default::default(),
        signing_input,
        signature: Base64UrlUnpadded::decode_vec(sig).unwrap(),
    };
    assert_eq!(jws.header.alg, Alg::EdDSA);
    assert_eq!(block_on(jws.verify(jwk.public_key(), &RustCrypto)), Ok(()));
    jws.signature[0] ^= 0x80;
    assert_eq!(
        block_on(jws.verify(jwk.public_key(), &RustCrypto)),
        Err(TokenFault::BadSignature)
    );
}

// ---- RFC 8725 §2.1 / §3.1: algorithm confusion -------------------------------------------------

#[test]
fn alg_none_is_rejected() {
    let input = format!("{}.{}", b64(br#"{"alg":"none"}"#), b64(br#"{"sub":"a"}"#));
    assert_eq!(
        jws::parse(&format!("{input}."), MAX).map(|_| ()),
        Err(TokenFault::AlgorithmNotAllowed)
    );
    assert_eq!(
        jws::parse(&format!("{input}.AAAA"), MAX).map(|_| ()),
        Err(TokenFault::AlgorithmNotAllowed)
    );
}

#[test]
fn hs256_signed_with_the_public_key_as_secret_is_rejected() {
    use hmac::{Hmac, Mac};
    let PublicKey::P256(point) = a3_key() else {
        unreachable!()
    };
    let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(br#"{"sub":"a"}"#));
    for secret in [point.as_slice(), A3_JWK.as_bytes()] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(
            verify(&token, &a3_key()),
            Err(TokenFault::AlgorithmNotAllowed)
        );
    }
}

#[test]
fn key_of_the_wrong_family_is_refused_without_panic() {
    let rsa = Jwk::parse(
        br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#,
    )
    .unwrap();
    let ed = Jwk::parse(RFC8037_JWK.as_bytes()).unwrap();
    for key in [rsa.public_key(), ed.public_key()] {
        assert_eq!(verify(A3_TOKEN, key), Err(TokenFault::AlgorithmNotAllowed));
    }
}

// ---- RFC 8725 §3.10 and RFC 7515 §10: keys named by the token are never used -------------------

#[test]
fn embedded_jwk_is_not_a_key_source() {
    let attacker = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let point = attacker.verifying_key().to_encoded_point(false);
    let header = format!(
        r#"{{"alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}}}"#,
        b64(point.x().unwrap()),
        b64(point.y().unwrap())
    );
    let token = es256(&attacker, &header, r#"{"sub":"admin"}"#);
    let jws = jws::parse(&token, MAX).unwrap();
    assert!(jws.header.jwk.is_some(), "kept for DPoP");
    // The token really is signed by the embedded key ...
    let embedded = Jwk::from_object(jws.header.jwk.as_ref().unwrap()).unwrap();
    assert_eq!(
        block_on(jws.verify(embedded.public_key(), &RustCrypto)),
        Ok(())
    );
    // ... and still fails against the configured key, the only one the gateway passes in.
    assert_eq!(verify(&token, &a3_key()), Err(TokenFault::BadSignature));
}

#[test]
fn jku_and_x5u_are_ignored() {
    let header = r#"{"alg":"ES256","jku":"https://attacker.example/jwks","x5u":"https://attacker.example/c.pem"}"#;
    // Signed by an attacker key that jku/x5u would point to: fails against the configured key.
    let attacker = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let forged = es256(&attacker, header, r#"{"sub":"admin"}"#);
    assert_eq!(
        verify(&forged, &issuer_key()),
        Err(TokenFault::BadSignature)
    );
    // Signed by the issuer: verifies with the configured key; the URLs are inert data.
    let genuine = es256(&issuer_signer(), header, r#"{"sub":"a"}"#);
    assert_eq!(verify(&genuine, &issuer_key()), Ok(()));
    let jws = jws::parse(&genuine, MAX).unwrap();
    assert!(jws.header.raw.contains_key("jku") && jws.header.raw.contains_key("x5u"));
}

#[test]
fn kid_injection_is_only_a_lookup_string() {
    let set = JwkSet::parse(
        format!(r#"{{"keys":[{}]}}"#, A3_JWK.replace('}', r#","kid":"k1"}"#)).as_bytes(),
    )
    .unwrap();
    assert_eq!(set.find(Some("k1"), Alg::ES256).count(), 1);
    for kid in [
        "../../etc/passwd",
        "' OR 1=1 --",
        "k1\u{0}",
        "K1",
        "k1 ",
        "*",
    ] {
        let header = serde_json::json!({"alg": "ES256", "kid": kid}).to_string();
        let token = es256(&issuer_signer(), &header, "{}");
        let jws = jws::parse(&token, MAX).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some(kid));
        assert_eq!(
            set.find(jws.header.kid.as_deref(), Alg::ES256).count(),
            0,
            "{kid:?}"
        );
    }
    // Without a kid, candidates are the keys that fit the algorithm.
    assert_eq!(set.find(None, Alg::ES256).count(), 1);
    assert_eq!(set.find(None, Alg::ES384).count(), 0);
    assert_eq!(set.find(Some("k1"), Alg::RS256).count(), 0);
}

// ---- RFC 7515 §4.1.11: crit ----------------------------------------------------------------------

#[test]
fn crit_is_rejected() {
    let token = es256(
        &issuer_signer(),
        r#"{"alg":"ES256","crit":["exp"],"exp":1}"#,
        "{}",
    );
    assert_eq!(
        verify(&token, &issuer_key()),
        Err(TokenFault::UnsupportedCritical)
    );
    let b64_false = es256(
        &issuer_signer(),
        r#"{"alg":"ES256","b64":false,"crit":["b64"]}"#,
        "{}",
    );
    assert_eq!(
        verify(&b64_false, &issuer_key()),
        Err(TokenFault::UnsupportedCritical)
    );
}

// ---- RFC 8725 §3.4 (invalid curve) and ECDSA edge cases ----------------------------------------

#[test]
fn invalid_curve_point_in_jwk_is_rejected_at_parse() {
    // The A.3 x with a y that is not on P-256 (last coordinate bit flipped, still canonical base64url).
    let off_curve = A3_JWK.replace(
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4",
    );
    assert_eq!(Jwk::parse(off_curve.as_bytes()), Err(JwkError::InvalidKey));
    let zero = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{0}","y":"{0}"}}"#,
        b64(&[0u8; 32])
    );
    assert_eq!(Jwk::parse(zero.as_bytes()), Err(JwkError::InvalidKey));
    // A P-256 point labelled P-384 has the wrong coordinate length.
    assert_eq!(
        Jwk::parse(A3_JWK.replace("P-256", "P-384").as_bytes()),
        Err(JwkError::InvalidKey)
    );
    // Unusable keys are skipped in a set, not used.
    let set = JwkSet::parse(format!(r#"{{"keys":[{off_curve}]}}"#).as_bytes()).unwrap();
    assert!(set.keys.is_empty());
}

#[test]
fn zero_signature_is_rejected() {
    let token = replace_segment(A3_TOKEN, 2, &b64(&[0u8; 64]));
    assert_eq!(verify(&token, &a3_key()), Err(TokenFault::BadSignature));
}

#[test]
fn der_encoded_ecdsa_signature_is_rejected() {
    let jws = jws::parse(A3_TOKEN, MAX).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&jws.signature)
        .unwrap()
        .to_der();
    let token = replace_segment(A3_TOKEN, 2, &b64(der.as_bytes()));
    assert_eq!(verify(&token, &a3_key()), Err(TokenFault::BadSignature));
}

// ---- RFC 8725 §3.4 / RFC 7515 §5.2: duplicate members and strict base64url ----------------------

#[test]
fn duplicate_members_are_rejected_in_header_and_payload() {
    let signer = issuer_signer();
    for (header, payload) in [
        (r#"{"alg":"ES256","alg":"none"}"#, "{}"),
        (r#"{"alg":"ES256","kid":"a","kid":"b"}"#, "{}"),
        (r#"{"alg":"ES256","ext":{"a":1,"a":2}}"#, "{}"),
        (r#"{"alg":"ES256"}"#, r#"{"sub":"alice","sub":"admin"}"#),
        (r#"{"alg":"ES256"}"#, r#"{"x":[{"role":"a","role":"b"}]}"#),
    ] {
        let token = es256(&signer, header, payload);
        assert_eq!(
            verify(&token, &issuer_key()),
            Err(TokenFault::Malformed),
            "{header} {payload}"
        );
    }
}

#[test]
fn non_canonical_base64url_is_rejected() {
    let sig = A3_TOKEN.rsplit('.').next().unwrap();
    assert!(sig.ends_with('Q'));
    let cases = [
        // Padding.
        replace_segment(A3_TOKEN, 2, &format!("{sig}==")),
        // The standard alphabet instead of the URL-safe one.
        A3_TOKEN.replace('-', "+").replace('_', "/"),
        // Non-zero unused trailing bits: 'R' decodes to the same bytes as 'Q' in a lenient decoder.
        replace_segment(A3_TOKEN, 2, &format!("{}R", &sig[..sig.len() - 1])),
        // Whitespace and line breaks.
        A3_TOKEN.replacen('.', ". ", 1),
        replace_segment(A3_TOKEN, 2, &format!("{}\n{}", &sig[..40], &sig[40..])),
    ];
    for token in &cases {
        assert_eq!(
            verify(token, &a3_key()),
            Err(TokenFault::Malformed),
            "{token}"
        );
    }
}

// ---- Budgets -----------------------------------------------------------------------------------

#[test]
fn oversized_token_is_rejected_before_decoding() {
    // Not even base64: TooLarge (not Malformed) shows the size check comes first.
    let junk = "!".repeat(MAX + 1);
    assert_eq!(
        jws::parse(&junk, MAX).map(|_| ()),
        Err(TokenFault::TooLarge)
    );
    assert_eq!(
        jws::parse(A3_TOKEN, A3_TOKEN.len() - 1).map(|_| ()),
        Err(TokenFault::TooLarge)
    );
    assert!(jws::parse(A3_TOKEN, A3_TOKEN.len()).is_ok());
}
