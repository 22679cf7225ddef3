//! A strict reader of one JSON object that collects every problem, each with a JSON pointer
//! (RFC 6901), instead of stopping at the first.
//!
//! It also holds what every reader in the crate reports problems with: [`FieldError`], and
//! [`kind`], which names what was found in an "expected … but found …" message. It reads no
//! request body as a whole; splitting a body into events is [`crate::body`]'s, which builds on
//! this module and not the other way round.

use std::collections::HashSet;

use chrono::DateTime;
use pacer_engine::Millis;
use serde::Serialize;
use serde_json::{Map, Value};

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where: a JSON pointer into the request body (`/3/finished_at`).
    pub pointer: String,
    /// What is wrong, as "expected … but found …".
    pub detail: String,
}

impl FieldError {
    /// A problem at `pointer`.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), detail: detail.into() }
    }
}

/// The JSON kind of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Longest accepted identifier or name.
const MAX_NAME: usize = 1_024;
/// Longest accepted free text (commit message, title, URL).
const MAX_TEXT: usize = 65_536;

/// Reads the fields of one object, remembering which were read so that unknown ones can be
/// reported by [`Reader::finish`].
pub struct Reader<'a> {
    object: &'a Map<String, Value>,
    base: String,
    read: HashSet<&'static str>,
    /// Problems found so far.
    pub errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    /// A reader of `object`, whose pointer in the body is `base` (`/3`).
    pub fn new(object: &'a Map<String, Value>, base: impl Into<String>) -> Self {
        Self { object, base: base.into(), read: HashSet::new(), errors: Vec::new() }
    }

    /// The pointer of a field.
    pub fn pointer(&self, name: &str) -> String {
        format!("{}/{}", self.base, name.replace('~', "~0").replace('/', "~1"))
    }

    /// Records a problem with a field.
    pub fn error(&mut self, name: &str, detail: impl Into<String>) {
        let pointer = self.pointer(name);
        self.errors.push(FieldError::new(pointer, detail));
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.read.insert(name);
        self.object.get(name).filter(|v| !v.is_null())
    }

    fn missing(&mut self, name: &'static str, what: &str) {
        self.error(name, format!("expected {what} but the field is missing"));
    }

    /// An optional string of at most `max` characters.
    fn string(&mut self, name: &'static str, max: usize) -> Option<String> {
        let value = self.get(name)?;
        match value.as_str() {
            Some("") => self.error(name, "expected a non-empty string but found an empty one"),
            Some(s) if s.chars().count() > max => self.error(name, format!("expected at most {max} characters but found {}", s.chars().count())),
            Some(s) => return Some(s.to_owned()),
            None => self.error(name, format!("expected a string but found {}", kind(value))),
        }
        None
    }

    /// An optional name or identifier; one of only whitespace names nothing, so it is refused.
    pub fn opt_str(&mut self, name: &'static str) -> Option<String> {
        let text = self.string(name, MAX_NAME)?;
        if text.trim().is_empty() {
            self.error(name, "expected a non-empty string but found only whitespace");
            return None;
        }
        Some(text)
    }

    /// An optional free text.
    pub fn opt_text(&mut self, name: &'static str) -> Option<String> {
        self.string(name, MAX_TEXT)
    }

    /// A required name or identifier.
    pub fn req_str(&mut self, name: &'static str) -> Option<String> {
        if self.object.get(name).is_none_or(Value::is_null) {
            self.read.insert(name);
            self.missing(name, "a string");
            return None;
        }
        self.opt_str(name)
    }

    /// An optional RFC 3339 timestamp with an offset.
    pub fn opt_time(&mut self, name: &'static str) -> Option<Millis> {
        let value = self.get(name)?;
        let Some(text) = value.as_str() else {
            self.error(name, format!("expected an RFC 3339 timestamp but found {}", kind(value)));
            return None;
        };
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                let detail = format!("expected an RFC 3339 timestamp with an offset (2026-11-22T08:00:00Z) but found {text:?}");
                self.error(name, detail);
                None
            }
        }
    }

    /// A required RFC 3339 timestamp with an offset.
    pub fn req_time(&mut self, name: &'static str) -> Option<Millis> {
        if self.object.get(name).is_none_or(Value::is_null) {
            self.read.insert(name);
            self.missing(name, "an RFC 3339 timestamp");
            return None;
        }
        self.opt_time(name)
    }

    /// An optional non-negative integer.
    pub fn opt_count(&mut self, name: &'static str) -> Option<i64> {
        let value = self.get(name)?;
        match value.as_i64() {
            Some(n) if n >= 0 => Some(n),
            Some(n) => {
                self.error(name, format!("expected a non-negative integer but found {n}"));
                None
            }
            None => {
                self.error(name, format!("expected a non-negative integer but found {}", describe(value)));
                None
            }
        }
    }

    /// A required non-negative integer.
    pub fn req_count(&mut self, name: &'static str) -> Option<i64> {
        if self.object.get(name).is_none_or(Value::is_null) {
            self.read.insert(name);
            self.missing(name, "a non-negative integer");
            return None;
        }
        self.opt_count(name)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, name: &'static str) -> Option<bool> {
        let value = self.get(name)?;
        let b = value.as_bool();
        if b.is_none() {
            self.error(name, format!("expected a boolean but found {}", kind(value)));
        }
        b
    }

    /// An optional array; returns its elements with their pointers.
    pub fn opt_array(&mut self, name: &'static str) -> Vec<(String, &'a Value)> {
        let Some(value) = self.get(name) else { return Vec::new() };
        let Some(items) = value.as_array() else {
            self.error(name, format!("expected an array but found {}", kind(value)));
            return Vec::new();
        };
        let base = self.pointer(name);
        items.iter().enumerate().map(|(i, v)| (format!("{base}/{i}"), v)).collect()
    }

    /// An optional array of non-empty strings.
    pub fn opt_str_list(&mut self, name: &'static str) -> Vec<String> {
        let mut out = Vec::new();
        for (pointer, value) in self.opt_array(name) {
            match value.as_str() {
                Some(s) if !s.is_empty() && s.len() <= MAX_NAME => out.push(s.to_owned()),
                _ => self.errors.push(FieldError::new(pointer, format!("expected a non-empty string but found {}", describe(value)))),
            }
        }
        out
    }

    /// One of a fixed set of names.
    pub fn one_of<T: Copy>(&mut self, name: &'static str, required: bool, choices: &[(&str, T)]) -> Option<T> {
        let names = || choices.iter().map(|(n, _)| format!("{n:?}")).collect::<Vec<_>>().join(", ");
        if required && self.object.get(name).is_none_or(Value::is_null) {
            self.read.insert(name);
            let what = format!("one of {}", names());
            self.missing(name, &what);
            return None;
        }
        let text = self.opt_str(name)?;
        let found = choices.iter().find(|(n, _)| *n == text).map(|(_, v)| *v);
        if found.is_none() {
            let detail = format!("expected one of {} but found {text:?}", names());
            self.error(name, detail);
        }
        found
    }

    /// Reports a problem when `later` is before `earlier`.
    pub fn check_order(&mut self, earlier: (&str, Option<Millis>), later: (&str, Option<Millis>)) {
        if let ((e_name, Some(e)), (l_name, Some(l))) = (earlier, later)
            && l < e
        {
            self.error(l_name, format!("expected {l_name} at or after {e_name} but found it earlier"));
        }
    }

    /// Reports every field that was not read as unknown, and returns the problems found.
    pub fn finish(mut self) -> Vec<FieldError> {
        let mut unknown: Vec<&String> = self.object.keys().filter(|k| !self.read.contains(k.as_str())).collect();
        unknown.sort();
        for name in unknown {
            let pointer = self.pointer(name);
            self.errors.push(FieldError::new(pointer, format!("unknown field {name:?}")));
        }
        self.errors
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}
