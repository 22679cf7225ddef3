//! `/grafana/*`: the protocol of Grafana's JSON datasource plugin (simpod-json-datasource):
//! `GET /`, `POST /metrics`, `/metric-payload-options`, `/query`, `/variable`, `/tag-keys`,
//! `/tag-values`, and the legacy `/search` and `/annotations`. It stays for users of that plugin;
//! the provisioned dashboards read the JSON API through the Infinity datasource instead.
//!
//! Every DORA metric is a time series (one point per UTC day, week or month bucket, or one point
//! for the whole range with `mode: window`), and summaries, deployments, incidents and rollbacks
//! are tables, as are CI pipelines and budgets and the pull requests waiting for review. Scope
//! comes from the target's payload (`environment`, `service`, `team`, `repository`, `interval`,
//! `benchmarks`, `mode`) and from ad-hoc filters (`filters` or `adhocFilters`, keys
//! `service`, `team`, `environment`). Protocol: <https://github.com/simPod/GrafanaJsonDatasource>.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use pacer_engine::Millis;
use pacer_engine::calendar::Interval;
use pacer_engine::dora::{Analysis, Scope, Summary};
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::DAY;
use pacer_engine::pipeline::GroupBy;
use pacer_store::ListQuery;
use serde_json::{Map, Value, json};

use crate::read::dora::{scope_values, team_services};
use crate::query::{Filters, auto_interval, parse_time};
use crate::auth;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// A time-series metric: name, human label, and how to read it from a summary.
struct SeriesMetric {
    name: &'static str,
    label: &'static str,
    value: fn(&Summary) -> Option<f64>,
}

/// Every time series the datasource serves.
const SERIES: [SeriesMetric; 15] = [
    SeriesMetric { name: "deployments", label: "Deployments", value: |s| Some(s.deployment_frequency.deployments as f64) },
    SeriesMetric { name: "deployment_frequency", label: "Deployments per day", value: |s| Some(s.deployment_frequency.per_day) },
    SeriesMetric { name: "lead_time_median_seconds", label: "Lead time, median (s)", value: |s| s.lead_time.median_seconds },
    SeriesMetric { name: "lead_time_p90_seconds", label: "Lead time, p90 (s)", value: |s| s.lead_time.p90_seconds },
    SeriesMetric { name: "change_failure_rate", label: "Change failure rate (0–1)", value: |s| s.change_failure_rate.rate },
    SeriesMetric { name: "failed_deployments", label: "Failed deployments", value: |s| Some(s.change_failure_rate.failed_deployments as f64) },
    SeriesMetric { name: "time_to_restore_median_seconds", label: "Time to restore, median (s)", value: |s| s.time_to_restore.median_seconds },
    SeriesMetric {
        name: "failed_deployment_recovery_time_median_seconds",
        label: "Failed-deployment recovery time, median (s)",
        value: |s| s.failed_deployment_recovery_time.median_seconds,
    },
    SeriesMetric { name: "rework_rate", label: "Rework rate (0–1)", value: |s| s.rework_rate.rate },
    SeriesMetric { name: "rework_rollbacks", label: "Rework: rollbacks", value: |s| Some(s.rework_rate.by_reason.rollback as f64) },
    SeriesMetric { name: "rework_unplanned", label: "Rework: unplanned", value: |s| Some(s.rework_rate.by_reason.unplanned as f64) },
    SeriesMetric { name: "rework_fix_forwards", label: "Rework: fix-forwards", value: |s| Some(s.rework_rate.by_reason.fix_forward as f64) },
    SeriesMetric { name: "rework_reverts", label: "Rework: reverts", value: |s| Some(s.rework_rate.by_reason.revert as f64) },
    SeriesMetric { name: "incidents_restored", label: "Incidents restored", value: |s| Some(s.time_to_restore.incidents as f64) },
    SeriesMetric { name: "lead_time_samples", label: "Lead-time samples", value: |s| Some(s.lead_time.samples as f64) },
];

/// Every table the datasource serves.
const TABLES: [(&str, &str); 11] = [
    ("dora_summary", "DORA summary per service"),
    ("dora_levels", "DORA levels"),
    ("deployments_table", "Deployments"),
    ("incidents_table", "Incidents"),
    ("rollbacks_table", "Rollbacks"),
    ("annotations_deployments", "Annotations: deployments"),
    ("annotations_incidents", "Annotations: incidents"),
    ("annotations_rollbacks", "Annotations: rollbacks"),
    ("ci_pipelines", "CI pipelines"),
    ("ci_budgets", "CI stage budgets"),
    ("prs_waiting_for_review", "Pull requests waiting for a first review"),
];

