//! DPoP proofs (RFC 9449): the RFC's own examples with a fixed clock, the `htu` normalisation
//! table, and one test per §4.3 check that can fail on the proof alone.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{block_on, p256_jwk as public_jwk, p256_key as key, sign_es256 as sign};
use edgeward::crypto::RustCrypto;
use edgeward::error::DpopFault;
use edgeward::internal::dpop::{
    access_token_hash, normalize_htu, public_htu, verify_proof, AlgSet, ProofHeaders, ProofRequest,
    ProofRules, VerifiedProof,
};
use edgeward::jwk::Jwk;
use edgeward::jws::Alg;
use serde_json::{json, Value};
use url::Url;

/// RFC 9449 §4.1, Figure 2 (token request): `htm` POST, `htu` https://server.example.com/token,
/// `iat` 1562262616.
const RFC_TOKEN_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj",
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia",
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg",
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);

/// RFC 9449 §7.1, Figure 13 (protected resource request, with `ath`): `htm` GET, `htu`
/// https://resource.example.org/protectedresource, `iat` 1562262618.
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj",
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z",
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF",
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E",
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
);

/// RFC 9449 §7.1: the access token of Figure 12 and its `ath`.
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";
/// RFC 9449 §6.1: the `jkt` of the examples' key.
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

fn check(
    proof: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    now: u64,
) -> Result<VerifiedProof, DpopFault> {
    let htu = normalize_htu(url).unwrap();
    let ath = token.map(access_token_hash);
    let request = ProofRequest {
        method,
        htu: &htu,
        ath: ath.as_deref(),
    };
    block_on(verify_proof(
        proof,
        &request,
        (&ProofRules::default(), &ProofHeaders::default()),
        now,
        &RustCrypto,
    ))
}

