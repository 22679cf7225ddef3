//! The weekly report: one team's ISO week — the DORA keys with their levels, the change from the
//! week before and a four-week trend, charts, failed deployments, incidents and rollbacks, SLO
//! budgets, the delivery stages against their time budgets with the week's CI runs, and the
//! slowest changes — as HTML that survives mail clients, and as plain text.
//! `GET /api/v1/reports/preview?week=2026-W47&team=…` shows it in a browser.
//!
//! The numbers come from the same calls that answer `GET /api/v1/dora?from=…&to=…&team=…` for the
//! week's bounds ([`crate::dora::analyze`], then [`pacer_engine::dora::Analysis::summary`]), so the email can never
//! disagree with the API; charts come from [`crate::charts`] and SLO budgets from
//! [`crate::slo::status`], stage budgets and CI runs from the loaders of `GET /api/v1/ci/budgets`
//! and `/api/v1/ci/pipelines` ([`crate::ci`]). This module writes a [`Letter`] and sends nothing: the `pacer-mail`
//! crate wraps it in MIME (charts as `multipart/related` parts referenced by `cid:`), schedules and
//! delivers it. The HTML uses tables and inline styles only — no stylesheet, no script — because
//! that is what Outlook, Gmail and Apple Mail all render alike.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use base64::Engine as _;
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::attribution::FailureCause;
use pacer_engine::dora::{AnalyzedDeployment, Summary};
use pacer_engine::levels::Level;
use pacer_engine::pipeline::{self, BudgetCompliance, GroupBy, PipelineStats};
use pacer_store::{IncidentRow, ListQuery, PullRequestSummary, RollbackRow};
use serde_json::Value;

use crate::charts::{self, KINDS, Kind};
use crate::config::Slo;
use crate::keys::{Change, Key, duration, failure_words, level_name, percent};
use crate::page::escape;
use crate::plot::{self, Format};
use crate::query::{Filters, Params};
use crate::week::{Week, Zone};
use crate::{AppState, Problem, auth, now};

/// The report's settings that shape its content (delivery settings live with the mailer).
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Weeks run from Monday 00:00 to Monday 00:00 here; times in the report are shown here.
    pub zone: Zone,
    /// The subject, with `{team}` and `{week}` replaced.
    pub subject: String,
    /// pacer's public address, for links back to the web page and the JSON (none when unset).
    pub base_url: Option<String>,
    /// Grafana's public address, for a link to the DORA overview dashboard.
    pub grafana_url: Option<String>,
}

/// The subject when none is configured.
pub const DEFAULT_SUBJECT: &str = "pacer weekly: {team} {week}";

impl Default for ReportSettings {
    fn default() -> Self {
        Self { zone: Zone::utc(), subject: DEFAULT_SUBJECT.to_owned(), base_url: None, grafana_url: None }
    }
}

/// Weeks in the trend table, this one included.
const TREND_WEEKS: u32 = 4;
/// Weeks the charts cover, this one included.
const CHART_WEEKS: u32 = 12;
/// Chart size in the email, in pixels: narrow enough for a phone held sideways.
const CHART_SIZE: (u32, u32) = (600, 300);
/// Slowest changes listed.
const SLOWEST: usize = 5;
/// Most rows of the incident table.
const INCIDENTS: i64 = 30;
/// Colours of the level badges: elite, high, medium, low, none (the web page's).
const BADGE: [&str; 5] = ["#1b5e20", "#01579b", "#7a4f00", "#b71c1c", "#555555"];

/// A picture the HTML shows, to be attached as a `multipart/related` part.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its Content-ID without angle brackets; the HTML refers to it as `cid:{cid}`.
    pub cid: String,
    /// A file name for clients that show it as an attachment.
    pub filename: String,
    /// The PNG bytes.
    pub png: Vec<u8>,
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The subject line.
    pub subject: String,
    /// The HTML body.
    pub html: String,
    /// The plain-text alternative.
    pub text: String,
    /// The charts the HTML references, each exactly once.
    pub images: Vec<Image>,
}

/// How the HTML points at its charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embed {
    /// `cid:` references to parts of the same message (email).
    ContentId,
    /// `data:` URIs, so that one HTML file shows everything (preview, `--out report.html`).
    DataUri,
}

/// Report routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/reports/preview", get(preview).route_layer(middleware::from_fn_with_state(state.clone(), crate::limits::heavy)))
        .route("/api/v1/reports/sends", get(sends))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// No scripts; images only from the page itself.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

async fn preview(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["week", "team"])?;
    let week = week_param(&state, &params)?;
    let letter = write(&state, week, params.one("team")?, Embed::DataUri).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        letter.html,
    )
        .into_response())
}

/// Reads `week` (the last week that ended when absent).
fn week_param(state: &AppState, params: &Params) -> Result<Week, Problem> {
    match params.one("week")? {
        Some(text) => Week::parse(text).map_err(|detail| Problem::invalid_query("week", detail)),
        None => Ok(Week::ended_by(now(), &state.config.report.zone)),
    }
}

