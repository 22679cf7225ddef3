//! `GET /`: pacer's own web page — the DORA keys with their levels and trends, the charts, recent
//! deployments, incidents, rollbacks, the deploy gate's answers and SLO status, with a filter form. Server-rendered HTML
//! that needs no JavaScript; a strict Content-Security-Policy forbids scripts outright.
//!
//! It reads the same filters as `GET /api/v1/dora` and shows what the JSON endpoints give; it
//! computes nothing of its own beyond the comparison with the previous window. The markup is
//! written with `format!`, and every piece of text that comes from stored data or the request
//! goes through [`escape`]: one page of tables does not justify a template crate's build time.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::dora::{Analysis, AnalyzedDeployment, Summary};
use pacer_engine::levels::Level;
use pacer_engine::model::{DAY, HOUR};
use pacer_store::{ListQuery, PullRequestSummary};

use crate::chart::{self, KINDS, Kind, interval_name, range_label, scope_label};
use crate::read::dora::analyze;
use crate::wording::{Change, Key, duration, failure_words, level_name, percent, rework_reason_words};
use crate::query::{FILTERS, Filters, Params};
use crate::auth;
use crate::clock::now;
use crate::gate::verdict::Reason;
use crate::html::escape;
use crate::postmortem::postmortem_path;
use crate::problem::Problem;
use crate::read::slo::SloStatus;
use crate::state::AppState;

/// Rows per table.
const ROWS: i64 = 15;
/// Size of the charts on the page, in pixels.
const CHART_SIZE: (u32, u32) = (560, 300);
/// The ranges the form offers, as `from` values.
const RANGES: [(&str, &str); 5] =
    [("now-7d", "last 7 days"), ("now-30d", "last 30 days"), ("now-90d", "last 90 days"), ("now-180d", "last 180 days"), ("now-365d", "last 365 days")];
/// No scripts, no plugins, no framing; images (the charts) and the form only to pacer itself.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Page routes.
pub fn router(state: AppState) -> Router {
    Router::new().route("/", get(page)).route_layer(middleware::from_fn_with_state(state.clone(), auth::reader)).with_state(state)
}

/// Percent-encodes one path segment.
fn segment(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// The request's parameters without empty values: a GET form sends `team=` for "all teams".
fn filled(raw: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Problem::invalid_query("", format!("expected a URL-encoded query string: {e}")))?;
    Ok(pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect())
}

/// A query string of `pairs` plus `extra`, escaped for an attribute.
fn query(pairs: &[(String, String)], extra: &[(&str, String)]) -> String {
    let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    escape(&serde_urlencoded::to_string(&all).unwrap_or_default())
}

