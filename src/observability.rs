//! pacer's own logs and traces: the `tracing` subscriber, and the OpenTelemetry pipeline that
//! exports spans over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Logs go to stderr, as text or as JSON (`PACER_LOG_FORMAT=json`), filtered by `PACER_LOG`
//! (default `info,sqlx=warn,octocrab=off`; traces keep that whatever it says). Every line logged inside a request carries the request span's
//! fields, `request_id` among them; when traces are exported, JSON lines also carry the
//! `trace_id` and `span_id` of the span they were logged in, so a log line leads to its trace.
//!
//! Traces follow the OpenTelemetry environment variables the SDK reads (`OTEL_SERVICE_NAME`,
//! default `pacer`; `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
//! `_HEADERS`, `_TIMEOUT`; `OTEL_BSP_*`; `OTEL_TRACES_SAMPLER[_ARG]`; `OTEL_SDK_DISABLED`). The
//! protocol is `http/protobuf`, sent with pacer's own reqwest client. Spans are batched and the
//! batch is flushed by [`Telemetry::shutdown`] on the way out. Incoming and outgoing `traceparent`
//! headers follow the W3C trace context (the API continues a caller's trace; rollback hooks carry
//! the trace of the alert that caused them).
//!
//! When no endpoint is set nothing of this is built: no exporter, no propagator, no background
//! thread; the OpenTelemetry API calls in the api and rollback crates are no-ops then.
//!
//! It does not own pacer's Prometheus metrics (`pacer_api::telemetry`).

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The service name traces carry unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` says
/// otherwise.
const SERVICE_NAME: &str = "pacer";
/// The log filter when `PACER_LOG` is not set. octocrab logs every failed request as an error;
/// `pacer import` retries and reports them.
const LOG_FILTER: &str = "info,sqlx=warn,octocrab=off";
/// Which spans (and events within them) are exported, whatever `PACER_LOG` says.
const TRACE_FILTER: &str = LOG_FILTER;
/// How long one export request may take when `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` is not set
/// (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The installed logs and traces; keep it until the program ends and call
/// [`Telemetry::shutdown`] so the last spans are exported.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // The batch processor exports from its own thread and sends on this runtime (see
        // `Transport`): wait for it off the runtime's workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("warning: the last spans could not be exported: {error}");
        }
    }
}

/// Installs the global `tracing` subscriber, and the OpenTelemetry pipeline when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
///
/// Must run inside the Tokio runtime: exports are sent on it.
///
/// # Errors
/// The OpenTelemetry settings are invalid (an unsupported protocol, a malformed endpoint).
pub fn init() -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("PACER_LOG").unwrap_or_else(|_| EnvFilter::new(LOG_FILTER));
    let json = std::env::var("PACER_LOG_FORMAT").is_ok_and(|f| f == "json");
    let provider = if exporting_configured() { Some(tracer_provider()?) } else { None };

    let dispatch_cell: Arc<OnceLock<WeakDispatch>> = Arc::default();
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if json {
        match provider {
            Some(_) => logs.fmt_fields(JsonFields::new()).event_format(WithTraceIds { inner: Format::default().json(), dispatch: Arc::clone(&dispatch_cell) }).boxed(),
            None => logs.json().boxed(),
        }
    } else {
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        logs.with_ansi(ansi).boxed()
    };
    // Each its own filter: quieter logs (`PACER_LOG=warn`) do not silence the traces.
    let traces = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(SERVICE_NAME)).with_filter(EnvFilter::new(TRACE_FILTER)));
    let subscriber = Registry::default().with(logs.with_filter(filter)).with(traces);
    let dispatch = Dispatch::new(subscriber);
    let _ = dispatch_cell.set(dispatch.downgrade());
    tracing::dispatcher::set_global_default(dispatch).context("a tracing subscriber is already installed")?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    }
    Ok(Telemetry { provider })
}

/// Whether the environment asks for spans to be exported.
fn exporting_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The tracer provider: resource, OTLP/HTTP exporter, batch span processor (all from the
/// `OTEL_*` environment).
fn tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Ok(protocol) = std::env::var(name) {
            anyhow::ensure!(protocol.trim() == "http/protobuf", "{name}: expected http/protobuf but found {protocol:?}; pacer exports traces over OTLP/HTTP with protobuf");
            break;
        }
    }
    let timeout = export_timeout();
    let client = reqwest::Client::builder()
        .user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()
        .context("cannot build the OTLP HTTP client")?;
    let transport = Transport { client, runtime: tokio::runtime::Handle::current() };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(transport)
        .build()
        .context("invalid OTLP exporter settings")?;
    Ok(SdkTracerProvider::builder().with_resource(resource()).with_batch_exporter(exporter).build())
}

/// `service.name` "pacer" and `service.version`, then what `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_SERVICE_NAME` say (the latter wins, as the specification orders).
fn resource() -> Resource {
    let mut resource = Resource::builder_empty()
        .with_service_name(SERVICE_NAME)
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_detectors(&[Box::new(TelemetryResourceDetector), Box::new(EnvResourceDetector::new())]);
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME")
        && !name.trim().is_empty()
    {
        resource = resource.with_service_name(name);
    }
    resource.build()
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds.
fn export_timeout() -> Duration {
    ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .map_or(EXPORT_TIMEOUT, Duration::from_millis)
}

/// Sends OTLP requests with pacer's reqwest client on pacer's runtime.
///
/// The SDK's batch processor exports from a thread of its own, outside Tokio, where reqwest's
/// async client cannot run; each request is spawned on the runtime and awaited from there.
#[derive(Debug)]
struct Transport {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let (status, headers) = (response.status(), response.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
            })
            .await??;
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The JSON log format with the `trace_id` and `span_id` of the span an event was logged in.
struct WithTraceIds {
    inner: Format<Json>,
    /// The installed subscriber, to look up a span's OpenTelemetry context (set once installed).
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl WithTraceIds {
    /// The ids of the event's span, when it belongs to a trace.
    fn ids<S>(&self, ctx: &FmtContext<'_, S, JsonFields>, event: &Event<'_>) -> Option<(String, String)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = event.parent().cloned().or_else(|| ctx.lookup_current().map(|span| span.id()))?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&span, &dispatch)?;
        let span = cx.span();
        let ids = span.span_context();
        ids.is_valid().then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    }
}

impl<S> FormatEvent<S, JsonFields> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonFields>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON formatter writes one object per line: the ids go first inside it.
        match (self.ids(ctx, event), line.strip_prefix('{')) {
            (Some((trace_id, span_id)), Some(rest)) => write!(writer, "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"),
            _ => writer.write_str(&line),
        }
    }
}
