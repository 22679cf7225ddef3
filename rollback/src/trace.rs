//! Which trace each rollback belongs to, so that its hook deliveries continue the trace of the
//! alert (or the approval) that caused them, and the hook receiver sees it in `traceparent`.
//!
//! The decision and the delivery are apart in time and in tasks — the outbox is between them —
//! so the span context of the deciding request is remembered here, by rollback id, in this
//! process. A delivery made after a restart, or by another replica, starts a trace of its own.
//! Only the most recent [`CAPACITY`] rollbacks are remembered; rollbacks are rare, so that spans
//! days of them.
//!
//! When pacer exports no traces, spans carry no valid context and nothing is remembered; the
//! injection is the OpenTelemetry API's no-op propagator.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Most rollbacks whose trace is remembered.
pub const CAPACITY: usize = 1_024;

/// The span contexts that decided recent rollbacks.
#[derive(Debug, Default)]
pub struct Origins {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    by_rollback: HashMap<String, SpanContext>,
    /// Rollback ids, oldest first, to forget beyond [`CAPACITY`].
    order: VecDeque<String>,
}

impl Origins {
    /// Remembers that `span` (the current decision or approval) caused `rollback_id`.
    pub fn remember(&self, rollback_id: &str, span: &tracing::Span) {
        let cx = span.context();
        let origin = cx.span().span_context().clone();
        if !origin.is_valid() {
            return;
        }
        let Ok(mut remembered) = self.inner.lock() else { return };
        if remembered.by_rollback.insert(rollback_id.to_owned(), origin).is_none() {
            remembered.order.push_back(rollback_id.to_owned());
        }
        while remembered.order.len() > CAPACITY {
            if let Some(oldest) = remembered.order.pop_front() {
                remembered.by_rollback.remove(&oldest);
            }
        }
    }

    /// Makes `span` (a delivery) a child of the span that caused `rollback_id`, when known.
    pub fn adopt(&self, rollback_id: &str, span: &tracing::Span) {
        let origin = self.inner.lock().ok().and_then(|remembered| remembered.by_rollback.get(rollback_id).cloned());
        if let Some(origin) = origin {
            let _ = span.set_parent(Context::new().with_remote_span_context(origin));
        }
    }
}

/// `span`'s trace context as W3C `traceparent` (and `tracestate`) headers, to send with a request.
pub fn inject(span: &tracing::Span, headers: &mut reqwest::header::HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers)));
}
