//! Property tests: the parsers return errors, never panic, on arbitrary input.

use base64ct::{Base64UrlUnpadded, Encoding};
use edgeward::jwk::{Jwk, JwkSet};
use edgeward::jws;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9_+/=-]{0,70}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(|b| Value::from(Base64UrlUnpadded::encode_string(&b))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects over the member names JWK and JOSE parsing look at, with arbitrary values.
fn jose_object() -> impl Strategy<Value = Map<String, Value>> {
    let name = prop::sample::select(vec![
        "kty", "crv", "x", "y", "n", "e", "d", "k", "kid", "alg", "use", "key_ops", "x5c", "typ",
        "crit", "jwk", "jku", "b64",
    ]);
    let kty = prop::sample::select(vec!["EC", "RSA", "OKP", "oct", "ec"]).prop_map(Value::from);
    let crv = prop::sample::select(vec!["P-256", "P-384", "Ed25519", "X25519", "P-521"])
        .prop_map(Value::from);
    let alg = prop::sample::select(vec![
        "ES256", "ES384", "RS256", "PS256", "EdDSA", "none", "HS256",
    ])
    .prop_map(Value::from);
    (
        prop::collection::btree_map(name, json_value(), 0..8),
        kty,
        crv,
        alg,
        any::<bool>(),
    )
        .prop_map(|(members, kty, crv, alg, typed)| {
            let mut map: Map<String, Value> = members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if typed {
                map.insert("kty".into(), kty);
                map.insert("crv".into(), crv);
                map.insert("alg".into(), alg);
            }
            map
        })
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_strings(token in any::<String>()) {
        let _ = jws::parse(&token, 4096);
    }

    #[test]
    fn parse_never_panics_on_dotted_base64url(
        a in "[A-Za-z0-9_-]{0,80}",
        b in "[A-Za-z0-9_-]{0,80}",
        c in "[A-Za-z0-9_=+/-]{0,100}",
    ) {
        let _ = jws::parse(&format!("{a}.{b}.{c}"), 4096);
    }

    #[test]
    fn parse_never_panics_on_encoded_json(
        header in jose_object(),
        payload in json_value(),
        sig in prop::collection::vec(any::<u8>(), 0..130),
    ) {
        let enc = |v: &[u8]| Base64UrlUnpadded::encode_string(v);
        let token = format!(
            "{}.{}.{}",
            enc(&serde_json::to_vec(&header).unwrap()),
            enc(&serde_json::to_vec(&payload).unwrap()),
            enc(&sig)
        );
        if let Ok(parsed) = jws::parse(&token, 16 * 1024) {
            prop_assert!(token.starts_with(parsed.signing_input));
        }
    }

    #[test]
    fn jwk_parse_never_panics(object in jose_object()) {
        let _ = Jwk::from_object(&object);
        let bytes = serde_json::to_vec(&object).unwrap();
        let _ = Jwk::parse(&bytes);
        let set = serde_json::json!({"keys": [Value::Object(object)]});
        let _ = JwkSet::parse(&serde_json::to_vec(&set).unwrap());
    }

    #[test]
    fn jwk_parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Jwk::parse(&bytes);
        let _ = JwkSet::parse(&bytes);
    }
}

proptest! {
    /// URLs built from the pieces that trip `url`'s IDNA step (mixed case, non-ASCII, percent
    /// escapes of UTF-8, punycode, slashes and backslashes): `http::parse_url` answers, never
    /// panics, and every URL it accepts has a plain ASCII host.
    #[test]
    fn parse_url_never_panics(
        scheme in prop::sample::select(vec!["http:", "https:", "HTTP:", "foo:", ""]),
        slashes in "[/\\\\]{0,3}",
        labels in prop::collection::vec(
            prop::sample::select(vec![
                "a", "B", "xn--bcher-kva", "XN--BCHER-KVA", "xn--", "b\u{fc}cher", "A\u{fc}",
                "%C3%BC", "%41", "ex\u{20f}ample", "\u{5d0}", "1", "[::1]", "user@h", " ", "\t",
            ]),
            1..4,
        ),
        rest in prop::sample::select(vec!["", "/", "/p?q#f", ":8080/x", "/\u{e9}", "?%C3"]),
    ) {
        let input = format!("{scheme}{slashes}{}{rest}", labels.join("."));
        if let Ok(url) = edgeward::http::parse_url(&input) {
            prop_assert!(url.host_str().is_none_or(|h| h.is_ascii()));
        }
    }
}
