//! Query parameters shared by the read endpoints: the window, the environment, the services (by
//! name or team) and the benchmark year. Unknown parameters are errors, to catch typos.

use std::collections::BTreeSet;

use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::dora::Scope;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::{DAY, HOUR, SECOND};

use crate::config::ApiConfig;
use crate::problem::Problem;

/// The decoded query string, in order, with repeated names kept.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a raw query string.
    ///
    /// # Errors
    /// A query string that is not `application/x-www-form-urlencoded`.
    pub fn parse(raw: Option<&str>) -> Result<Self, Problem> {
        let pairs = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| Problem::invalid_query("", format!("expected a URL-encoded query string: {e}")))?;
        Ok(Self { pairs })
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The single value of `name`.
    ///
    /// # Errors
    /// The parameter is given more than once.
    pub fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Problem::invalid_query(name, format!("expected {name} at most once but found it several times"))),
        }
    }

    /// Fails on the first parameter not in `known`.
    ///
    /// # Errors
    /// A parameter the endpoint does not know.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        match self.pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            None => Ok(()),
            Some((name, _)) => Err(Problem::invalid_query(name, format!("unknown parameter {name:?}; expected one of {}", known.join(", ")))),
        }
    }
}

/// Refuses a request whose path or query holds an encoded NUL character (`%00`): PostgreSQL
/// cannot store or compare text with it, and no client means it. A path with one names nothing
/// (404); a query with one is a bad parameter (400).
pub async fn refuse_nul(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    const NUL: &str = "%00";
    if request.uri().path().contains(NUL) {
        return Problem::not_found("no resource has a NUL character in its path").into_response();
    }
    if request.uri().query().is_some_and(|q| q.contains(NUL)) {
        return Problem::invalid_query("", "expected text without NUL characters but found one").into_response();
    }
    next.run(request).await
}

/// The parameters that select what the metrics cover.
pub const FILTERS: [&str; 6] = ["from", "to", "service", "team", "environment", "benchmarks"];

/// What a read covers.
#[derive(Debug, Clone)]
pub struct Filters {
    /// Window start, inclusive.
    pub from: Millis,
    /// Window end, exclusive.
    pub to: Millis,
    /// The environment, normalized.
    pub environment: String,
    /// The services.
    pub scope: Scope,
    /// The benchmark year.
    pub benchmarks: Benchmarks,
}

impl Filters {
    /// Reads the filters; the window defaults to the last 30 days and the environment to
    /// production. `team_services` lists the services a team owns, by configuration or because
    /// their deployments name the team.
    ///
    /// # Errors
    /// Every invalid filter gives a 400 naming the parameter.
    pub fn parse(params: &Params, config: &ApiConfig, now: Millis, team_services: impl Fn(&str) -> BTreeSet<String>) -> Result<Self, Problem> {
        let to = match params.one("to")? {
            Some(text) => parse_time(text, now).ok_or_else(|| bad_time("to", text))?,
            None => now,
        };
        let from = match params.one("from")? {
            Some(text) => parse_time(text, now).ok_or_else(|| bad_time("from", text))?,
            None => to - 30 * DAY,
        };
        if from >= to {
            return Err(Problem::invalid_query("from", "expected from before to but found it at or after to"));
        }
        let environment = params.one("environment")?.map_or_else(|| config.normalizer.environment("production"), |e| config.normalizer.environment(e));
        let benchmarks = match params.one("benchmarks")? {
            Some(year) => Benchmarks::parse(year)
                .ok_or_else(|| Problem::invalid_query("benchmarks", format!("expected one of 2021, 2023, 2024 but found {year:?}")))?,
            None => config.benchmarks,
        };
        let mut services: Option<BTreeSet<String>> = None;
        let named: Vec<&str> = params.all("service");
        if !named.is_empty() {
            services = Some(named.iter().map(|s| (*s).to_owned()).collect());
        }
        if let Some(team) = params.one("team")? {
            let owned = team_services(team);
            if owned.is_empty() {
                return Err(Problem::invalid_query("team", format!("unknown team {team:?}: no configured services and no deployments name it")));
            }
            services = Some(match services {
                Some(named) => named.intersection(&owned).cloned().collect(),
                None => owned,
            });
        }
        Ok(Self { from, to, environment, scope: Scope { services }, benchmarks })
    }
}

fn bad_time(name: &str, text: &str) -> Problem {
    Problem::invalid_query(
        name,
        format!("expected an RFC 3339 timestamp with an offset, epoch milliseconds, or now-30d style but found {text:?}"),
    )
}

/// Parses a point in time: RFC 3339 with an offset, epoch milliseconds (as Grafana sends), `now`,
/// or `now-<n><unit>` with unit `s`, `m`, `h`, `d` or `w`.
pub fn parse_time(text: &str, now: Millis) -> Option<Millis> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let rest = text.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now);
    }
    let (sign, amount) = match rest.as_bytes().first()? {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return None,
    };
    let unit = match amount.chars().last()? {
        's' => SECOND,
        'm' => 60 * SECOND,
        'h' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    let count: i64 = amount[..amount.len() - 1].parse().ok()?;
    now.checked_add(sign * count.checked_mul(unit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_334_400_000;

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(parse_time("now", NOW), Some(NOW));
        assert_eq!(parse_time("now-30d", NOW), Some(NOW - 30 * DAY));
        assert_eq!(parse_time("now-2w", NOW), Some(NOW - 14 * DAY));
        assert_eq!(parse_time("now-90m", NOW), Some(NOW - 90 * 60 * SECOND));
        assert_eq!(parse_time("now-3y", NOW), None);
        assert_eq!(parse_time("now-d", NOW), None);
    }

    #[test]
    fn absolute_times_need_an_offset_or_are_epoch_millis() {
        assert_eq!(parse_time("2026-11-22T09:00:00+01:00", NOW), Some(NOW));
        assert_eq!(parse_time("1795334400000", NOW), Some(NOW));
        assert_eq!(parse_time("2026-11-22T08:00:00", NOW), None);
    }
}
