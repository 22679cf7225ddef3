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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::attribution::FailureCause;
use pacer_engine::dora::{Analysis, AnalyzedDeployment, Summary};
use pacer_engine::levels::Level;
use pacer_engine::pipeline::{self, BudgetCompliance, GroupBy, PipelineStats};
use pacer_store::{IncidentRow, ListQuery, PullRequestSummary, RollbackRow};

use crate::chart::{self, KINDS, Kind};
use crate::config::Slo;
use crate::wording::{Change, Key, duration, failure_words, level_name, percent};
use crate::html::escape;
use crate::plot::{self, Format};
use crate::query::{Filters, Params};
use crate::week::Week;
use crate::config::ReportSettings;
use crate::read::slo::SloStatus;

mod html;
mod text;

use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

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

/// Everything one report shows, gathered before anything is written.
struct Gathered {
    week: Week,
    team: Option<String>,
    filters: Filters,
    summary: Summary,
    /// The trend weeks, oldest first, ending with this one.
    trend: Vec<(Week, Summary)>,
    failed: Vec<Failed>,
    reworked: Vec<Reworked>,
    incidents: Vec<(IncidentRow, Vec<String>)>,
    rollbacks: Vec<RollbackRow>,
    slos: Vec<(Slo, Result<SloStatus, Problem>)>,
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
            label: d.label(),
            causes: d.failure_causes(),
            recovered_at: d.recovered_at(),
        }
    }
}

/// A rework deployment of the week, with why it is rework.
struct Reworked {
    finished_at: Millis,
    service: String,
    /// Its version, else its id.
    label: String,
    why: String,
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
    let view = View { gathered: &gathered, settings, benchmarks: gathered.filters.benchmarks };
    let html = html::html(&view, &images, embed);
    let text = text::text(&view);
    Ok(Letter { subject: subject(&settings.subject, team, week), html, text, images })
}

/// The subject for `team`'s report of `week`.
pub fn subject(template: &str, team: Option<&str>, week: Week) -> String {
    template.replace("{team}", team.unwrap_or("all teams")).replace("{week}", &week.to_string())
}

/// The analysis `GET /api/v1/dora?from=…&to=…&team=…` gives for `week` and `team` (the very
/// parameters, read by the same code), the week's summary and the trend weeks' summaries, oldest
/// first, ending with this one.
async fn analyze_week(state: &AppState, week: Week, team: Option<&str>) -> Result<(Arc<Analysis>, Filters, Summary, Vec<(Week, Summary)>), Problem> {
    let zone = &state.config.report.zone;
    let (from, to) = week.bounds(zone);
    let mut pairs = vec![("from", rfc3339(from)), ("to", rfc3339(to))];
    if let Some(team) = team {
        pairs.push(("team", team.to_owned()));
    }
    let params = Params::parse(Some(&serde_urlencoded::to_string(&pairs).unwrap_or_default()))?;
    let (analysis, filters) = crate::read::dora::analyze(state, &params).await?;
    let summary = analysis.summary(filters.from, filters.to, filters.benchmarks, &filters.scope);
    let trend = (0..TREND_WEEKS)
        .rev()
        .map(|back| {
            let w = week.back(back);
            let (start, end) = w.bounds(zone);
            (w, analysis.summary(start, end, filters.benchmarks, &filters.scope))
        })
        .collect();
    Ok((analysis, filters, summary, trend))
}

/// The weekly digest chat posts for `team` (every team when `None`): the report's five keys of
/// `week` with their levels and the change from the week before, worded as the report words them.
///
/// # Errors
/// An unknown team (400), or the database failed.
pub async fn digest(state: &AppState, week: Week, team: Option<&str>) -> Result<pacer_chat::event::Digest, Problem> {
    let (_, filters, summary, trend) = analyze_week(state, week, team).await?;
    let previous = trend.iter().rev().nth(1).map_or(&summary, |(_, s)| s);
    let keys = crate::wording::keys(&summary, previous, filters.benchmarks)
        .iter()
        .map(|key| pacer_chat::event::DigestKey {
            name: key.name.to_owned(),
            value: key.shown_value(),
            level: key.level.map(|l| level_name(l).to_owned()),
            change: key.change().words(),
        })
        .collect();
    Ok(pacer_chat::event::Digest { week: week.to_string(), days: format!("{} ({})", week.days(), state.config.report.zone.name()), keys })
}