#[test]
fn rfc9449_4_1_token_request_proof_verifies() {
    let proof = check(
        RFC_TOKEN_PROOF,
        "POST",
        "https://server.example.com/token",
        None,
        1_562_262_616,
    )
    .unwrap();
    assert_eq!(proof.jkt, RFC_JKT);
    assert_eq!(proof.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(proof.iat, 1_562_262_616);
    // The same proof at another URL, with another method, or much later, does not.
    let at = |m, u, now| check(RFC_TOKEN_PROOF, m, u, None, now);
    assert_eq!(
        at("GET", "https://server.example.com/token", 1_562_262_616),
        Err(DpopFault::MethodMismatch)
    );
    assert_eq!(
        at("POST", "https://server.example.com/other", 1_562_262_616),
        Err(DpopFault::UrlMismatch)
    );
    // Another spelling of the same URL is the same URL.
    assert!(at(
        "POST",
        "HTTPS://Server.Example.com:443/a/../token",
        1_562_262_616
    )
    .is_ok());
    assert_eq!(
        at(
            "POST",
            "https://server.example.com/token",
            1_562_262_616 + 301
        ),
        Err(DpopFault::OutsideWindow)
    );
    assert_eq!(
        at(
            "POST",
            "https://server.example.com/token",
            1_562_262_616 - 61
        ),
        Err(DpopFault::OutsideWindow)
    );
}

#[test]
fn rfc9449_7_1_resource_proof_verifies_with_ath() {
    assert_eq!(access_token_hash(RFC_ACCESS_TOKEN), RFC_ATH);
    let url = "https://resource.example.org/protectedresource";
    let proof = check(
        RFC_RESOURCE_PROOF,
        "GET",
        url,
        Some(RFC_ACCESS_TOKEN),
        1_562_262_618,
    )
    .unwrap();
    assert_eq!(proof.jkt, RFC_JKT);
    assert_eq!(proof.jti, "e1j3V_bKic8-LAEB");
    assert_eq!(
        check(
            RFC_RESOURCE_PROOF,
            "GET",
            url,
            Some("another-token"),
            1_562_262_618
        ),
        Err(DpopFault::AthMismatch)
    );
    // The token-request proof has no ath: with an access token it is incomplete.
    assert_eq!(
        check(
            RFC_TOKEN_PROOF,
            "POST",
            "https://server.example.com/token",
            Some(RFC_ACCESS_TOKEN),
            1_562_262_616
        ),
        Err(DpopFault::MissingClaim)
    );
}

#[test]
fn htu_normalisation_table() {
    let same = [
        ("https://api.example.com/a", "https://api.example.com/a"),
        ("https://api.example.com/a?x=1", "https://api.example.com/a"),
        (
            "https://api.example.com/a#frag",
            "https://api.example.com/a",
        ),
        (
            "https://api.example.com/a?x=1#f",
            "https://api.example.com/a",
        ),
        ("HTTPS://API.Example.COM/a", "https://api.example.com/a"),
        ("https://api.example.com:443/a", "https://api.example.com/a"),
        ("http://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com", "https://api.example.com/"),
        (
            "https://api.example.com/%7Euser",
            "https://api.example.com/~user",
        ),
        (
            "https://api.example.com/%41b%2d",
            "https://api.example.com/Ab-",
        ),
        (
            "https://api.example.com/a%2fb",
            "https://api.example.com/a%2Fb",
        ),
        (
            "https://api.example.com/a%2Fb",
            "https://api.example.com/a%2Fb",
        ),
        (
            "https://api.example.com/a/./b/../c",
            "https://api.example.com/a/c",
        ),
        (
            "https://api.example.com/caf%c3%a9",
            "https://api.example.com/caf%C3%A9",
        ),
    ];
    for (input, expected) in same {
        assert_eq!(normalize_htu(input).as_deref(), Some(expected), "{input}");
        // The request side normalises the parsed request URL; it must agree with the string form.
        let parsed = Url::parse(input).unwrap();
        assert_eq!(
            public_htu(&parsed, None).as_deref(),
            Some(expected),
            "{input}"
        );
    }
    let different = [
        ("https://api.example.com/a", "https://api.example.com/A"),
        ("https://api.example.com/a", "http://api.example.com/a"),
        (
            "https://api.example.com/a",
            "https://api.example.com:8443/a",
        ),
        ("https://api.example.com/a/", "https://api.example.com/a"),
        (
            "https://api.example.com/a%2Fb",
            "https://api.example.com/a/b",
        ),
    ];
    for (a, b) in different {
        assert_ne!(normalize_htu(a), normalize_htu(b), "{a} vs {b}");
    }
    for bad in [
        "/relative",
        "ftp://api.example.com/a",
        "https://user:pw@api.example.com/a",
        "not a url",
    ] {
        assert_eq!(normalize_htu(bad), None, "{bad}");
    }
}

#[test]
fn htu_behind_a_proxy_uses_the_public_base_url() {
    let request = Url::parse("http://10.0.0.7:8080/orders/42?x=1").unwrap();
    assert_eq!(
        public_htu(&request, None).as_deref(),
        Some("http://10.0.0.7:8080/orders/42")
    );
    for base in [
        "https://api.example.com/v1",
        "https://API.example.com:443/v1/",
    ] {
        let base = Url::parse(base).unwrap();
        assert_eq!(
            public_htu(&request, Some(&base)).as_deref(),
            Some("https://api.example.com/v1/orders/42"),
            "{base}"
        );
    }
    let root = Url::parse("https://api.example.com").unwrap();
    assert_eq!(
        public_htu(&request, Some(&root)).as_deref(),
        Some("https://api.example.com/orders/42")
    );
}

// Proofs made here, one fault at a time.

const NOW: u64 = 1_800_000_000;
const URL: &str = "https://api.example.com/orders";
const TOKEN: &str = "access.token.value";

fn good_header() -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key(1)) })
}

