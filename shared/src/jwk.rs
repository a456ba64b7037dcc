//! JSON Web Keys (RFC 7517) for signature verification: EC P-256 / P-384 and RSA (RFC 7518 §6),
//! Ed25519 (RFC 8037 §2), JWK Sets (RFC 7517 §5) and thumbprints (RFC 7638).
//!
//! Every key is validated when parsed: fixed coordinate lengths, the EC point on its curve (SEC1
//! decoding by `p256` / `p384`; builds without `p384` check the P-384 curve equation), the Ed25519
//! point decompressible, the RSA key as the `rsa` crate checks it, modulus within
//! [`MIN_RSA_BITS`](crate::crypto::MIN_RSA_BITS)..=[`MAX_RSA_BITS`](crate::crypto::MAX_RSA_BITS)
//! (builds without `rsa`: the same checks on the bytes). Not checked here: `x5c` against the key
//! (the key sources in [`jwks`](crate::jwks) drop JWKs whose first certificate disagrees), `x5t`
//! (kept, unused), `exp`-style key metadata, and symmetric (`oct`) keys, which are never accepted.

use crate::crypto::PublicKey;
#[cfg(any(test, feature = "rustcrypto-full"))]
use crate::crypto::{MAX_RSA_BITS, MIN_RSA_BITS};
use crate::jws::{x5c_certs, Alg};
use crate::strict;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Largest JWK Set document accepted, in bytes. Public JWKS seen in practice are 1–20 KiB (the
/// larger ones carry `x5c`); 256 KiB leaves ample room and bounds the JSON parsing work.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most entries in a JWK Set. Issuers publish a handful (current, next, previous); 64 bounds the
/// work of one lookup.
pub const MAX_JWKS_KEYS: usize = 64;

/// Member names that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWK was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkError {
    /// Not a JSON object, a required member missing or of the wrong type, or non-canonical base64url.
    Malformed,
    /// A `kty` or `crv` this crate does not use (e.g. `oct`, `X25519`, `P-521`).
    Unsupported,
    /// The key material is invalid: wrong length, point not on the curve, RSA size out of range,
    /// leading zero octets.
    InvalidKey,
}

/// The elliptic curves accepted for `kty` = `EC` (RFC 7518 §6.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// `P-256`, coordinates of 32 bytes.
    P256,
    /// `P-384`, coordinates of 48 bytes.
    P384,
}

/// A validated public JWK.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwk {
    key: PublicKey,
    /// `kid` (RFC 7517 §4.5): compared by exact string equality, nothing else.
    pub kid: Option<String>,
    /// `alg` (RFC 7517 §4.4), as sent; when present a token must use exactly this algorithm.
    pub alg: Option<String>,
    /// `use` (RFC 7517 §4.2), as sent.
    pub key_use: Option<String>,
    /// `key_ops` (RFC 7517 §4.3), as sent.
    pub key_ops: Option<Vec<String>>,
    /// `x5c` (RFC 7517 §4.7), DER certificates; not checked against the key here (see
    /// [`x5c_consistent`](crate::jwks::x5c_consistent)).
    pub x5c: Option<Vec<Vec<u8>>>,
    has_private: bool,
}

impl Jwk {
    /// Parses a JWK from JSON text, rejecting duplicate member names at any depth.
    pub fn parse(json: &[u8]) -> Result<Jwk, JwkError> {
        let object = strict::object(json).ok_or(JwkError::Malformed)?;
        Jwk::from_object(&object)
    }

