//! `GET /charts/{name}.{svg|png}`: the DORA keys and SLO burn as images, per calendar bucket,
//! with the DORA level bands of the chosen report shaded behind the line.
//!
//! This module decides what each chart shows — which numbers of [`Analysis::series`], in which
//! unit, against which bands — and answers HTTP; [`crate::plot`] draws. [`dora`] is public so
//! that other renderings (the report email) draw the same charts from an analysis.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use pacer_engine::burn::burn_rate;
use pacer_engine::calendar::Interval;


use crate::read::ci::CI_FILTERS;
use crate::read::dora::analyze;
use crate::chart::{KINDS, Kind, budget_chart, dora, slo_chart};
use crate::plot::{self, Chart, Format};
use crate::query::{FILTERS, Filters, Params};
use crate::auth;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// Allowed widths in pixels.
pub const WIDTH: RangeInclusive<u32> = 200..=2_000;
/// Allowed heights in pixels.
pub const HEIGHT: RangeInclusive<u32> = 150..=1_500;
/// Size when none is asked for.
const DEFAULT_SIZE: (u32, u32) = (800, 400);
/// Most buckets a chart draws (beyond, points would be closer than a pixel).
const MAX_BUCKETS: usize = 1_000;
/// Most buckets of an SLO chart: each one is a count query (or a Prometheus query).
const MAX_SLO_BUCKETS: usize = 400;
/// Charts change as events arrive, but a page reload within a minute may reuse them.
const CACHE_CONTROL: &str = "private, max-age=60";

/// Chart routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/charts/{file}", get(chart))
        .route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn chart(State(state): State<AppState>, Path(file): Path<String>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let (kind, format) = file
        .rsplit_once('.')
        .and_then(|(name, extension)| Some((Kind::parse(name)?, Format::parse(extension)?)))
        .ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            Problem::not_found(format!("no chart named {file:?}; expected one of {} with .svg or .png", names.join(", ")))
        })?;
    let params = Params::parse(raw.as_deref())?;
    let mut known = match kind {
        Kind::SloBurn => vec!["from", "to", "slo"],
        Kind::BudgetCompliance => ["environment", "repository"].into_iter().chain(CI_FILTERS.into_iter().filter(|p| *p != "repository")).collect(),
        _ => FILTERS.to_vec(),
    };
    known.extend(["interval", "width", "height"]);
    params.only(&known)?;
    let width = dimension(&params, "width", WIDTH, DEFAULT_SIZE.0)?;
    let height = dimension(&params, "height", HEIGHT, DEFAULT_SIZE.1)?;
    let chart = match kind {
        Kind::SloBurn => slo_burn(&state, &params).await?,
        Kind::BudgetCompliance => {
            let (analysis, filters) = analyze(&state, &params).await?;
            let interval = interval(&params, &filters, MAX_BUCKETS)?;
            let samples = crate::read::ci::budget_samples(&state, &analysis, &filters, params.one("repository")?).await?;
            budget_chart(&state.config.ci_budgets, &samples, &filters, interval, params.one("team")?)
        }
        _ => {
            let (analysis, filters) = analyze(&state, &params).await?;
            let interval = interval(&params, &filters, MAX_BUCKETS)?;
            dora(kind, &analysis, &filters, interval, params.one("team")?)
        }
    };
    let bytes = tokio::task::spawn_blocking(move || plot::render(&chart, format, width, height))
        .await
        .map_err(|e| e.to_string())
        .and_then(|drawn| drawn.map_err(|e| e.to_string()))
        .map_err(|error| {
            tracing::error!(error, chart = kind.name(), "chart failed");
            Problem::internal()
        })?;
    Ok(([(header::CONTENT_TYPE, format.media_type()), (header::CACHE_CONTROL, CACHE_CONTROL)], bytes).into_response())
}

/// Reads a size parameter.
fn dimension(params: &Params, name: &str, range: RangeInclusive<u32>, default: u32) -> Result<u32, Problem> {
    match params.one(name)? {
        None => Ok(default),
        Some(text) => text.parse::<u32>().ok().filter(|v| range.contains(v)).ok_or_else(|| {
            Problem::invalid_query(name, format!("expected an integer from {} to {} but found {text:?}", range.start(), range.end()))
        }),
    }
}

/// The bucket width `interval` names for the window of `filters` (`week` when absent, `auto`
/// by the window's length), when the window has at most `max` such buckets.
fn interval(params: &Params, filters: &Filters, max: usize) -> Result<Interval, Problem> {
    let interval = crate::query::interval(params, filters.from, filters.to, Interval::Week)?;
    let count = interval.buckets(filters.from, filters.to).len();
    if count > max {
        let detail = format!("expected at most {max} buckets but the window has {count}; use a wider interval or a shorter window");
        return Err(Problem::invalid_query("interval", detail));
    }
    Ok(interval)
}

async fn slo_burn(state: &AppState, params: &Params) -> Result<Chart, Problem> {
    let names: Vec<&str> = state.config.slos.iter().map(|s| s.name.as_str()).collect();
    let expected = if names.is_empty() { "no SLO is configured".to_owned() } else { format!("expected one of {}", names.join(", ")) };
    let name = params.one("slo")?.ok_or_else(|| Problem::invalid_query("slo", format!("slo-burn needs slo=<name>; {expected}")))?;
    let slo = state.config.slos.iter().find(|s| s.name == name).ok_or_else(|| Problem::invalid_query("slo", format!("{expected} but found {name:?}")))?;
    // Only from and to are accepted here: an SLO names its own service and environment.
    let filters = Filters::parse(params, &state.config, now(), |_| BTreeSet::new())?;
    let interval = interval(params, &filters, MAX_SLO_BUCKETS)?;
    let buckets = interval.buckets(filters.from, filters.to);
    let mut values = Vec::with_capacity(buckets.len());
    for &(start, end) in &buckets {
        let counts = crate::read::slo::count(&state.store, slo, end, end - start).await?;
        values.push(counts.error_ratio().map(|r| burn_rate(r, slo.objective)));
    }
    Ok(slo_chart(slo, interval, filters.from, filters.to, buckets, values))
}
