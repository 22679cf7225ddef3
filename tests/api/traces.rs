//! Self-telemetry: the real `pacer` binary exports its spans over OTLP/HTTP to a receiver built
//! from the official OpenTelemetry protobuf definitions, continues a caller's `traceparent`,
//! carries the alert's trace into the rollback hook it fires, flushes its spans on SIGTERM, and
//! writes JSON logs that name the request (and the trace, when traces are exported).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message as _;
use serde_json::Value;

use crate::helpers::{Backend, fresh_database};
use crate::hooks::{PacerProcess, Receiver};
use crate::rollback::{ago, alert, config, history};

/// The caller's trace and span, as a W3C `traceparent` names them.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// The start of the SDK's batch span processor thread's name ("OpenTelemetry.Traces.BatchProcessor").
const BATCH_THREAD: &str = "OpenTelemetry";

/// One span as the receiver decoded it.
#[derive(Debug, Clone)]
struct Exported {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
    /// The `service.name` of the resource that sent it.
    service: String,
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Exported>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Exported>>> = Arc::default();
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain")], Vec::new());
                    };
                    kept.lock().expect("lock").extend(decoded(request));
                    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { endpoint, spans }
    }

    fn spans(&self) -> Vec<Exported> {
        self.spans.lock().expect("lock").clone()
    }

    /// Waits until a span named `name` in `trace_id` arrived (or `timeout` passed).
    async fn wait_for(&self, name: &str, trace_id: &str, timeout: Duration) -> Option<Exported> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| s.name == name && s.trace_id == trace_id) {
                return Some(span);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn decoded(request: ExportTraceServiceRequest) -> Vec<Exported> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| strings(&r.attributes)).unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Exported {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: strings(&span.attributes),
                    service: service.clone(),
                });
            }
        }
    }
    spans
}

/// Attributes as text (numbers and booleans too).
fn strings(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let text = match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => s.clone(),
                any_value::Value::IntValue(i) => i.to_string(),
                any_value::Value::BoolValue(b) => b.to_string(),
                any_value::Value::DoubleValue(d) => d.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), text))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON log lines whose message is `message`.
/// The JSON log lines with `message`, once there is one (or after 5 s): pacer's stderr is read
/// by a thread of its own, so a line written before a response may reach the test after it.
async fn log_lines(pacer: &PacerProcess, message: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<Value> = pacer
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["fields"]["message"] == message)
            .collect();
        if !lines.is_empty() || tokio::time::Instant::now() >= deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a JSON log line was written inside the request with id `request_id`.
