//! Signed data in certificates: subject public keys (RFC 5280 §4.1.2.7), signature algorithm
//! identifiers and their parameters, and the ECDSA signature encoding (RFC 3279 §2.2.3).

use super::*;

/// Extracts a [`PublicKey`] from a DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
///
/// Supported: id-ecPublicKey with namedCurve P-256 or P-384 and an uncompressed point
/// (RFC 5480 §2), rsaEncryption with NULL parameters (RFC 3279 §2.3.1), Ed25519 with absent
/// parameters (RFC 8410 §3). Anything else, including explicit curve parameters and
/// id-RSASSA-PSS keys, is [`ChainError::Unsupported`]. RSA key size is enforced by the verifier.
pub fn public_key_from_spki(spki_der: &[u8]) -> Result<PublicKey, ChainError> {
    key_from_spki(&SubjectPublicKeyInfoOwned::from_der(spki_der)?)
}

pub(super) fn key_from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, ChainError> {
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(ChainError::Malformed)?;
    let params = spki.algorithm.parameters.as_ref();
    match spki.algorithm.oid {
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve = params
                .ok_or(ChainError::Malformed)?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| ChainError::Unsupported)?;
            let (len, key): (usize, fn(Vec<u8>) -> PublicKey) = match curve {
                rfc5912::SECP_256_R_1 => (65, PublicKey::P256),
                rfc5912::SECP_384_R_1 => (97, PublicKey::P384),
                _ => return Err(ChainError::Unsupported),
            };
            if bits.len() != len || bits.first() != Some(&0x04) {
                return Err(ChainError::Unsupported);
            }
            Ok(key(bits.to_vec()))
        }
        rfc5912::RSA_ENCRYPTION => {
            if !is_null(params) {
                return Err(ChainError::Malformed);
            }
            // RFC 8017 §A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let (n, e) = two_uints(bits)?;
            Ok(PublicKey::Rsa {
                n: n.as_bytes().to_vec(),
                e: e.as_bytes().to_vec(),
            })
        }
        rfc8410::ID_ED_25519 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            let key: [u8; 32] = bits.try_into().map_err(|_| ChainError::Malformed)?;
            Ok(PublicKey::Ed25519(key))
        }
        _ => Err(ChainError::Unsupported),
    }
}

/// Decodes `SEQUENCE { INTEGER, INTEGER }` of non-negative integers, strict DER, nothing after.
pub(super) fn two_uints(der: &[u8]) -> Result<(UintRef<'_>, UintRef<'_>), ChainError> {
    let mut reader = SliceReader::new(der)?;
    let pair = reader.sequence(|r| Ok((UintRef::decode(r)?, UintRef::decode(r)?)))?;
    Ok(reader.finish(pair)?)
}

/// Converts an X.509 ECDSA signature (`Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`,
/// RFC 3279 §2.2.3) into the fixed-width IEEE P1363 form `r || s`, each `width` bytes.
///
/// Strict DER: minimal length and integer encodings, no negative integers, no trailing bytes,
/// and each integer must fit `width`. Whether `r` and `s` lie in `[1, n-1]` is NOT checked here;
/// the verifier rejects them.
pub fn ecdsa_der_to_p1363(der: &[u8], width: usize) -> Result<Vec<u8>, ChainError> {
    let (r, s) = two_uints(der)?;
    let mut out = vec![0u8; width * 2];
    for (int, start) in [(r, 0), (s, width)] {
        let bytes = int.as_bytes();
        let pad = width
            .checked_sub(bytes.len())
            .ok_or(ChainError::Malformed)?;
        out.get_mut(start + pad..start + width)
            .ok_or(ChainError::Malformed)?
            .copy_from_slice(bytes);
    }
    Ok(out)
}

pub(super) fn is_null(params: Option<&der::Any>) -> bool {
    params.is_some_and(|p| p.tag() == Tag::Null && p.value().is_empty())
}

pub(super) fn absent_or_null(params: Option<&der::Any>) -> bool {
    params.is_none() || is_null(params)
}

