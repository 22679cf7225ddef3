//! OpenSLO v1 files read into pacer's SLOs (`[[openslo]]`): each `SLO` with a ratio SLI whose
//! sources are Prometheus queries becomes one pacer SLO per objective, counted and alerted on as a
//! `[[slo]]` with `[slo.prometheus]` is.
//!
//! Follows the OpenSLO v1 specification (<https://github.com/OpenSLO/OpenSLO#slo>): a file holds
//! one or more YAML documents, each an object or a list of objects; `SLO` objects are read, `SLI`
//! objects are what an `indicatorRef` names, `DataSource` objects what a `metricSourceRef` names
//! (its type, and `connectionDetails.url` as the Prometheus server); other kinds are left alone.
//!
//! pacer counts good and total events, so it takes a `ratioMetric` with `good` or `bad` beside
//! `total`, under any `budgetingMethod`: `Occurrences`, `Timeslices` (each objective's
//! `timeSliceWindow` and `timeSliceTarget`) or `RatioTimeslices` (its `timeSliceWindow`); a
//! `timeWindow` rolling (`isRolling: true`, 1 to 90 days, default 30) or calendar-aligned
//! (`calendar: {startTime, timeZone}`, a `duration` of days to a year: `1w`, `1M`, `1Q`, `1Y`).
//! A query is taken as it is when it uses `$window`; with `counter: true` a bare selector, or a
//! `sum` of one, is made the increase over `$window`.
//! Everything else is an error naming the file, the path in the YAML and the problem — all of
//! them at once. This module only reads text; the settings find and read the files.

use std::collections::HashMap;

use pacer_collector::Normalizer;
use pacer_engine::burn::Budgeting;
use pacer_engine::model::{DAY, HOUR, MINUTE};
use yaml_rust2::{Yaml, YamlLoader};

use crate::config::{BurnAlerts, Slo, SloSource};
use crate::slo::calendar::{Calendar, Every};
use crate::week::Zone;

/// What an `[[openslo]]` entry gives each SLO its files hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// The Prometheus server, unless a `DataSource` names one.
    pub prometheus_url: Option<String>,
    /// The environment of every SLO.
    pub environment: String,
    /// Fewest events in a short window for a burn alert to count.
    pub min_events: f64,
    /// Whether a page-level burn may roll back.
    pub rollback: bool,
    /// Who raises their burn alerts.
    pub burn_alerts: BurnAlerts,
}

/// Where a value is: its file and its path in the file.
#[derive(Clone, Copy)]
struct Node<'a> {
    file: &'a str,
    path: &'a str,
}

/// A node and the path it owns (paths are built as the tree is walked).
struct At<'a> {
    yaml: &'a Yaml,
    file: &'a str,
    path: String,
}

impl<'a> At<'a> {
    fn node(&self) -> Node<'_> {
        Node { file: self.file, path: &self.path }
    }

    fn get(&self, key: &str) -> At<'a> {
        let path = if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) };
        At { yaml: &self.yaml[key], file: self.file, path }
    }

    fn index(&self, i: usize) -> At<'a> {
        At { yaml: &self.yaml[i], file: self.file, path: format!("{}[{i}]", self.path) }
    }

    fn error(&self, errors: &mut Vec<String>, problem: impl std::fmt::Display) {
        self.node().error(errors, problem);
    }

    fn missing(&self) -> bool {
        matches!(self.yaml, Yaml::BadValue | Yaml::Null)
    }

    /// The text here; an error when absent (`required`) or not text.
    fn text(&self, errors: &mut Vec<String>, required: bool) -> Option<&'a str> {
        match self.yaml {
            Yaml::String(s) if !s.trim().is_empty() => Some(s.as_str()),
            Yaml::BadValue | Yaml::Null if !required => None,
            Yaml::BadValue | Yaml::Null => {
                self.error(errors, "required but missing");
                None
            }
            other => {
                self.error(errors, format!("expected text but found {}", describe(other)));
                None
            }
        }
    }
}

impl Node<'_> {
    fn error(&self, errors: &mut Vec<String>, problem: impl std::fmt::Display) {
        let path = if self.path.is_empty() { "(top)" } else { self.path };
        errors.push(format!("{}: {path}: {problem}", self.file));
    }
}