fn good_claims() -> Value {
    json!({ "jti": "j-1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN) })
}

fn run(proof: &str) -> Result<VerifiedProof, DpopFault> {
    check(proof, "GET", URL, Some(TOKEN), NOW)
}

#[test]
fn a_good_proof_and_its_thumbprint() {
    let proof = run(&sign(&key(1), &good_header(), &good_claims())).unwrap();
    let jwk = Jwk::parse(public_jwk(&key(1)).to_string().as_bytes()).unwrap();
    assert_eq!(proof.jkt, jwk.thumbprint_sha256());
}

#[test]
fn remembered_proof_headers_give_what_parsing_gives() {
    let memo = ProofHeaders::default();
    let htu = normalize_htu(URL).unwrap();
    let ath = access_token_hash(TOKEN);
    let request = ProofRequest {
        method: "GET",
        htu: &htu,
        ath: Some(&ath),
    };
    let rules = ProofRules::default();
    let remembered = |proof: &str| {
        block_on(verify_proof(
            proof,
            &request,
            (&rules, &memo),
            NOW,
            &RustCrypto,
        ))
    };
    let claims = |jti: &str| {
        let mut c = good_claims();
        c["jti"] = json!(jti);
        c
    };
    let header_of =
        |seed: u8| json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key(seed)) });
    // Two clients, each sending proofs with its own (repeated) header text.
    for round in 0..3 {
        for seed in [1u8, 2] {
            let proof = sign(&key(seed), &header_of(seed), &claims(&format!("j-{round}")));
            assert_eq!(
                remembered(&proof),
                run(&proof),
                "seed {seed}, round {round}"
            );
        }
    }
    let (one, two) = (
        remembered(&sign(&key(1), &header_of(1), &claims("a"))).unwrap(),
        remembered(&sign(&key(2), &header_of(2), &claims("a"))).unwrap(),
    );
    assert_ne!(one.jkt, two.jkt);
    // A remembered header is no shortcut past the signature: key 2's header signed by key 1.
    let forged = sign(&key(1), &header_of(2), &claims("b"));
    assert_eq!(remembered(&forged), Err(DpopFault::BadSignature));
    // A header with a private member is refused every time (it is never remembered).
    let mut private = header_of(3);
    private["jwk"]["d"] = json!("AAAA");
    let proof = sign(&key(3), &private, &claims("c"));
    assert_eq!(remembered(&proof), Err(DpopFault::PrivateKey));
    assert_eq!(remembered(&proof), Err(DpopFault::PrivateKey));
}

