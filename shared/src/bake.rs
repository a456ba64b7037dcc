//! A loaded configuration written back as Rust code, for functions built with their configuration
//! baked in (`edgeward config bake`, `EDGEWARD_BAKE_CONFIG=FILE scripts/build RUNTIME`;
//! docs/configuration.md, "A configuration baked into the function").
//!
//! [`Bake`] writes an expression, valid inside this crate, that constructs an equal value: struct
//! literals by their `crate::` path, strings through [`string`], `vec![…]`, `Some(…)`, maps built
//! entry by entry, JSON values by serde_json's constructors. Such a function constructs its document
//! from that code instead of reading JSON, so serde's readers for the configuration types are not in
//! it. Only the document is written: fields that loading fills in (parsed URLs, algorithm sets,
//! typed settings) are written as their `Default` and computed again when the function loads the
//! document.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A value that writes a Rust expression constructing an equal value (inside this crate).
pub(crate) trait Bake {
    /// Appends the expression to `out`.
    fn bake(&self, out: &mut String);
}

/// Implements [`Bake`] for a struct as a literal of all its fields. Every field is named, either
/// in the first list (written) or after `skip` (written as `Default::default()`): the pattern has
/// no `..`, so a field added to the struct and not here fails to compile.
macro_rules! bake_struct {
    ($ty:ident { $($field:ident),* $(,)? } $(skip { $($skipped:ident),* $(,)? })?) => {
        impl $crate::bake::Bake for $ty {
            fn bake(&self, out: &mut String) {
                let $ty { $($field,)* $($($skipped: _,)*)? } = self;
                $crate::bake::path(out, module_path!(), stringify!($ty));
                out.push_str("{\n");
                $(
                    out.push_str(concat!(stringify!($field), ": "));
                    $crate::bake::Bake::bake($field, out);
                    out.push_str(",\n");
                )*
                $($(
                    out.push_str(concat!(stringify!($skipped), ": Default::default(),\n"));
                )*)?
                out.push('}');
            }
        }
    };
}
pub(crate) use bake_struct;

/// Writes `item`'s path from `module` (`module_path!()`, which starts with this crate's name) as
/// a `crate::` path.
pub(crate) fn path(out: &mut String, module: &str, item: &str) {
    let within = module.split_once("::").map_or("", |(_, rest)| rest);
    out.push_str("crate::");
    if !within.is_empty() {
        out.push_str(within);
        out.push_str("::");
    }
    out.push_str(item);
}

/// The owned copy of a string in baked code: one call per string, not an inlined allocation and
/// copy at each of them.
#[inline(never)]
#[cfg_attr(not(edgeward_baked), allow(dead_code))] // only baked code calls it
pub(crate) fn string(text: &str) -> String {
    text.to_owned()
}

impl Bake for String {
    fn bake(&self, out: &mut String) {
        // `str`'s Debug form is a Rust string literal: quotes, backslash and control escapes.
        let _ = write!(out, "crate::bake::string({self:?})");
    }
}