    /// Interprets a JSON object as a public JWK. Private members are recorded, not refused: callers
    /// that expect a public key must check [`has_private_members`](Jwk::has_private_members).
    pub fn from_object(object: &Map<String, Value>) -> Result<Jwk, JwkError> {
        let kty = string(object, "kty")?.ok_or(JwkError::Malformed)?;
        let key = match kty {
            "EC" => ec_key(object)?,
            "RSA" => rsa_key(object)?,
            "OKP" => okp_key(object)?,
            _ => return Err(JwkError::Unsupported),
        };
        let key_ops = match object.get("key_ops") {
            None => None,
            Some(Value::Array(ops)) => Some(
                ops.iter()
                    .map(|op| op.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(JwkError::Malformed)?,
            ),
            Some(_) => return Err(JwkError::Malformed),
        };
        let x5c = match object.get("x5c") {
            None => None,
            Some(value) => Some(x5c_certs(value).ok_or(JwkError::Malformed)?),
        };
        Ok(Jwk {
            key,
            kid: string(object, "kid")?.map(str::to_owned),
            alg: string(object, "alg")?.map(str::to_owned),
            key_use: string(object, "use")?.map(str::to_owned),
            key_ops,
            x5c,
            has_private: PRIVATE_MEMBERS
                .iter()
                .any(|name| object.contains_key(*name)),
        })
    }

    /// The key, ready for a [`SignatureVerifier`](crate::crypto::SignatureVerifier).
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// True when the JWK carries private or symmetric key members (`d`, `p`, `q`, `dp`, `dq`, `qi`,
    /// `oth`, `k`). Such a JWK must be refused wherever a public key is expected (RFC 9449 §4.3
    /// step 7 for DPoP).
    pub fn has_private_members(&self) -> bool {
        self.has_private
    }

    /// True when this key may verify a token signed with `alg`: the key family fits, a declared
    /// `alg` is the same, `use` (if any) is `sig`, and `key_ops` (if any) include `verify`.
    pub fn usable_for(&self, alg: Alg) -> bool {
        alg.fits(&self.key)
            && self.alg.as_deref().is_none_or(|a| a == alg.name())
            && self.key_use.as_deref().is_none_or(|u| u == "sig")
            && self
                .key_ops
                .as_ref()
                .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
    }

    /// The RFC 7638 thumbprint with SHA-256, base64url-encoded: the hash of the required members in
    /// lexicographic order, without whitespace (RFC 7638 §3.2–3.3).
    pub fn thumbprint_sha256(&self) -> String {
        let b64 = Base64UrlUnpadded::encode_string;
        // Every value is base64url or a fixed curve name, so no JSON escaping can be needed.
        let canonical = match &self.key {
            PublicKey::P256(point) | PublicKey::P384(point) => {
                let (crv, len) = match self.key {
                    PublicKey::P384(_) => ("P-384", 48),
                    _ => ("P-256", 32),
                };
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(len.min(coords.len()));
                format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(x),
                    b64(y)
                )
            }
            PublicKey::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            PublicKey::Ed25519(x) => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x))
            }
        };
        b64(&Sha256::digest(canonical.as_bytes()))
    }
}

fn string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JwkError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::Malformed),
    }
}

