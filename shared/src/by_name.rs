//! The configuration's unit enums, read by their names (`"required"`, `"x-forwarded-for"`, …).
//!
//! serde's derive reads a unit-only enum through `deserialize_enum` with a variant visitor of its
//! own, which also takes `{"name": null}`; each such enum was ≈ 1 KB of Wasm code per deserializer
//! it meets (docs/decisions.md, "Performance round 2 (issue #19): session 14"). Here a name is read
//! as a string by one visitor per deserializer, shared by every enum, and each enum only maps the
//! index it gets back. Errors are serde's own: `unknown variant `x`, expected one of `a`, `b``.

use serde::de::{Deserializer, Error, Visitor};
use std::fmt;

/// Implements `Deserialize` for a unit enum from its names, in the order given, `name`, the
/// name of a value, and [`Bake`](crate::bake::Bake): one table for all three.
macro_rules! deserialize_by_name {
    ($ty:ty { $($name:literal => $variant:path),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                const NAMES: &[&str] = &[$($name),+];
                const VALUES: &[$ty] = &[$($variant),+];
                let index = $crate::by_name::index(deserializer, NAMES)?;
                VALUES
                    .get(index)
                    .copied()
                    .ok_or_else(|| serde::de::Error::custom("variant without a value"))
            }
        }

        impl $crate::bake::Bake for $ty {
            fn bake(&self, out: &mut String) {
                match self {
                    $($variant => $crate::bake::path(out, module_path!(), stringify!($variant))),+
                }
            }
        }

        impl $ty {
            /// The name the configuration document gives this value.
            pub fn name(self) -> &'static str {
                match self {
                    $($variant => $name),+
                }
            }
        }
    };
}
pub(crate) use deserialize_by_name;

/// Reads one JSON string and answers its position in `names`; any other name is serde's
/// `unknown_variant` error, any other type its `invalid_type`.
pub(crate) fn index<'de, D: Deserializer<'de>>(
    deserializer: D,
    names: &'static [&'static str],
) -> Result<usize, D::Error> {
    deserializer.deserialize_str(NameVisitor(names))
}

struct NameVisitor(&'static [&'static str]);

impl Visitor<'_> for NameVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {:?}", self.0)
    }

    fn visit_str<E: Error>(self, value: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|name| *name == value)
            .ok_or_else(|| E::unknown_variant(value, self.0))
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        Required,
        Optional,
    }

    deserialize_by_name!(Mode { "required" => Mode::Required, "optional" => Mode::Optional });

    #[test]
    fn each_name_is_its_variant() {
        let read = |text: &str| serde_json::from_str::<Mode>(text);
        assert_eq!(read(r#""required""#).ok(), Some(Mode::Required));
        assert_eq!(read(r#""optional""#).ok(), Some(Mode::Optional));
        // An escaped name is the same name (serde_json hands over a transient string).
        assert_eq!(read(r#""re\u0071uired""#).ok(), Some(Mode::Required));
        for mode in [Mode::Required, Mode::Optional] {
            assert_eq!(read(&format!("\"{}\"", mode.name())).ok(), Some(mode));
        }
        assert_eq!(Mode::Optional.name(), "optional");
    }

    #[test]
    fn other_names_and_types_are_refused_as_serde_refuses_them() {
        let error = |text: &str| serde_json::from_str::<Mode>(text).unwrap_err().to_string();
        assert_eq!(
            error(r#""Required""#),
            "unknown variant `Required`, expected `required` or `optional` at line 1 column 10"
        );
        assert!(error("1").starts_with("invalid type: integer `1`, expected one of"));
        // The derive also took `{"required": null}`; a name is a string only.
        assert!(error(r#"{"required":null}"#).starts_with("invalid type: map"));
        assert!(error("null").starts_with("invalid type: null"));
    }
}
