//! Splits a request body into events: one JSON object, a JSON array, or NDJSON.

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
    if errors.is_empty() { Ok(events) } else { Err(errors) }
}

/// Parses one JSON document. Its strings (values and keys) may not hold the NUL character:
/// PostgreSQL cannot store it in text, and no sender means it.
///
/// # Errors
/// Invalid JSON, or a NUL character, with where it is.
pub fn json(body: &[u8]) -> Result<Value, Vec<FieldError>> {
    let value = serde_json::from_slice::<Value>(body).map_err(|e| vec![FieldError::new("", format!("invalid JSON: {e}"))])?;
    match nul_in(&value, String::new()) {
        Some(error) => Err(vec![error]),
        None => Ok(value),
    }
}

/// The first string (value or key) of `value` that holds a NUL character, as an error at its
/// pointer below `pointer`.
pub fn nul_in(value: &Value, pointer: String) -> Option<FieldError> {
    const DETAIL: &str = "expected text without NUL characters but found one";
    match value {
        Value::String(s) if s.contains('\0') => Some(FieldError::new(pointer, DETAIL)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in(v, format!("{pointer}/{i}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
            if k.contains('\0') { Some(FieldError::new(here, DETAIL)) } else { nul_in(v, here) }
        }),
        _ => None,
    }
}

fn split_json(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    match json(body)? {
        Value::Array(items) => Ok(items),
        value @ Value::Object(_) => Ok(vec![value]),
        other => Err(vec![FieldError::new("", format!("expected an event object or an array of events but found {}", kind(&other)))]),
    }
}

fn split_lines(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (number, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = events.len() + errors.len();
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => match nul_in(&value, format!("/{index}")) {
                Some(error) => errors.push(error),
                None => events.push(value),
            },
            Err(e) => errors.push(FieldError::new(format!("/{index}"), format!("invalid JSON on line {}: {e}", number + 1))),
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
    fn a_nul_character_anywhere_is_refused_with_its_pointer() {
        let pointer = |body: &[u8], ndjson| split(body, ndjson).expect_err("refused")[0].pointer.clone();
        assert_eq!(pointer(br#"[{"a":1},{"b":["x","y\u0000"]}]"#, false), "/1/b/1");
        assert_eq!(pointer(b"{\"a\":1}\n{\"k\\u0000\":2}", true), "/1/k\u{0}");
        assert!(json(br#"{"a":"\\u0000"}"#).is_ok(), "an escaped backslash before u0000 is no NUL");
    }

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
    fn a_bad_ndjson_line_is_named() {
        let errors = split(b"{\"a\":1}\nnope\n", true).expect_err("bad line");
        assert_eq!(errors[0].pointer, "/1");
        assert!(errors[0].detail.contains("line 2"), "{}", errors[0].detail);
    }
}
