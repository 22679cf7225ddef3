//! Splits a request body into events: one JSON object, a JSON array, or NDJSON; and keeps U+0000
//! out of what is stored.
//!
//! JSON may carry U+0000 (`"\u0000"`), but PostgreSQL text cannot hold it, and no sender means it
//! as data. So that both engines behave alike, the strict native API refuses it with a pointer to
//! each string or key that has one ([`nul_errors`]); the lenient webhook parsers replace it with
//! U+FFFD ([`replace_nul`]) rather than lose a delivery over one character.

use serde_json::Value;

use crate::fields::FieldError;

/// Most events in one request.
pub const MAX_BATCH: usize = 10_000;

/// The events of a body, in order. `ndjson` selects one JSON value per non-empty line.
///
/// # Errors
/// A body that is not valid JSON (or NDJSON), an empty batch, a batch over [`MAX_BATCH`], or
/// an element that is not an object; each error names where.
pub fn split(body: &[u8], ndjson: bool) -> Result<Vec<Value>, Vec<FieldError>> {
    let events = if ndjson { split_lines(body)? } else { split_json(body)? };
    if events.is_empty() {
        return Err(vec![FieldError::new("", "expected at least one event but found an empty batch")]);
    }
    if events.len() > MAX_BATCH {
        let detail = format!("expected at most {MAX_BATCH} events in one request but found {}", events.len());
        return Err(vec![FieldError::new("", detail)]);
    }
    let errors: Vec<FieldError> = events
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_object())
        .map(|(i, v)| FieldError::new(format!("/{i}"), format!("expected an event object but found {}", kind(v))))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut errors = Vec::new();
    for (i, event) in events.iter().enumerate() {
        nul_errors(event, &format!("/{i}"), &mut errors);
    }
    if errors.is_empty() { Ok(events) } else { Err(errors) }
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
