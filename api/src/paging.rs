//! Paged listings: the `limit` and `cursor` parameters every listing takes, and how times are
//! written in listed items.

use pacer_engine::calendar::rfc3339;
use pacer_store::Cursor;
use serde_json::Value;

use crate::problem::Problem;
use crate::query::Params;

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
const MAX_LIMIT: i64 = 500;

/// The page size (`limit`) and position (`cursor`) of a listing.
///
/// # Errors
/// A limit out of range or a cursor that no page gave.
pub fn page_params(params: &Params) -> Result<(i64, Option<Cursor>), Problem> {
    let limit = match params.one("limit")? {
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(Problem::invalid_query("limit", format!("expected an integer from 1 to {MAX_LIMIT} but found {text:?}"))),
        },
        None => DEFAULT_LIMIT,
    };
    let cursor = match params.one("cursor")? {
        Some(text) => Some(Cursor::parse(text).ok_or_else(|| Problem::invalid_query("cursor", format!("expected a cursor from a previous page but found {text:?}")))?),
        None => None,
    };
    Ok((limit, cursor))
}

/// An optional time as RFC 3339, or null.
pub fn time(at: Option<i64>) -> Value {
    at.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}