async fn page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let pairs = filled(raw.as_deref())?;
    let params = Params::parse(Some(&serde_urlencoded::to_string(&pairs).unwrap_or_default()))?;
    let mut known = FILTERS.to_vec();
    known.push("interval");
    params.only(&known)?;
    let (analysis, f) = analyze(&state, &params).await?;
    let interval = crate::query::interval(&params, f.from, f.to, pacer_engine::calendar::Interval::Week)?;
    let team = params.one("team")?;
    let current = analysis.summary(f.from, f.to, f.benchmarks, &f.scope);
    let previous = analysis.summary(f.from - (f.to - f.from), f.from, f.benchmarks, &f.scope);

    let list = ListQuery {
        environment: f.environment.clone(),
        services: f.scope.services.as_ref().map(|s| s.iter().cloned().collect()),
        from: Some(f.from),
        to: Some(f.to),
        status: None,
        limit: ROWS,
        cursor: None,
    };
    let deployments = state.store.deployments(&list).await?.items;
    // Each shown deployment's changeset, read once from where the analysis keeps commits.
    let changesets: Vec<Option<Vec<String>>> = deployments.iter().map(|d| analysis.analyzed(d).map(|a| a.changeset())).collect();
    let shipped: Vec<String> = changesets.iter().flatten().flatten().cloned().collect();
    let mut pull_requests: HashMap<String, Vec<PullRequestSummary>> = HashMap::new();
    for pr in state.store.pull_requests_merged_as(&shipped).await? {
        pull_requests.entry(pr.merge_commit_sha.clone().unwrap_or_default()).or_default().push(pr);
    }
    let incidents = state.store.incidents(&list).await?.items;
    // The newest decisions in scope, whenever they were made.
    let rollbacks = state.store.rollbacks_in(&ListQuery { from: None, to: None, ..list.clone() }).await?.items;
    let gate_query = pacer_store::GateQuery { environment: Some(f.environment.clone()), services: list.services.clone(), limit: ROWS, ..Default::default() };
    let gate_answers = state.store.gate_answers(&gate_query).await?;
    let mut slos = Vec::new();
    for slo in state.config.slos.iter().filter(|s| s.environment == f.environment && f.scope.includes(&s.service)) {
        // A Prometheus that does not answer costs the SLO its row, not the whole page.
        slos.push((slo, crate::read::slo::status(&state.store, slo, now()).await));
    }
    let mut environments: BTreeSet<String> = state.store.environments().await?.into_iter().collect();
    environments.insert(f.environment.clone());
    let mut teams: BTreeSet<&str> = state.config.teams.keys().map(String::as_str).collect();
    teams.extend(analysis.teams());

    let view = View { pairs: &pairs, params: &params, filters: &f, team, interval };
    let mut html = String::with_capacity(64 * 1024);
    head(&mut html, &view);
    form(&mut html, &view, &analysis, &teams, &environments);
    keys(&mut html, &view, &current, &previous);
    chart_figures(&mut html, &view, &current);
    deployment_table(&mut html, &deployments, &changesets, &analysis, &pull_requests);
    incident_table(&mut html, &incidents, &analysis);
    rollback_table(&mut html, &rollbacks);
    rollback_deployments(&mut html, &analysis, &f);
    gate_table(&mut html, &gate_answers);
    slo_section(&mut html, &view, &slos);
    foot(&mut html, &view);
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response())
}

/// What every section needs to know about the request.
struct View<'a> {
    pairs: &'a [(String, String)],
    params: &'a Params,
    filters: &'a Filters,
    team: Option<&'a str>,
    interval: pacer_engine::calendar::Interval,
}