macro_rules! bake_display {
    ($($ty:ty),*) => {$(
        impl Bake for $ty {
            fn bake(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
bake_display!(bool, u8, u16, u32, u64, usize);

impl<T: Bake> Bake for Option<T> {
    fn bake(&self, out: &mut String) {
        match self {
            None => out.push_str("None"),
            Some(value) => {
                out.push_str("Some(");
                value.bake(out);
                out.push(')');
            }
        }
    }
}

impl<T: Bake> Bake for Vec<T> {
    fn bake(&self, out: &mut String) {
        out.push_str("vec![");
        for item in self {
            item.bake(out);
            out.push(',');
        }
        out.push(']');
    }
}

/// A map as a block that inserts each entry into `new`: `from_iter` would sort its input first, and
/// each map type would bring its own instance of the standard library's stable sort.
fn bake_map<'a, V: Bake + 'a>(
    out: &mut String,
    new: &str,
    entries: impl ExactSizeIterator<Item = (&'a String, &'a V)>,
) {
    if entries.len() == 0 {
        out.push_str(new);
        return;
    }
    let _ = write!(out, "{{let mut map = {new};");
    for (key, value) in entries {
        out.push_str("map.insert(");
        key.bake(out);
        out.push(',');
        value.bake(out);
        out.push_str(");");
    }
    out.push_str("map}");
}

impl<V: Bake> Bake for BTreeMap<String, V> {
    fn bake(&self, out: &mut String) {
        bake_map(out, "std::collections::BTreeMap::new()", self.iter());
    }
}

/// `token_handler` in a build without the `token-handler` feature (never set by a loaded
/// document: loading refuses one with `token_handler` there).
impl Bake for serde::de::IgnoredAny {
    fn bake(&self, out: &mut String) {
        out.push_str("serde::de::IgnoredAny");
    }
}

impl Bake for serde_json::Value {
    fn bake(&self, out: &mut String) {
        use serde_json::Value;
        match self {
            Value::Null => out.push_str("serde_json::Value::Null"),
            Value::Bool(b) => {
                let _ = write!(out, "serde_json::Value::Bool({b})");
            }
            Value::Number(n) => bake_number(n, out),
            Value::String(s) => {
                out.push_str("serde_json::Value::String(");
                s.bake(out);
                out.push(')');
            }
            Value::Array(items) => {
                out.push_str("serde_json::Value::Array(");
                items.bake(out);
                out.push(')');
            }
            Value::Object(map) => {
                out.push_str("serde_json::Value::Object(");
                map.bake(out);
                out.push(')');
            }
        }
    }
}

impl Bake for serde_json::Map<String, serde_json::Value> {
    fn bake(&self, out: &mut String) {
        bake_map(out, "serde_json::Map::new()", self.iter());
    }
}

/// A JSON number as the same `serde_json::Number`: integers by their type, a float by its
/// shortest round-trip form (`{:?}`, always with a `.` or an exponent), which is finite (JSON has
/// no NaN or infinity).
fn bake_number(n: &serde_json::Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "serde_json::Value::from({u}u64)");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "serde_json::Value::from({i}i64)");
    } else if let Some(f) = n.as_f64() {
        let _ = write!(out, "serde_json::Value::from({f:?}f64)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baked<T: Bake>(value: &T) -> String {
        let mut out = String::new();
        value.bake(&mut out);
        out
    }

    #[test]
    fn strings_are_rust_literals() {
        let text = "a \"quoted\" \\ line\nwith\ttab and \u{7f} é ✓".to_owned();
        let code = baked(&text);
        assert!(code.starts_with("crate::bake::string(\""), "{code}");
        assert!(!code.contains('\n') && !code.contains('\t'), "{code}");
        assert!(code.contains("\\\"quoted\\\""), "{code}");
    }

    #[test]
    fn paths_are_written_from_the_crate() {
        let mut out = String::new();
        path(&mut out, "edgeward::config::issuer", "Issuer");
        assert_eq!(out, "crate::config::issuer::Issuer");
        out.clear();
        path(&mut out, "edgeward", "Top");
        assert_eq!(out, "crate::Top");
    }

    #[test]
    fn containers_and_json_values() {
        assert_eq!(baked(&Some(vec![1u32, 2])), "Some(vec![1,2,])");
        assert_eq!(baked(&None::<u64>), "None");
        let map = BTreeMap::from([("k".to_owned(), true), ("a".to_owned(), false)]);
        assert_eq!(
            baked(&map),
            "{let mut map = std::collections::BTreeMap::new();\
             map.insert(crate::bake::string(\"a\"),false);\
             map.insert(crate::bake::string(\"k\"),true);map}"
        );
        assert_eq!(
            baked(&BTreeMap::<String, u8>::new()),
            "std::collections::BTreeMap::new()"
        );
        let value = serde_json::json!({"a": [1, -2, 2.5, null, "x"]});
        assert_eq!(
            baked(&value),
            "serde_json::Value::Object({let mut map = serde_json::Map::new();\
             map.insert(crate::bake::string(\"a\"),serde_json::Value::Array(vec![\
             serde_json::Value::from(1u64),serde_json::Value::from(-2i64),\
             serde_json::Value::from(2.5f64),serde_json::Value::Null,\
             serde_json::Value::String(crate::bake::string(\"x\")),]));map})"
        );
    }
}