/// `GET /api/v1/reports/sends?week=2026-W47`: the sent-log of a week — who got which report,
/// or how often sending it has failed so far.
async fn sends(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<axum::Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["week"])?;
    let week = week_param(&state, &params)?;
    let time = |at: Option<Millis>| at.map_or(Value::Null, |t| Value::String(rfc3339(t)));
    let items: Vec<Value> = state
        .store
        .sends(&week.to_string())
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "team": r.team, "recipient": r.recipient, "state": r.state, "attempts": r.attempts,
                "next_attempt_at": time((r.state == "pending").then_some(r.next_attempt_at)), "sent_at": time(r.sent_at),
                "last_error": r.last_error, "message_id": r.message_id,
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({"week": week.to_string(), "items": items})))
}

/// Everything one report shows, gathered before anything is written.
struct Gathered {
    week: Week,
    team: Option<String>,
    filters: Filters,
    summary: Summary,
    /// The trend weeks, oldest first, ending with this one.
    trend: Vec<(Week, Summary)>,
    failed: Vec<Failed>,
    incidents: Vec<(IncidentRow, Vec<String>)>,
    rollbacks: Vec<RollbackRow>,
    slos: Vec<(Slo, Result<Value, Problem>)>,
    slowest: Vec<Slow>,
    charts: Vec<(Kind, plot::Chart)>,
    /// Each budgeted stage over the week.
    budgets: Vec<BudgetCompliance>,
    /// The week's CI runs together.
    ci: PipelineStats,
}

/// A failed deployment of the week.
struct Failed {
    finished_at: Millis,
    service: String,
    /// Its version, else its id.
    label: String,
    causes: Vec<FailureCause>,
    recovered_at: Option<Millis>,
}

impl Failed {
    fn of(d: &AnalyzedDeployment) -> Self {
        Self {
            finished_at: d.finished_at(),
            service: d.service().to_owned(),
            label: d.label().to_owned(),
            causes: d.failure_causes().to_vec(),
            recovered_at: d.recovered_at(),
        }
    }
}

/// One (deployment, commit) lead-time sample, with what is known of the change.
struct Slow {
    service: String,
    deployment_id: String,
    deployed_at: Millis,
    sha: String,
    seconds: f64,
    message: Option<String>,
    pull_request: Option<PullRequestSummary>,
}

