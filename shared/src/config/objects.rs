//! The configuration document's sections are JSON objects, and read as objects only.
//!
//! serde_json reads a derived struct from an object or from an array of its fields in order
//! (`deserialize_struct` calls the struct visitor's `visit_seq` on `[`), so every configuration type
//! carried a second, positional reader that no document should use: ≈ 24 KB of Wasm code, 8.8 KB
//! gzip, in the Workers function (docs/decisions.md, "Performance round 2 (issue #19): session 14").
//! [`Objects`] hands serde_json's deserializer on unchanged except that a struct is asked for as a
//! map, so the positional readers are never instantiated; an array where a section belongs is
//! `invalid type: sequence, expected struct …`, as any other wrong type is.
//!
//! Keys, scalars and values read with `deserialize_any` (a `serde_json::Value`, a string-or-list
//! field) go to serde_json directly: they contain no struct.

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use std::fmt;

/// A deserializer that reads every struct from a map; everything else as the inner one does.
pub(super) struct Objects<D>(pub D);

/// The same wrapper around what a deserializer hands a visitor (seeds, sequences, maps, enum
/// variants), so that a nested value is read through [`Objects`] too.
struct Wrap<T>(T);

macro_rules! direct {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(visitor)
        }
    )*};
}

macro_rules! wrapped {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Objects<D> {
    type Error = D::Error;

    direct!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(Wrap(visitor))
    }

    wrapped!(deserialize_map, deserialize_seq, deserialize_option);

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Objects(deserializer))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Wrap(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Wrap(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(seed)?;
        Ok((value, Wrap(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Wrap(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}

macro_rules! visit_direct {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: serde::de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method(value)
        }
    )*};
}

/// The visitor as it was, handed wrapped deserializers and accesses.
impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    visit_direct!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Objects(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Objects(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Wrap(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Wrap(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Wrap(data))
    }
}

#[cfg(test)]
mod tests {
    use super::Objects;
    use crate::config::Config;
    use serde::Deserialize;

    /// Every section of the document, each kind of field (defaults, options, lists, maps, JSON
    /// values, the string-or-list fields, names of unit enums).
    const DOCUMENT: &str = include_str!("testdata/every_section.json");

    fn through_objects(text: &str) -> Result<Config, String> {
        let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
        Config::deserialize(Objects(&mut de))
            .and_then(|config| de.end().map(|()| config))
            .map_err(|e| e.to_string())
    }

    fn plain(text: &str) -> Result<Config, String> {
        serde_json::from_str::<Config>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_document_reads_as_serde_json_reads_it() {
        // Plus a decision point's `data` (a JSON value in another section; only `kind: "rego"`
        // loads with it, so the shared document, which must load, cannot have it).
        let text = DOCUMENT.replace(
            r#""headers": ["x-a"],"#,
            r#""headers": ["x-a"], "data": { "k": [1, 2] },"#,
        );
        let ours = through_objects(&text).unwrap();
        let theirs = plain(&text).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert!(ours.authorization.decision_points["pdp"].data.is_some());
        assert_eq!(ours.routes.len(), 3);
        assert_eq!(
            ours.routes[0].exchange.as_ref().unwrap().audience,
            ["orders"]
        );
    }

    #[test]
    fn errors_are_serde_json_errors() {
        for text in [
            r#"{ "origin": "https://o.test", "colour": 1 }"#,
            r#"{ "origin": "https://o.test", "origin": "https://o.test" }"#,
            r#"{ "origin": 7 }"#,
            r#"{ "routes": [] }"#,
            r#"{ "origin": "https://o.test", "routes": [{ "methods": [] }] }"#,
            r#"{ "origin": "https://o.test", "dpop": { "replay": "sometimes" } }"#,
            r#"{ "origin": "https://o.test" } x"#,
            r#"{ "origin": "https://o.test", "#,
        ] {
            let ours = through_objects(text).unwrap_err();
            assert_eq!(ours, plain(text).unwrap_err(), "{text}");
        }
    }

    #[test]
    fn a_section_is_an_object_never_an_array_of_its_fields() {
        for text in [
            "[]",
            r#"["https://o.test"]"#,
            r#"{ "origin": "https://o.test", "dpop": [] }"#,
            r#"{ "origin": "https://o.test", "routes": [["/a"]] }"#,
            r#"{ "origin": "https://o.test", "introspection": ["https://as.test/i"] }"#,
        ] {
            let error = through_objects(text).unwrap_err();
            assert!(
                error.starts_with("invalid type: sequence, expected struct"),
                "{text}: {error}"
            );
        }
        // serde_json alone takes the positional form.
        assert!(plain(r#"{ "origin": "https://o.test", "dpop": [] }"#).is_ok());
    }
}