fn in_request(line: &Value, request_id: &str) -> bool {
    line["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["name"] == "request" && s["request_id"] == request_id))
}

async fn an_alert_with_a_traceparent_carries_its_trace_into_the_rollback_hook(backend: Backend) {
    let collector = Collector::start().await;
    let hook = Receiver::start().await;
    let Some((database_url, _guard)) = fresh_database(backend).await else { return };
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100"), ("PACER_LOG_FORMAT", "json")];
    let mut pacer = PacerProcess::start_with(&database_url, &config("auto", &[&hook.url]), &env);
    let client = reqwest::Client::new();
    let stored = client.post(format!("{}/api/v1/events", pacer.base)).json(&history()).send().await.expect("request");
    assert_eq!(stored.status(), 200);

    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let response = client
        .post(format!("{}/webhooks/alertmanager", pacer.base))
        .header("traceparent", &traceparent)
        .header("x-request-id", "req-alert-1")
        .json(&alert("firing", &ago(1), None))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["rollbacks"].as_array().map(Vec::len), Some(1), "{answer}");

    // The hook receiver sees the caller's trace, from pacer's delivery span.
    let requests = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1, "one hook request");
    let sent = requests[0].headers.get("traceparent").expect("the hook request carries a traceparent");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "W3C traceparent: {sent}");
    assert_eq!(parts[1], CALLER_TRACE, "the hook request continues the alert's trace: {sent}");
    assert_ne!(parts[2], CALLER_SPAN, "the hook request's parent is pacer's delivery span: {sent}");

    // The request span is exported in the caller's trace, under the caller's span.
    let wait = Duration::from_secs(15);
    let request = collector.wait_for("POST /webhooks/alertmanager", CALLER_TRACE, wait).await.expect("the alert's request span is exported");
    assert_eq!(request.parent_span_id, CALLER_SPAN, "the request span is a child of the caller's span");
    assert_eq!(request.attributes.get("route").map(String::as_str), Some("/webhooks/alertmanager"), "{request:?}");
    assert_eq!(request.attributes.get("request_id").map(String::as_str), Some("req-alert-1"), "{request:?}");
    assert_eq!(request.attributes.get("status").map(String::as_str), Some("200"), "{request:?}");
    assert_eq!(request.service, "pacer", "service.name resource attribute");

    // alert → decision → outbox → delivery, one trace; the delivery is what the hook saw.
    let decision = collector.wait_for("decision", CALLER_TRACE, wait).await.expect("the decision span is exported");
    assert_eq!(decision.attributes.get("service").map(String::as_str), Some("checkout"), "{decision:?}");
    assert_eq!(decision.attributes.get("deployment_id").map(String::as_str), Some("v2"), "{decision:?}");
    assert_eq!(decision.attributes.get("outcome").map(String::as_str), Some("rollback"), "{decision:?}");
    let outbox = collector.wait_for("outbox", CALLER_TRACE, wait).await.expect("the outbox span is exported");
    let delivery = collector.wait_for("delivery", CALLER_TRACE, wait).await.expect("the delivery span is exported");
    assert_eq!(delivery.parent_span_id, outbox.span_id, "the delivery continues from the outbox span that stored the rollback");
    assert_eq!(delivery.span_id, parts[2], "the hook's traceparent names the exported delivery span");
    assert_eq!(delivery.attributes.get("service").map(String::as_str), Some("checkout"), "{delivery:?}");
    assert_eq!(delivery.attributes.get("environment").map(String::as_str), Some("production"), "{delivery:?}");
    assert_eq!(delivery.attributes.get("deployment_id").map(String::as_str), Some("v2"), "{delivery:?}");
    assert_eq!(delivery.attributes.get("status").map(String::as_str), Some("200"), "{delivery:?}");

    // JSON logs name the request and, with traces on, the trace.
    let decided = log_lines(&pacer, "rollback decided").await;
    assert_eq!(decided.len(), 1, "{:#?}", pacer.logs());
    assert!(in_request(&decided[0], "req-alert-1"), "the log line carries the request id: {}", decided[0]);
    assert_eq!(decided[0]["trace_id"], CALLER_TRACE, "the log line carries the trace id: {}", decided[0]);
    assert_eq!(decided[0]["span_id"], outbox.span_id, "the log line carries its span's id: {}", decided[0]);
    let delivered = log_lines(&pacer, "rollback hook delivered").await;
    assert_eq!(delivered.len(), 1, "{:#?}", pacer.logs());
    assert_eq!(delivered[0]["trace_id"], CALLER_TRACE, "the delivery's log line carries the alert's trace: {}", delivered[0]);

    assert!(pacer.terminate().await, "pacer exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_with_a_traceparent_carries_its_trace_into_the_rollback_hook_on_sqlite() {
    an_alert_with_a_traceparent_carries_its_trace_into_the_rollback_hook(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_with_a_traceparent_carries_its_trace_into_the_rollback_hook_on_postgres() {
    an_alert_with_a_traceparent_carries_its_trace_into_the_rollback_hook(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_batched_are_exported_on_sigterm() {
    let collector = Collector::start().await;
    let Some((database_url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    // A batch delay far longer than the test: only the shutdown flush can deliver the span.
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "600000"), ("OTEL_SERVICE_NAME", "pacer-eu")];
    let mut pacer = PacerProcess::start_with(&database_url, "", &env);
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", pacer.base))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(collector.spans().is_empty(), "nothing is exported before the batch is due: {:?}", collector.spans());
    let threads = pacer.thread_names();
    assert!(threads.iter().any(|t| t.starts_with(BATCH_THREAD)), "the batch span processor runs: {threads:?}");
    assert!(pacer.terminate().await, "pacer exits cleanly on SIGTERM");
    let span = collector.wait_for("GET /healthz", CALLER_TRACE, Duration::from_secs(5)).await.expect("the batched span is exported at shutdown");
    assert_eq!(span.service, "pacer-eu", "OTEL_SERVICE_NAME names the service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_json_logs_carry_the_request_id_and_nothing_exports() {
    let Some((database_url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    let pacer = PacerProcess::start_with(&database_url, "", &[("PACER_LOG_FORMAT", "json")]);
    let event = serde_json::json!({"type": "deployment", "id": "d1", "service": "checkout", "status": "success", "finished_at": ago(1)});
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events", pacer.base))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&event)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("a generated request id").to_owned();
    let stored = log_lines(&pacer, "events stored").await;
    assert_eq!(stored.len(), 1, "{:#?}", pacer.logs());
    assert!(in_request(&stored[0], &request_id), "the log line carries the generated request id {request_id}: {}", stored[0]);
    assert!(stored[0].get("trace_id").is_none(), "no trace ids without an OTLP endpoint: {}", stored[0]);
    let threads = pacer.thread_names();
    assert!(!threads.iter().any(|t| t.starts_with(BATCH_THREAD)), "no exporter thread without an OTLP endpoint: {threads:?}");
}

#[test]
fn an_unsupported_otlp_protocol_stops_pacer_with_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["check-config"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .expect("run pacer");
    assert!(!output.status.success(), "pacer refuses an OTLP protocol it cannot send");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf but found \"grpc\""), "{stderr}");
}
