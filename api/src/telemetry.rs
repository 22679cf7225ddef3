//! `GET /metrics`: every metric pacer exposes, named and defined in this one module.
//!
//! Two kinds: pacer's own health (requests, ingested events, hook deliveries), counted in this
//! process; and delivery metrics (deployments, lead time, failures, incidents, recovery, SLO
//! burn, rollbacks, outbox, CI durations), computed at scrape time from the database so every
//! replica reports the same numbers. Label values come from bounded sets: routes are the matched
//! route templates (`unmatched` otherwise), and services beyond the configured cap are `other`.
//!
//! The body is OpenMetrics when the scraper asks for it (`Accept:
//! application/openmetrics-text`), else the Prometheus text format 0.0.4.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use pacer_store::CiTiming;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::clock::now;
use crate::problem::Problem;
use crate::analysis::Analyses;
use crate::config::ApiConfig;
use pacer_store::Store;

/// Label pairs.
type Labels = Vec<(&'static str, String)>;

/// Most distinct services in labels; the rest are `other`.
pub const MAX_SERVICES: usize = 200;

/// Buckets for durations from a second to a month.
fn long_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1.0, 4.0, 12)
}

/// Buckets for durations from a millisecond to a minute.
fn short_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 3.0, 11)
}

/// pacer's own counters, shared by every request of this process.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram>,
    events: Family<Labels, Counter>,
    hook_deliveries: Family<Labels, Histogram>,
    report_sends: Family<Labels, Counter>,
    chat_messages: Family<Labels, Counter>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<Labels, Counter>::default();
        let http_duration = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(short_buckets()));
        let events = Family::<Labels, Counter>::default();
        let hook_deliveries = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(short_buckets()));
        // Known outcomes start at zero, so dashboards and alerts see the series before the first
        // rollback ever happens.
        for outcome in ["delivered", "retry", "failed", "gone"] {
            let _ = hook_deliveries.get_or_create(&vec![("outcome", outcome.to_owned())]);
        }
        let report_sends = Family::<Labels, Counter>::default();
        for outcome in ["sent", "retry", "failed"] {
            let _ = report_sends.get_or_create(&vec![("outcome", outcome.to_owned())]);
        }
        let chat_messages = Family::<Labels, Counter>::default();
        for outcome in ["delivered", "retry", "failed", "gone"] {
            let _ = chat_messages.get_or_create(&vec![("outcome", outcome.to_owned())]);
        }
        let build = Family::<Labels, Gauge>::default();
        build.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_owned())]).set(1);
        registry.register("pacer_http_requests", "HTTP requests answered, by route, method and status", http_requests.clone());
        registry.register("pacer_http_request_duration_seconds", "Time to answer an HTTP request, by route", http_duration.clone());
        registry.register("pacer_events_ingested", "Events received, by source and outcome (accepted, duplicate, rejected)", events.clone());
        registry.register("pacer_hook_delivery_seconds", "Time from sending a rollback hook request to its answer, by outcome", hook_deliveries.clone());
        registry.register("pacer_report_sends", "Weekly report emails attempted by this process, by outcome (sent, retry, failed)", report_sends.clone());
        registry.register("pacer_chat_messages", "Chat message attempts by this process, by outcome (delivered, retry, failed, gone)", chat_messages.clone());
        registry.register("pacer_build_info", "The running pacer version", build);
        Self { registry, http_requests, http_duration, events, hook_deliveries, report_sends, chat_messages }
    }
}

impl Telemetry {
    /// Counts events from `source` by outcome.
    pub fn ingested(&self, source: &str, accepted: u64, duplicates: u64, rejected: u64) {
        for (outcome, n) in [("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)] {
            if n > 0 {
                self.events.get_or_create(&vec![("source", source.to_owned()), ("outcome", outcome.to_owned())]).inc_by(n);
            }
        }
    }

    /// Records a hook delivery attempt.
    pub fn hook_delivery(&self, outcome: &str, seconds: f64) {
        self.hook_deliveries.get_or_create(&vec![("outcome", outcome.to_owned())]).observe(seconds);
    }

    /// This process's counters, then `scraped`, in the OpenMetrics text format.
    ///
    /// # Errors
    /// Encoding failed.
    pub fn encode_with(&self, scraped: &Registry) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        encode_registry(&mut body, &self.registry)?;
        encode_registry(&mut body, scraped)?;
        encode_eof(&mut body)?;
        Ok(body)
    }