/// The ECDSA scheme for a hash and the issuer key's curve (RFC 5758 §3.2 leaves the curve to the key).
pub(super) fn ecdsa_scheme(hash_384: bool, issuer_key: &PublicKey) -> Result<Scheme, ChainError> {
    match (issuer_key, hash_384) {
        (PublicKey::P256(_), false) => Ok(Scheme::EcdsaP256Sha256),
        (PublicKey::P256(_), true) => Ok(Scheme::EcdsaP256Sha384),
        (PublicKey::P384(_), false) => Ok(Scheme::EcdsaP384Sha256),
        (PublicKey::P384(_), true) => Ok(Scheme::EcdsaP384Sha384),
        _ => Err(ChainError::Unsupported),
    }
}

/// Maps a certificate's `signatureAlgorithm` to a [`Scheme`], checking parameters:
/// absent for ECDSA (RFC 5758 §3.2) and Ed25519 (RFC 8410 §3); NULL or absent for
/// sha{256,384,512}WithRSAEncryption (RFC 4055 §5: "the parameters MUST be NULL.
/// Implementations MUST accept the parameters being absent as well as present"); for
/// RSASSA-PSS (RFC 4055 §3.1) only SHA-256/384/512 with MGF1 over the same hash, a salt as long
/// as the hash and the default trailer field. SHA-1, SHA-224 and everything else are rejected.
pub fn signature_scheme(
    alg: &AlgorithmIdentifierOwned,
    issuer_key: &PublicKey,
) -> Result<Scheme, ChainError> {
    let params = alg.parameters.as_ref();
    let scheme = match alg.oid {
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            return ecdsa_scheme(alg.oid == rfc5912::ECDSA_WITH_SHA_384, issuer_key);
        }
        rfc8410::ID_ED_25519 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            Scheme::Ed25519
        }
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            if !absent_or_null(params) {
                return Err(ChainError::Malformed);
            }
            match alg.oid {
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Scheme::RsaPkcs1Sha256,
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Scheme::RsaPkcs1Sha384,
                _ => Scheme::RsaPkcs1Sha512,
            }
        }
        rfc5912::ID_RSASSA_PSS => pss_scheme(params.ok_or(ChainError::Malformed)?)?,
        _ => return Err(ChainError::Unsupported),
    };
    // The key family must fit the scheme; the verifier would refuse too, this gives a clearer error.
    match (scheme, issuer_key) {
        (Scheme::Ed25519, PublicKey::Ed25519(_)) => Ok(scheme),
        (Scheme::Ed25519, _) => Err(ChainError::Unsupported),
        (_, PublicKey::Rsa { .. }) => Ok(scheme),
        _ => Err(ChainError::Unsupported),
    }
}

pub(super) fn pss_scheme(params: &der::Any) -> Result<Scheme, ChainError> {
    use pkcs1::{RsaPssParams, TrailerField};
    let der = params.to_der()?;
    let pss = RsaPssParams::from_der(&der)?;
    let (scheme, salt) = match pss.hash.oid {
        rfc5912::ID_SHA_256 => (Scheme::RsaPssSha256, 32),
        rfc5912::ID_SHA_384 => (Scheme::RsaPssSha384, 48),
        rfc5912::ID_SHA_512 => (Scheme::RsaPssSha512, 64),
        _ => return Err(ChainError::Unsupported),
    };
    let hash_params_ok =
        |p: Option<der::AnyRef<'_>>| p.is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    let mgf_hash = pss.mask_gen.parameters.ok_or(ChainError::Unsupported)?;
    if !hash_params_ok(pss.hash.parameters)
        || pss.mask_gen.oid != rfc5912::ID_MGF_1
        || mgf_hash.oid != pss.hash.oid
        || !hash_params_ok(mgf_hash.parameters)
        || pss.salt_len != salt
        || pss.trailer_field != TrailerField::BC
    {
        return Err(ChainError::Unsupported);
    }
    Ok(scheme)
}
