//! Strict decoders shared by [`jws`](crate::jws) and [`jwk`](crate::jwk): canonical base64 and
//! JSON objects without duplicate member names.
//!
//! RFC 7515 §5.2 and RFC 7519 §7.2 let a parser reject duplicate member names; RFC 8725 §3.4 asks
//! for it, because two parsers that keep different duplicates see two different tokens. serde_json's
//! own `Value`/`Map` silently keep the last duplicate, so objects are built here by a visitor that
//! refuses any name it has already seen, at every nesting depth.
//!
//! Nesting depth is bounded by serde_json's recursion limit (128 nested arrays/objects); deeper input
//! is an error, not a stack overflow.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Decodes unpadded base64url (RFC 7515 §2, RFC 4648 §5): no padding, no `+` or `/`, no whitespace,
/// and the unused trailing bits of the last character must be zero, so every byte string has exactly
/// one accepted encoding.
///
/// base64ct's decoders are canonical themselves (constant-time, they reject non-zero trailing bits
/// and misplaced or missing padding); the tests below check that exhaustively for every short
/// tail, so a version that relaxed it fails the build instead of costing every request an encode.
pub(crate) fn b64url(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

/// Decodes standard, padded base64 (RFC 4648 §4), as `x5c` uses (RFC 7515 §4.1.6); canonical only.
pub(crate) fn b64_std(text: &str) -> Option<Vec<u8>> {
    Base64::decode_vec(text).ok()
}

/// Parses `bytes` as one JSON object, rejecting duplicate member names at any depth.
pub(crate) fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = NoDuplicates.deserialize(&mut de).ok()?;
    de.end().ok()?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A seed that builds a [`Value`] and fails on a duplicate object member name.
struct NoDuplicates;

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate member names")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NoDuplicates)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(serde::de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(NoDuplicates)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_rejected_at_any_depth() {
        assert!(object(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_some());
        assert!(object(br#"{"a":1,"a":1}"#).is_none());
        assert!(object(br#"{"a":{"b":1,"b":2}}"#).is_none());
        assert!(object(br#"{"a":[{"b":1,"b":2}]}"#).is_none());
        // The same name spelled with an escape is the same name.
        assert!(object(br#"{"a":1,"\u0061":2}"#).is_none());
    }

    #[test]
    fn only_objects_and_bounded_depth() {
        assert!(object(b"[1]").is_none());
        assert!(object(b"1").is_none());
        assert!(object(br#"{"a":1} x"#).is_none());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(object(deep.as_bytes()).is_none());
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(object(ok.as_bytes()).is_some());
    }

    #[test]
    fn base64ct_rejects_non_canonical_trailing_bits_itself() {
        // "QQ" is the canonical encoding of "A"; "QR" differs only in the unused trailing bits.
        assert_eq!(
            Base64UrlUnpadded::decode_vec("QQ").ok(),
            Some(b"A".to_vec())
        );
        assert!(Base64UrlUnpadded::decode_vec("QR").is_err());
        assert!(b64url("QR").is_none());
        assert!(b64url("QQ==").is_none());
        assert!(b64url("Q Q").is_none());
        assert!(b64url("-_8").is_some());
        assert!(b64url("+/8").is_none());
        assert!(b64_std("QQ==").is_some());
        assert!(b64_std("QQ").is_none());
        assert!(b64_std("QR==").is_none());
    }

    /// Every string of 1–3 alphabet characters after a full group (and with each padding), decoded
    /// by base64ct, is accepted exactly when it is the encoding of what it decodes to.
    #[test]
    fn decoding_is_canonical_for_every_short_tail() {
        let url: Vec<char> = ('A'..='Z')
            .chain('a'..='z')
            .chain('0'..='9')
            .chain(['-', '_'])
            .collect();
        let mut tails = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = tails
                .iter()
                .filter(|t| t.len() < 3)
                .flat_map(|t| url.iter().map(move |c| format!("{t}{c}")))
                .collect();
            tails.extend(longer);
        }
        tails.sort();
        tails.dedup();
        for tail in &tails {
            let text = format!("QUJD{tail}");
            let canonical = |bytes: &Vec<u8>| Base64UrlUnpadded::encode_string(bytes) == text;
            assert_eq!(b64url(&text).filter(canonical), b64url(&text), "{text}");
            let std_text = format!("QUJD{}", tail.replace('-', "+").replace('_', "/"));
            for padded in [
                std_text.clone(),
                format!("{std_text}="),
                format!("{std_text}=="),
            ] {
                let decoded = b64_std(&padded);
                let canonical = decoded
                    .as_ref()
                    .is_some_and(|b| Base64::encode_string(b) == padded);
                assert_eq!(decoded.is_some(), canonical, "{padded}");
            }
        }
        assert_eq!(tails.len(), 1 + 64 + 64 * 64 + 64 * 64 * 64);
    }
}
