//! Query parameters shared by the read endpoints: the window, the environment, the services (by
//! name or team), the benchmark year and the bucket width. Unknown parameters are errors, to catch
//! typos.
//!
//! Besides the plain forms, the filters take what Grafana's template variables produce, so a
//! dashboard can pass them straight through (Infinity datasource, `${__from}`, `${service:csv}`):
//! epoch milliseconds for `from`/`to`, comma-separated lists for `service` and `team`, and `*` for
//! "every service" or "every team" (the dashboards' custom "All" value).

use std::collections::BTreeSet;

use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::calendar::Interval;
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
        let mut services = listed(params.all("service"));
        if let Some(teams) = params.one("team")?.and_then(|t| listed(vec![t])) {
            let mut owned = BTreeSet::new();
            for team in &teams {
                let of_team = team_services(team);
                if of_team.is_empty() {
                    return Err(Problem::invalid_query("team", format!("unknown team {team:?}: no configured services and no deployments name it")));
                }
                owned.extend(of_team);
            }
            services = Some(match services {
                Some(named) => named.intersection(&owned).cloned().collect(),
                None => owned,
            });
        }
        Ok(Self { from, to, environment, scope: Scope { services }, benchmarks })
    }
}

/// The names a repeatable, comma-separating parameter lists, or `None` for "every one": no value,
/// or `*` among them. Empty items (`a,,b`, a trailing comma) are skipped.
fn listed(values: Vec<&str>) -> Option<BTreeSet<String>> {
    let names: BTreeSet<String> = values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
    (!names.is_empty() && !names.contains(EVERY)).then_some(names)
}

/// The value of `service` or `team` that means every one (the dashboards' "All").
pub const EVERY: &str = "*";

/// Reads a bucket width: `day`, `week`, `month`, or `auto` (by the window's length, as
/// [`auto_interval`] picks); `default` when absent.
///
/// # Errors
/// Any other value.
pub fn interval(params: &Params, from: Millis, to: Millis, default: Interval) -> Result<Interval, Problem> {
    match params.one("interval")? {
        None => Ok(default),
        Some("auto") => Ok(auto_interval(from, to)),
        Some(name) => Interval::parse(name).ok_or_else(|| Problem::invalid_query("interval", format!("expected day, week, month or auto but found {name:?}"))),
    }
}

/// The bucket width for a window when none is named: days up to about six weeks, weeks up to
/// about a year, months beyond.
pub fn auto_interval(from: Millis, to: Millis) -> Interval {
    match (to - from) / DAY {
        0..=45 => Interval::Day,
        46..=400 => Interval::Week,
        _ => Interval::Month,
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
    fn service_and_team_lists_split_on_commas_and_a_star_means_every_one() {
        let set = |names: &[&str]| Some(names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>());
        assert_eq!(listed(vec!["checkout"]), set(&["checkout"]), "one name");
        assert_eq!(listed(vec!["checkout,search", "billing"]), set(&["billing", "checkout", "search"]), "Grafana's csv format, and repetition");
        assert_eq!(listed(vec![" checkout , ,search,"]), set(&["checkout", "search"]), "blanks and empty items are skipped");
        assert_eq!(listed(vec!["*"]), None, "the dashboards' All value");
        assert_eq!(listed(vec!["checkout,*"]), None, "All among names is still every one");
        assert_eq!(listed(vec![""]), None, "an empty value filters nothing");
        assert_eq!(listed(vec![]), None, "no value filters nothing");
    }

    #[test]
    fn a_filtered_read_takes_what_grafana_variables_produce() {
        let config = ApiConfig::default();
        let teams = |team: &str| -> BTreeSet<String> {
            match team {
                "payments" => ["checkout".to_owned(), "billing".to_owned()].into(),
                "search" => ["search".to_owned()].into(),
                _ => BTreeSet::new(),
            }
        };
        let parse = |query: &str| Filters::parse(&Params::parse(Some(query)).expect("query"), &config, NOW, teams);
        let every = parse("from=1795248000000&to=1795334400000&service=%2A&team=%2A").expect("epoch millis and All");
        assert_eq!((every.from, every.to, every.scope.services), (NOW - DAY, NOW, None), "epoch milliseconds of Grafana's range, and All");
        let two = parse("service=checkout%2Csearch").expect("csv");
        assert_eq!(two.scope.services, Some(["checkout".to_owned(), "search".to_owned()].into()), "Grafana's csv format");
        let teams_union = parse("team=payments,search&service=search,billing").expect("teams");
        assert_eq!(teams_union.scope.services, Some(["billing".to_owned(), "search".to_owned()].into()), "named services within the teams' services");
        let unknown = parse("team=payments,nobody").expect_err("an unknown team among several");
        assert!(unknown.detail.contains("nobody"), "{}", unknown.detail);
    }

    #[test]
    fn auto_interval_widens_with_the_window() {
        let params = |q: &str| Params::parse(Some(q)).expect("query");
        assert_eq!(interval(&params("interval=auto"), NOW - 30 * DAY, NOW, Interval::Week).ok(), Some(Interval::Day));
        assert_eq!(interval(&params("interval=auto"), NOW - 90 * DAY, NOW, Interval::Week).ok(), Some(Interval::Week));
        assert_eq!(interval(&params("interval=auto"), NOW - 800 * DAY, NOW, Interval::Week).ok(), Some(Interval::Month));
        assert_eq!(interval(&params(""), NOW - 30 * DAY, NOW, Interval::Week).ok(), Some(Interval::Week), "the default");
        assert!(interval(&params("interval=1h"), NOW - DAY, NOW, Interval::Week).is_err(), "Grafana's $__interval is not a bucket width");
    }

    #[test]
    fn absolute_times_need_an_offset_or_are_epoch_millis() {
        assert_eq!(parse_time("2026-11-22T09:00:00+01:00", NOW), Some(NOW));
        assert_eq!(parse_time("1795334400000", NOW), Some(NOW));
        assert_eq!(parse_time("2026-11-22T08:00:00", NOW), None);
    }
}