fn describe(yaml: &Yaml) -> String {
    match yaml {
        Yaml::Real(r) => format!("the number {r}"),
        Yaml::Integer(i) => format!("the number {i}"),
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Boolean(b) => format!("{b}"),
        Yaml::Array(_) => "a list".to_owned(),
        Yaml::Hash(_) => "a mapping".to_owned(),
        Yaml::Alias(_) => "an alias".to_owned(),
        Yaml::Null | Yaml::BadValue => "nothing".to_owned(),
    }
}

fn number(yaml: &Yaml) -> Option<f64> {
    match yaml {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(_) => yaml.as_f64(),
        _ => None,
    }
}

/// Reads the OpenSLO `files` — (name, text) — of one `[[openslo]]` entry into SLOs, adding every
/// problem to `errors` as `file: path.in.yaml: problem`. SLIs and data sources are looked up
/// across all the files.
pub fn load(files: &[(String, String)], defaults: &Defaults, normalizer: &Normalizer, errors: &mut Vec<String>) -> Vec<Slo> {
    let mut parsed = Vec::new();
    for (name, text) in files {
        match YamlLoader::load_from_str(text) {
            Ok(documents) => parsed.push((name.as_str(), documents)),
            Err(e) => errors.push(format!("{name}: line {} column {}: invalid YAML: {}", e.marker().line(), e.marker().col() + 1, e.info())),
        }
    }
    let mut objects = Vec::new();
    for (file, documents) in &parsed {
        let many = documents.len() > 1;
        for (d, document) in documents.iter().enumerate() {
            let root = At { yaml: document, file, path: if many { format!("document[{d}]") } else { String::new() } };
            match document {
                Yaml::Array(items) => objects.extend((0..items.len()).map(|i| root.index(i))),
                _ => objects.push(root),
            }
        }
    }
    let mut slis = HashMap::new();
    let mut sources = HashMap::new();
    let mut slo_objects = Vec::new();
    for object in objects {
        let api_version = object.get("apiVersion");
        match api_version.yaml.as_str() {
            Some("openslo/v1") => {}
            _ => {
                api_version.error(errors, format!("expected openslo/v1 but found {}", describe(api_version.yaml)));
                continue;
            }
        }
        let name = object.get("metadata").get("name").yaml.as_str().unwrap_or_default().to_owned();
        match object.get("kind").yaml.as_str() {
            Some("SLO") => slo_objects.push(object),
            Some("SLI") => {
                slis.insert(name, object);
            }
            Some("DataSource") => {
                sources.insert(name, object);
            }
            Some(_) => {}
            None => object.get("kind").error(errors, "required but missing"),
        }
    }
    let lookup = Lookup { slis: &slis, sources: &sources };
    let mut slos = Vec::new();
    for object in &slo_objects {
        slos.extend(slo(object, &lookup, defaults, normalizer, errors));
    }
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    slos
}

struct Lookup<'l, 'a> {
    slis: &'l HashMap<String, At<'a>>,
    sources: &'l HashMap<String, At<'a>>,
}

/// The SLOs of one `SLO` object, one per objective.
fn slo(object: &At<'_>, lookup: &Lookup<'_, '_>, defaults: &Defaults, normalizer: &Normalizer, errors: &mut Vec<String>) -> Vec<Slo> {
    let before = errors.len();
    let name = object.get("metadata").get("name").text(errors, true);
    let spec = object.get("spec");
    let service = spec.get("service").text(errors, true);
    let method_at = spec.get("budgetingMethod");
    let method = match method_at.text(errors, true) {
        Some(method @ ("Occurrences" | "Timeslices" | "RatioTimeslices")) => Some(method),
        Some(other) => {
            method_at.error(errors, format!("expected Occurrences, Timeslices or RatioTimeslices but found {other:?}"));
            None
        }
        None => None,
    };
    let window = window(&spec.get("timeWindow"), errors);
    let source = indicator(&spec, lookup, defaults, errors);
    let objectives = spec.get("objectives");
    let mut targets = Vec::new();
    match objectives.yaml {
        Yaml::Array(items) if !items.is_empty() => {
            for i in 0..items.len() {
                targets.extend(objective(&objectives.index(i), method, errors));
            }
        }
        other if objectives.missing() || matches!(other, Yaml::Array(_)) => objectives.error(errors, "expected at least one objective"),
        other => objectives.error(errors, format!("expected a list but found {}", describe(other))),
    }
    let (Some(name), Some(service), Some((window, calendar)), Some(source)) = (name, service, window, source) else { return Vec::new() };
    if errors.len() > before {
        return Vec::new();
    }
    let many = targets.len() > 1;
    targets
        .into_iter()
        .enumerate()
        .map(|(i, (objective, budgeting))| Slo {
            name: if many { format!("{name}-{i}") } else { name.to_owned() },
            service: service.to_owned(),
            environment: normalizer.environment(&defaults.environment),
            objective,
            window,
            calendar,
            budgeting,
            min_events: defaults.min_events,
            rollback: defaults.rollback,
            burn_alerts: defaults.burn_alerts,
            source: source.clone(),
        })
        .collect()
}