/// The datasource routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/grafana", get(health))
        .route("/grafana/", get(health))
        .route("/grafana/metrics", post(metrics))
        .route("/grafana/metric-payload-options", post(payload_options))
        .route("/grafana/query", post(query).route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot)))
        .route("/grafana/variable", post(variable))
        .route("/grafana/tag-keys", post(tag_keys))
        .route("/grafana/tag-values", post(tag_values))
        .route("/grafana/search", post(search))
        .route("/grafana/annotations", post(annotations))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn health() -> &'static str {
    "OK"
}

/// Reads a JSON body leniently (Grafana sends many fields pacer does not use), nested no deeper
/// than the configured JSON depth.
fn body(state: &AppState, bytes: &Bytes) -> Result<Value, Problem> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    pacer_collector::body::check_depth(bytes, state.config.limits.json_depth, false).map_err(|error| Problem::invalid_events(vec![error]))?;
    let mut value = serde_json::from_slice(bytes).map_err(|e| Problem::invalid_events(vec![pacer_collector::FieldError::new("", format!("invalid JSON: {e}"))]))?;
    // Lenient like the webhooks: U+0000 becomes U+FFFD (PostgreSQL text cannot hold it).
    pacer_collector::body::replace_nul(&mut value);
    Ok(value)
}

/// One payload field a query target takes, with the values it offers.
struct PayloadField {
    label: &'static str,
    name: &'static str,
    placeholder: &'static str,
    options: Vec<String>,
}

impl PayloadField {
    /// Its options in the datasource's shape.
    fn options_json(&self) -> Vec<Value> {
        self.options.iter().map(|v| json!({"label": v, "value": v})).collect()
    }

    /// The field in the datasource's shape.
    fn json(&self) -> Value {
        json!({"label": self.label, "name": self.name, "type": "select", "placeholder": self.placeholder, "options": self.options_json()})
    }
}

fn payload_fields(state: &AppState, environments: &[String]) -> Vec<PayloadField> {
    let field = |label, name, placeholder, options: Vec<String>| PayloadField { label, name, placeholder, options };
    let owned = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    vec![
        field("Environment", "environment", "production", environments.to_vec()),
        field("Interval", "interval", "auto", owned(&["day", "week", "month"])),
        field("Mode", "mode", "series", owned(&["series", "window"])),
        field("Benchmarks", "benchmarks", "2024", owned(&["2024", "2023", "2021"])),
        field("Team", "team", "all", state.config.teams.keys().cloned().collect()),
    ]
}

async fn metrics(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let environments = state.store.environments().await?;
    let payloads: Vec<Value> = payload_fields(&state, &environments).iter().map(PayloadField::json).collect();
    let mut all: Vec<Value> = SERIES.iter().map(|m| json!({"label": m.label, "value": m.name, "payloads": payloads})).collect();
    all.extend(TABLES.iter().map(|(name, label)| json!({"label": label, "value": name, "payloads": payloads})));
    Ok(Json(Value::Array(all)))
}

async fn payload_options(State(state): State<AppState>, bytes: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let request = body(&state, &bytes?)?;
    let environments = state.store.environments().await?;
    let name = request["name"].as_str().unwrap_or("");
    let options = payload_fields(&state, &environments).iter().find(|f| f.name == name).map(PayloadField::options_json).unwrap_or_default();
    Ok(Json(Value::Array(options)))
}

async fn search(State(_state): State<AppState>) -> Json<Value> {
    let names: Vec<&str> = SERIES.iter().map(|m| m.name).chain(TABLES.iter().map(|(n, _)| *n)).collect();
    Json(json!(names))
}

/// What one target covers.
struct Target {
    /// Only this repository's CI runs and pull requests (the `repository` payload), when set.
    repository: Option<String>,
    environment: String,
    scope: Scope,
    interval: Option<Interval>,
    window: bool,
    benchmarks: Benchmarks,
}