/// Writes the report of `week` for `team` (every team when `None`).
///
/// # Errors
/// An unknown team (400), or the database, Prometheus (for an SLO) or chart drawing failed.
pub async fn write(state: &AppState, week: Week, team: Option<&str>, embed: Embed) -> Result<Letter, Problem> {
    let gathered = gather(state, week, team).await?;
    let charts: Vec<(Kind, plot::Chart)> = gathered.charts.clone();
    let images = tokio::task::spawn_blocking(move || {
        charts
            .iter()
            .map(|(kind, chart)| {
                let png = plot::render(chart, Format::Png, CHART_SIZE.0, CHART_SIZE.1)?;
                Ok(Image { cid: format!("{}@report.pacer", kind.name()), filename: format!("{}.png", kind.name()), png })
            })
            .collect::<Result<Vec<Image>, plot::PlotError>>()
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|drawn| drawn.map_err(|e| e.to_string()))
    .map_err(|error| {
        tracing::error!(error, "report charts failed");
        Problem::internal()
    })?;
    let settings = &state.config.report;
    let view = View { g: &gathered, settings, benchmarks: gathered.filters.benchmarks };
    let html = html(&view, &images, embed);
    let text = text(&view);
    Ok(Letter { subject: subject(&settings.subject, team, week), html, text, images })
}

/// The subject for `team`'s report of `week`.
pub fn subject(template: &str, team: Option<&str>, week: Week) -> String {
    template.replace("{team}", team.unwrap_or("all teams")).replace("{week}", &week.to_string())
}

async fn gather(state: &AppState, week: Week, team: Option<&str>) -> Result<Gathered, Problem> {
    let zone = &state.config.report.zone;
    let (from, to) = week.bounds(zone);
    // The very parameters of `GET /api/v1/dora?from=…&to=…&team=…`, read by the same code.
    let mut pairs = vec![("from", rfc3339(from)), ("to", rfc3339(to))];
    if let Some(team) = team {
        pairs.push(("team", team.to_owned()));
    }
    let params = Params::parse(Some(&serde_urlencoded::to_string(&pairs).unwrap_or_default()))?;
    let (analysis, filters) = crate::dora::analyze(state, &params).await?;
    let summary = analysis.summary(filters.from, filters.to, filters.benchmarks, &filters.scope);
    let trend = (0..TREND_WEEKS)
        .rev()
        .map(|back| {
            let w = week.back(back);
            let (start, end) = w.bounds(zone);
            (w, analysis.summary(start, end, filters.benchmarks, &filters.scope))
        })
        .collect();

    let in_week = analysis.finished_between(from, to, &filters.scope);
    let failed: Vec<Failed> = in_week.iter().filter(|d| d.failed()).map(Failed::of).collect();

    let list = ListQuery {
        environment: filters.environment.clone(),
        services: filters.scope.services.as_ref().map(|s| s.iter().cloned().collect()),
        from: Some(from),
        to: Some(to),
        status: None,
        limit: INCIDENTS,
        cursor: None,
    };
    let incidents = state
        .store
        .incidents(&list)
        .await?
        .items
        .into_iter()
        .map(|i| {
            let blamed = analysis.blamed_on(&i.id).map(str::to_owned).collect();
            (i, blamed)
        })
        .collect();
    let rollbacks = state
        .store
        .rollbacks(1_000)
        .await?
        .into_iter()
        .filter(|r| r.environment == filters.environment && filters.scope.includes(&r.service) && from <= r.created_at && r.created_at < to)
        .collect();

    let mut slos = Vec::new();
    let as_of = to.min(now());
    for slo in state.config.slos.iter().filter(|s| s.environment == filters.environment && filters.scope.includes(&s.service)) {
        // A Prometheus that does not answer costs the SLO its row, not the report.
        slos.push((slo.clone(), crate::slo::status(state, slo, as_of).await.map(|s| s.json)));
    }

    let slowest = slowest(state, &in_week).await?;
    let samples = crate::ci::budget_samples(state, &analysis, &filters, None).await?;
    let (budgets, _) = pipeline::budgets(&state.config.ci_budgets, &samples);
    let (ci, _) = pipeline::pipelines(&crate::ci::runs(state, &filters, None).await?, GroupBy::Stage);

    let buckets: Vec<(Millis, Millis)> = (0..CHART_WEEKS).rev().map(|back| week.back(back).bounds(zone)).collect();
    let chart_filters = Filters { from: buckets[0].0, to, ..filters.clone() };
    let charts = KINDS
        .into_iter()
        .filter(|k| k.is_dora())
        .map(|kind| {
            let mut chart = charts::dora_over(kind, &analysis, &chart_filters, buckets.clone(), "week", team);
            // The page's subtitle names every service; at email width, the team and the weeks.
            chart.subtitle = format!(
                "{} · {CHART_WEEKS} weeks to {week} ({}) · DORA {} bands",
                team.map_or_else(|| "all teams".to_owned(), |t| format!("team {t}")),
                zone.name(),
                charts::year(filters.benchmarks)
            );
            (kind, chart)
        })
        .collect();

    Ok(Gathered { week, team: team.map(str::to_owned), filters, summary, trend, failed, incidents, rollbacks, slos, slowest, charts, budgets, ci })
}

/// The slowest lead-time samples of the week's deployments, with their commits and PRs.
async fn slowest(state: &AppState, deployments: &[AnalyzedDeployment<'_>]) -> Result<Vec<Slow>, Problem> {
    let mut samples: Vec<(&AnalyzedDeployment, Cow<str>, f64)> = deployments
        .iter()
        .flat_map(|d| d.lead_time_samples().map(move |(sha, seconds)| (d, sha, seconds)))
        .collect();
    samples.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    samples.truncate(SLOWEST);
    let shas: Vec<String> = samples.iter().map(|(_, sha, _)| sha.to_string()).collect();
    let messages: HashMap<String, Option<String>> = state.store.commits(&shas).await?.into_iter().map(|c| (c.sha, c.message)).collect();
    let mut pulls: HashMap<String, PullRequestSummary> = HashMap::new();
    for pr in state.store.pull_requests_merged_as(&shas).await? {
        if let Some(sha) = pr.merge_commit_sha.clone() {
            pulls.entry(sha).or_insert(pr);
        }
    }
    Ok(samples
        .into_iter()
        .map(|(d, sha, seconds)| Slow {
            service: d.service().to_owned(),
            deployment_id: d.id().to_owned(),
            deployed_at: d.finished_at(),
            seconds,
            message: messages.get(sha.as_ref()).cloned().flatten(),
            pull_request: pulls.remove(sha.as_ref()),
            sha: sha.into_owned(),
        })
        .collect())
}

/// The PR stages of a change deployed at `deployed_at`: coding (first commit → opened), pickup
/// (opened → first review), review (first review → merged), deploy (merged → deployed), in
/// milliseconds; `None` where an end is unknown or the stage would be negative.
fn stages(pr: &PullRequestSummary, deployed_at: Millis) -> [Option<Millis>; 4] {
    let span = |start: Option<Millis>, end: Option<Millis>| Some(end? - start?).filter(|d| *d >= 0);
    [
        span(pr.first_commit_at, Some(pr.opened_at)),
        span(Some(pr.opened_at), pr.first_review_at),
        span(pr.first_review_at, pr.merged_at),
        span(pr.merged_at, Some(deployed_at)),
    ]
}

/// What every section needs.
struct View<'a> {
    g: &'a Gathered,
    settings: &'a ReportSettings,
    benchmarks: pacer_engine::levels::Benchmarks,
}

impl View<'_> {
    fn team_label(&self) -> String {
        match &self.g.team {
            Some(team) => format!("team {team}"),
            None => "all teams".to_owned(),
        }
    }

    fn services(&self) -> String {
        if self.g.summary.services.is_empty() { "no services".to_owned() } else { self.g.summary.services.join(", ") }
    }

    fn days(&self) -> String {
        format!("{} ({})", self.g.week.days(), self.settings.zone.name())
    }

    fn keys(&self) -> [Key; 5] {
        let previous = self.g.trend.iter().rev().nth(1).map_or(&self.g.summary, |(_, s)| s);
        crate::keys::keys(&self.g.summary, previous, self.benchmarks)
    }

    /// The headline numbers of each key over the trend weeks, oldest first.
    fn trend(&self) -> Vec<(Week, [Key; 5])> {
        let mut weeks = Vec::new();
        for (i, (week, summary)) in self.g.trend.iter().enumerate() {
            let before = i.checked_sub(1).and_then(|j| self.g.trend.get(j)).map_or(summary, |(_, s)| s);
            weeks.push((*week, crate::keys::keys(summary, before, self.benchmarks)));
        }
        weeks
    }

    fn when(&self, at: Millis) -> String {
        self.settings.zone.format(at, "%a %d %b %H:%M")
    }

    /// Links back to pacer and Grafana for this week and team, as (text, URL).
    fn links(&self) -> Vec<(&'static str, String)> {
        let (from, to) = (self.g.filters.from, self.g.filters.to);
        let mut pairs = vec![("from", rfc3339(from)), ("to", rfc3339(to))];
        if let Some(team) = &self.g.team {
            pairs.push(("team", team.clone()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let mut links = Vec::new();
        if let Some(base) = &self.settings.base_url {
            let base = base.trim_end_matches('/');
            links.push(("This week in pacer", format!("{base}/?{query}")));
            links.push(("The numbers as JSON", format!("{base}/api/v1/dora?{query}")));
        }
        if let Some(grafana) = &self.settings.grafana_url {
            let mut pairs = vec![("from", from.to_string()), ("to", to.to_string())];
            if let Some(team) = &self.g.team {
                pairs.push(("var-team", team.clone()));
            }
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            links.push(("DORA overview in Grafana", format!("{}/d/pacer-dora-overview?{query}", grafana.trim_end_matches('/'))));
        }
        links
    }
}

/// Every number and level of a summary as `(field path, value)`, in the order of
/// `GET /api/v1/dora`: `deployment_frequency.per_day`, …, `level`.
fn numbers(summary: &Summary) -> Vec<(String, Value)> {
    let Ok(Value::Object(all)) = serde_json::to_value(summary) else { return Vec::new() };
    let mut out = Vec::new();
    for (metric, value) in all {
        match value {
            Value::Object(fields) => out.extend(fields.into_iter().map(|(field, v)| (format!("{metric}.{field}"), v))),
            Value::String(_) | Value::Null if metric == "level" => out.push((metric, value)),
            _ => {}
        }
    }
    out
}

/// A number of the summary for people: durations for `_seconds`, percentages for rates.
fn number_words(path: &str, value: &Value) -> String {
    match value {
        Value::Null => "no data".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            let v = n.as_f64().unwrap_or_default();
            if path.ends_with("_seconds") {
                duration(v)
            } else if path.ends_with(".rate") {
                percent(v)
            } else if n.is_u64() || n.is_i64() {
                n.to_string()
            } else {
                format!("{v:.2}")
            }
        }
        other => other.to_string(),
    }
}

/// The raw value for a `data-value` attribute: the JSON number or level as `/api/v1/dora` gives
/// it, empty for null.
fn raw(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field_words(path: &str) -> String {
    let (metric, field) = path.split_once('.').unwrap_or((path, ""));
    let metric = metric.replace('_', " ");
    let field = field.replace("_seconds", "").replace('_', " ");
    if field.is_empty() { metric } else { format!("{metric}: {field}") }
}

const FONT: &str = "font-family:Arial,Helvetica,sans-serif;";
const CELL: &str = "padding:6px 8px;border-bottom:1px solid #dddddd;text-align:left;vertical-align:top;font-size:13px;";
const HEAD: &str = "padding:6px 8px;border-bottom:2px solid #bbbbbb;text-align:left;background:#f2f2f2;font-size:12px;";

fn badge(level: Option<Level>) -> String {
    let color = match level {
        Some(Level::Elite) => BADGE[0],
        Some(Level::High) => BADGE[1],
        Some(Level::Medium) => BADGE[2],
        Some(Level::Low) => BADGE[3],
        None => BADGE[4],
    };
    format!(
        r#"<span style="display:inline-block;padding:1px 8px;border-radius:10px;background:{color};color:#ffffff;font-size:12px;font-weight:bold;">{}</span>"#,
        level_name(level)
    )
}

fn heading(html: &mut String, title: &str) {
    let _ = write!(html, r#"<tr><td style="padding:24px 0 8px 0;{FONT}"><h2 style="margin:0;font-size:18px;color:#1b1b1b;">{title}</h2></td></tr>"#);
}

/// A table section: a heading, then the column heads and rows (already escaped cells), or
/// `nothing` when there are no rows.
fn table(html: &mut String, title: &str, columns: &[&str], rows: &[Vec<String>], nothing: &str) {
    heading(html, title);
    html.push_str(r#"<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;"#);
    let _ = write!(html, r#"{FONT}"><tr>"#);
    for column in columns {
        let _ = write!(html, r#"<th style="{HEAD}">{column}</th>"#);
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, r#"<td style="{CELL}">{cell}</td>"#);
        }
        html.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(html, r#"<tr><td colspan="{}" style="{CELL}color:#4a4a4a;">{nothing}</td></tr>"#, columns.len());
    }
    html.push_str("</table></td></tr>");
}

fn change_html(key: &Key) -> String {
    match key.change() {
        Change::Unknown => r#"<span style="color:#4a4a4a;">no data to compare</span>"#.to_owned(),
        Change::Steady { was } => format!(r#"<span style="color:#4a4a4a;">&#8594; steady (was {})</span>"#, escape(&was)),
        Change::Moved { up, better, amount, was } => {
            let (arrow, word) = if up { ("&#8593;", "up") } else { ("&#8595;", "down") };
            let (color, verdict) = if better { ("#1b5e20", "better") } else { ("#b71c1c", "worse") };
            format!(r#"<span style="color:{color};">{arrow} {word} {amount} from {} ({verdict})</span>"#, escape(&was))
        }
    }
}

fn change_text(key: &Key) -> String {
    match key.change() {
        Change::Unknown => "no data to compare".to_owned(),
        Change::Steady { was } => format!("steady (was {was})"),
        Change::Moved { up, better, amount, was } => {
            format!("{} {amount} from {was} ({})", if up { "up" } else { "down" }, if better { "better" } else { "worse" })
        }
    }
}

fn html(view: &View<'_>, images: &[Image], embed: Embed) -> String {
    let g = view.g;
    let mut html = String::with_capacity(32 * 1024 + images.iter().map(|i| i.png.len() * 4 / 3).sum::<usize>());
    let title = format!("pacer weekly report · {} · {}", view.team_label(), g.week);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f4f4;"><tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="width:640px;max-width:100%;background:#ffffff;border:1px solid #dddddd;{FONT}color:#1b1b1b;">
<tr><td style="padding:20px 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td style="{FONT}"><h1 style="margin:0;font-size:22px;">pacer weekly report: {team}</h1>
<p style="margin:6px 0 0 0;font-size:14px;color:#4a4a4a;">Week <strong id="week">{week}</strong> · {days}</p>
<p style="margin:4px 0 0 0;font-size:13px;color:#4a4a4a;">{environment} · {services}</p>
<p style="margin:10px 0 0 0;font-size:14px;">Overall level (DORA {year} bands): <span data-metric="level" data-value="{level_raw}">{level}</span></p></td></tr>
"#,
        title = escape(&title),
        team = escape(&view.team_label()),
        week = g.week,
        days = escape(&view.days()),
        environment = escape(&g.filters.environment),
        services = escape(&view.services()),
        year = charts::year(view.benchmarks),
        level_raw = g.summary.level.map_or("", |l| level_name(Some(l))),
        level = badge(g.summary.level),
    );

    // The keys: this week, its level, the change from last week, and the trend.
    heading(&mut html, "DORA keys");
    let trend = view.trend();
    html.push_str(r#"<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;"#);
    let _ = write!(
        html,
        r#"{FONT}"><tr><th style="{HEAD}width:30%;">Key</th><th style="{HEAD}width:16%;">This week</th><th style="{HEAD}width:22%;">vs last week</th>"#
    );
    for (week, _) in &trend {
        let _ = write!(html, r#"<th style="{HEAD}text-align:right;width:8%;">W{:02}</th>"#, week.number());
    }
    html.push_str("</tr>");
    for (index, key) in view.keys().iter().enumerate() {
        let level = key.level.map_or_else(String::new, |l| format!("<br>{}", badge(l)));
        let _ = write!(
            html,
            r#"<tr><td style="{CELL}"><strong>{name}</strong><br><span style="color:#4a4a4a;font-size:12px;">{detail}</span></td><td style="{CELL}white-space:nowrap;"><strong style="font-size:15px;">{value}</strong>{level}</td><td style="{CELL}font-size:12px;">{change}</td>"#,
            name = key.name,
            detail = escape(&key.detail),
            value = escape(&key.shown_value()),
            change = change_html(key),
        );
        for (_, keys) in &trend {
            let _ = write!(html, r#"<td style="{CELL}text-align:right;font-size:12px;">{}</td>"#, escape(&keys[index].shown_value()));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></td></tr>");

    // The charts.
    heading(&mut html, &format!("The last {CHART_WEEKS} weeks"));
    for (image, (kind, chart)) in images.iter().zip(&g.charts) {
        let src = match embed {
            Embed::ContentId => format!("cid:{}", image.cid),
            Embed::DataUri => format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&image.png)),
        };
        let alt = format!("{} per week, {} weeks to {}, {}", kind.title(), CHART_WEEKS, g.week, chart.subtitle);
        let _ = write!(
            html,
            r#"<tr><td style="padding:4px 0 12px 0;"><img src="{src}" width="{w}" height="{h}" alt="{alt}" style="display:block;width:100%;max-width:{w}px;height:auto;border:1px solid #dddddd;"></td></tr>"#,
            w = CHART_SIZE.0,
            h = CHART_SIZE.1,
            alt = escape(&alt),
        );
    }

    let zone = view.settings.zone.name();
    let failed: Vec<Vec<String>> = g
        .failed
        .iter()
        .map(|d| {
            let causes: Vec<String> = d.causes.iter().map(failure_words).collect();
            let recovered = d.recovered_at.map_or_else(|| "not yet".to_owned(), |r| duration((r - d.finished_at) as f64 / 1000.0));
            vec![
                escape(&view.when(d.finished_at)),
                escape(&d.service),
                escape(&d.label),
                escape(&causes.join("; ")),
                escape(&recovered),
            ]
        })
        .collect();
    table(&mut html, "Failed deployments", &[&format!("Finished ({zone})"), "Service", "Version", "Why it counts as failed", "Recovered in"], &failed, "No deployment failed this week.");

    let incidents: Vec<Vec<String>> = g
        .incidents
        .iter()
        .map(|(i, blamed)| {
            let name = match &i.title {
                Some(title) => format!("{} · {title}", i.id),
                None => i.id.clone(),
            };
            let name = match i.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                Some(url) => format!(r#"<a href="{}" style="color:#0b57d0;">{}</a>"#, escape(url), escape(&name)),
                None => escape(&name),
            };
            let restored = i.resolved_at.map_or_else(|| "still open".to_owned(), |r| duration((r - i.opened_at) as f64 / 1000.0));
            vec![
                escape(&view.when(i.opened_at)),
                escape(&i.service),
                name,
                escape(i.severity.as_deref().unwrap_or("—")),
                escape(&restored),
                escape(&if blamed.is_empty() { "—".to_owned() } else { blamed.join(", ") }),
            ]
        })
        .collect();
    table(&mut html, "Incidents", &[&format!("Opened ({zone})"), "Service", "Incident", "Severity", "Restored in", "Blamed on"], &incidents, "No incidents this week.");

    let rollbacks: Vec<Vec<String>> = g
        .rollbacks
        .iter()
        .map(|r| {
            vec![
                escape(&view.when(r.created_at)),
                escape(&r.service),
                escape(&format!("{} → {}", r.deployment_id, r.target_deployment_id)),
                escape(&format!("{}, {}", r.mode, r.state.replace('_', " "))),
                escape(&r.reason),
            ]
        })
        .collect();
    table(&mut html, "Rollbacks by pacer", &[&format!("Decided ({zone})"), "Service", "Deployment → target", "Mode, state", "Reason"], &rollbacks, "pacer rolled nothing back this week.");

    let slos: Vec<Vec<String>> = g.slos.iter().map(|(slo, status)| slo_row(slo, status.as_ref()).map(|c| escape(&c)).to_vec()).collect();
    if !slos.is_empty() {
        table(&mut html, "SLO error budgets at the end of the week", &["SLO", "Service", "Objective", "Error ratio (window)", "Budget left", "Status"], &slos, "");
    }

    // Each cell of a budget row carries the stage and its raw number, as the API gives them.
    let budgets: Vec<Vec<String>> = g
        .budgets
        .iter()
        .map(|b| {
            let [stage, budget, measured, within, p95] = budget_row(b);
            let raw = b.compliance_percent.map_or_else(String::new, |p| p.to_string());
            vec![
                escape(&stage),
                escape(&budget),
                escape(&measured),
                format!(r#"<span data-budget="{}" data-value="{}">{}</span>"#, escape(&b.stage), escape(&raw), escape(&within)),
                escape(&p95),
            ]
        })
        .collect();
    table(&mut html, "Delivery stages against their budgets", &["Stage", "Budget", "Measured", "Within budget", "p95"], &budgets, "");
    let ci = ci_row(&g.ci).iter().zip(CI_FIELDS).map(|(cell, field)| format!(r#"<span data-ci="{field}">{}</span>"#, escape(cell))).collect();
    table(&mut html, "CI runs this week", &["Runs", "Success rate", "Retries", "Flaky runs", "Time to green (median)"], &[ci], "");

    let slowest: Vec<Vec<String>> = g.slowest.iter().map(|s| slow_row(view, s).map(|c| escape(&c)).to_vec()).collect();
    table(
        &mut html,
        "Slowest changes",
        &["Change", "Service", "Lead time", "Coding / pickup / review / deploy"],
        &slowest,
        "No change reached production this week.",
    );

    // Every number, as `GET /api/v1/dora` gives it for this week and team.
    let rows: Vec<Vec<String>> = numbers(&g.summary)
        .into_iter()
        .map(|(path, value)| {
            vec![
                escape(&field_words(&path)),
                format!(r#"<span data-metric="{}" data-value="{}">{}</span>"#, escape(&path), escape(&raw(&value)), escape(&number_words(&path, &value))),
            ]
        })
        .collect();
    table(&mut html, "The week in numbers", &["Number", "Value"], &rows, "");

    let links: Vec<String> =
        view.links().into_iter().map(|(text, url)| format!(r#"<a href="{}" style="color:#0b57d0;">{text}</a>"#, escape(&url))).collect();
    let links = if links.is_empty() { String::new() } else { format!("{}<br>", links.join(" · ")) };
    let _ = write!(
        html,
        r#"<tr><td style="padding:24px 0 0 0;{FONT}font-size:12px;color:#4a4a4a;">{links}Week {week} runs from Monday 00:00 to the next Monday 00:00 in {zone}; deployments count by when they finished, incidents by when they opened. The numbers are those of GET /api/v1/dora for this week and {team}; definitions are in pacer's docs/metrics.md.</td></tr>
</table></td></tr></table>
</td></tr></table>
</body></html>
"#,
        week = g.week,
        zone = escape(zone),
        team = escape(&view.team_label()),
    );
    html
}

/// A stage against its budget, for people: stage, budget, samples, compliance, p95. The deploy
/// stage is measured from merge to the deployment's finish (docs/metrics.md, "CI budgets").
fn budget_row(b: &BudgetCompliance) -> [String; 5] {
    let measured = if b.stage == pipeline::DEPLOY_STAGE { format!("{} merged PRs", b.samples) } else { format!("{} CI runs", b.samples) };
    let within = b.compliance_percent.map_or_else(|| "no data".to_owned(), |p| format!("{p:.1} % ({} of {})", b.within_budget, b.samples));
    let p95 = b.distribution.p95_seconds.map_or_else(|| "—".to_owned(), short);
    [b.stage.clone(), short(b.budget_seconds), measured, within, p95]
}

/// A duration with tenths of a second below ten seconds, where pre-commit budgets live.
fn short(seconds: f64) -> String {
    if seconds < 10.0 { format!("{seconds:.1} s") } else { duration(seconds) }
}

/// What the CI runs row shows, in [`CI_FIELDS`] order.
const CI_FIELDS: [&str; 5] = ["runs", "success_rate", "retries", "flaky_runs", "time_to_green"];

fn ci_row(ci: &PipelineStats) -> [String; 5] {
    [
        ci.runs.to_string(),
        ci.success_rate.map_or_else(|| "no data".to_owned(), percent),
        ci.retries.to_string(),
        ci.flaky_runs.to_string(),
        ci.time_to_green.p50_seconds.map_or_else(|| "—".to_owned(), duration),
    ]
}

fn slo_row(slo: &Slo, status: Result<&Value, &Problem>) -> [String; 6] {
    let ratio = |v: &Value| v.as_f64().map_or_else(|| "—".to_owned(), |r| format!("{:.3} %", r * 100.0));
    let objective = format!("{} % over {} days", plot::tick(slo.objective * 100.0), slo.window / 86_400_000);
    match status {
        Ok(json) => [
            slo.name.clone(),
            slo.service.clone(),
            objective,
            ratio(&json["error_ratio"]),
            ratio(&json["budget_remaining"]),
            if json["error_ratio"].is_null() { "no traffic in the window".to_owned() } else { json["status"].as_str().unwrap_or("unknown").to_owned() },
        ],
        Err(problem) => [slo.name.clone(), slo.service.clone(), objective, "—".to_owned(), "—".to_owned(), format!("unavailable: {}", problem.detail)],
    }
}

fn slow_row(view: &View<'_>, s: &Slow) -> [String; 4] {
    let short = s.sha.get(..10).unwrap_or(&s.sha);
    let mut change = match &s.message {
        Some(message) => format!("{short} {message}"),
        None => short.to_owned(),
    };
    if let Some(pr) = &s.pull_request {
        change = format!("{}#{}: {change}", pr.repository, pr.number);
    }
    let stages = match &s.pull_request {
        Some(pr) => stages(pr, s.deployed_at).iter().map(|d| d.map_or_else(|| "—".to_owned(), |ms| duration(ms as f64 / 1000.0))).collect::<Vec<_>>().join(" / "),
        None => "no pull request known".to_owned(),
    };
    [change, format!("{} (deployment {}, {})", s.service, s.deployment_id, view.when(s.deployed_at)), duration(s.seconds), stages]
}

fn text(view: &View<'_>) -> String {
    let g = view.g;
    let mut out = String::new();
    let _ = writeln!(out, "pacer weekly report: {}", view.team_label());
    let _ = writeln!(out, "Week {} · {}", g.week, view.days());
    let _ = writeln!(out, "{} · {}", g.filters.environment, view.services());
    let _ = writeln!(out, "Overall level (DORA {} bands): {}\n", charts::year(view.benchmarks), level_name(g.summary.level));
    let _ = writeln!(out, "DORA KEYS");
    let trend = view.trend();
    for (index, key) in view.keys().iter().enumerate() {
        let level = key.level.map_or_else(String::new, |l| format!(" [{}]", level_name(l)));
        let _ = writeln!(out, "- {}: {}{level}, {}", key.name, key.shown_value(), change_text(key));
        let _ = writeln!(out, "  {}", key.detail);
        let weeks: Vec<String> = trend.iter().map(|(w, keys)| format!("W{:02} {}", w.number(), keys[index].shown_value())).collect();
        let _ = writeln!(out, "  trend: {}", weeks.join(" · "));
    }
    let zone = view.settings.zone.name();
    let _ = writeln!(out, "\nFAILED DEPLOYMENTS (times in {zone})");
    if g.failed.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for d in &g.failed {
        let causes: Vec<String> = d.causes.iter().map(failure_words).collect();
        let recovered = d.recovered_at.map_or_else(|| "not yet recovered".to_owned(), |r| format!("recovered in {}", duration((r - d.finished_at) as f64 / 1000.0)));
        let _ = writeln!(out, "- {} {} {}: {}; {recovered}", view.when(d.finished_at), d.service, d.label, causes.join("; "));
    }
    let _ = writeln!(out, "\nINCIDENTS");
    if g.incidents.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for (i, blamed) in &g.incidents {
        let restored = i.resolved_at.map_or_else(|| "still open".to_owned(), |r| format!("restored in {}", duration((r - i.opened_at) as f64 / 1000.0)));
        let title = i.title.as_deref().map_or_else(String::new, |t| format!(" · {t}"));
        let blamed = if blamed.is_empty() { String::new() } else { format!("; blamed on {}", blamed.join(", ")) };
        let _ = writeln!(out, "- {} {} {}{title}: {restored}{blamed}", view.when(i.opened_at), i.service, i.id);
    }
    let _ = writeln!(out, "\nROLLBACKS BY PACER");
    if g.rollbacks.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for r in &g.rollbacks {
        let _ = writeln!(out, "- {} {} {} → {} ({}, {}): {}", view.when(r.created_at), r.service, r.deployment_id, r.target_deployment_id, r.mode, r.state.replace('_', " "), r.reason);
    }
    if !g.slos.is_empty() {
        let _ = writeln!(out, "\nSLO ERROR BUDGETS AT THE END OF THE WEEK");
        for (slo, status) in &g.slos {
            let [name, service, objective, ratio, budget, state] = slo_row(slo, status.as_ref());
            let _ = writeln!(out, "- {name} ({service}, {objective}): error ratio {ratio}, budget left {budget}, {state}");
        }
    }
    let _ = writeln!(out, "\nDELIVERY STAGES AGAINST THEIR BUDGETS");
    for b in &g.budgets {
        let [stage, budget, measured, within, p95] = budget_row(b);
        let _ = writeln!(out, "- {stage} (budget {budget}): {within} of {measured}, p95 {p95}");
    }
    let [runs, rate, retries, flaky, green] = ci_row(&g.ci);
    let _ = writeln!(out, "- CI runs: {runs}, success rate {rate}, {retries} retries, {flaky} flaky runs, time to green (median) {green}");
    let _ = writeln!(out, "\nSLOWEST CHANGES (coding / pickup / review / deploy)");
    if g.slowest.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for s in &g.slowest {
        let [change, service, lead, stages] = slow_row(view, s);
        let _ = writeln!(out, "- {lead}: {change}\n  {service}; {stages}");
    }
    let _ = writeln!(out, "\nTHE WEEK IN NUMBERS");
    for (path, value) in numbers(&g.summary) {
        let _ = writeln!(out, "- {}: {}", field_words(&path), number_words(&path, &value));
    }
    out.push('\n');
    for (text, url) in view.links() {
        let _ = writeln!(out, "{text}: {url}");
    }
    let _ = writeln!(
        out,
        "Week {} runs from Monday 00:00 to the next Monday 00:00 in {zone}. The numbers are those of GET /api/v1/dora for this week and {}.",
        g.week,
        view.team_label()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_row_names_what_was_measured_and_keeps_tenths_of_short_times() {
        let b = BudgetCompliance {
            stage: "deploy".into(),
            budget_seconds: 10.0,
            samples: 4,
            within_budget: 3,
            breaches: 1,
            compliance_percent: Some(75.0),
            distribution: pipeline::Distribution { samples: 4, p50_seconds: Some(4.0), p95_seconds: Some(8.25) },
        };
        assert_eq!(budget_row(&b), ["deploy", "10 s", "4 merged PRs", "75.0 % (3 of 4)", "8.2 s"].map(str::to_owned));
        let none = BudgetCompliance { stage: "pre_commit".into(), budget_seconds: 1.0, samples: 0, within_budget: 0, breaches: 0, compliance_percent: None,
                                      distribution: pipeline::Distribution::of(&[]) };
        assert_eq!(budget_row(&none), ["pre_commit", "1.0 s", "0 CI runs", "no data", "—"].map(str::to_owned));
    }

    #[test]
    fn subjects_name_the_team_and_the_week() {
        let week = Week::parse("2026-W47").expect("valid");
        assert_eq!(subject(DEFAULT_SUBJECT, Some("commerce"), week), "pacer weekly: commerce 2026-W47");
        assert_eq!(subject("{week} for {team}", None, week), "2026-W47 for all teams");
    }

    #[test]
    fn stages_run_from_the_first_commit_to_the_deployment() {
        let pr = PullRequestSummary {
            id: "acme/shop#1".into(),
            repository: "acme/shop".into(),
            number: 1,
            author: None,
            merged_at: Some(40),
            merge_commit_sha: Some("m".into()),
            first_commit_at: Some(0),
            opened_at: 10,
            first_review_at: None,
        };
        assert_eq!(stages(&pr, 100), [Some(10), None, None, Some(60)]);
    }

    #[test]
    fn every_number_of_the_summary_is_listed_once() {
        let summary = pacer_engine::dora::Analysis::default().summary(0, 7 * 86_400_000, pacer_engine::levels::Benchmarks::Y2024, &pacer_engine::dora::Scope::all());
        let listed = numbers(&summary);
        let paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"lead_time.median_seconds") && paths.contains(&"rework_rate.rate") && paths.contains(&"level"), "{paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with("from") || p.starts_with("services")), "{paths:?}");
        assert_eq!(raw(&Value::Null), "");
        assert_eq!(number_words("lead_time.median_seconds", &serde_json::json!(5400.0)), "1.5 h");
        assert_eq!(number_words("change_failure_rate.rate", &serde_json::json!(0.25)), "25.0 %");
    }
}
