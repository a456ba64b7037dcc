//! One certificate, parsed strictly (RFC 5280 §4.1) into the facts path validation needs.

use super::signed::key_from_spki;
use super::*;

/// A parsed certificate with the facts path validation needs.
pub(super) struct Cert<'a> {
    pub(super) der: &'a [u8],
    /// The DER `tbsCertificate`, exactly as signed.
    pub(super) tbs: &'a [u8],
    pub(super) cert: Certificate,
    pub(super) subject: Vec<u8>,
    pub(super) issuer: Vec<u8>,
    pub(super) subject_empty: bool,
    pub(super) not_before: u64,
    pub(super) not_after: u64,
    pub(super) key: Result<PublicKey, ChainError>,
    pub(super) basic: Option<BasicConstraints>,
    pub(super) key_usage: Option<KeyUsage>,
    pub(super) eku: Option<Vec<ObjectIdentifier>>,
    pub(super) ski: Option<Vec<u8>>,
    pub(super) aki: Option<Vec<u8>>,
    /// Carries an extension whose semantics we do not implement and must therefore not be
    /// trusted as an issuer or leaf (nameConstraints, policy constraints/mappings/inhibit).
    pub(super) unsupported_constraint: bool,
}

impl Cert<'_> {
    pub(super) fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    pub(super) fn valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

pub(super) fn parse(der: &[u8]) -> Result<Cert<'_>, ChainError> {
    if der.len() > MAX_CERT_BYTES {
        return Err(ChainError::OverBudget);
    }
    let cert = Certificate::from_der(der)?;
    let tbs = {
        let mut reader = SliceReader::new(der)?;
        Header::decode(&mut reader)?.tag.assert_eq(Tag::Sequence)?;
        reader.tlv_bytes()?
    };
    let t = &cert.tbs_certificate;
    // §4.1.2.1: extensions require v3; we accept v3 only (JWT signing PKIs have no v1 certs).
    if t.version != Version::V3 {
        return Err(ChainError::Unsupported);
    }
    // §4.1.2.2: "The serial number MUST be a positive integer ... no longer than 20 octets."
    let serial = t.serial_number.as_bytes();
    if serial.len() > 20
        || serial.iter().all(|b| *b == 0)
        || serial.first().is_some_and(|b| *b >= 0x80)
    {
        return Err(ChainError::Malformed);
    }
    // §4.1.1.2: signatureAlgorithm "MUST contain the same algorithm identifier as the signature
    // field in the sequence tbsCertificate".
    if t.signature != cert.signature_algorithm {
        return Err(ChainError::Malformed);
    }
    // §4.1.2.4: "The issuer field MUST contain a non-empty distinguished name".
    if t.issuer.0.is_empty() {
        return Err(ChainError::Malformed);
    }
    let mut parsed = Cert {
        der,
        tbs,
        subject: t.subject.to_der()?,
        issuer: t.issuer.to_der()?,
        subject_empty: t.subject.0.is_empty(),
        not_before: t.validity.not_before.to_unix_duration().as_secs(),
        not_after: t.validity.not_after.to_unix_duration().as_secs(),
        key: key_from_spki(&t.subject_public_key_info),
        basic: None,
        key_usage: None,
        eku: None,
        ski: None,
        aki: None,
        unsupported_constraint: false,
        cert: cert.clone(),
    };
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        // §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
        if seen.contains(&ext.extn_id) {
            return Err(ChainError::Malformed);
        }
        seen.push(ext.extn_id);
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            rfc5912::ID_CE_BASIC_CONSTRAINTS => {
                parsed.basic = Some(BasicConstraints::from_der(value)?);
            }
            rfc5912::ID_CE_KEY_USAGE => parsed.key_usage = Some(KeyUsage::from_der(value)?),
            rfc5912::ID_CE_EXT_KEY_USAGE => {
                let eku = ExtendedKeyUsage::from_der(value)?.0;
                // §4.2.1.12: ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
                if eku.is_empty() {
                    return Err(ChainError::Malformed);
                }
                parsed.eku = Some(eku);
            }
            rfc5912::ID_CE_SUBJECT_ALT_NAME => {
                let san = SubjectAltName::from_der(value)?;
                if san.0.is_empty() {
                    return Err(ChainError::Malformed);
                }
            }
            // §4.2.1.2 / §4.2.1.1: "Conforming CAs MUST mark this extension as non-critical."
            rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                if ext.critical {
                    return Err(ChainError::Constraint);
                }
                parsed.ski = Some(SubjectKeyIdentifier::from_der(value)?.0.as_bytes().to_vec());
            }
            rfc5912::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                let aki = AuthorityKeyIdentifier::from_der(value)?;
                // We chain by keyIdentifier only; issuer+serial identification is not supported.
                if ext.critical
                    || aki.authority_cert_issuer.is_some()
                    || aki.authority_cert_serial_number.is_some()
                {
                    return Err(ChainError::Constraint);
                }
                let id = aki.key_identifier.ok_or(ChainError::Constraint)?;
                parsed.aki = Some(id.as_bytes().to_vec());
            }
            rfc5912::ID_PE_AUTHORITY_INFO_ACCESS if !ext.critical => {
                // Not used (no fetching), but must be well-formed.
                AuthorityInfoAccessSyntax::from_der(value)?;
            }
            rfc5912::ID_CE_CERTIFICATE_POLICIES if !ext.critical => {}
            rfc5912::ID_CE_NAME_CONSTRAINTS
            | rfc5912::ID_CE_POLICY_CONSTRAINTS
            | rfc5912::ID_CE_POLICY_MAPPINGS
            | rfc5912::ID_CE_INHIBIT_ANY_POLICY => parsed.unsupported_constraint = true,
            // §6.1.4(o): an unrecognized critical extension rejects the certificate.
            _ if ext.critical => return Err(ChainError::Unsupported),
            _ => {}
        }
    }
    // §4.2.1.9: "If the cA boolean is not asserted, then the keyCertSign bit in the key usage
    // extension MUST NOT be asserted."
    let ca = parsed.basic.as_ref().is_some_and(|b| b.ca);
    if !ca
        && parsed
            .key_usage
            .as_ref()
            .is_some_and(|ku| ku.0.contains(KeyUsages::KeyCertSign))
    {
        return Err(ChainError::Constraint);
    }
    Ok(parsed)
}
