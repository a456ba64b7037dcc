//! The signed assertion: a short-lived JWT (RFC 7519) the gateway signs for the origin, saying
//! which request passed and for whom. It is a compact JWS (RFC 7515 §7.1) with `alg` = `ES256`
//! (RFC 7518 §3.4), the gateway key's `kid`, and an explicit `typ` of [`ASSERTION_TYP`] so it can
//! never be confused with an access token or an ID token (RFC 8725 §3.11).
//!
//! Claims: `iss` (the gateway id), `aud` (the origin, as a Web origin `scheme://host[:port]`),
//! `sub` (the token's, when a token was verified), the configured selection of token claims, `jti`
//! (128 random bits from the platform), `iat` and `exp` (at most [`MAX_ASSERTION_TTL`] later).
//!
//! The gateway's key is a P-256 private JWK (RFC 7518 §6.2.2) read from a platform secret. Not
//! done here: key rotation (publish a second key by running a second gateway id, or extend
//! [`GatewayKey`] to a list), and replay detection (the origin's verifier keeps `jti`s).

use crate::jwk::Jwk;
use crate::strict;
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use serde_json::{json, Map, Value};

/// The JOSE `typ` of an assertion.
pub const ASSERTION_TYP: &str = "edgeward-assertion+jwt";

/// Claims the gateway sets itself; a configured selection never overrides them.
pub const RESERVED_CLAIMS: &[&str] = &["iss", "aud", "sub", "jti", "iat", "exp", "nbf"];

/// The gateway's ES256 signing key and its public JWK.
#[derive(Clone)]
pub struct GatewayKey {
    signing: p256::ecdsa::SigningKey,
    kid: String,
    public: Value,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl GatewayKey {
    /// Reads a private P-256 JWK: `kty` = `EC`, `crv` = `P-256`, `x`, `y`, `d` (RFC 7518 §6.2), and
    /// optionally `kid` (default: the RFC 7638 thumbprint). `x` / `y` must belong to `d`. The error
    /// text never contains key material.
    pub fn from_jwk(text: &str) -> Result<GatewayKey, &'static str> {
        let object = strict::object(text.as_bytes()).ok_or("not a JSON object")?;
        let public = Jwk::from_object(&object).map_err(|_| "not a valid EC P-256 JWK")?;
        if object.get("crv").and_then(Value::as_str) != Some("P-256") {
            return Err("must be an EC P-256 key");
        }
        let d = object
            .get("d")
            .and_then(Value::as_str)
            .and_then(strict::b64url)
            .ok_or("the private member d is missing or not base64url")?;
        let signing =
            p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| "d is not a P-256 private key")?;
        let point = signing.verifying_key().to_encoded_point(false);
        if public.public_key() != &crate::crypto::PublicKey::P256(point.as_bytes().to_vec()) {
            return Err("x and y do not belong to d");
        }
        let kid = match object.get("kid") {
            None => public.thumbprint_sha256(),
            Some(Value::String(kid))
                if !kid.is_empty()
                    && kid
                        .bytes()
                        .all(|b| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\') =>
            {
                kid.clone()
            }
            Some(_) => return Err("kid must be printable ASCII without spaces or quotes"),
        };
        let public = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": object.get("x"), "y": object.get("y"),
        });
        Ok(GatewayKey {
            signing,
            kid,
            public,
        })
    }

    /// The key id, used as JWS `kid` and RFC 9421 `keyid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (no private members), as served at the gateway's JWKS endpoint.
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// The private key, for RFC 9421 `ecdsa-p256-sha256`.
    pub fn signing_key(&self) -> &p256::ecdsa::SigningKey {
        &self.signing
    }

    /// Signs a compact JWS with ES256 over the given header and claims.
    pub fn sign_jws(&self, header: &Value, claims: &Value) -> String {
        let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature: p256::ecdsa::Signature = self.signing.sign(input.as_bytes());
        format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(&signature.to_bytes())
        )
    }
}