/// Which of the exclusive keys `first` and `second` of `parent` is given: `Some(true)` for
/// `first`; an error when both or neither are (`also` ends the latter's message).
fn either(parent: &At<'_>, first: &str, second: &str, also: &str, errors: &mut Vec<String>) -> Option<bool> {
    match (parent.get(first).missing(), parent.get(second).missing()) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        (false, false) => {
            parent.error(errors, format!("expected {first} or {second}, not both"));
            None
        }
        (true, true) => {
            parent.error(errors, format!("expected {first} or {second}{also}"));
            None
        }
    }
}

/// The window: its length in milliseconds (30 days when none is given), and its calendar when
/// it is calendar-aligned (its length then the periods' usual one, a month as 30 days).
fn window(time_window: &At<'_>, errors: &mut Vec<String>) -> Option<(i64, Option<Calendar>)> {
    if time_window.missing() {
        return Some((30 * DAY, None));
    }
    let Yaml::Array(items) = time_window.yaml else {
        time_window.error(errors, format!("expected a list of one window but found {}", describe(time_window.yaml)));
        return None;
    };
    if items.len() != 1 {
        time_window.error(errors, format!("expected exactly one window but found {}", items.len()));
        return None;
    }
    let item = time_window.index(0);
    let rolling = item.get("isRolling");
    let calendar = item.get("calendar");
    let duration = item.get("duration");
    if !calendar.missing() {
        // "isRolling: … if omitted assumed `false` if `calendar:` is present".
        if !rolling.missing() && rolling.yaml.as_bool() != Some(false) {
            rolling.error(errors, format!("expected false (or nothing) beside a calendar but found {}", describe(rolling.yaml)));
        }
        let every = duration.text(errors, true).and_then(|text| Every::parse(text).map_err(|e| duration.error(errors, e)).ok());
        let start_at = calendar.get("startTime");
        let start = start_at.text(errors, true).and_then(|text| Calendar::parse_start(text).map_err(|e| start_at.error(errors, e)).ok());
        let zone_at = calendar.get("timeZone");
        let zone = zone_at.text(errors, true).and_then(|name| Zone::parse(name).map_err(|e| zone_at.error(errors, e)).ok());
        let (every, start, zone) = (every?, start?, zone?);
        return Some((every.nominal(), Some(Calendar { start, zone, every })));
    }
    let mut ok = true;
    if rolling.yaml.as_bool() != Some(true) {
        rolling.error(errors, format!("expected true, or a calendar beside isRolling: false, but found {}", describe(rolling.yaml)));
        ok = false;
    }
    let length = duration.text(errors, true).and_then(|text| {
        let length = shorthand(text);
        match length {
            Some(length) if (DAY..=90 * DAY).contains(&length) => Some(length),
            Some(_) => {
                duration.error(errors, format!("expected 1 to 90 days but found {text}"));
                None
            }
            None => {
                duration.error(errors, format!("expected a number and m, h, d or w (such as 28d) but found {text:?}"));
                None
            }
        }
    });
    length.filter(|_| ok).map(|length| (length, None))
}