    /// Counts a chat message attempt: `delivered`, `retry`, `failed` or `gone`.
    pub fn chat_message(&self, outcome: &'static str) {
        self.chat_messages.get_or_create(&vec![("outcome", outcome.to_owned())]).inc();
    }

    /// Counts a weekly report send attempt: `sent`, `retry` or `failed`.
    pub fn report_send(&self, outcome: &'static str) {
        self.report_sends.get_or_create(&vec![("outcome", outcome.to_owned())]).inc();
    }
}

/// Counts every request by its matched route; unknown paths are `unmatched`.
pub async fn track(State(telemetry): State<Shared>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let t = &telemetry;
    let status = response.status().as_u16().to_string();
    t.http_requests.get_or_create(&vec![("route", route.clone()), ("method", method), ("status", status)]).inc();
    t.http_duration.get_or_create(&vec![("route", route)]).observe(started.elapsed().as_secs_f64());
    response
}

/// Bounds the service label: the first [`MAX_SERVICES`] names (sorted) are kept.
struct ServiceCap(BTreeSet<String>);

impl ServiceCap {
    fn label(&self, service: &str) -> String {
        if self.0.contains(service) { service.to_owned() } else { "other".to_owned() }
    }
}

/// What the process's allocator holds, in bytes, as the binary reports it
/// ([`report_allocator`]): the heap the process's data takes, against what it keeps resident.
#[derive(Debug, Clone, Copy)]
pub struct AllocatorBytes {
    /// Handed out to the program and not freed: its data.
    pub allocated: u64,
    /// In pages holding something handed out (`allocated` and the room between).
    pub active: u64,
    /// The allocator's own bookkeeping.
    pub metadata: u64,
    /// In pages the allocator keeps resident: active, its metadata, and freed pages not given back yet.
    pub resident: u64,
    /// Mapped but given back to the system: address space, not memory.
    pub retained: u64,
}

/// How the process's allocator is read, once the binary says (the library does not choose the
/// allocator: `pacer`'s binary does).
static ALLOCATOR: OnceLock<fn() -> Option<AllocatorBytes>> = OnceLock::new();

/// Has `/metrics` report what the process's allocator holds, read by `read`
/// (`pacer_allocator_bytes`). Set once; later calls are ignored.
pub fn report_allocator(read: fn() -> Option<AllocatorBytes>) {
    let _ = ALLOCATOR.set(read);
}

