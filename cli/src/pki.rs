//! `ca init` and `cert issue`: a small P-256 PKI for x5c tokens, built with x509-cert's builder.
//!
//! Profiles (RFC 5280 §4.2.1): the root has basicConstraints cA (critical), keyUsage keyCertSign +
//! cRLSign (critical) and a subjectKeyIdentifier; the intermediate adds pathLenConstraint 0 and an
//! authorityKeyIdentifier; the signing leaf has basicConstraints cA FALSE (critical), keyUsage
//! digitalSignature only (critical), SKI, AKI (= the issuer's SKI) and optional extendedKeyUsage.

use crate::files::{
    check_absent, ensure_dir, read_text, remove_if_present, write_private, write_public,
};
use crate::{failed, keys, usage, Result};
use clap::Args;
use const_oid::db::rfc4519::COMMON_NAME;
use der::asn1::{ObjectIdentifier, SetOfVec, Utf8StringRef};
use der::pem::LineEnding;
use der::{Any, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::SecretKey;
use sha2::{Digest, Sha256};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::referenced::OwnedToRef;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// Certificates start this long before "now", so a verifier whose clock is a little behind
/// (RFC 5280 validity has no leeway) accepts a freshly issued certificate.
const BACKDATE: Duration = Duration::from_secs(300);

/// `edgeward ca init`.
#[derive(Args)]
pub struct CaInitArgs {
    /// Directory for the CA files (created 0700 if missing).
    #[arg(long, default_value = "ca")]
    dir: PathBuf,
    /// Also create an intermediate CA (pathLen 0) that signs the leaves.
    #[arg(long)]
    intermediate: bool,
    /// Validity in days of the CA certificates.
    #[arg(long, default_value_t = 3650)]
    days: u32,
    /// Common name of the root; the intermediate is named "<CN> intermediate".
    #[arg(long, default_value = "edgeward dev root CA")]
    name: String,
    /// Replace existing keys.
    #[arg(long)]
    force: bool,
}

/// `edgeward cert issue`.
#[derive(Args)]
pub struct CertIssueArgs {
    /// CA directory from `ca init`; the intermediate signs when present, else the root.
    #[arg(long)]
    ca_dir: PathBuf,
    /// Common name of the signing certificate.
    #[arg(long)]
    name: String,
    /// Validity in days (clamped to the issuer's notAfter).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// extendedKeyUsage purpose OID, dotted (repeatable), e.g. for an issuer's `leaf_eku` pin.
    #[arg(long = "eku", value_name = "OID")]
    ekus: Vec<String>,
    /// Where to write signing.pem, signing.key and chain.pem (default: the CA directory).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Replace an existing signing.key.
    #[arg(long)]
    force: bool,
}

/// Creates the root (and intermediate) and writes `root.pem`, `root.key`, `intermediate.pem`,
/// `intermediate.key` and `trust-anchors.pem`.
pub fn ca_init(args: &CaInitArgs) -> Result<()> {
    let dir = &args.dir;
    let root_key_path = dir.join("root.key");
    let inter_key_path = dir.join("intermediate.key");
    check_absent(&root_key_path, args.force)?;
    check_absent(&inter_key_path, args.force)?;
    ensure_dir(dir)?;
    let validity = validity(args.days, None)?;

    let root_key = keys::generate();
    let root_name = common_name(&args.name)?;
    let root_signer = SigningKey::from(&root_key);
    let builder = CertificateBuilder::new(
        Profile::Root,
        serial()?,
        validity,
        root_name.clone(),
        spki_of(&root_key)?,
        &root_signer,
    )
    .map_err(cert_error)?;
    let root = builder.build::<DerSignature>().map_err(cert_error)?;
    write_private(&root_key_path, keys::to_pkcs8_pem(&root_key)?.as_bytes())?;
    let root_pem = pem(&root)?;
    write_public(&dir.join("root.pem"), root_pem.as_bytes())?;
    write_public(&dir.join("trust-anchors.pem"), root_pem.as_bytes())?;
    println!(
        "root CA:      {} ({})",
        dir.join("root.pem").display(),
        describe(&root)?
    );

    if args.intermediate {
        let key = keys::generate();
        let profile = Profile::SubCA {
            issuer: root_name,
            path_len_constraint: Some(0),
        };
        let name = common_name(&format!("{} intermediate", args.name))?;
        let builder = CertificateBuilder::new(
            profile,
            serial()?,
            validity,
            name,
            spki_of(&key)?,
            &root_signer,
        )
        .map_err(cert_error)?;
        let cert = builder.build::<DerSignature>().map_err(cert_error)?;
        write_private(&inter_key_path, keys::to_pkcs8_pem(&key)?.as_bytes())?;
        write_public(&dir.join("intermediate.pem"), pem(&cert)?.as_bytes())?;
        println!(
            "intermediate: {} ({})",
            dir.join("intermediate.pem").display(),
            describe(&cert)?
        );
    } else {
        // A forced re-init without --intermediate must not leave an intermediate of the old root
        // behind: `cert issue` would pick it up and issue chains to a root that no longer exists.
        remove_if_present(&inter_key_path)?;
        remove_if_present(&dir.join("intermediate.pem"))?;
    }
    println!(
        "trust anchors: {} (keys are 0600 and stay in {})",
        dir.join("trust-anchors.pem").display(),
        dir.display()
    );
    Ok(())
}

/// Issues a JWT signing leaf and writes `signing.pem`, `signing.key` and `chain.pem` (leaf, then
/// the intermediate when there is one; the root is the trust anchor and is not sent).
pub fn cert_issue(args: &CertIssueArgs) -> Result<()> {
    let ca = &args.ca_dir;
    let (issuer_pem, issuer_key_path) = if ca.join("intermediate.key").exists() {
        (ca.join("intermediate.pem"), ca.join("intermediate.key"))
    } else {
        (ca.join("root.pem"), ca.join("root.key"))
    };
    let issuer = load_cert(&issuer_pem)?;
    let issuer_key = keys::load_private(&issuer_key_path)?;
    let issuer_spki = spki_of(&issuer_key)?;
    if issuer_spki != issuer.tbs_certificate.subject_public_key_info {
        return Err(usage(format!(
            "{} does not belong to {}",
            issuer_key_path.display(),
            issuer_pem.display()
        )));
    }
    let ekus = args
        .ekus
        .iter()
        .map(|oid| {
            ObjectIdentifier::new(oid).map_err(|_| usage(format!("--eku {oid}: not a dotted OID")))
        })
        .collect::<Result<Vec<_>>>()?;

    let out = args.out_dir.as_deref().unwrap_or(ca);
    let key_path = out.join("signing.key");
    check_absent(&key_path, args.force)?;
    ensure_dir(out)?;

    let issuer_not_after = issuer.tbs_certificate.validity.not_after.to_system_time();
    let key = keys::generate();
    let signer = SigningKey::from(&issuer_key);
    let profile = Profile::Manual {
        issuer: Some(issuer.tbs_certificate.subject.clone()),
    };
    let mut builder = CertificateBuilder::new(
        profile,
        serial()?,
        validity(args.days, Some(issuer_not_after))?,
        common_name(&args.name)?,
        spki_of(&key)?,
        &signer,
    )
    .map_err(cert_error)?;
    let spki = spki_of(&key)?;
    let ski = SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(cert_error)?;
    builder.add_extension(&ski).map_err(cert_error)?;
    builder
        .add_extension(&authority_key_id(&issuer, &issuer_spki)?)
        .map_err(cert_error)?;
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    builder.add_extension(&basic).map_err(cert_error)?;
    builder
        .add_extension(&KeyUsage(KeyUsages::DigitalSignature.into()))
        .map_err(cert_error)?;
    if !ekus.is_empty() {
        builder
            .add_extension(&ExtendedKeyUsage(ekus))
            .map_err(cert_error)?;
    }
    let leaf = builder.build::<DerSignature>().map_err(cert_error)?;

    let leaf_pem = pem(&leaf)?;
    let mut chain = leaf_pem.clone();
    if issuer.tbs_certificate.subject != issuer.tbs_certificate.issuer {
        chain.push_str(&read_text(&issuer_pem)?);
    }
    write_private(&key_path, keys::to_pkcs8_pem(&key)?.as_bytes())?;
    write_public(&out.join("signing.pem"), leaf_pem.as_bytes())?;
    write_public(&out.join("chain.pem"), chain.as_bytes())?;
    println!(
        "signing certificate: {} ({})",
        out.join("signing.pem").display(),
        describe(&leaf)?
    );
    println!(
        "chain (x5c order): {}; key: {} (0600)",
        out.join("chain.pem").display(),
        key_path.display()
    );
    Ok(())
}

/// The leaf's AKI is the issuer's SKI (RFC 5280 §4.2.1.1), computed from its key when absent.
fn authority_key_id(
    issuer: &Certificate,
    issuer_spki: &SubjectPublicKeyInfoOwned,
) -> Result<AuthorityKeyIdentifier> {
    let ski = issuer
        .tbs_certificate
        .get::<SubjectKeyIdentifier>()
        .map_err(|e| failed(format!("issuer subjectKeyIdentifier: {e}")))?;
    match ski {
        Some((_, ski)) => Ok(AuthorityKeyIdentifier {
            key_identifier: Some(ski.0),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        }),
        None => AuthorityKeyIdentifier::try_from(issuer_spki.owned_to_ref()).map_err(cert_error),
    }
}

/// Reads the first certificate of a PEM file.
pub fn load_cert(path: &Path) -> Result<Certificate> {
    let text = read_text(path)?;
    Certificate::load_pem_chain(text.as_bytes())
        .ok()
        .and_then(|certs| certs.into_iter().next())
        .ok_or_else(|| usage(format!("{}: no PEM certificate", path.display())))
}

/// A `Name` with one CN attribute, as UTF8String (RFC 5280 §4.1.2.6).
fn common_name(cn: &str) -> Result<Name> {
    if cn.is_empty() {
        return Err(usage("--name must not be empty"));
    }
    let value = Any::from(Utf8StringRef::new(cn).map_err(cert_error)?);
    let atv = AttributeTypeAndValue {
        oid: COMMON_NAME,
        value,
    };
    let rdn = RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).map_err(cert_error)?);
    Ok(RdnSequence(vec![rdn]))
}