fn bytes(object: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwkError> {
    let text = string(object, name)?.ok_or(JwkError::Malformed)?;
    strict::b64url(text).ok_or(JwkError::Malformed)
}

/// RFC 7518 §6.2.1: `x` and `y` are the full-length coordinates; the point must be on the curve.
fn ec_key(object: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    let curve = match string(object, "crv")?.ok_or(JwkError::Malformed)? {
        "P-256" => Curve::P256,
        "P-384" => Curve::P384,
        _ => return Err(JwkError::Unsupported),
    };
    let len = match curve {
        Curve::P256 => 32,
        Curve::P384 => 48,
    };
    let x = bytes(object, "x")?;
    let y = bytes(object, "y")?;
    if x.len() != len || y.len() != len {
        return Err(JwkError::InvalidKey);
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    match curve {
        Curve::P256 => {
            p256::PublicKey::from_sec1_bytes(&point).map_err(|_| JwkError::InvalidKey)?;
            Ok(PublicKey::P256(point))
        }
        Curve::P384 => {
            if !p384_point(&point) {
                return Err(JwkError::InvalidKey);
            }
            Ok(PublicKey::P384(point))
        }
    }
}

/// Whether `point` (SEC1 uncompressed) is a point of P-384: `p384`'s SEC1 decoding where the
/// build links `p384` to verify signatures.
#[cfg(feature = "rustcrypto-full")]
fn p384_point(point: &[u8]) -> bool {
    p384::PublicKey::from_sec1_bytes(point).is_ok()
}

/// Whether `point` (SEC1 uncompressed) is a point of P-384, for builds that leave P-384
/// signatures to another backend (the Workers function: WebCrypto) and so do not link `p384`,
/// whose field arithmetic is ≈ 53 KB of Wasm. The same checks as `p384`'s SEC1 decoding
/// (SEC 1 v2 §2.3.4, §3.2.2.1): `04 || x || y`, both coordinates below the field prime, and
/// y² = x³ − 3x + b (SP 800-186 §3.2.1.4), with `crypto-bigint`'s Montgomery arithmetic mod p.
/// The point at infinity has no uncompressed form. A test holds the verdicts to `p384`'s.
#[cfg(any(test, not(feature = "rustcrypto-full")))]
fn p384_on_curve(point: &[u8]) -> bool {
    use crypto_bigint::modular::constant_mod::{Residue, ResidueParams};
    use crypto_bigint::{impl_modulus, U384};
    // The field prime p = 2³⁸⁴ − 2¹²⁸ − 2⁹⁶ + 2³² − 1 (SP 800-186 §3.2.1.4).
    impl_modulus!(
        FieldP384,
        U384,
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"
    );
    type Fe = Residue<FieldP384, { U384::LIMBS }>;
    /// The curve coefficient b (SP 800-186 §3.2.1.4).
    const B: Fe = Fe::new(&U384::from_be_hex(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
    ));
    let Some((&0x04, xy)) = point.split_first() else {
        return false;
    };
    if xy.len() != 96 {
        return false;
    }
    let (x, y) = xy.split_at(48);
    let (x, y) = (U384::from_be_slice(x), U384::from_be_slice(y));
    if x >= FieldP384::MODULUS || y >= FieldP384::MODULUS {
        return false;
    }
    let (x, y) = (Fe::new(&x), Fe::new(&y));
    y.square() == x.square() * x - (x + x + x) + B
}

#[cfg(not(feature = "rustcrypto-full"))]
fn p384_point(point: &[u8]) -> bool {
    p384_on_curve(point)
}

/// RFC 7518 §6.3.1: `n` and `e` are Base64urlUInt, which RFC 7518 §2 defines as the minimum number
/// of octets. Leading zero octets are refused, not stripped: canonical values keep RFC 7638
/// thumbprints unambiguous, and every producer tested (see `tests/interop.rs`) emits them.
fn rsa_key(object: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    let n = bytes(object, "n")?;
    let e = bytes(object, "e")?;
    if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
        return Err(JwkError::InvalidKey);
    }
    if !rsa_key_valid(&n, &e) {
        return Err(JwkError::InvalidKey);
    }
    Ok(PublicKey::Rsa { n, e })
}

/// The `rsa` crate's public-key checks, where the build links `rsa`.
#[cfg(feature = "rustcrypto-full")]
fn rsa_key_valid(n: &[u8], e: &[u8]) -> bool {
    rsa_crate_accepts(n, e)
}

/// The `rsa` crate's public-key checks and the size bounds (also the reference the byte checks of
/// [`rsa_modulus_bytes`](crate::crypto::rsa_modulus_bytes) are tested against).
#[cfg(any(test, feature = "rustcrypto-full"))]
pub(crate) fn rsa_crate_accepts(n: &[u8], e: &[u8]) -> bool {
    let modulus = rsa::BigUint::from_bytes_be(n);
    (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&modulus.bits())
        && rsa::RsaPublicKey::new_with_max_size(
            modulus,
            rsa::BigUint::from_bytes_be(e),
            MAX_RSA_BITS,
        )
        .is_ok()
}

/// The same checks on the bytes, for builds that do not link `rsa` (see
/// [`rsa_modulus_bytes`](crate::crypto::rsa_modulus_bytes)).
#[cfg(not(feature = "rustcrypto-full"))]
fn rsa_key_valid(n: &[u8], e: &[u8]) -> bool {
    crate::crypto::rsa_modulus_bytes(n, e).is_some()
}

/// RFC 8037 §2: `crv` = `Ed25519` and `x` the 32-byte encoded point.
fn okp_key(object: &Map<String, Value>) -> Result<PublicKey, JwkError> {
    if string(object, "crv")?.ok_or(JwkError::Malformed)? != "Ed25519" {
        return Err(JwkError::Unsupported);
    }
    let x: [u8; 32] = bytes(object, "x")?
        .try_into()
        .map_err(|_| JwkError::InvalidKey)?;
    ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| JwkError::InvalidKey)?;
    Ok(PublicKey::Ed25519(x))
}