/// The delivery metrics, computed now from the database.
pub async fn scrape(store: &Store, config: &ApiConfig, analyses: &Arc<Analyses>) -> Result<Registry, Problem> {
    let mut registry = Registry::default();
    let deployments = Family::<Labels, Gauge>::default();
    let failed = Family::<Labels, Gauge>::default();
    let rework = Family::<Labels, Gauge>::default();
    let open_incidents = Family::<Labels, Gauge>::default();
    let lead_time = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(long_buckets()));
    let recovery = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(long_buckets()));
    let rollbacks = Family::<Labels, Gauge>::default();
    let outbox = Gauge::<i64>::default();
    let burn = Family::<Labels, prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let budget = Family::<Labels, prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>>::default();

    let counts = store.deployment_counts().await?;
    let names: BTreeSet<String> = counts.iter().map(|(s, ..)| s.clone()).collect();
    let cap = ServiceCap(names.into_iter().take(MAX_SERVICES).collect());
    for (service, environment, status, n) in &counts {
        deployments.get_or_create(&vec![("service", cap.label(service)), ("environment", environment.clone()), ("status", status.clone())]).inc_by(*n);
    }
    let analysis_bytes = Family::<Labels, Gauge<i64>>::default();
    for environment in store.environments().await? {
        let analysis = analyses.get(store, &environment, config.attribution_window, config.analysis_wait).await?;
        let held: usize = analysis.footprint().0.iter().map(|(_, bytes)| bytes).sum();
        analysis_bytes.get_or_create(&vec![("environment", environment.clone())]).set(i64::try_from(held).unwrap_or(i64::MAX));
        for d in analysis.deployments() {
            let labels = vec![("service", cap.label(d.service())), ("environment", environment.clone())];
            for seconds in d.lead_times() {
                lead_time.get_or_create(&labels).observe(seconds);
            }
            if let Some(why) = d.rework() {
                let mut labels = labels.clone();
                labels.push(("reason", why.reason().name().to_owned()));
                rework.get_or_create(&labels).inc();
            }
            if d.failed() {
                failed.get_or_create(&labels).inc();
                if let Some(at) = d.recovered_at() {
                    recovery.get_or_create(&labels).observe((at - d.finished_at()) as f64 / 1_000.0);
                }
            }
        }
        for incident in analysis.unresolved_incidents() {
            open_incidents.get_or_create(&vec![("service", cap.label(&incident.service)), ("environment", environment.clone())]).inc();
        }
    }
    for (service, environment, state_name, n) in store.rollback_counts().await? {
        rollbacks.get_or_create(&vec![("service", cap.label(&service)), ("environment", environment), ("state", state_name)]).inc_by(n);
    }
    outbox.set(store.outbox_depth().await?);
    for slo in &config.slos {
        // An SLO whose source fails is left out of this scrape rather than failing it.
        let Ok(status) = crate::read::slo::status(store, slo, now()).await else { continue };
        for window in &status.windows {
            if let Some(rate) = window.burn_rate {
                burn.get_or_create(&vec![("slo", slo.name.clone()), ("window", window.window.to_owned())]).set(rate);
            }
        }
        if let Some(left) = status.budget_remaining {
            budget.get_or_create(&vec![("slo", slo.name.clone())]).set(left);
        }
    }
    let ci = ci_histogram(store, CiTiming::Duration, |b| vec![("pipeline", b.0), ("stage", b.1), ("status", b.2)]).await?;
    let ci_queue = ci_histogram(store, CiTiming::Queue, |b| vec![("pipeline", b.0), ("stage", b.1)]).await?;

    // Read after the analyses above, which may have just been made.
    let made_whole = Family::<Labels, Counter>::default();
    for (from, n) in analyses.made_whole() {
        made_whole.get_or_create(&vec![("from", from.to_owned())]).inc_by(n);
    }
    registry.register("pacer_analyses_made_whole", "Analyses this process made whole, by what from: history (a build) or snapshot (read from the database, then advanced)", made_whole);
    let (appended, read_whole) = analyses.advanced();
    let (appended_counter, read_whole_counter) = (Counter::<u64>::default(), Counter::<u64>::default());
    appended_counter.inc_by(appended);
    read_whole_counter.inc_by(read_whole);
    registry.register("pacer_analysis_deployments_appended", "Deployments this process's advances added after the last one a service's part kept, from their own commits: new ones, and ones made again after a commit they shipped changed", appended_counter);
    registry.register(
        "pacer_analysis_services_read_whole",
        "Services this process's advances read whole from the database: new to the analysis, or changed in a way appending cannot take",
        read_whole_counter,
    );
    let (spilled, spill_file) = pacer_engine::spill::usage();
    let (spilled_gauge, spill_file_gauge) = (Gauge::<i64>::default(), Gauge::<i64>::default());
    spilled_gauge.set(i64::try_from(spilled).unwrap_or(i64::MAX));
    spill_file_gauge.set(i64::try_from(spill_file).unwrap_or(i64::MAX));
    if let Some(bytes) = ALLOCATOR.get().and_then(|read| read()) {
        let allocator = Family::<Labels, Gauge<i64>>::default();
        let kinds = [("allocated", bytes.allocated), ("active", bytes.active), ("metadata", bytes.metadata), ("resident", bytes.resident), ("retained", bytes.retained)];
        for (kind, n) in kinds {
            allocator.get_or_create(&vec![("kind", kind.to_owned())]).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        registry.register("pacer_allocator_bytes", "What the process's allocator holds, by kind: allocated (the program's data), active (its pages), metadata, resident (pages kept, freed ones not given back yet included), retained (given back, address space only)", allocator);
    }
    registry.register("pacer_analysis_bytes", "Heap bytes the environment's analysis holds (what summaries and series read; its commits are in the spill file)", analysis_bytes);
    registry.register("pacer_analysis_spilled_bytes", "Bytes of the analyses' commits kept in this process's spill file instead of memory", spilled_gauge);
    registry.register("pacer_analysis_spill_file_bytes", "Length of this process's spill file, free room included", spill_file_gauge);
    registry.register("pacer_deployments", "Deployments stored, by service, environment and status", deployments);
    registry.register("pacer_lead_time_seconds", "Lead time for changes: one sample per commit of each successful deployment", lead_time);
    registry.register("pacer_failed_deployments", "Successful deployments that failed (incident or rollback)", failed);
    registry.register("pacer_rework_deployments", "Successful deployments that are rework, by reason (rollback, unplanned, fix_forward, revert)", rework);
    registry.register("pacer_open_incidents", "Incidents not resolved yet", open_incidents);
    registry.register("pacer_recovery_time_seconds", "Failed-deployment recovery time", recovery);
    registry.register("pacer_slo_burn_rate", "SLO burn rate, by SLO and window", burn);
    registry.register("pacer_slo_budget_remaining_ratio", "Share of the SLO error budget left over its window", budget);
    registry.register("pacer_rollbacks", "Rollback decisions, by service, environment and state", rollbacks);
    registry.register("pacer_outbox_depth", "Rollback hook deliveries waiting to be delivered", outbox);
    registry.register("pacer_ci_run_duration_seconds", "CI run durations, by pipeline, stage and status", ci);
    registry.register("pacer_ci_run_queue_seconds", "CI run queue times (queued to started), by pipeline and stage", ci_queue);
    Ok(registry)
}