/// Records the weekly digest of `week` for chat: one per team of `[teams]` (one on every team when
/// none is configured), each once however often, and on however many replicas, it is recorded.
/// Returns how many are new.
///
/// # Errors
/// The database failed.
pub async fn record_digests(state: &AppState, week: Week, now: Millis) -> Result<usize, Problem> {
    use pacer_chat::event::{Event, Kind, Subject, record};
    let teams: Vec<Option<&str>> = if state.config.teams.is_empty() { vec![None] } else { state.config.teams.keys().map(|t| Some(t.as_str())).collect() };
    let mut new = 0;
    for team in teams {
        let subject = Subject::Digest(digest(state, week, team).await?);
        let event = Event { kind: Kind::DigestWeekly, service: String::new(), environment: "production".to_owned(), team: team.map(str::to_owned), at: now, subject };
        new += usize::from(record(&state.store, &event, now).await?);
    }
    Ok(new)
}

async fn gather(state: &AppState, week: Week, team: Option<&str>) -> Result<Gathered, Problem> {
    let zone = &state.config.report.zone;
    let (from, to) = week.bounds(zone);
    let (analysis, filters, summary, trend) = analyze_week(state, week, team).await?;

    let in_week = analysis.finished_between(from, to, &filters.scope);
    let failed: Vec<Failed> = in_week.iter().filter(|d| d.failed()).map(Failed::of).collect();
    let reworked: Vec<Reworked> = in_week
        .iter()
        .filter_map(|d| {
            let why = crate::wording::rework_reason_words(&d.rework()?);
            Some(Reworked { finished_at: d.finished_at(), service: d.service().to_owned(), label: d.label(), why })
        })
        .collect();

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
            let blamed = analysis.blamed_on(&i).collect();
            (i, blamed)
        })
        .collect();
    let rollbacks = state.store.rollbacks_in(&ListQuery { limit: 1_000, ..list.clone() }).await?.items;

    let mut slos = Vec::new();
    let as_of = to.min(now());
    for slo in state.config.slos.iter().filter(|s| s.environment == filters.environment && filters.scope.includes(&s.service)) {
        // A Prometheus that does not answer costs the SLO its row, not the report.
        slos.push((slo.clone(), crate::read::slo::status(&state.store, slo, as_of).await));
    }

    let slowest = slowest(state, &in_week).await?;
    let samples = crate::read::ci::budget_samples(state, &analysis, &filters, None).await?;
    let (budgets, _) = pipeline::budgets(&state.config.ci_budgets, &samples);
    let (ci, _) = pipeline::pipelines(&crate::read::ci::runs(state, &filters, None).await?, GroupBy::Stage);

    let buckets: Vec<(Millis, Millis)> = (0..CHART_WEEKS).rev().map(|back| week.back(back).bounds(zone)).collect();
    let chart_filters = Filters { from: buckets[0].0, to, ..filters.clone() };
    let charts = KINDS
        .into_iter()
        .filter(|k| k.is_dora())
        .map(|kind| {
            let mut chart = chart::dora_over(kind, &analysis, &chart_filters, buckets.clone(), "week", team);
            // The page's subtitle names every service; at email width, the team and the weeks.
            chart.subtitle = format!(
                "{} · {CHART_WEEKS} weeks to {week} ({}) · DORA {} bands",
                team.map_or_else(|| "all teams".to_owned(), |t| format!("team {t}")),
                zone.name(),
                chart::year(filters.benchmarks)
            );
            (kind, chart)
        })
        .collect();

    Ok(Gathered { week, team: team.map(str::to_owned), filters, summary, trend, failed, reworked, incidents, rollbacks, slos, slowest, charts, budgets, ci })
}

