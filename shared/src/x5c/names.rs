//! The leaf subject rendered for the `leaf_subject` pin (RFC 4514 string form, own table).

use super::*;

/// Attribute types the subject pin writes by name, with the names `x509-cert`'s RFC 4514
/// renderer gives them (const-oid's database, shortest name, upper-cased; a test holds the two
/// together): RFC 5280 §4.1.2.4's standard attribute types, RFC 4519's `DC`, `UID`, `STREET`,
/// `POSTALCODE` and `BUSINESSCATEGORY`, and PKCS #9 `emailAddress` (§4.1.2.6). Rendering the
/// subject with this table instead of `Display` keeps const-oid's whole name database (≈ 20 KiB
/// gzip) out of the Wasm functions.
pub(super) const SUBJECT_ATTRIBUTE_NAMES: &[(ObjectIdentifier, &str)] = &[
    (ObjectIdentifier::new_unwrap("2.5.4.3"), "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.4"), "SN"),
    (ObjectIdentifier::new_unwrap("2.5.4.5"), "SERIALNUMBER"),
    (ObjectIdentifier::new_unwrap("2.5.4.6"), "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ObjectIdentifier::new_unwrap("2.5.4.9"), "STREET"),
    (ObjectIdentifier::new_unwrap("2.5.4.10"), "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
    (ObjectIdentifier::new_unwrap("2.5.4.12"), "TITLE"),
    (ObjectIdentifier::new_unwrap("2.5.4.15"), "BUSINESSCATEGORY"),
    (ObjectIdentifier::new_unwrap("2.5.4.17"), "POSTALCODE"),
    (ObjectIdentifier::new_unwrap("2.5.4.42"), "GIVENNAME"),
    (ObjectIdentifier::new_unwrap("2.5.4.43"), "INITIALS"),
    (
        ObjectIdentifier::new_unwrap("2.5.4.44"),
        "GENERATIONQUALIFIER",
    ),
    (ObjectIdentifier::new_unwrap("2.5.4.46"), "DNQUALIFIER"),
    (ObjectIdentifier::new_unwrap("2.5.4.65"), "PSEUDONYM"),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
        "UID",
    ),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25"),
        "DC",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1"),
        "EMAIL",
    ),
];

/// The subject as [`ChainPolicy::leaf_subject`] compares it: RFC 4514 §2, exactly as
/// `x509-cert` 0.2's `Display` writes it for the attribute types of
/// [`SUBJECT_ATTRIBUTE_NAMES`] (RDNs last to first, `,` between RDNs and `+` inside one, string
/// values escaped as x509-cert does). Any other attribute type, and values that are not
/// PrintableString, UTF8String, IA5String or TeletexString, are written in the §2.4 form
/// `1.2.3=#<hex of the DER value>`. `None` if a value cannot be re-encoded (the pin then fails).
pub(super) fn subject_string(name: &x509_cert::name::Name) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let value = &atv.value;
            let text = match value.tag() {
                Tag::PrintableString => {
                    PrintableStringRef::try_from(value).ok().map(|s| s.as_str())
                }
                Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
                _ => None,
            };
            let key = SUBJECT_ATTRIBUTE_NAMES
                .iter()
                .find(|(oid, _)| *oid == atv.oid)
                .map(|(_, key)| *key);
            match (key, text) {
                (Some(key), Some(text)) => {
                    out.push_str(key);
                    out.push('=');
                    let mut chars = text.char_indices().peekable();
                    while let Some((at, c)) = chars.next() {
                        match c {
                            '#' if at == 0 => out.push_str("\\#"),
                            ' ' if at == 0 || chars.peek().is_none() => out.push_str("\\ "),
                            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                                out.push('\\');
                                out.push(c);
                            }
                            '\x00'..='\x1f' | '\x7f' => {
                                out.push('\\');
                                out.push_str(&base16ct::lower::encode_string(&[c as u8]));
                            }
                            _ => out.push(c),
                        }
                    }
                }
                _ => {
                    out.push_str(&atv.oid.to_string());
                    out.push_str("=#");
                    out.push_str(&base16ct::lower::encode_string(&value.to_der().ok()?));
                }
            }
        }
    }
    Some(out)
}
