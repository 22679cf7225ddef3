//! The key paths of the settings, and the kind of value each takes, read off the sections' own
//! types: every section derives `Deserialize`, and a probing deserializer asks it, field by
//! field, what it would read. So the environment overlay keeps no list of its own: each scalar
//! key `a` or `a.b` is the variable `PACER_A` or `PACER_A_B`.
//!
//! Only scalars are reached: lists, tables of arbitrary keys and arrays of tables (`[[slo]]`)
//! have no variable. A probe never reads a value; it answers every question with a zero.

use std::cell::RefCell;

use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

/// What a scalar setting holds, and so how its environment variable is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false` (`1` or `0` in the environment).
    Flag,
    /// Text, taken as it is.
    Text,
}

/// Every scalar key path of the section type `T` with its kind, at most one table deep
/// (`listen`, `limits.heavy_queries`), in the order the type declares them.
pub fn scalar_paths<T: DeserializeOwned>() -> Vec<(String, Kind)> {
    let found = RefCell::new(Vec::new());
    for &field in fields::<T>() {
        // First ask what the field is; a table answers with its own fields, each asked alone
        // (an alias answered together with its field would be a duplicate).
        let nested = RefCell::new(None);
        let _ = T::deserialize(OneField { field, probe: Probe { path: field.to_owned(), only: None, found: &found, nested: &nested } });
        if let Some(inner) = nested.into_inner() {
            for &only in inner {
                let probe = Probe { path: field.to_owned(), only: Some(only), found: &found, nested: &RefCell::new(None) };
                let _ = T::deserialize(OneField { field, probe });
            }
        }
    }
    found.into_inner()
}

/// The top-level keys of the section type `T`.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let names = RefCell::new(&[][..]);
    let _ = T::deserialize(Fields(&names));
    names.into_inner()
}

/// Answers `deserialize_struct` by noting the struct's fields.
struct Fields<'a>(&'a RefCell<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Error> {
        *self.0.borrow_mut() = fields;
        Err(Error::custom("fields noted"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A struct with one field, whose value is a probe.
struct OneField<'a> {
    field: &'static str,
    probe: Probe<'a>,
}

impl<'de> Deserializer<'de> for OneField<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(OneEntry { key: Some(self.field), value: Some(self.probe) })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map of one entry.
struct OneEntry<'a> {
    key: Option<&'static str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        self.key.take().map(|key| seed.deserialize(BorrowedStrDeserializer::new(key))).transpose()
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let probe = self.value.take().ok_or_else(|| Error::custom("no value"))?;
        seed.deserialize(probe)
    }
}

/// Stands for the value at `path`, noting what kind of scalar the type asks for.
struct Probe<'a> {
    path: String,
    /// Inside a table: the one field to ask about.
    only: Option<&'static str>,
    found: &'a RefCell<Vec<(String, Kind)>>,
    /// A table's fields, when the value turned out to be one.
    nested: &'a RefCell<Option<&'static [&'static str]>>,
}

impl Probe<'_> {
    fn note(&self, kind: Kind) {
        self.found.borrow_mut().push((self.path.clone(), kind));
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Error;

    /// A value that takes any kind (a year written `2024` or `"2024"`) is read as text.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Text);
        visitor.visit_str("")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Flag);
        visitor.visit_bool(false)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Integer);
        visitor.visit_i64(0)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Integer);
        visitor.visit_u64(0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Number);
        visitor.visit_f64(0.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.note(Kind::Text);
        visitor.visit_str("")
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match self.only {
            // Only one table deep: a table inside a table has no variable.
            None if self.path.contains('.') => Err(Error::custom("too deep")),
            None => {
                *self.nested.borrow_mut() = Some(fields);
                Err(Error::custom("fields noted"))
            }
            Some(field) => {
                let inner = Probe { path: format!("{}.{field}", self.path), only: None, found: self.found, nested: self.nested };
                visitor.visit_map(OneEntry { key: Some(field), value: Some(inner) })
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    /// Lists and tables of arbitrary keys have no variable.
    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::custom("not a scalar"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::custom("not a scalar"))
    }

    forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(alias = "token")]
        secret: Option<String>,
        depth: Option<u32>,
        rate: Option<f64>,
        labels: Option<Vec<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        listen: Option<String>,
        on: Option<bool>,
        #[serde(default)]
        inner: Inner,
        #[serde(default)]
        many: Vec<Inner>,
        #[serde(default)]
        teams: std::collections::BTreeMap<String, Vec<String>>,
    }

    #[test]
    fn scalar_keys_are_read_off_the_type_one_table_deep_aliases_included() {
        let paths = scalar_paths::<Section>();
        let expected = [
            ("listen", Kind::Text),
            ("on", Kind::Flag),
            ("inner.secret", Kind::Text),
            ("inner.token", Kind::Text),
            ("inner.depth", Kind::Integer),
            ("inner.rate", Kind::Number),
        ];
        let expected: Vec<(String, Kind)> = expected.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect();
        assert_eq!(paths, expected);
        assert_eq!(fields::<Section>(), ["listen", "on", "inner", "many", "teams"]);
    }
}