/// A duration shorthand of fixed length (`m`, `h`, `d`, `w`) in milliseconds; months, quarters
/// and years have no fixed length.
fn shorthand(text: &str) -> Option<i64> {
    let unit = match text.chars().last()? {
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    let count: i64 = text[..text.len() - 1].parse().ok().filter(|n| *n > 0)?;
    count.checked_mul(unit)
}

/// An objective's target as a fraction, and how it budgets by the SLO's `method`: its
/// `timeSliceWindow` (a duration shorthand, or a number of minutes) and `timeSliceTarget`.
fn objective(item: &At<'_>, method: Option<&str>, errors: &mut Vec<String>) -> Option<(f64, Budgeting)> {
    let budgeting = match method? {
        "Timeslices" | "RatioTimeslices" => {
            let slice_at = item.get("timeSliceWindow");
            let slice = match slice_at.yaml {
                Yaml::Integer(minutes) => minutes.checked_mul(MINUTE),
                Yaml::String(text) => shorthand(text),
                _ if slice_at.missing() => {
                    slice_at.error(errors, format!("required with budgetingMethod: {}", method.unwrap_or_default()));
                    return None;
                }
                _ => None,
            };
            let slice = match slice.map(|width| Budgeting::check_slice(width).map(|()| width)) {
                Some(Ok(width)) => width,
                Some(Err(e)) => {
                    slice_at.error(errors, e);
                    return None;
                }
                None => {
                    slice_at.error(errors, format!("expected a duration such as 1m (or a number of minutes) but found {}", describe(slice_at.yaml)));
                    return None;
                }
            };
            if method == Some("RatioTimeslices") {
                Budgeting::RatioTimeslices { slice }
            } else {
                let target_at = item.get("timeSliceTarget");
                match number(target_at.yaml) {
                    Some(target) if target > 0.0 && target <= 1.0 => Budgeting::Timeslices { slice, target },
                    _ if target_at.missing() => {
                        target_at.error(errors, "required with budgetingMethod: Timeslices");
                        return None;
                    }
                    _ => {
                        target_at.error(errors, format!("expected a fraction above 0 and up to 1 (0.95) but found {}", describe(target_at.yaml)));
                        return None;
                    }
                }
            }
        }
        _ => Budgeting::Occurrences,
    };
    target(item, errors).map(|target| (target, budgeting))
}

/// An objective's target as a fraction.
fn target(item: &At<'_>, errors: &mut Vec<String>) -> Option<f64> {
    for composite in ["indicator", "indicatorRef"] {
        if !item.get(composite).missing() {
            item.get(composite).error(errors, "composite SLOs are not supported: the SLO's indicator counts for every objective");
            return None;
        }
    }
    let (target, percent) = (item.get("target"), item.get("targetPercent"));
    let value = if either(item, "target", "targetPercent", "", errors)? {
        number(target.yaml).filter(|t| *t > 0.0 && *t < 1.0).ok_or((target, "a fraction above 0 and below 1 (0.999)"))
    } else {
        number(percent.yaml).filter(|t| *t > 0.0 && *t < 100.0).map(|t| t / 100.0).ok_or((percent, "a percentage above 0 and below 100 (99.9)"))
    };
    value.map_err(|(at, expected)| at.error(errors, format!("expected {expected} but found {}", describe(at.yaml)))).ok()
}

/// The Prometheus source of the SLO's indicator (inline, or the `SLI` its `indicatorRef` names).
fn indicator(spec: &At<'_>, lookup: &Lookup<'_, '_>, defaults: &Defaults, errors: &mut Vec<String>) -> Option<SloSource> {
    let sli_spec = if either(spec, "indicator", "indicatorRef", "", errors)? {
        spec.get("indicator").get("spec")
    } else {
        let reference = spec.get("indicatorRef");
        let name = reference.text(errors, true)?;
        match lookup.slis.get(name) {
            Some(sli) => sli.get("spec"),
            None => {
                reference.error(errors, format!("no SLI named {name:?} in the files of this [[openslo]] entry"));
                return None;
            }
        }
    };
    let ratio = sli_spec.get("ratioMetric");
    if ratio.missing() {
        if sli_spec.get("thresholdMetric").missing() {
            sli_spec.error(errors, "expected a ratioMetric");
        } else {
            sli_spec.get("thresholdMetric").error(errors, "pacer counts good and total events: expected a ratioMetric, not a thresholdMetric");
        }
        return None;
    }
    if !ratio.get("raw").missing() {
        ratio.get("raw").error(errors, "a precomputed ratio cannot be summed over windows: expected good or bad beside total");
        return None;
    }
    let counter = ratio.get("counter");
    let counter = match counter.yaml {
        Yaml::Boolean(b) => *b,
        Yaml::BadValue | Yaml::Null => false,
        other => {
            counter.error(errors, format!("expected true or false but found {}", describe(other)));
            return None;
        }
    };
    let good_side = either(&ratio, "good", "bad", " beside total", errors);
    let numerator = good_side.map(|good| ratio.get(if good { "good" } else { "bad" }));
    let total = ratio.get("total");
    let total_query = if total.missing() {
        ratio.error(errors, "expected total beside good or bad");
        None
    } else {
        prometheus(&total, lookup, counter, errors)
    };
    let numerator_query = match &numerator {
        Some(side) => prometheus(side, lookup, counter, errors),
        None => None,
    };
    let named = [&total_query, &numerator_query].into_iter().flatten().find_map(|(url, _)| url.clone());
    let url = named.or_else(|| defaults.prometheus_url.clone());
    if url.is_none() {
        ratio.error(errors, "no Prometheus server: set prometheus_url in the [[openslo]] entry, or connectionDetails.url in the DataSource the metricSourceRef names");
    }
    let (total_query, numerator_query) = (total_query.map(|(_, q)| q), numerator_query.map(|(_, q)| q));
    let (url, total, numerator, good_side) = (url?, total_query?, numerator_query?, good_side?);
    Some(SloSource::Prometheus {
        url,
        good: good_side.then(|| numerator.clone()),
        errors: (!good_side).then_some(numerator),
        total,
    })
}

/// The query of one side of the ratio, over `$window`, and the URL its data source names.
fn prometheus(metric: &At<'_>, lookup: &Lookup<'_, '_>, counter: bool, errors: &mut Vec<String>) -> Option<(Option<String>, String)> {
    let source = metric.get("metricSource");
    if source.missing() {
        source.error(errors, "required but missing");
        return None;
    }
    let reference = source.get("metricSourceRef");
    let data_source = match reference.text(errors, false) {
        Some(name) => match lookup.sources.get(name) {
            Some(found) => Some(found),
            None => {
                reference.error(errors, format!("no DataSource named {name:?} in the files of this [[openslo]] entry"));
                return None;
            }
        },
        None => None,
    };
    let kind = source.get("type");
    let kind_text = match (kind.text(errors, false), data_source) {
        (Some(kind), _) => Some(kind),
        (None, Some(data_source)) => data_source.get("spec").get("type").yaml.as_str(),
        (None, None) => None,
    };
    if kind_text != Some("Prometheus") {
        let found = kind_text.map_or_else(|| "nothing".to_owned(), |k| format!("{k:?}"));
        kind.error(errors, format!("pacer reads Prometheus sources: expected Prometheus but found {found}"));
        return None;
    }
    let url = data_source.and_then(|d| d.get("spec").get("connectionDetails").get("url").yaml.as_str().map(str::to_owned));
    let query_at = source.get("spec").get("query");
    let query = query_at.text(errors, true)?;
    if query.contains("$window") {
        return Some((url, query.to_owned()));
    }
    if !counter {
        query_at.error(errors, "expected ratioMetric.counter: true (pacer counts events over windows) or a query that uses $window");
        return None;
    }
    match over_window(query) {
        Some(query) => Some((url, query)),
        None => {
            query_at.error(errors, "expected a selector such as http_requests_total{code=\"500\"}, a sum of one, or a query that uses $window");
            None
        }
    }
}

/// A counter's selector, or a `sum` of one, as its increase over `$window`:
/// `sum(x{a="b"})` becomes `sum(increase(x{a="b"}[$window]))`. Groupings (`by`, `without`) are
/// dropped: pacer adds up every series the query returns. `None` for any other query.
pub fn over_window(query: &str) -> Option<String> {
    let query = query.trim();
    if is_selector(query) {
        return Some(format!("increase({query}[$window])"));
    }
    let rest = query.strip_prefix("sum")?.trim_start();
    let rest = skip_grouping(rest)?;
    let inner_and_after = rest.strip_prefix('(')?;
    let close = closing(inner_and_after)?;
    let (inner, after) = (&inner_and_after[..close], &inner_and_after[close + 1..]);
    let after = skip_grouping(after.trim_start())?;
    (after.trim().is_empty() && is_selector(inner.trim())).then(|| format!("sum(increase({}[$window]))", inner.trim()))
}

/// What follows a `by (…)` or `without (…)` clause at the start of `text` (all of `text` when
/// it has none).
fn skip_grouping(text: &str) -> Option<&str> {
    for word in ["by", "without"] {
        if let Some(rest) = text.strip_prefix(word)
            && rest.trim_start().starts_with('(')
        {
            let rest = rest.trim_start();
            let close = closing(&rest[1..])?;
            return Some(rest[close + 2..].trim_start());
        }
    }
    Some(text)
}

/// The characters of `text` outside PromQL's quoted strings (`"…"`, `'…'`, `` `…` ``), with
/// their byte offsets.
fn unquoted(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut quote = None;
    let mut escaped = false;
    text.char_indices().filter(move |&(_, c)| match quote {
        Some(q) => {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            false
        }
        None if matches!(c, '"' | '\'' | '`') => {
            quote = Some(c);
            false
        }
        None => true,
    })
}

/// The index of the `)` closing the group `text` is inside of, skipping quoted strings.
fn closing(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in unquoted(text) {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Whether `text` is one instant vector selector: `name`, `name{…}` or `{…}`.
fn is_selector(text: &str) -> bool {
    let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    if name.starts_with(|c: char| c.is_ascii_digit()) || (name.is_empty() && !rest.starts_with('{')) {
        return false;
    }
    let rest = rest.trim_start();
    if rest.is_empty() {
        return !name.is_empty();
    }
    let Some(matchers) = rest.strip_prefix('{') else { return false };
    for (i, c) in unquoted(matchers) {
        match c {
            '}' => return matchers[i + 1..].trim().is_empty(),
            '{' | '(' | '[' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (String, String) {
        let path = format!("{}/../../shared/fixtures/openslo/{name}", env!("CARGO_MANIFEST_DIR"));
        (name.to_owned(), std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    fn defaults() -> Defaults {
        Defaults { prometheus_url: Some("http://prometheus:9090".to_owned()), environment: "production".to_owned(), min_events: 10.0, rollback: true, burn_alerts: BurnAlerts::Pacer }
    }

    fn read(files: &[(String, String)]) -> (Vec<Slo>, Vec<String>) {
        let mut errors = Vec::new();
        let slos = load(files, &defaults(), &Normalizer::default(), &mut errors);
        (slos, errors)
    }

    #[test]
    fn the_specifications_prometheus_ratio_slo_loads_as_it_is_published() {
        let (slos, errors) = read(&[fixture("v1-examples--slos.yaml")]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(slos.len(), 1);
        let slo = &slos[0];
        assert_eq!((slo.name.as_str(), slo.service.as_str(), slo.environment.as_str()), ("web-availability", "web", "production"));
        assert_eq!((slo.objective, slo.window), (0.995, 7 * DAY));
        assert_eq!(slo.budgeting, Budgeting::Timeslices { slice: MINUTE, target: 0.95 }, "timeSliceWindow: 1m, timeSliceTarget: 0.95");
        let calendar = slo.calendar.expect("a calendar window");
        assert_eq!(calendar.every, Every::Days(7));
        assert_eq!(calendar.zone.name(), "America/New_York");
        assert_eq!(calendar.start.to_string(), "2022-01-01 12:00:00");
        let SloSource::Prometheus { url, good, errors, total } = &slo.source else { panic!("prometheus") };
        assert_eq!(url, "http://prometheus:9090");
        assert_eq!(good.as_deref(), Some("sum(increase(http_requests{k8s_cluster=\"prod\",component=\"web\",code=~\"2xx|4xx\"}[$window]))"));
        assert_eq!(errors, &None);
        assert_eq!(total, "sum(increase(http_requests{k8s_cluster=\"prod\",component=\"web\"}[$window]))");
    }

    #[test]
    fn the_examples_pacer_cannot_count_are_refused_naming_file_path_and_problem() {
        let (slos, errors) = read(&[
            fixture("budgeting-method--occurences-slo.yaml"),
            fixture("budgeting-method--ratio-timeslices.yaml"),
            fixture("budgeting-method--timeslices-slo.yaml"),
            fixture("treat-low-traffic-as-equally-important--timeslices-slo.yaml"),
        ]);
        assert!(slos.is_empty());
        let expected = [
            "budgeting-method--occurences-slo.yaml: spec.indicator.spec.thresholdMetric: pacer counts good and total events: expected a ratioMetric, not a thresholdMetric",
            "budgeting-method--ratio-timeslices.yaml: spec.indicator.spec.ratioMetric.total.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
            "budgeting-method--ratio-timeslices.yaml: spec.indicator.spec.ratioMetric.good.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
            // "duration: 1m # Contracts often are for 1 month": m is minutes, M months.
            "budgeting-method--timeslices-slo.yaml: spec.timeWindow[0].duration: expected a calendar period of days or longer (d, w, M, Q or Y; m is minutes) but found \"1m\"",
            "budgeting-method--timeslices-slo.yaml: spec.indicator.spec.ratioMetric.good.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
            "treat-low-traffic-as-equally-important--timeslices-slo.yaml: spec.indicator.spec.ratioMetric.good.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
        ];
        for line in expected {
            assert!(errors.iter().any(|e| e == line), "{line}\nnot in {errors:#?}");
        }
        assert!(!errors.iter().any(|e| e.contains("budgetingMethod") || e.contains(".calendar") || e.contains("timeSlice")), "every budgeting method and calendar window of the examples reads: {errors:#?}");
        assert!(errors.iter().all(|e| e.contains(".yaml: ") && e.matches(": ").count() >= 2), "{errors:#?}");
    }

    #[test]
    fn time_slices_and_calendars_are_read_or_named_precisely() {
        let slo = |method: &str, window: &str, objective: &str| {
            format!(
                "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: api\nspec:\n  service: api\n  budgetingMethod: {method}\n  timeWindow:\n{window}\n  objectives:\n{objective}\n  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        good:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: ok_total\n        total:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: all_total\n"
            )
        };
        let rolling = "    - duration: 28d\n      isRolling: true";
        let quarter = "    - duration: 1Q\n      calendar:\n        startTime: 2026-01-01 00:00:00\n        timeZone: Europe/Berlin";
        let (slos, errors) = read(&[("a.yaml".to_owned(), slo("RatioTimeslices", quarter, "    - target: 0.99\n      timeSliceWindow: 5"))]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(slos[0].budgeting, Budgeting::RatioTimeslices { slice: 5 * MINUTE }, "a bare number of minutes");
        assert_eq!(slos[0].calendar.map(|c| (c.every, c.zone.name())), Some((Every::Months(3), "Europe/Berlin")), "isRolling omitted beside a calendar is false");
        let (slos, errors) = read(&[("a.yaml".to_owned(), slo("Timeslices", rolling, "    - target: 0.99\n      timeSliceTarget: 1\n      timeSliceWindow: 30s"))]);
        assert!(slos.is_empty());
        assert!(errors.iter().any(|e| e.starts_with("a.yaml: spec.objectives[0].timeSliceWindow: expected a duration such as 1m")), "30s is no OpenSLO shorthand: {errors:#?}");
        for (method, window, objective, expected) in [
            ("Timeslices", rolling, "    - target: 0.99\n      timeSliceWindow: 1m", "a.yaml: spec.objectives[0].timeSliceTarget: required with budgetingMethod: Timeslices"),
            ("Timeslices", rolling, "    - target: 0.99\n      timeSliceTarget: 0\n      timeSliceWindow: 1m", "a.yaml: spec.objectives[0].timeSliceTarget: expected a fraction above 0 and up to 1 (0.95) but found the number 0"),
            ("RatioTimeslices", rolling, "    - target: 0.99", "a.yaml: spec.objectives[0].timeSliceWindow: required with budgetingMethod: RatioTimeslices"),
            ("RatioTimeslices", rolling, "    - target: 0.99\n      timeSliceWindow: 7m", "a.yaml: spec.objectives[0].timeSliceWindow: expected whole seconds dividing 300 s"),
            ("Events", rolling, "    - target: 0.99", "a.yaml: spec.budgetingMethod: expected Occurrences, Timeslices or RatioTimeslices but found \"Events\""),
            ("Occurrences", "    - duration: 1w\n      isRolling: true\n      calendar:\n        startTime: 2022-01-01 12:00:00\n        timeZone: America/New_York", "    - target: 0.99", "a.yaml: spec.timeWindow[0].isRolling: expected false (or nothing) beside a calendar but found true"),
            ("Occurrences", "    - duration: 1w\n      calendar:\n        startTime: 2022-01-01\n        timeZone: America/New_York", "    - target: 0.99", "a.yaml: spec.timeWindow[0].calendar.startTime: expected a date and time"),
            ("Occurrences", "    - duration: 1w\n      calendar:\n        startTime: 2022-01-01 12:00:00\n        timeZone: Mars/Olympus", "    - target: 0.99", "a.yaml: spec.timeWindow[0].calendar.timeZone: expected an IANA time zone"),
            ("Occurrences", "    - duration: 1w\n      isRolling: false", "    - target: 0.99", "a.yaml: spec.timeWindow[0].isRolling: expected true, or a calendar beside isRolling: false, but found false"),
        ] {
            let (slos, errors) = read(&[("a.yaml".to_owned(), slo(method, window, objective))]);
            assert!(slos.is_empty() && errors.iter().any(|e| e.starts_with(expected)), "{expected}\nnot in {errors:#?}");
        }
    }

    #[test]
    fn references_bad_sides_and_objectives_are_each_read_or_named() {
        let text = "apiVersion: openslo/v1\nkind: DataSource\nmetadata:\n  name: prom\nspec:\n  type: Prometheus\n  connectionDetails:\n    url: http://prom.internal:9090\n\
                    ---\napiVersion: openslo/v1\nkind: SLI\nmetadata:\n  name: errors\nspec:\n  ratioMetric:\n    counter: true\n    bad:\n      metricSource:\n        metricSourceRef: prom\n        spec:\n          query: http_requests_total{code=~\"5..\"}\n    total:\n      metricSource:\n        metricSourceRef: prom\n        spec:\n          query: sum by (code) (http_requests_total)\n\
                    ---\napiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: api\nspec:\n  service: api\n  indicatorRef: errors\n  budgetingMethod: Occurrences\n  timeWindow:\n    - duration: 4w\n      isRolling: true\n  objectives:\n    - targetPercent: 99.9\n    - target: 0.99\n";
        let (slos, errors) = read(&[("slos.yaml".to_owned(), text.to_owned())]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(slos.iter().map(|s| (s.name.as_str(), s.objective, s.window)).collect::<Vec<_>>(), vec![("api-0", 99.9 / 100.0, 28 * DAY), ("api-1", 0.99, 28 * DAY)], "targetPercent reads as [[slo]] objective = 99.9 does");
        let SloSource::Prometheus { url, errors: bad, total, good } = &slos[0].source else { panic!("prometheus") };
        assert_eq!((url.as_str(), good), ("http://prom.internal:9090", &None));
        assert_eq!(bad.as_deref(), Some("increase(http_requests_total{code=~\"5..\"}[$window])"));
        assert_eq!(total, "sum(increase(http_requests_total[$window]))");

        let broken = text.replace("indicatorRef: errors", "indicatorRef: missing").replace("targetPercent: 99.9", "targetPercent: 100").replace("4w", "1Q");
        let (slos, errors) = read(&[("slos.yaml".to_owned(), broken)]);
        assert!(slos.is_empty());
        for expected in [
            "slos.yaml: document[2].spec.indicatorRef: no SLI named \"missing\"",
            "slos.yaml: document[2].spec.objectives[0].targetPercent: expected a percentage above 0 and below 100 (99.9) but found the number 100",
            "slos.yaml: document[2].spec.timeWindow[0].duration: expected a number and m, h, d or w",
        ] {
            assert!(errors.iter().any(|e| e.starts_with(expected)), "{expected}\nnot in {errors:#?}");
        }
        let (_, errors) = read(&[("bad.yaml".to_owned(), "kind: [".to_owned())]);
        assert!(errors[0].starts_with("bad.yaml: line ") && errors[0].contains(": invalid YAML: "), "{errors:#?}");
    }

    #[test]
    fn only_counters_and_sums_of_them_become_increases() {
        assert_eq!(over_window("up").as_deref(), Some("increase(up[$window])"));
        assert_eq!(over_window("sum(x{a=\"(}\"}) by (a)").as_deref(), Some("sum(increase(x{a=\"(}\"}[$window]))"));
        assert_eq!(over_window("sum without (pod) (x)").as_deref(), Some("sum(increase(x[$window]))"));
        for refused in ["rate(x[5m])", "avg(x)", "sum(rate(x[1m]))", "x[5m]", "sum(x) / sum(y)", "1", "{}x"] {
            assert_eq!(over_window(refused), None, "{refused}");
        }
    }
}