/// What goes into one assertion.
#[derive(Debug, Clone)]
pub struct AssertionClaims<'a> {
    /// `iss`: the gateway id.
    pub issuer: &'a str,
    /// `aud`: the origin.
    pub audience: &'a str,
    /// `sub` and the selected claims, from the verified token (none on anonymous routes).
    pub token: Option<&'a Map<String, Value>>,
    /// Names of token claims to copy (JSON Pointers are not supported here; names only).
    pub selected: &'a [String],
    /// `jti`.
    pub jti: &'a str,
    /// `iat`, Unix seconds.
    pub now: u64,
    /// `exp` − `iat`, capped at [`MAX_ASSERTION_TTL`].
    pub ttl: u64,
}

/// Builds and signs the assertion.
pub fn issue(key: &GatewayKey, claims: &AssertionClaims<'_>) -> String {
    let header = json!({ "alg": "ES256", "typ": ASSERTION_TYP, "kid": key.kid() });
    let mut body = Map::new();
    body.insert("iss".into(), claims.issuer.into());
    body.insert("aud".into(), claims.audience.into());
    if let Some(token) = claims.token {
        if let Some(sub) = token.get("sub") {
            body.insert("sub".into(), sub.clone());
        }
        for name in claims.selected {
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            if let Some(value) = token.get(name) {
                body.insert(name.clone(), value.clone());
            }
        }
    }
    body.insert("jti".into(), claims.jti.into());
    body.insert("iat".into(), claims.now.into());
    body.insert(
        "exp".into(),
        (claims.now + claims.ttl.min(MAX_ASSERTION_TTL)).into(),
    );
    key.sign_jws(&header, &Value::Object(body))
}

/// Longest assertion lifetime allowed (the issue's bound: `exp` ≤ `iat` + 60 s).
pub const MAX_ASSERTION_TTL: u64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn private_jwk(seed: u8, kid: Option<&str>) -> String {
        let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
            "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
            "d": Base64UrlUnpadded::encode_string(&key.to_bytes()),
        });
        if let Some(kid) = kid {
            jwk["kid"] = kid.into();
        }
        jwk.to_string()
    }

    #[test]
    fn reads_private_jwk_and_publishes_only_public_members() {
        let key = GatewayKey::from_jwk(&private_jwk(3, Some("gw"))).unwrap();
        assert_eq!(key.kid(), "gw");
        assert!(key.public_jwk().get("d").is_none());
        let thumb = GatewayKey::from_jwk(&private_jwk(3, None)).unwrap();
        assert_eq!(thumb.kid().len(), 43);
        // x / y of another key.
        let mut mixed: Value = serde_json::from_str(&private_jwk(3, None)).unwrap();
        let other: Value = serde_json::from_str(&private_jwk(4, None)).unwrap();
        mixed["d"] = other["d"].clone();
        assert_eq!(
            GatewayKey::from_jwk(&mixed.to_string()).unwrap_err(),
            "x and y do not belong to d"
        );
        let public_only = json!({"kty":"EC","crv":"P-256","x": mixed["x"], "y": mixed["y"]});
        assert!(GatewayKey::from_jwk(&public_only.to_string()).is_err());
        assert!(GatewayKey::from_jwk("not json").is_err());
    }

    #[test]
    fn assertion_verifies_and_never_overrides_reserved_claims() {
        let key = GatewayKey::from_jwk(&private_jwk(5, Some("gw"))).unwrap();
        let token = json!({"sub": "alice", "iss": "https://idp", "tenant": "acme", "exp": 1});
        let selected = vec!["tenant".to_owned(), "iss".to_owned(), "missing".to_owned()];
        let jwt = issue(
            &key,
            &AssertionClaims {
                issuer: "edgeward",
                audience: "https://origin",
                token: token.as_object(),
                selected: &selected,
                jti: "j",
                now: 100,
                ttl: 3600,
            },
        );
        let jws = crate::jws::parse(&jwt, 10_000).unwrap();
        assert_eq!(jws.header.typ.as_deref(), Some(ASSERTION_TYP));
        assert_eq!(jws.header.kid.as_deref(), Some("gw"));
        let public = Jwk::from_object(key.public_jwk().as_object().unwrap()).unwrap();
        crate::crypto::verify_sync(
            crate::crypto::Scheme::EcdsaP256Sha256,
            public.public_key(),
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .unwrap();
        assert_eq!(
            Value::Object(jws.claims),
            json!({"iss": "edgeward", "aud": "https://origin", "sub": "alice", "tenant": "acme",
                   "jti": "j", "iat": 100, "exp": 160})
        );
    }
}