#[test]
fn each_stateless_check_fails_on_its_own() {
    let with_header = |f: &dyn Fn(&mut Value)| {
        let mut h = good_header();
        f(&mut h);
        sign(&key(1), &h, &good_claims())
    };
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = good_claims();
        f(&mut c);
        sign(&key(1), &good_header(), &c)
    };
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let mut none_header = good_header();
    none_header["alg"] = json!("none");
    let alg_none = format!("{}.{}.", b64(&none_header), b64(&good_claims()));
    let mut hs_header = good_header();
    hs_header["alg"] = json!("HS256");
    let hs256 = format!("{}.{}.AAAA", b64(&hs_header), b64(&good_claims()));
    let mut foreign = good_header();
    foreign["jwk"] = public_jwk(&key(2));
    let cases: Vec<(&str, String, DpopFault)> = vec![
        (
            "typ jwt",
            with_header(&|h| h["typ"] = json!("JWT")),
            DpopFault::WrongType,
        ),
        (
            "typ missing",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            DpopFault::WrongType,
        ),
        ("alg none", alg_none, DpopFault::AlgorithmNotAllowed),
        ("HS256", hs256, DpopFault::AlgorithmNotAllowed),
        (
            "ES384 with a P-256 key",
            with_header(&|h| h["alg"] = json!("ES384")),
            DpopFault::AlgorithmNotAllowed,
        ),
        (
            "private key in jwk",
            with_header(&|h| h["jwk"]["d"] = json!("AAAA")),
            DpopFault::PrivateKey,
        ),
        (
            "jwk missing",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            DpopFault::BadKey,
        ),
        (
            "symmetric jwk",
            with_header(&|h| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"})),
            DpopFault::BadKey,
        ),
        (
            "signed by another key",
            sign(&key(2), &good_header(), &good_claims()),
            DpopFault::BadSignature,
        ),
        (
            "jwk of another key",
            sign(&key(1), &foreign, &good_claims()),
            DpopFault::BadSignature,
        ),
        (
            "jti missing",
            with_claims(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            DpopFault::MissingClaim,
        ),
        (
            "jti empty",
            with_claims(&|c| c["jti"] = json!("")),
            DpopFault::MissingClaim,
        ),
        (
            "htm missing",
            with_claims(&|c| {
                c.as_object_mut().unwrap().remove("htm");
            }),
            DpopFault::MissingClaim,
        ),
        (
            "iat a string",
            with_claims(&|c| c["iat"] = json!("1800000000")),
            DpopFault::Malformed,
        ),
        (
            "htm lower case",
            with_claims(&|c| c["htm"] = json!("get")),
            DpopFault::MethodMismatch,
        ),
        (
            "htu other host",
            with_claims(&|c| c["htu"] = json!("https://evil.example.com/orders")),
            DpopFault::UrlMismatch,
        ),
        (
            "iat stale",
            with_claims(&|c| c["iat"] = json!(NOW - 301)),
            DpopFault::OutsideWindow,
        ),
        (
            "iat future",
            with_claims(&|c| c["iat"] = json!(NOW + 61)),
            DpopFault::OutsideWindow,
        ),
        (
            "ath of another token",
            with_claims(&|c| c["ath"] = json!(access_token_hash("other"))),
            DpopFault::AthMismatch,
        ),
        (
            "ath missing",
            with_claims(&|c| {
                c.as_object_mut().unwrap().remove("ath");
            }),
            DpopFault::MissingClaim,
        ),
        (
            "unknown crit",
            with_header(&|h| {
                h["crit"] = json!(["exp"]);
                h["exp"] = json!(1);
            }),
            DpopFault::Malformed,
        ),
        (
            "too large",
            with_claims(&|c| c["pad"] = json!("x".repeat(9000))),
            DpopFault::TooLarge,
        ),
        ("garbage", "a.b.c".to_owned(), DpopFault::Malformed),
    ];
    for (name, proof, fault) in cases {
        assert_eq!(run(&proof), Err(fault), "{name}");
    }
    // An `htu` spelled otherwise (case, default port, dot segments, escapes) names the same URL.
    for htu in [
        "HTTPS://API.Example.com:443/./orders",
        "https://api.example.com/x/../%6Frders",
    ] {
        assert_eq!(normalize_htu(htu), normalize_htu(URL), "{htu}");
        assert!(
            run(&with_claims(&|c| c["htu"] = json!(htu))).is_ok(),
            "{htu}"
        );
    }
    // Within the window's edges it passes.
    for iat in [NOW - 300, NOW + 60] {
        assert!(
            run(&with_claims(&|c| c["iat"] = json!(iat))).is_ok(),
            "{iat}"
        );
    }
}

#[test]
fn the_algorithm_allow_list_is_configurable() {
    let proof = sign(&key(1), &good_header(), &good_claims());
    let htu = normalize_htu(URL).unwrap();
    let request = ProofRequest {
        method: "GET",
        htu: &htu,
        ath: Some(&access_token_hash(TOKEN)),
    };
    let rules = ProofRules {
        algs: AlgSet::new([Alg::EdDSA]),
        ..ProofRules::default()
    };
    assert_eq!(
        block_on(verify_proof(
            &proof,
            &request,
            (&rules, &ProofHeaders::default()),
            NOW,
            &RustCrypto
        )),
        Err(DpopFault::AlgorithmNotAllowed)
    );
}