/// A random positive serial of 16 octets (RFC 5280 §4.1.2.2: at most 20, unpredictable is good
/// practice); the top bits are fixed so the encoding is always 16 octets and never zero.
fn serial() -> Result<SerialNumber> {
    let mut bytes = keys::random_bytes::<16>();
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::new(&bytes).map_err(cert_error)
}

fn validity(days: u32, not_after_cap: Option<SystemTime>) -> Result<Validity> {
    if days == 0 {
        return Err(usage("--days must be at least 1"));
    }
    let now = SystemTime::now();
    let mut not_after = now + Duration::from_secs(u64::from(days) * 86_400);
    if let Some(cap) = not_after_cap {
        if cap < not_after {
            eprintln!("note: validity clamped to the issuer's notAfter");
            not_after = cap;
        }
    }
    let time = |t: SystemTime| Time::try_from(t).map_err(cert_error);
    Ok(Validity {
        not_before: time(now - BACKDATE)?,
        not_after: time(not_after)?,
    })
}

fn spki_of(key: &SecretKey) -> Result<SubjectPublicKeyInfoOwned> {
    let der = key
        .public_key()
        .to_public_key_der()
        .map_err(|e| failed(format!("cannot encode a public key: {e}")))?;
    SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).map_err(cert_error)
}

fn pem(cert: &Certificate) -> Result<String> {
    cert.to_pem(LineEnding::LF).map_err(cert_error)
}

/// `CN=…, SHA-256 fingerprint …` for the summary lines.
fn describe(cert: &Certificate) -> Result<String> {
    let der = cert.to_der().map_err(cert_error)?;
    let fingerprint: String = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(format!(
        "{}, SHA-256 {fingerprint}",
        cert.tbs_certificate.subject
    ))
}

fn cert_error(e: impl std::fmt::Display) -> crate::Failure {
    failed(format!("certificate: {e}"))
}