/// The requested range, in epoch milliseconds.
fn range(request: &Value) -> Result<(Millis, Millis), Problem> {
    let now = now();
    let read = |name: &str, default: Millis| -> Result<Millis, Problem> {
        match &request["range"][name] {
            Value::String(text) => parse_time(text, now)
                .ok_or_else(|| Problem::invalid_query(name, format!("expected an RFC 3339 range.{name} but found {text:?}"))),
            Value::Number(n) => n.as_i64().ok_or_else(|| Problem::invalid_query(name, "expected epoch milliseconds")),
            _ => Ok(default),
        }
    };
    let to = read("to", now)?;
    let from = read("from", to - 30 * DAY)?;
    if from >= to {
        return Err(Problem::invalid_query("from", "expected range.from before range.to"));
    }
    Ok((from, to))
}

/// Ad-hoc filters, under either name the plugin versions use.
fn filters(request: &Value) -> Vec<(String, String)> {
    ["filters", "adhocFilters"]
        .iter()
        .filter_map(|k| request[*k].as_array())
        .flatten()
        .filter(|f| f["operator"].as_str().is_none_or(|o| o == "="))
        .filter_map(|f| Some((f["key"].as_str()?.to_owned(), f["value"].as_str()?.to_owned())))
        .collect()
}

fn text(payload: &Value, name: &str) -> Option<String> {
    match &payload[name] {
        Value::String(s) if !s.is_empty() && s != "all" && s != "$__all" => Some(s.clone()),
        _ => None,
    }
}

async fn target(state: &AppState, payload: &Value, request: &Value) -> Result<(Target, Arc<Analysis>), Problem> {
    let adhoc = filters(request);
    let pick = |key: &str| adhoc.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).or_else(|| text(payload, key));
    let environment = state.config.normalizer.environment(&pick("environment").unwrap_or_else(|| "production".to_owned()));
    let analysis = state.analyses.get(&state.store, &environment, state.config.attribution_window, state.config.analysis_wait).await?;
    let mut services: Option<BTreeSet<String>> = None;
    let named: BTreeSet<String> = adhoc
        .iter()
        .filter(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .chain(match &payload["service"] {
            Value::String(s) if !s.is_empty() && s != "all" && s != "$__all" => vec![s.clone()],
            Value::Array(list) => list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        })
        .collect();
    if !named.is_empty() {
        services = Some(named);
    }
    if let Some(team) = pick("team") {
        let owned = team_services(state, &analysis, &team);
        services = Some(match services {
            Some(named) => named.intersection(&owned).cloned().collect(),
            None => owned,
        });
    }
    let interval = text(payload, "interval").and_then(|i| Interval::parse(&i));
    let benchmarks = text(payload, "benchmarks").and_then(|b| Benchmarks::parse(&b)).unwrap_or(state.config.benchmarks);
    let window = text(payload, "mode").as_deref() == Some("window");
    let repository = pick("repository");
    Ok((Target { repository, environment, scope: Scope { services }, interval, window, benchmarks }, analysis))
}

async fn query(State(state): State<AppState>, bytes: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let request = body(&state, &bytes?)?;
    let (from, to) = range(&request)?;
    let mut results = Vec::new();
    for t in request["targets"].as_array().into_iter().flatten() {
        if t["hide"].as_bool() == Some(true) {
            continue;
        }
        let Some(name) = t["target"].as_str().filter(|n| !n.is_empty()) else { continue };
        let payload = match &t["payload"] {
            Value::String(text) => serde_json::from_str(text).map_or(Value::Null, |mut payload| {
                pacer_collector::body::replace_nul(&mut payload);
                payload
            }),
            other => other.clone(),
        };
        let (target, analysis) = self::target(&state, &payload, &request).await?;
        if let Some(metric) = SERIES.iter().find(|m| m.name == name) {
            results.push(series(&analysis, metric, &target, from, to));
        } else if TABLES.iter().any(|(n, _)| *n == name) {
            results.push(table(&state, &analysis, name, &target, from, to).await?.json());
        } else {
            return Err(Problem::invalid_query("target", format!("unknown target {name:?}; POST /grafana/metrics lists them")));
        }
    }
    Ok(Json(Value::Array(results)))
}

fn series(analysis: &Analysis, metric: &SeriesMetric, t: &Target, from: Millis, to: Millis) -> Value {
    let points: Vec<Value> = if t.window {
        let summary = analysis.summary(from, to, t.benchmarks, &t.scope);
        vec![json!([(metric.value)(&summary), to])]
    } else {
        let interval = t.interval.unwrap_or_else(|| auto_interval(from, to));
        let buckets = interval.buckets(from, to);
        let summaries = analysis.buckets(&buckets, t.benchmarks, &t.scope);
        buckets.iter().zip(&summaries).map(|(&(start, _), summary)| json!([(metric.value)(summary), start])).collect()
    };
    json!({"target": metric.name, "datapoints": points})
}