/// The slowest lead-time samples of the week's deployments, with their commits and PRs.
async fn slowest(state: &AppState, deployments: &[AnalyzedDeployment<'_>]) -> Result<Vec<Slow>, Problem> {
    let mut samples: Vec<(&AnalyzedDeployment, String, f64)> = deployments
        .iter()
        .flat_map(|d| d.lead_time_samples().into_iter().map(move |(sha, seconds)| (d, sha, seconds)))
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
            deployment_id: d.id(),
            deployed_at: d.finished_at(),
            seconds,
            message: messages.get(sha.as_str()).cloned().flatten(),
            pull_request: pulls.remove(sha.as_str()),
            sha,
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
    gathered: &'a Gathered,
    settings: &'a ReportSettings,
    benchmarks: pacer_engine::levels::Benchmarks,
}

impl View<'_> {
    fn team_label(&self) -> String {
        match &self.gathered.team {
            Some(team) => format!("team {team}"),
            None => "all teams".to_owned(),
        }
    }

    fn services(&self) -> String {
        if self.gathered.summary.services.is_empty() { "no services".to_owned() } else { self.gathered.summary.services.join(", ") }
    }

    fn days(&self) -> String {
        format!("{} ({})", self.gathered.week.days(), self.settings.zone.name())
    }

    fn keys(&self) -> [Key; 5] {
        let previous = self.gathered.trend.iter().rev().nth(1).map_or(&self.gathered.summary, |(_, s)| s);
        crate::wording::keys(&self.gathered.summary, previous, self.benchmarks)
    }

    /// The headline numbers of each key over the trend weeks, oldest first.
    fn trend(&self) -> Vec<(Week, [Key; 5])> {
        let mut weeks = Vec::new();
        for (i, (week, summary)) in self.gathered.trend.iter().enumerate() {
            let before = i.checked_sub(1).and_then(|j| self.gathered.trend.get(j)).map_or(summary, |(_, s)| s);
            weeks.push((*week, crate::wording::keys(summary, before, self.benchmarks)));
        }
        weeks
    }

    fn when(&self, at: Millis) -> String {
        self.settings.zone.format(at, "%a %d %b %H:%M")
    }

    /// The link to an incident's postmortem draft (the HTML form), when pacer's address is known.
    fn postmortem_link(&self, incident_id: &str) -> Option<String> {
        let base = self.settings.base_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}{}?format=html", crate::postmortem::postmortem_path(incident_id)))
    }

    /// Links back to pacer and Grafana for this week and team, as (text, URL).
    fn links(&self) -> Vec<(&'static str, String)> {
        let (from, to) = (self.gathered.filters.from, self.gathered.filters.to);
        let mut pairs = vec![("from", rfc3339(from)), ("to", rfc3339(to))];
        if let Some(team) = &self.gathered.team {
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
            if let Some(team) = &self.gathered.team {
                pairs.push(("var-team", team.clone()));
            }
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            links.push(("DORA overview in Grafana", format!("{}/d/pacer-dora-overview?{query}", grafana.trim_end_matches('/'))));
        }
        links
    }
}

/// One number of a summary: a count, a measure (`None` without samples) or a level.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Count(u64),
    Measure(Option<f64>),
    Level(Option<Level>),
}

