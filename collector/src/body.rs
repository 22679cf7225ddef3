//! Splits a request body into events: one JSON object, a JSON array, or NDJSON; measures a JSON
//! body's nesting before anything parses it; and keeps U+0000 out of what is stored.
//!
//! JSON may carry U+0000 (`"\u0000"`), but PostgreSQL text cannot hold it, and no sender means it
//! as data. So that both engines behave alike, the strict native API refuses it with a pointer to
//! each string or key that has one ([`nul_errors`]); the lenient webhook parsers replace it with
//! U+FFFD ([`replace_nul`]) rather than lose a delivery over one character.

use serde_json::Value;

use crate::fields::{FieldError, kind};

/// Most events in one request, unless the caller sets its own limit ([`split_at_most`]).
pub const MAX_BATCH: usize = 10_000;

/// Why a body yields no events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// More events than the limit: the request is too large, not wrong.
    TooMany(FieldError),
    /// Problems with the body or its events, each naming where.
    Invalid(Vec<FieldError>),
}

impl Rejected {
    /// Every problem, whatever the kind.
    pub fn into_errors(self) -> Vec<FieldError> {
        match self {
            Self::TooMany(error) => vec![error],
            Self::Invalid(errors) => errors,
        }
    }
}

/// The events of a body, in order. `ndjson` selects one JSON value per non-empty line.
///
/// # Errors
/// A body that is not valid JSON (or NDJSON), an empty batch, a batch over [`MAX_BATCH`], or
/// an element that is not an object; each error names where.
pub fn split(body: &[u8], ndjson: bool) -> Result<Vec<Value>, Vec<FieldError>> {
    split_at_most(body, ndjson, MAX_BATCH).map_err(Rejected::into_errors)
}

/// [`split`] with at most `max` events.
///
/// # Errors
/// [`Rejected::TooMany`] for a batch over `max`, [`Rejected::Invalid`] for the rest.
pub fn split_at_most(body: &[u8], ndjson: bool, max: usize) -> Result<Vec<Value>, Rejected> {
    let events = if ndjson { split_lines(body) } else { split_json(body) }.map_err(Rejected::Invalid)?;
    if events.is_empty() {
        return Err(Rejected::Invalid(vec![FieldError::new("", "expected at least one event but found an empty batch")]));
    }
    if events.len() > max {
        let detail = format!("expected at most {max} events in one request but found {}", events.len());
        return Err(Rejected::TooMany(FieldError::new("", detail)));
    }
    let errors: Vec<FieldError> = events
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_object())
        .map(|(i, v)| FieldError::new(format!("/{i}"), format!("expected an event object but found {}", kind(v))))
        .collect();
    if !errors.is_empty() {
        return Err(Rejected::Invalid(errors));
    }
    let mut errors = Vec::new();
    for (i, event) in events.iter().enumerate() {
        nul_errors(event, &format!("/{i}"), &mut errors);
    }
    if errors.is_empty() { Ok(events) } else { Err(Rejected::Invalid(errors)) }
}

/// Checks that no value in `body` nests deeper than `max` arrays or objects, in one pass over
/// the bytes with a counter, so even a body of a million `[` costs no stack (serde_json would
/// recurse on it, up to its own limit of 128). Brackets inside strings do not count; with
/// `ndjson`, each line is its own document. The body need not be valid JSON: parsing comes after.
///
/// # Errors
/// The byte offset where nesting first goes past `max`.
pub fn check_depth(body: &[u8], max: usize, ndjson: bool) -> Result<(), FieldError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                b'\n' if ndjson => (in_string, depth) = (false, 0),
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(FieldError::new("", format!("expected JSON nested at most {max} levels deep but found deeper nesting at byte {offset}")));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' if ndjson => depth = 0,
            _ => {}
        }
    }
    Ok(())
}

/// The character no stored text may contain.
const NUL: char = '\u{0}';