/// A table as the datasource answers it: typed columns (name, Grafana type), and rows of cells.
struct Table {
    columns: Vec<(&'static str, &'static str)>,
    rows: Vec<Value>,
}

impl Table {
    /// The table in the datasource's shape.
    fn json(self) -> Value {
        let columns: Vec<Value> = self.columns.iter().map(|(text, kind)| json!({"text": text, "type": kind})).collect();
        json!({"type": "table", "columns": columns, "rows": self.rows})
    }
}

fn table_of(spec: &[(&'static str, &'static str)], rows: Vec<Value>) -> Table {
    Table { columns: spec.to_vec(), rows }
}

async fn table(state: &AppState, analysis: &Analysis, name: &str, t: &Target, from: Millis, to: Millis) -> Result<Table, Problem> {
    let listing = |limit| ListQuery {
        environment: t.environment.clone(),
        services: t.scope.services.clone().map(|s| s.into_iter().collect()),
        from: Some(from),
        to: Some(to),
        status: None,
        limit,
        cursor: None,
    };
    let filters = || Filters { from, to, environment: t.environment.clone(), scope: t.scope.clone(), benchmarks: t.benchmarks };
    let repository = t.repository.as_deref();
    Ok(match name {
        "ci_pipelines" => {
            let runs = crate::read::ci::runs(state, &filters(), repository).await?;
            let (_, groups) = pacer_engine::pipeline::pipelines(&runs, GroupBy::Pipeline);
            let rows = groups
                .into_iter()
                .map(|g| {
                    let s = g.stats;
                    json!([g.repository, g.pipeline, s.runs, s.success_rate, s.duration.p50_seconds, s.duration.p95_seconds,
                           s.queue.p50_seconds, s.queue.p95_seconds, s.retries, s.flaky_runs, s.time_to_green.p50_seconds])
                })
                .collect();
            table_of(
                &[("Repository", "string"), ("Pipeline", "string"), ("Runs", "number"), ("Success rate", "number"), ("Duration p50 (s)", "number"),
                  ("Duration p95 (s)", "number"), ("Queue p50 (s)", "number"), ("Queue p95 (s)", "number"), ("Retries", "number"),
                  ("Flaky runs", "number"), ("Time to green p50 (s)", "number")],
                rows,
            )
        }
        "ci_budgets" => {
            let samples = crate::read::ci::budget_samples(state, analysis, &filters(), repository).await?;
            let (compliance, _) = pacer_engine::pipeline::budgets(&state.config.ci_budgets, &samples);
            let rows = compliance
                .into_iter()
                .map(|b| json!([b.stage, b.budget_seconds, b.samples, b.breaches, b.compliance_percent, b.distribution.p50_seconds, b.distribution.p95_seconds]))
                .collect();
            table_of(
                &[("Stage", "string"), ("Budget (s)", "number"), ("Samples", "number"), ("Breaches", "number"), ("Compliance (%)", "number"),
                  ("p50 (s)", "number"), ("p95 (s)", "number")],
                rows,
            )
        }
        "prs_waiting_for_review" => {
            let flow = crate::read::prs::flow_of(state, &filters(), repository).await?;
            let rows = flow
                .waiting_for_first_review
                .into_iter()
                .map(|w| json!([w.opened_millis, w.repository, w.number, w.service, w.author, w.waiting_seconds]))
                .collect();
            table_of(
                &[("Opened", "time"), ("Repository", "string"), ("Number", "number"), ("Service", "string"), ("Author", "string"), ("Waiting (s)", "number")],
                rows,
            )
        }
        "dora_summary" => {
            let services: Vec<String> = match &t.scope.services {
                Some(named) => named.iter().cloned().collect(),
                None => analysis.services().into_iter().map(str::to_owned).collect(),
            };
            let rows = services
                .into_iter()
                .map(|service| {
                    let s = analysis.summary(from, to, t.benchmarks, &Scope::services([service.clone()]));
                    json!([service, s.deployment_frequency.deployments, s.deployment_frequency.per_week, s.lead_time.median_seconds,
                           s.change_failure_rate.rate, s.time_to_restore.median_seconds, s.failed_deployment_recovery_time.median_seconds,
                           s.rework_rate.rate, s.level])
                })
                .collect();
            table_of(
                &[("Service", "string"), ("Deployments", "number"), ("Per week", "number"), ("Lead time median (s)", "number"),
                  ("Change failure rate", "number"), ("Time to restore median (s)", "number"), ("Recovery time median (s)", "number"),
                  ("Rework rate", "number"), ("Level", "string")],
                rows,
            )
        }
        "dora_levels" => {
            let s = analysis.summary(from, to, t.benchmarks, &t.scope);
            let rows = vec![
                json!(["Deployment frequency", s.deployment_frequency.per_day, "per day", s.deployment_frequency.level]),
                json!(["Lead time for changes", s.lead_time.median_seconds, "seconds", s.lead_time.level]),
                json!(["Change failure rate", s.change_failure_rate.rate, "ratio", s.change_failure_rate.level]),
                json!(["Time to restore", s.time_to_restore.median_seconds, "seconds", s.time_to_restore.level]),
                json!(["Failed-deployment recovery time", s.failed_deployment_recovery_time.median_seconds, "seconds", s.failed_deployment_recovery_time.level]),
                json!(["Rework rate", s.rework_rate.rate, "ratio", Value::Null]),
                json!(["Overall", Value::Null, "", s.level]),
            ];
            table_of(&[("Metric", "string"), ("Value", "number"), ("Unit", "string"), ("Level", "string")], rows)
        }
        "deployments_table" | "annotations_deployments" => {
            let page = state.store.deployments(&listing(500)).await?;
            let annotations = name.starts_with("annotations");
            let rows = page
                .items
                .iter()
                .filter(|d| !annotations || d.status == pacer_engine::model::DeploymentStatus::Success)
                .map(|d| {
                    let analyzed = analysis.analyzed(d);
                    let failed = analyzed.is_some_and(|a| a.failed());
                    let version = d.version.clone().unwrap_or_else(|| d.id.clone());
                    if annotations {
                        let title = format!("{} {version}", d.service);
                        let text = match (&d.commit_sha, &d.url) {
                            (Some(sha), Some(url)) => format!("commit {sha} — <a href=\"{url}\">deployment</a>"),
                            (Some(sha), None) => format!("commit {sha}"),
                            _ => String::new(),
                        };
                        json!([d.finished_at.or(d.started_at), title, text, format!("deployment,{}", d.service)])
                    } else {
                        json!([d.finished_at.or(d.started_at), d.service, version, d.status, d.commit_sha,
                               analyzed.map(|a| a.changeset().len()), failed, d.rollback_of, d.url])
                    }
                })
                .collect();
            if annotations {
                table_of(&[("time", "time"), ("title", "string"), ("text", "string"), ("tags", "string")], rows)
            } else {
                table_of(
                    &[("Time", "time"), ("Service", "string"), ("Version", "string"), ("Status", "string"), ("Commit", "string"),
                      ("Commits shipped", "number"), ("Failed", "string"), ("Rollback of", "string"), ("URL", "string")],
                    rows,
                )
            }
        }
        "incidents_table" | "annotations_incidents" => {
            let page = state.store.incidents(&listing(500)).await?;
            let annotations = name.starts_with("annotations");
            let rows = page
                .items
                .iter()
                .map(|i| {
                    let blamed: Vec<String> = analysis.blamed_on(i).collect();
                    let title = i.title.clone().unwrap_or_else(|| i.id.clone());
                    if annotations {
                        json!([i.opened_at, i.resolved_at, format!("incident: {title}"), format!("blamed on {}", blamed.join(", ")), format!("incident,{}", i.service)])
                    } else {
                        json!([i.opened_at, i.resolved_at, i.service, title, i.severity,
                               i.resolved_at.map(|r| (r - i.opened_at) as f64 / 1_000.0), blamed.join(", ")])
                    }
                })
                .collect();
            if annotations {
                table_of(&[("time", "time"), ("timeEnd", "time"), ("title", "string"), ("text", "string"), ("tags", "string")], rows)
            } else {
                table_of(
                    &[("Opened", "time"), ("Resolved", "time"), ("Service", "string"), ("Title", "string"), ("Severity", "string"),
                      ("Restore (s)", "number"), ("Blamed deployments", "string")],
                    rows,
                )
            }
        }
        _ => {
            // pacer's own decisions, and the rollbacks deployers reported (deployments with
            // `rollback_of`) that no decision of pacer's explains.
            let annotations = name.starts_with("annotations");
            let decisions = state.store.rollbacks_in(&listing(500)).await?.items;
            let mut rows: Vec<Value> = decisions
                .iter()
                .map(|r| {
                    if annotations {
                        json!([r.created_at, format!("rollback of {} ({})", r.deployment_id, r.state), r.reason, format!("rollback,{}", r.service)])
                    } else {
                        json!([r.created_at, r.service, r.deployment_id, r.target_deployment_id, format!("pacer ({})", r.mode), r.state, r.reason])
                    }
                })
                .collect();
            let reported = state.store.deployments(&listing(500)).await?;
            for d in reported.items.iter().filter(|d| d.status == pacer_engine::model::DeploymentStatus::Success) {
                let Some(bad) = &d.rollback_of else { continue };
                if decisions.iter().any(|r| &r.deployment_id == bad) {
                    continue;
                }
                let reason = format!("{} rolled back {bad} with {}", d.service, d.version.as_deref().unwrap_or(&d.id));
                rows.push(if annotations {
                    json!([d.finished_at, format!("rollback of {bad}"), reason, format!("rollback,{}", d.service)])
                } else {
                    json!([d.finished_at, d.service, bad, d.id, "deployer", "done", reason])
                });
            }
            if annotations {
                table_of(&[("time", "time"), ("title", "string"), ("text", "string"), ("tags", "string")], rows)
            } else {
                table_of(
                    &[("Time", "time"), ("Service", "string"), ("Rolled back", "string"), ("Target", "string"), ("By", "string"),
                      ("State", "string"), ("Reason", "string")],
                    rows,
                )
            }
        }
    })
}