impl View<'_> {
    /// The filter parameters of the request (without `interval`), for links to charts and JSON.
    fn filter_pairs(&self) -> Vec<(String, String)> {
        self.pairs.iter().filter(|(k, _)| FILTERS.contains(&k.as_str())).cloned().collect()
    }

    fn scope(&self) -> String {
        format!("{} · {}", self.filters.environment, scope_label(self.team, &self.filters.scope))
    }

    fn range(&self) -> String {
        range_label(self.filters.from, self.filters.to)
    }
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1b1b1b; --muted: #4a4a4a; --line: #d0d0d0; --link: #0b57d0; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.75rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
a { color: var(--link); }
:focus-visible { outline: 3px solid #1a4fd6; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: 0.5rem; }
.skip:focus { left: 0.5rem; }
.lede { color: var(--muted); margin: 0.25rem 0 0; }
form { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: end; margin-top: 1rem; padding: 0.75rem; border: 1px solid var(--line); border-radius: 6px; background: #f7f7f7; }
form label { display: flex; flex-direction: column; font-size: 0.875rem; font-weight: 600; }
select, input, button { font: inherit; padding: 0.3rem 0.4rem; border: 1px solid #767676; border-radius: 4px; background: #fff; color: var(--ink); }
button { background: #0b57d0; color: #fff; border-color: #0b57d0; padding: 0.35rem 1rem; cursor: pointer; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 0.75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; }
.card h4 { font-size: 1rem; margin: 0; }
h3.group { font-size: 1.05rem; margin: 1rem 0 0; }
p.about { margin: 0 0 0.5rem; color: var(--muted); }
.value { display: block; font-size: 1.75rem; font-weight: 700; margin: 0.25rem 0; }
.detail, .trend { font-size: 0.875rem; margin: 0.25rem 0 0; color: var(--muted); }
.trend.better { color: #1b5e20; } .trend.worse { color: #b71c1c; }
.level { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.8rem; font-weight: 700; color: #fff; background: #555; }
.level.elite { background: #1b5e20; } .level.high { background: #01579b; } .level.medium { background: #7a4f00; } .level.low { background: #b71c1c; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { font-size: 0.875rem; color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); }
th { background: #f0f0f0; }
code { font-size: 0.85em; }
.bad { color: #b71c1c; font-weight: 600; }
footer { margin: 2rem auto; color: var(--muted); font-size: 0.875rem; }
"#;

fn head(html: &mut String, view: &View<'_>) {
    let _ = write!(
        html,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pacer · DORA metrics · {scope}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to the numbers</a>
<header>
<h1>pacer: DORA metrics</h1>
<p class="lede">{scope} · {range}</p>
</header>
<main id="main">
"##,
        scope = escape(&view.scope()),
        range = escape(&view.range()),
    );
}

fn options<'a>(html: &mut String, all: &str, values: impl IntoIterator<Item = (&'a str, &'a str)>, selected: Option<&str>) {
    if !all.is_empty() {
        let _ = write!(html, r#"<option value="">{}</option>"#, escape(all));
    }
    for (value, label) in values {
        let mark = if selected == Some(value) { " selected" } else { "" };
        let _ = write!(html, r#"<option value="{}"{mark}>{}</option>"#, escape(value), escape(label));
    }
}

fn form(html: &mut String, view: &View<'_>, analysis: &Analysis, teams: &BTreeSet<&str>, environments: &BTreeSet<String>) {
    let one = |name: &str| view.params.one(name).ok().flatten();
    html.push_str(r#"<form method="get" action="/" aria-label="Filters">"#);
    html.push_str(r#"<label for="f-team">Team<select id="f-team" name="team">"#);
    options(html, "All teams", teams.iter().map(|t| (*t, *t)), one("team"));
    // Services repeat (`service=a&service=b`), as in the JSON API: none chosen means all.
    html.push_str(r#"</select></label><label for="f-service">Services (none = all)<select id="f-service" name="service" multiple size="3">"#);
    let chosen = view.params.all("service");
    for service in analysis.services() {
        let mark = if chosen.contains(&service) { " selected" } else { "" };
        let _ = write!(html, r#"<option{mark}>{}</option>"#, escape(service));
    }
    html.push_str(r#"</select></label><label for="f-environment">Environment<select id="f-environment" name="environment">"#);
    options(html, "", environments.iter().map(|e| (e.as_str(), e.as_str())), Some(view.filters.environment.as_str()));
    html.push_str(r#"</select></label><label for="f-from">Range<select id="f-from" name="from">"#);
    let from = one("from").unwrap_or("now-30d");
    let custom = (!RANGES.iter().any(|(value, _)| *value == from)).then_some((from, from));
    options(html, "", RANGES.iter().copied().chain(custom), Some(from));
    let _ = write!(
        html,
        r#"</select></label><label for="f-to">Until<input id="f-to" name="to" placeholder="now" size="12" value="{}"></label>"#,
        escape(one("to").unwrap_or(""))
    );
    html.push_str(r#"<label for="f-interval">Chart interval<select id="f-interval" name="interval">"#);
    options(html, "", [("day", "day"), ("week", "week"), ("month", "month")], Some(interval_name(view.interval)));
    html.push_str(r#"</select></label><label for="f-benchmarks">Benchmarks<select id="f-benchmarks" name="benchmarks">"#);
    options(html, "", [("2024", "DORA 2024"), ("2023", "DORA 2023"), ("2021", "DORA 2021")], Some(chart::year(view.filters.benchmarks)));
    html.push_str("</select></label><button type=\"submit\">Apply</button></form>\n");
}

fn badge(level: Option<Level>) -> String {
    format!(r#"<span class="level {0}">{0}</span>"#, level_name(level))
}

fn keys(html: &mut String, view: &View<'_>, now: &Summary, before: &Summary) {
    let list = crate::wording::keys(now, before, view.filters.benchmarks);
    let days = window_words(view.filters.to - view.filters.from);
    let _ = write!(
        html,
        r#"<section aria-labelledby="h-keys"><h2 id="h-keys">DORA keys</h2>
<p>Overall level (DORA {} bands): <span id="overall-level">{}</span></p>"#,
        chart::year(view.filters.benchmarks),
        badge(now.level)
    );
    for (index, key) in list.iter().enumerate() {
        if index == 0 || list[index - 1].group != key.group {
            if index > 0 {
                html.push_str("</div>");
            }
            let group = key.group.name();
            let _ = write!(
                html,
                r#"<h3 class="group" id="g-{id}">{group}</h3><p class="about">{about}</p><div class="cards" aria-labelledby="g-{id}">"#,
                id = group.to_lowercase(),
                about = key.group.about()
            );
        }
        let value = key.shown_value();
        let raw = key.value.map_or_else(String::new, |v| v.to_string());
        let level = key.level.map_or_else(String::new, |l| format!(" {}", badge(l)));
        let _ = write!(
            html,
            r#"<article class="card" aria-labelledby="k-{id}"><h4 id="k-{id}">{name}</h4><data class="value" id="value-{id}" value="{raw}">{value}</data>{level}<p class="detail">{detail}</p>{trend}</article>"#,
            id = key.id,
            name = key.name,
            detail = escape(&key.detail),
            trend = trend(key, &days),
        );
    }
    html.push_str("</div></section>\n");
}

/// `30 days`, `12 hours`: the length of a window.
fn window_words(length: Millis) -> String {
    if length % DAY == 0 || length >= 7 * DAY {
        let days = (length as f64 / DAY as f64).round() as i64;
        if days == 1 { "day".to_owned() } else { format!("{days} days") }
    } else {
        format!("{:.0} hours", length as f64 / HOUR as f64)
    }
}

/// The change from the previous window of the same length, in words and an arrow.
fn trend(key: &Key, window: &str) -> String {
    match key.change() {
        Change::Unknown => format!(r#"<p class="trend">no data in the previous {window} to compare with</p>"#),
        Change::Steady { was } => {
            format!(r#"<p class="trend"><span aria-hidden="true">→ </span>steady: {} in the previous {window}</p>"#, escape(&was))
        }
        Change::Moved { up, better, amount, was } => {
            let (arrow, word) = if up { ("↑", "up") } else { ("↓", "down") };
            let (class, verdict) = if better { ("better", "better") } else { ("worse", "worse") };
            format!(
                r#"<p class="trend {class}"><span aria-hidden="true">{arrow} </span>{word} {amount} from {} in the previous {window} ({verdict})</p>"#,
                escape(&was)
            )
        }
    }
}

fn chart_figures(html: &mut String, view: &View<'_>, now: &Summary) {
    let pairs = view.filter_pairs();
    let size = [("interval", interval_name(view.interval).to_owned()), ("width", CHART_SIZE.0.to_string()), ("height", CHART_SIZE.1.to_string())];
    html.push_str(r#"<section aria-labelledby="h-charts"><h2 id="h-charts">Trends</h2><div class="charts">"#);
    for kind in KINDS.into_iter().filter(|k| k.is_dora()) {
        let latest = match kind {
            Kind::DeploymentFrequency => format!("{:.2} deployments per day", now.deployment_frequency.per_day),
            Kind::LeadTime => now.lead_time.median_seconds.map_or_else(|| "no data".to_owned(), |m| format!("median {}", duration(m))),
            Kind::ChangeFailureRate => now.change_failure_rate.rate.map_or_else(|| "no data".to_owned(), percent),
            Kind::TimeToRestore => now.time_to_restore.median_seconds.map_or_else(|| "no data".to_owned(), |m| format!("median {}", duration(m))),
            Kind::ReworkRate | Kind::SloBurn | Kind::BudgetCompliance => now.rework_rate.rate.map_or_else(|| "no data".to_owned(), percent),
        };
        let bands = if kind == Kind::ReworkRate { "" } else { " over the DORA level bands" };
        let alt = format!(
            "Line chart of {} per {}{bands}, {}, {}; over the whole range: {latest}.",
            kind.title().to_lowercase(),
            interval_name(view.interval),
            view.scope(),
            view.range()
        );
        figure(html, kind.name(), &query(&pairs, &size), &alt, kind.title());
    }
    html.push_str("</div></section>\n");
}

fn figure(html: &mut String, chart: &str, query: &str, alt: &str, caption: &str) {
    let _ = write!(
        html,
        r#"<figure><img src="/charts/{chart}.svg?{query}" alt="{alt}" width="{w}" height="{h}"><figcaption>{caption} · <a href="/charts/{chart}.png?{query}">PNG</a></figcaption></figure>"#,
        alt = escape(alt),
        caption = escape(caption),
        w = CHART_SIZE.0,
        h = CHART_SIZE.1,
    );
}

fn when(at: Option<Millis>) -> String {
    at.and_then(DateTime::from_timestamp_millis).map_or_else(|| "—".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn table_start(html: &mut String, id: &str, title: &str, columns: &[&str]) {
    let _ = write!(html, r#"<section aria-labelledby="h-{id}"><h2 id="h-{id}">{title}</h2><div class="scroll" role="region" aria-labelledby="h-{id}" tabindex="0"><table id="{id}"><thead><tr>"#);
    for column in columns {
        let _ = write!(html, r#"<th scope="col">{column}</th>"#);
    }
    html.push_str("</tr></thead><tbody>");
}

fn table_end(html: &mut String, empty: bool, columns: usize, nothing: &str) {
    if empty {
        let _ = write!(html, r#"<tr><td colspan="{columns}">{nothing}</td></tr>"#);
    }
    html.push_str("</tbody></table></div></section>\n");
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

fn deployment_table(
    html: &mut String,
    deployments: &[pacer_store::DeploymentRow],
    changesets: &[Option<Vec<String>>],
    analysis: &Analysis,
    pull_requests: &HashMap<String, Vec<PullRequestSummary>>,
) {
    const COLUMNS: [&str; 7] = ["Finished (UTC)", "Service", "Version", "What shipped", "Status", "Failed", "Notes"];
    table_start(html, "deployments", "Recent deployments", &COLUMNS);
    for (d, changeset) in deployments.iter().zip(changesets) {
        let analyzed = analysis.analyzed(d);
        let shipped = match changeset {
            Some(changeset) => {
                let prs: Vec<String> = changeset
                    .iter()
                    .filter_map(|sha| pull_requests.get(sha))
                    .flatten()
                    .map(|pr| escape(&format!("{}#{}", pr.repository, pr.number)))
                    .collect();
                let commits = match changeset.len() {
                    1 => "1 commit".to_owned(),
                    n => format!("{n} commits"),
                };
                match prs.len() {
                    0 => commits,
                    n if n <= 4 => format!("{commits}; PRs {}", prs.join(", ")),
                    n => format!("{commits}; PRs {} and {} more", prs[..3].join(", "), n - 3),
                }
            }
            None => "—".to_owned(),
        };
        let failed = match analyzed {
            Some(a) if a.failed() => {
                format!(r#"<span class="bad">failed</span>: {}"#, escape(&a.failure_causes().iter().map(failure_words).collect::<Vec<_>>().join("; ")))
            }
            Some(_) => "no".to_owned(),
            None => "—".to_owned(),
        };
        let mut notes = Vec::new();
        match analyzed.and_then(|a| a.rework()) {
            Some(rework) => notes.push(format!("rework: {}", escape(&rework_reason_words(&rework)))),
            None if analyzed.is_some() => {}
            // Not a successful deployment: what it says of itself.
            None => {
                if let Some(of) = &d.rollback_of {
                    notes.push(format!("rollback of {}", escape(of)));
                }
                if d.unplanned {
                    notes.push("unplanned (hotfix)".to_owned());
                }
            }
        }
        let version = d.version.as_deref().map_or_else(|| d.commit_sha.as_deref().map_or("—", short).to_owned(), str::to_owned);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{shipped}</td><td>{}</td><td>{failed}</td><td>{}</td></tr>",
            when(d.finished_at.or(d.started_at)),
            escape(&d.service),
            escape(&version),
            d.status.as_str(),
            notes.join("; "),
        );
    }
    table_end(html, deployments.is_empty(), COLUMNS.len(), "No deployments in this range.");
}

fn incident_table(html: &mut String, incidents: &[pacer_store::IncidentRow], analysis: &Analysis) {
    const COLUMNS: [&str; 7] = ["Opened (UTC)", "Service", "Incident", "Severity", "Restored in", "Blamed on", "Timeline"];
    table_start(html, "incidents", "Incidents", &COLUMNS);
    for i in incidents {
        let title = match &i.title {
            Some(title) => format!("{} · {}", escape(&i.id), escape(title)),
            None => escape(&i.id),
        };
        let title = match i.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
            Some(url) => format!(r#"<a href="{}">{title}</a>"#, escape(url)),
            None => title,
        };
        let restored = i.resolved_at.map_or_else(|| "open".to_owned(), |r| duration((r - i.opened_at) as f64 / 1000.0));
        let blamed: Vec<String> = analysis.blamed_on(i).map(|id| escape(&id)).collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{title}</td><td>{}</td><td>{restored}</td><td>{}</td><td><a href=\"{}?format=html\">timeline &amp; postmortem</a></td></tr>",
            when(Some(i.opened_at)),
            escape(&i.service),
            escape(i.severity.as_deref().unwrap_or("—")),
            if blamed.is_empty() { "—".to_owned() } else { blamed.join(", ") },
            escape(&postmortem_path(&i.id)),
        );
    }
    table_end(html, incidents.is_empty(), COLUMNS.len(), "No incidents in this range.");
}

fn rollback_table(html: &mut String, rollbacks: &[pacer_store::RollbackRow]) {
    const COLUMNS: [&str; 7] = ["Decided (UTC)", "Service", "Rolled back", "To", "Mode", "State", "Reason"];
    table_start(html, "rollbacks", "Rollbacks", &COLUMNS);
    for r in rollbacks {
        let _ = write!(
            html,
            r#"<tr><td><a href="/api/v1/rollbacks/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            segment(&r.id),
            when(Some(r.created_at)),
            escape(&r.service),
            escape(&r.deployment_id),
            escape(&r.target_deployment_id),
            escape(&r.mode),
            escape(&r.state.replace('_', " ")),
            escape(&r.reason),
        );
    }
    table_end(html, rollbacks.is_empty(), COLUMNS.len(), "No rollbacks: pacer has not rolled back a deployment of these services.");
}

/// The deploy gate's latest answers, with the reasons that halted.
fn gate_table(html: &mut String, answers: &[pacer_store::GateAnswerRow]) {
    const COLUMNS: [&str; 6] = ["Asked (UTC)", "Service", "Asked by", "Rollout", "Answer", "Reasons"];
    table_start(html, "gate", "Deploy gate", &COLUMNS);
    for a in answers {
        let reasons: Vec<Reason> = serde_json::from_str(&a.reasons).unwrap_or_default();
        let said: Vec<String> = reasons.iter().map(|r| format!("{}{}", if r.blocking { "" } else { "(note) " }, escape(&r.detail))).collect();
        let rollout = a.rollout.as_deref().or(a.deployment_id.as_deref()).unwrap_or("");
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            when(Some(a.asked_at)),
            escape(&a.service),
            escape(&a.asker),
            escape(rollout),
            if a.proceed { "proceed" } else { "<strong>halt</strong>" },
            said.join("<br>"),
        );
    }
    table_end(html, answers.is_empty(), COLUMNS.len(), "No rollout has asked the deploy gate about these services.");
}

/// Rollbacks the deployers reported (`rollback_of`), whether or not pacer decided them, with why
/// the deployment they undid failed.
fn rollback_deployments(html: &mut String, analysis: &Analysis, f: &Filters) {
    const COLUMNS: [&str; 5] = ["Finished (UTC)", "Service", "Rollback", "Undid", "Why the undone deployment failed"];
    let reported: Vec<_> = analysis.rollbacks_between(f.from, f.to, &f.scope).into_iter().rev().take(ROWS as usize).collect();
    table_start(html, "rollback-deployments", "Rollback deployments", &COLUMNS);
    for d in &reported {
        let undone_id = d.rollback_of().unwrap_or_default();
        let undone = analysis.deployment_near(d.service(), undone_id);
        let version = |d: &AnalyzedDeployment| d.version().map_or_else(|| escape(&d.id()), |v| format!("{} ({})", escape(&d.id()), escape(&v)));
        let why: Vec<String> = undone
            .map(|u| u.failure_causes().iter().filter(|c| c.incident_id().is_some()).map(|c| escape(&failure_words(c))).collect())
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(Some(d.finished_at())),
            escape(d.service()),
            version(d),
            undone.map_or_else(|| escape(undone_id), |u| version(&u)),
            if why.is_empty() { "no incident names it".to_owned() } else { why.join("; ") },
        );
    }
    table_end(html, reported.is_empty(), COLUMNS.len(), "No rollback deployments in this range.");
}

fn slo_section(html: &mut String, view: &View<'_>, slos: &[(&crate::config::Slo, Result<SloStatus, Problem>)]) {
    const COLUMNS: [&str; 7] = ["SLO", "Service", "Objective", "Error ratio (window)", "Budget left", "Burn 1h / 6h / 1d", "Status"];
    table_start(html, "slos", "SLOs", &COLUMNS);
    let ratio = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |r| format!("{:.3} %", r * 100.0));
    for (slo, status) in slos {
        let cells = match status {
            Ok(status) => {
                let burn = |window: &str| status.burn_rate(window).map_or_else(|| "—".to_owned(), crate::plot::tick);
                let state = status.status.name();
                let state = if state == "ok" { "ok".to_owned() } else { format!(r#"<span class="bad">{}</span>"#, escape(state)) };
                format!(
                    "<td>{}</td><td>{}</td><td>{} / {} / {}</td><td>{state}</td>",
                    ratio(status.error_ratio),
                    status.budget_remaining.map_or_else(|| "—".to_owned(), |b| format!("{:.1} %", b * 100.0)),
                    burn("1h"),
                    burn("6h"),
                    burn("1d")
                )
            }
            Err(problem) => format!(r#"<td colspan="4">unavailable: {}</td>"#, escape(&problem.detail)),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{} %</td>{cells}</tr>",
            escape(&slo.name),
            escape(&slo.service),
            crate::plot::tick(slo.objective * 100.0)
        );
    }
    table_end(html, slos.is_empty(), COLUMNS.len(), "No SLO is configured for these services ([[slo]] in pacer.toml).");
    if slos.is_empty() {
        return;
    }
    html.push_str(r#"<div class="charts">"#);
    let from: Vec<(String, String)> = view.pairs.iter().filter(|(k, _)| k == "from" || k == "to").cloned().collect();
    for (slo, _) in slos {
        let extra = [
            ("slo", slo.name.clone()),
            ("interval", interval_name(view.interval).to_owned()),
            ("width", CHART_SIZE.0.to_string()),
            ("height", CHART_SIZE.1.to_string()),
        ];
        let alt = format!(
            "Line chart of the burn rate of SLO {} ({}, objective {} %) per {}, {}; above 1 the error budget runs out before the SLO window ends.",
            slo.name,
            slo.service,
            crate::plot::tick(slo.objective * 100.0),
            interval_name(view.interval),
            view.range()
        );
        figure(html, Kind::SloBurn.name(), &query(&from, &extra), &alt, &format!("SLO burn rate: {}", slo.name));
    }
    html.push_str("</div>\n");
}

fn foot(html: &mut String, view: &View<'_>) {
    let q = query(&view.filter_pairs(), &[]);
    let _ = write!(
        html,
        r#"</main>
<footer><p>The same numbers as JSON: <a href="/api/v1/dora?{q}">summary</a> · <a href="/api/v1/deployments?{q}">deployments</a> · <a href="/api/v1/incidents?{q}">incidents</a> · <a href="/api/v1/rollbacks">rollbacks</a> · <a href="/api/v1/slos">SLOs</a>. Definitions: docs/metrics.md.</p></footer>
</body>
</html>
"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_data_is_escaped() {
        assert_eq!(escape(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("rb_1/../x y"), "rb_1%2F..%2Fx%20y");
    }

    fn key(value: f64, previous: f64, higher_is_better: bool, rate: bool) -> Key {
        Key {
            id: "x",
            group: crate::wording::Group::Instability,
            name: "x",
            value: Some(value),
            previous: Some(previous),
            shown: percent,
            level: None,
            detail: String::new(),
            higher_is_better,
            rate,
        }
    }

    #[test]
    fn trends_say_whether_a_change_is_better_or_worse() {
        let t = trend(&key(0.10, 0.05, false, true), "30 days");
        assert!(t.contains("↑") && t.contains("up 5 points") && t.contains("worse"), "{t}");
        let t = trend(&key(2.0, 1.0, true, false), "30 days");
        assert!(t.contains("up 100 %") && t.contains("better"), "{t}");
        let t = trend(&key(1.0, 1.001, true, false), "30 days");
        assert!(t.contains("steady"), "{t}");
        let mut k = key(1.0, 1.0, true, false);
        k.previous = None;
        assert!(trend(&k, "7 days").contains("no data in the previous 7 days"));
    }
}