/// Reports every string and key at or below `pointer` that contains U+0000.
pub fn nul_errors(value: &Value, pointer: &str, errors: &mut Vec<FieldError>) {
    let detail = "expected text without U+0000 (NUL) characters but found one";
    match value {
        Value::String(text) if text.contains(NUL) => errors.push(FieldError::new(pointer, detail)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_errors(item, &format!("{pointer}/{i}"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key.contains(NUL) {
                    errors.push(FieldError::new(at.clone(), detail));
                }
                nul_errors(item, &at, errors);
            }
        }
        _ => {}
    }
}

/// Replaces U+0000 with U+FFFD in every string and key of `value`.
pub fn replace_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains(NUL) => *text = text.replace(NUL, "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains(NUL)) {
                let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                map.extend(entries.into_iter().map(|(k, v)| (k.replace(NUL, "\u{fffd}"), v)));
            }
            map.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

fn split_json(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(value @ Value::Object(_)) => Ok(vec![value]),
        Ok(other) => Err(vec![FieldError::new("", format!("expected an event object or an array of events but found {}", kind(&other)))]),
        Err(e) => Err(vec![FieldError::new("", format!("invalid JSON: {e}"))]),
    }
}

fn split_lines(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (number, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => events.push(value),
            Err(e) => errors.push(FieldError::new(format!("/{}", events.len() + errors.len()), format!("invalid JSON on line {}: {e}", number + 1))),
        }
    }
    if errors.is_empty() { Ok(events) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_an_array_and_ndjson_all_split_into_events() {
        assert_eq!(split(br#"{"a":1}"#, false).map(|v| v.len()), Ok(1));
        assert_eq!(split(br#"[{"a":1},{"b":2}]"#, false).map(|v| v.len()), Ok(2));
        assert_eq!(split(b"{\"a\":1}\n\n{\"b\":2}\n", true).map(|v| v.len()), Ok(2));
    }

    #[test]
    fn an_empty_batch_is_an_error() {
        assert!(split(b"[]", false).is_err());
        assert!(split(b"\n\n", true).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(split(deep.as_bytes(), false).is_err());
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_per_ndjson_line() {
        assert!(check_depth(br#"{"a":[{"b":1}]}"#, 3, false).is_ok());
        let error = check_depth(br#"{"a":[{"b":[1]}]}"#, 3, false).expect_err("four deep");
        assert!(error.detail.contains("at most 3") && error.detail.contains("byte 11"), "{}", error.detail);
        assert!(check_depth(br#"{"a":"[[[[[[\"[[[["}"#, 1, false).is_ok(), "brackets in strings do not count");
        assert!(check_depth(b"[[1]]\n[[2]]\n", 2, true).is_ok(), "each line starts at depth 0");
        assert!(check_depth(b"[[1]]\n[[2]]\n", 2, false).is_ok());
        assert!(check_depth(b"[[[[\n[[", 2, true).is_err());
        assert!(check_depth("[".repeat(1_000_000).as_bytes(), 64, false).is_err(), "a million brackets cost no stack");
    }

    #[test]
    fn nul_characters_are_refused_with_pointers_or_replaced() {
        let errors = split(br#"[{"a":"x"},{"b":["ok","n\u0000l"],"k\u0000/":1}]"#, false).expect_err("nul");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/1/b/1", "/1/k\u{0}~1"]);
        let mut value: Value = serde_json::from_str(r#"{"t\u0000":["a\u0000b"]}"#).expect("json");
        replace_nul(&mut value);
        assert_eq!(value, serde_json::json!({"t\u{fffd}": ["a\u{fffd}b"]}));
    }

    #[test]
    fn a_bad_ndjson_line_is_named() {
        let errors = split(b"{\"a\":1}\nnope\n", true).expect_err("bad line");
        assert_eq!(errors[0].pointer, "/1");
        assert!(errors[0].detail.contains("line 2"), "{}", errors[0].detail);
    }
}