async fn variable(State(state): State<AppState>, bytes: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let request = body(&state, &bytes?)?;
    let target = match &request["payload"] {
        Value::Object(p) => p.get("target").and_then(Value::as_str).unwrap_or("").to_owned(),
        Value::String(s) => serde_json::from_str::<Value>(s).ok().and_then(|p| p["target"].as_str().map(str::to_owned)).unwrap_or_else(|| s.clone()),
        _ => String::new(),
    };
    let values = scope_values(&state, &target).await?;
    Ok(Json(Value::Array(values.into_iter().map(|v| json!({"__text": v, "__value": v})).collect())))
}

async fn tag_keys() -> Json<Value> {
    Json(json!([{"type": "string", "text": "service"}, {"type": "string", "text": "team"}, {"type": "string", "text": "environment"}]))
}

async fn tag_values(State(state): State<AppState>, bytes: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let request = body(&state, &bytes?)?;
    let key = request["key"].as_str().unwrap_or("service");
    let values = scope_values(&state, key).await?;
    Ok(Json(Value::Array(values.into_iter().map(|v| json!({"text": v})).collect())))
}

/// Legacy annotations: `annotation.query` (or `name`) is `deployments`, `incidents` or `rollbacks`.
async fn annotations(State(state): State<AppState>, bytes: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let request = body(&state, &bytes?)?;
    let (from, to) = range(&request)?;
    let annotation = request["annotation"].clone();
    let kind = annotation["query"].as_str().or(annotation["name"].as_str()).unwrap_or("deployments").to_lowercase();
    let table_name = if kind.contains("incident") {
        "annotations_incidents"
    } else if kind.contains("rollback") {
        "annotations_rollbacks"
    } else {
        "annotations_deployments"
    };
    let (t, analysis) = target(&state, &Value::Null, &request).await?;
    let table = table(&state, &analysis, table_name, &t, from, to).await?;
    let names: Vec<&str> = table.columns.iter().map(|(text, _)| *text).collect();
    let items = table
        .rows
        .iter()
        .map(|row| {
            let mut item = Map::new();
            item.insert("annotation".into(), annotation.clone());
            for (name, value) in names.iter().zip(row.as_array().into_iter().flatten()) {
                let value = if *name == "tags" {
                    json!(value.as_str().unwrap_or("").split(',').collect::<Vec<_>>())
                } else {
                    value.clone()
                };
                item.insert((*name).to_owned(), value);
            }
            if item.get("timeEnd").is_some_and(Value::is_null) {
                item.remove("timeEnd");
            }
            Value::Object(item)
        })
        .collect();
    Ok(Json(Value::Array(items)))
}