/// Upper bounds of the CI run histograms' buckets, in milliseconds: 0.1 s × 3ᵏ, to about 5 h.
fn ci_bounds_ms() -> Vec<i64> {
    (0..12).map(|k| 100 * 3_i64.pow(k)).collect()
}

/// A CI run histogram, counted by the database (one row per bucket, however many runs are
/// stored); `labels` turns (pipeline, stage, status) into the metric's labels. Pipelines beyond
/// [`MAX_SERVICES`] (sorted) are `other`.
async fn ci_histogram(store: &Store, timing: CiTiming, labels: impl Fn((String, String, String)) -> Labels) -> Result<Family<Labels, Counted, Bounds>, Problem> {
    let bounds_ms = ci_bounds_ms();
    let rows = store.ci_histogram(timing, &bounds_ms).await?;
    let family = Family::new_with_constructor(Bounds(bounds_ms.iter().map(|ms| *ms as f64 / 1_000.0).collect()));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for row in &rows {
        if kept.len() < MAX_SERVICES {
            kept.insert(&row.pipeline);
        }
        let pipeline = if kept.contains(row.pipeline.as_str()) { row.pipeline.clone() } else { "other".to_owned() };
        let stage = row.stage.clone().unwrap_or_else(|| "unknown".to_owned());
        family.get_or_create(&labels((pipeline, stage, row.status.clone()))).add(row.bucket, row.count, row.sum_ms);
    }
    Ok(family)
}

/// A histogram whose observations were bucketed elsewhere: bucket counts and sums are added in,
/// and it is encoded like any Prometheus histogram.
#[derive(Debug)]
struct Counted {
    /// Upper bounds in seconds; the last bucket, +Inf, is implied.
    bounds: Arc<[f64]>,
    /// (sum in milliseconds, count, per-bucket counts including +Inf).
    inner: Mutex<(i64, u64, Vec<u64>)>,
}

/// The upper bounds, in seconds, of a [`Counted`] histogram's buckets; makes empty ones.
#[derive(Debug, Clone)]
struct Bounds(Arc<[f64]>);

impl MetricConstructor<Counted> for Bounds {
    fn new_metric(&self) -> Counted {
        Counted { bounds: Arc::clone(&self.0), inner: Mutex::new((0, 0, vec![0; self.0.len() + 1])) }
    }
}

impl Counted {
    /// Adds `count` observations summing to `sum_ms` milliseconds into bucket `bucket`.
    fn add(&self, bucket: usize, count: i64, sum_ms: i64) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let count = u64::try_from(count).unwrap_or(0);
        let last = inner.2.len() - 1;
        inner.0 += sum_ms;
        inner.1 += count;
        inner.2[bucket.min(last)] += count;
    }
}

impl TypedMetric for Counted {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Counted {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = self.inner.lock().map_err(|_| std::fmt::Error)?;
        let buckets: Vec<(f64, u64)> = self.bounds.iter().copied().chain([f64::INFINITY]).zip(inner.2.iter().copied()).collect();
        encoder.encode_histogram::<NoLabelSet>(inner.0 as f64 / 1_000.0, inner.1, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Rewrites OpenMetrics text as the Prometheus text format 0.0.4: counters are typed under their
/// `_total` sample name, and `# UNIT` and `# EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// A shared handle to the telemetry.
pub type Shared = Arc<Telemetry>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_typed_under_their_total_name_in_the_text_format() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total{x=\"1\"} 2\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(to_prometheus_text(om), "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 2\n# TYPE g gauge\ng 1\n");
    }
}
