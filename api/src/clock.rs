//! The clock every handler and task reads.

use pacer_engine::Millis;

/// The current time in UTC milliseconds.
pub fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