/// Every number and level of a summary as `(field path, value)`: `change_failure_rate.deployments`,
/// …, `level`, …, `time_to_restore.median_seconds` — metrics and their fields in alphabetical
/// order, as the report has always listed them.
fn numbers(s: &Summary) -> Vec<(&'static str, Number)> {
    use Number::{Count, Level as L, Measure};
    let (cfr, df, fdrt, lt, rr, ttr) =
        (&s.change_failure_rate, &s.deployment_frequency, &s.failed_deployment_recovery_time, &s.lead_time, &s.rework_rate, &s.time_to_restore);
    vec![
        ("change_failure_rate.deployments", Count(cfr.deployments)),
        ("change_failure_rate.failed_deployments", Count(cfr.failed_deployments)),
        ("change_failure_rate.level", L(cfr.level)),
        ("change_failure_rate.rate", Measure(cfr.rate)),
        ("deployment_frequency.deploy_days", Count(df.deploy_days)),
        ("deployment_frequency.deployments", Count(df.deployments)),
        ("deployment_frequency.level", L(df.level)),
        ("deployment_frequency.per_day", Measure(Some(df.per_day))),
        ("deployment_frequency.per_week", Measure(Some(df.per_week))),
        ("failed_deployment_recovery_time.failed_deployments", Count(fdrt.failed_deployments)),
        ("failed_deployment_recovery_time.level", L(fdrt.level)),
        ("failed_deployment_recovery_time.median_seconds", Measure(fdrt.median_seconds)),
        ("failed_deployment_recovery_time.recovered", Count(fdrt.recovered)),
        ("lead_time.level", L(lt.level)),
        ("lead_time.median_seconds", Measure(lt.median_seconds)),
        ("lead_time.p90_seconds", Measure(lt.p90_seconds)),
        ("lead_time.samples", Count(lt.samples)),
        ("level", L(s.level)),
        ("rework_rate.by_reason.fix_forward", Count(rr.by_reason.fix_forward)),
        ("rework_rate.by_reason.revert", Count(rr.by_reason.revert)),
        ("rework_rate.by_reason.rollback", Count(rr.by_reason.rollback)),
        ("rework_rate.by_reason.unplanned", Count(rr.by_reason.unplanned)),
        ("rework_rate.deployments", Count(rr.deployments)),
        ("rework_rate.rate", Measure(rr.rate)),
        ("rework_rate.unplanned_deployments", Count(rr.unplanned_deployments)),
        ("time_to_restore.incidents", Count(ttr.incidents)),
        ("time_to_restore.level", L(ttr.level)),
        ("time_to_restore.median_seconds", Measure(ttr.median_seconds)),
    ]
}

/// A number of the summary for people: durations for `_seconds`, percentages for rates.
fn number_words(path: &str, value: Number) -> String {
    match value {
        Number::Count(n) => n.to_string(),
        Number::Measure(None) | Number::Level(None) => "no data".to_owned(),
        Number::Level(level @ Some(_)) => level_name(level).to_owned(),
        Number::Measure(Some(v)) if path.ends_with("_seconds") => duration(v),
        Number::Measure(Some(v)) if path.ends_with(".rate") => percent(v),
        Number::Measure(Some(v)) => format!("{v:.2}"),
    }
}

/// The raw value for a `data-value` attribute: the number or level as `/api/v1/dora` writes it,
/// empty for null.
fn raw(value: Number) -> String {
    match value {
        Number::Count(n) => n.to_string(),
        Number::Measure(None) | Number::Level(None) => String::new(),
        Number::Level(level @ Some(_)) => level_name(level).to_owned(),
        // serde_json's shortest round-trip form, as in the JSON answer: `5400.0`, `1.4`.
        Number::Measure(Some(v)) => serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
    }
}

fn field_words(path: &str) -> String {
    let (metric, field) = path.split_once('.').unwrap_or((path, ""));
    let metric = metric.replace('_', " ");
    let field = field.replace("_seconds", "").replace('_', " ").replace('.', ": ");
    if field.is_empty() { metric } else { format!("{metric}: {field}") }
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

fn slo_row(slo: &Slo, status: Result<&SloStatus, &Problem>) -> [String; 6] {
    let ratio = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |r| format!("{:.3} %", r * 100.0));
    let objective = format!("{} % over {} days", plot::tick(slo.objective * 100.0), slo.window / 86_400_000);
    match status {
        Ok(status) => [
            slo.name.clone(),
            slo.service.clone(),
            objective,
            ratio(status.error_ratio),
            ratio(status.budget_remaining),
            if status.error_ratio.is_none() { "no traffic in the window".to_owned() } else { status.status.name().to_owned() },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_SUBJECT;

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
        let paths: Vec<&str> = listed.iter().map(|(p, _)| *p).collect();
        assert!(paths.contains(&"lead_time.median_seconds") && paths.contains(&"rework_rate.rate") && paths.contains(&"level"), "{paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with("from") || p.starts_with("services")), "{paths:?}");
        assert_eq!(raw(Number::Measure(None)), "");
        assert_eq!(raw(Number::Measure(Some(5400.0))), "5400.0");
        assert_eq!(number_words("lead_time.median_seconds", Number::Measure(Some(5400.0))), "1.5 h");
        assert_eq!(number_words("change_failure_rate.rate", Number::Measure(Some(0.25))), "25.0 %");
    }
}