/// A JWK Set (RFC 7517 §5) of usable public signature keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwkSet {
    /// The keys kept.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWK Set document. RFC 7517 §5: keys that cannot be used are ignored — unknown
    /// `kty` / `crv`, `use` other than `sig`, entries that fail validation, and any entry with
    /// private members (a published private key is never trusted). The document itself must be a
    /// JSON object with a `keys` array, no duplicate members, within [`MAX_JWKS_BYTES`] and
    /// [`MAX_JWKS_KEYS`].
    pub fn parse(json: &[u8]) -> Result<JwkSet, JwkError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(JwkError::Malformed);
        }
        let object = strict::object(json).ok_or(JwkError::Malformed)?;
        let entries = object
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::Malformed)?;
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwkError::Malformed);
        }
        let keys = entries
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|entry| Jwk::from_object(entry).ok())
            .filter(|key| !key.has_private_members())
            .filter(|key| key.key_use.as_deref().is_none_or(|u| u == "sig"))
            .collect();
        Ok(JwkSet { keys })
    }

    /// The candidate keys for a token: with a `kid`, the keys whose `kid` is exactly equal; without,
    /// every key. Either way only keys [`usable_for`](Jwk::usable_for) `alg` are returned.
    pub fn find<'a>(&'a self, kid: Option<&'a str>, alg: Alg) -> impl Iterator<Item = &'a Jwk> {
        self.keys.iter().filter(move |key| {
            kid.is_none_or(|kid| key.kid.as_deref() == Some(kid)) && key.usable_for(alg)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn rfc7638_example_thumbprint() {
        let json = format!(
            r#"{{"kty":"RSA","n":"{RFC7638_N}","e":"AQAB","alg":"RS256","kid":"2011-04-29"}}"#
        );
        let jwk = Jwk::parse(json.as_bytes()).unwrap();
        assert_eq!(
            jwk.thumbprint_sha256(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert!(jwk.usable_for(Alg::RS256));
        assert!(!jwk.usable_for(Alg::PS256), "declared alg is binding");
        assert!(!jwk.usable_for(Alg::ES256));
    }

    #[test]
    fn rsa_leading_zero_and_small_modulus_refused() {
        let n = Base64UrlUnpadded::decode_vec(RFC7638_N).unwrap();
        let mut padded = vec![0];
        padded.extend_from_slice(&n);
        let json = format!(
            r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#,
            Base64UrlUnpadded::encode_string(&padded)
        );
        assert_eq!(Jwk::parse(json.as_bytes()), Err(JwkError::InvalidKey));
        let short = Base64UrlUnpadded::encode_string(&n[..128]);
        let json = format!(r#"{{"kty":"RSA","n":"{short}","e":"AQAB"}}"#);
        assert_eq!(Jwk::parse(json.as_bytes()), Err(JwkError::InvalidKey));
        let json = format!(r#"{{"kty":"RSA","n":"{RFC7638_N}","e":"AAEAAQ"}}"#);
        assert_eq!(Jwk::parse(json.as_bytes()), Err(JwkError::InvalidKey));
    }

    #[test]
    fn kinds_and_private_members() {
        let ec = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let jwk = Jwk::parse(ec.as_bytes()).unwrap();
        assert!(!jwk.has_private_members());
        assert!(matches!(jwk.public_key(), PublicKey::P256(p) if p.len() == 65));
        let with_d = ec.replace('}', r#","d":"AA"}"#);
        assert!(Jwk::parse(with_d.as_bytes()).unwrap().has_private_members());
        assert_eq!(
            Jwk::parse(br#"{"kty":"oct","k":"AAAA"}"#),
            Err(JwkError::Unsupported)
        );
        assert_eq!(
            Jwk::parse(br#"{"kty":"OKP","crv":"X25519","x":"AAAA"}"#),
            Err(JwkError::Unsupported)
        );
        assert_eq!(
            Jwk::parse(br#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#),
            Err(JwkError::Unsupported)
        );
        assert_eq!(Jwk::parse(br#"{"crv":"P-256"}"#), Err(JwkError::Malformed));
        let short = ec.replace("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "AAAA");
        assert_eq!(Jwk::parse(short.as_bytes()), Err(JwkError::InvalidKey));
    }

    #[test]
    fn set_keeps_only_usable_public_signature_keys() {
        let ec = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0""#;
        let doc = format!(
            r#"{{"keys":[
                {ec},"kid":"sig"}},
                {ec},"kid":"enc","use":"enc"}},
                {ec},"kid":"priv","d":"AA"}},
                {ec},"kid":"ops","key_ops":["sign"]}},
                {{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}},
                {{"kty":"EC","crv":"P-521","kid":"p521","x":"AA","y":"AA"}},
                "not an object",
                {{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}
            ]}}"#
        );
        let set = JwkSet::parse(doc.as_bytes()).unwrap();
        let kids: Vec<_> = set.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, ["sig", "ops", "ed"]);
        // key_ops without "verify" keeps the key out of lookups.
        assert_eq!(set.find(Some("ops"), Alg::ES256).count(), 0);
        assert_eq!(set.find(None, Alg::ES256).count(), 1);
        assert_eq!(set.find(None, Alg::EdDSA).count(), 1);
        assert_eq!(JwkSet::parse(br#"{"keys":{}}"#), Err(JwkError::Malformed));
        assert_eq!(
            JwkSet::parse(br#"{"keys":[],"keys":[]}"#),
            Err(JwkError::Malformed)
        );
        let many = format!(
            r#"{{"keys":[{}]}}"#,
            vec!["{}"; MAX_JWKS_KEYS + 1].join(",")
        );
        assert_eq!(JwkSet::parse(many.as_bytes()), Err(JwkError::Malformed));
    }

    /// The curve-equation check (builds without `p384`) gives `p384`'s verdict: valid points,
    /// points moved off the curve, coordinates of p or more (also ones congruent to a point),
    /// other tags and lengths.
    #[test]
    fn p384_equation_agrees_with_p384() {
        use p384::elliptic_curve::sec1::ToEncodedPoint;
        let p384_says = |point: &[u8]| p384::PublicKey::from_sec1_bytes(point).is_ok();
        let both = |point: &[u8], want: bool| {
            assert_eq!(p384_says(point), want, "{point:02x?}");
            assert_eq!(p384_on_curve(point), want, "{point:02x?}");
        };
        for i in 1..=64u8 {
            let secret = p384::SecretKey::from_slice(&[i; 48]).unwrap();
            let point = secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec();
            both(&point, true);
            for byte in [1, 48, 49, 96] {
                let mut moved = point.clone();
                moved[byte] ^= 1 << (i % 8);
                both(&moved, false);
            }
            // `p384` also decodes the compressed form, which `ec_key` never builds.
            let compressed = secret.public_key().to_encoded_point(true);
            assert!(!p384_on_curve(compressed.as_bytes()));
            let mut tag = point.clone();
            tag[0] = 0x02 + (i & 1);
            both(&tag, false);
            both(&point[..96], false);
        }
        // x + p for points with a small x: on the curve mod p, but not a canonical coordinate.
        let prime: [u8; 48] = base16ct::lower::decode_vec(
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
        )
        .unwrap()
        .try_into()
        .unwrap();
        let mut found = 0;
        for x in 0..64u8 {
            let mut compressed = [0u8; 49];
            compressed[0] = 0x02;
            compressed[48] = x;
            let Ok(key) = p384::PublicKey::from_sec1_bytes(&compressed) else {
                continue;
            };
            let point = key.to_encoded_point(false).as_bytes().to_vec();
            both(&point, true);
            let mut high = point.clone();
            let mut carry = u16::from(x);
            for j in (0..48).rev() {
                let sum = u16::from(prime[j]) + carry;
                high[1 + j] = sum as u8;
                carry = sum >> 8;
            }
            assert_eq!(carry, 0);
            both(&high, false);
            found += 1;
        }
        assert!(found > 5, "{found}");
        for coordinate in [[0u8; 48], prime, [0xff; 48]] {
            let mut point = vec![0x04];
            point.extend_from_slice(&coordinate);
            point.extend_from_slice(&coordinate);
            both(&point, false);
        }
        both(&[0x00], false);
        both(&[], false);
    }
}
