//! Prometheus rules for `[[slo]]` with Prometheus queries (`pacer slo rules`): recording rules
//! for each SLO's requests, errors and error ratio over the burn windows and the SLO window, and
//! the multi-window, multi-burn-rate page and ticket alerts — as a rule file or as a Prometheus
//! Operator `PrometheusRule` resource.
//!
//! The rules compute what pacer's evaluator computes ([`pacer_engine::burn::firing`] over the
//! counts of [`crate::read::slo`]), operation for operation, so that Prometheus and pacer decide
//! alike on the same series: each window's counts are the configured queries with `$window`
//! replaced, summed over series (an empty answer counts 0); good events are clamped to
//! `[0, total]`; the error ratio is Σbad / Σtotal over the window (never an average of ratios) —
//! or, for a time-slice SLO, the mean over the window of each slice's badness, recorded once per
//! slice width in a group of its own (as [`pacer_engine::burn::Slices`] counts them);
//! a condition holds when both windows' burn rates (error ratio / (1 − objective)) exceed its
//! threshold and the short window saw at least `min_events` requests.
//!
//! The alerts carry the labels pacer's Alertmanager receiver reads: the service and environment
//! under the first configured alert label names (`[alerts] service_labels`,
//! `environment_labels`), `slo`, and `severity` (`page` or `ticket`). This module only builds
//! text; the command that prints it lives in the binary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pacer_engine::burn::{CONDITIONS, Severity, WINDOWS};
use pacer_engine::model::{DAY, HOUR, MINUTE, SECOND};
use pacer_engine::Millis;

use crate::config::{Slo, SloSource};

/// The alert's name, the one pacer's own evaluator sends for a burn.
pub const ALERT: &str = "SLOBurnRate";

/// How the rules are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A Prometheus rule file (`rule_files:`), as `promtool check rules` reads it.
    Rules,
    /// A Prometheus Operator `PrometheusRule` resource.
    Operator(Resource),
}

/// The `PrometheusRule` resource's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when given.
    pub namespace: Option<String>,
    /// `metadata.labels`, such as the ones the Prometheus resource's `ruleSelector` selects.
    pub labels: BTreeMap<String, String>,
}

/// The alert label names that carry the service and the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelNames<'a> {
    /// The service's label (`service` by default).
    pub service: &'a str,
    /// The environment's label (`environment` by default).
    pub environment: &'a str,
}

/// What keeps rules from being made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The SLO counts `sli` events, which Prometheus does not see.
    #[error("slo {0:?} counts sli events; rules need an [slo.prometheus] source")]
    NotPrometheus(String),
    /// No SLO to make rules of.
    #[error("expected at least one [[slo]] with an [slo.prometheus] source but found none")]
    Nothing,
    /// A label name Prometheus would reject.
    #[error("{0:?} is not a Prometheus label name (expected letters, digits and _, not starting with a digit)")]
    LabelName(String),
}

/// One rule group: all of one SLO's rules, recording rules first, so that the alerts evaluated
/// after them in the same group see this evaluation's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `pacer-slo-<name>`, or `pacer-slo-<name>-slices` for a time-slice SLO's slices.
    pub name: String,
    /// How often Prometheus evaluates it, when not its global `evaluation_interval`: a
    /// time-slice SLO's slices are recorded once per slice width.
    pub interval: Option<String>,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// One recording or alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A recording rule.
    Record {
        /// The recorded series' name.
        record: String,
        /// Its PromQL.
        expr: String,
        /// Labels set on the recorded series.
        labels: BTreeMap<String, String>,
    },
    /// An alerting rule.
    Alert {
        /// The alert's name.
        alert: String,
        /// Its PromQL.
        expr: String,
        /// Labels of the alert.
        labels: BTreeMap<String, String>,
        /// Annotations of the alert.
        annotations: BTreeMap<String, String>,
    },
}

/// The recorded series of requests (all events) over a window, e.g. `pacer_slo:requests:increase5m`.
pub fn requests_metric(window: &str) -> String {
    format!("pacer_slo:requests:increase{window}")
}

/// The recorded series of bad events over a window.
pub fn errors_metric(window: &str) -> String {
    format!("pacer_slo:errors:increase{window}")
}

/// The recorded series of each time slice's badness (0 or 1 for time slices, its error ratio for
/// ratio time slices; absent without traffic), one sample per slice, e.g. `pacer_slo:slice_badness:1m`.
pub fn slice_badness_metric(width: &str) -> String {
    format!("pacer_slo:slice_badness:{width}")
}

/// The recorded series of the error ratio over a window (Σbad / Σtotal, or the mean badness of
/// the window's slices for a time-slice SLO).
pub fn error_ratio_metric(window: &str) -> String {
    format!("pacer_slo:error_ratio:increase{window}")
}

/// A window's length as a Prometheus duration in its largest whole unit (`30d`, `36h`, `90m`).
pub fn duration(length: Millis) -> String {
    for (unit, size) in [("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND)] {
        if length % size == 0 {
            return format!("{}{unit}", length / size);
        }
    }
    format!("{length}ms")
}

/// The rule groups of `slos`, one per SLO.
///
/// # Errors
/// An SLO counts `sli` events, none is given, or a label name is not one Prometheus accepts.
pub fn groups(slos: &[&Slo], names: LabelNames<'_>) -> Result<Vec<Group>, RulesError> {
    for name in [names.service, names.environment] {
        if !is_label_name(name) {
            return Err(RulesError::LabelName(name.to_owned()));
        }
    }
    if slos.is_empty() {
        return Err(RulesError::Nothing);
    }
    let mut all = Vec::new();
    for slo in slos {
        all.extend(group(slo, names)?);
    }
    Ok(all)
}

/// One SLO's groups: its slices' group first for a time-slice SLO, then its windows and alerts.
fn group(slo: &Slo, names: LabelNames<'_>) -> Result<Vec<Group>, RulesError> {
    let SloSource::Prometheus { good, errors, total, .. } = &slo.source else { return Err(RulesError::NotPrometheus(slo.name.clone())) };
    let mut groups = Vec::new();
    let mut labels = BTreeMap::new();
    labels.insert("slo".to_owned(), slo.name.clone());
    labels.insert(names.service.to_owned(), slo.service.clone());
    labels.insert(names.environment.to_owned(), slo.environment.clone());
    let selector = format!(
        "{{slo={},{}={},{}={}}}",
        quoted(&slo.name),
        names.service,
        quoted(&slo.service),
        names.environment,
        quoted(&slo.environment)
    );
    let mut windows: Vec<String> = WINDOWS.iter().map(|(name, _)| (*name).to_owned()).collect();
    // A calendar-aligned SLO window has no fixed range Prometheus could look back over: its
    // burn windows are recorded, its budget is pacer's to compute.
    let slo_window = duration(slo.window);
    if slo.calendar.is_none() && !windows.contains(&slo_window) {
        windows.push(slo_window);
    }
    // A time-slice SLO's slices: each slice's badness recorded once per slice width (absent
    // without traffic), so that a window's error ratio is the mean over its slices.
    let slice = slo.budgeting.slice().map(|width| {
        let width_name = duration(width);
        let expr = crate::read::slo::slice_badness(slo.budgeting, good.as_deref(), errors.as_deref(), total, width);
        groups.push(Group {
            name: format!("pacer-slo-{}-slices", slo.name),
            interval: Some(width_name.clone()),
            rules: vec![Rule::Record { record: slice_badness_metric(&width_name), expr, labels: labels.clone() }],
        });
        width_name
    });
    let mut rules = Vec::new();
    for window in &windows {
        let at = |query: &str| format!("(sum({}) or vector(0))", query.replace("$window", window));
        let requests = format!("scalar({}{selector})", requests_metric(window));
        // As the evaluator: good = clamp(good, 0, total), or clamp(total − errors, 0, total);
        // bad = max(total − good, 0).
        let good = match (good, errors) {
            (Some(good), _) => format!("clamp({}, 0, {requests})", at(good)),
            (None, Some(errors)) => format!("clamp({requests} - {}, 0, {requests})", at(errors)),
            (None, None) => format!("clamp({requests} - vector(0), 0, {requests})"),
        };
        rules.push(Rule::Record { record: requests_metric(window), expr: format!("clamp_min({}, 0)", at(total)), labels: labels.clone() });
        rules.push(Rule::Record { record: errors_metric(window), expr: format!("clamp_min({requests} - {good}, 0)"), labels: labels.clone() });
        let error_ratio = match &slice {
            Some(width) => format!("avg_over_time({}{selector}[{window}])", slice_badness_metric(width)),
            None => format!("{}{selector} / {}{selector}", errors_metric(window), requests_metric(window)),
        };
        rules.push(Rule::Record { record: error_ratio_metric(window), expr: error_ratio, labels: labels.clone() });
    }
    // The same float the evaluator divides by, written so that Prometheus reads it back exactly.
    let budget = 1.0 - slo.objective;
    for severity in [Severity::Page, Severity::Ticket] {
        let conditions: Vec<String> = CONDITIONS
            .iter()
            .filter(|c| c.severity == severity)
            .map(|c| {
                let burns = |window: &str| format!("{}{selector} / {budget:?} > {}", error_ratio_metric(window), c.threshold);
                format!(
                    "(\n  {}\n  and {}\n  and {}{selector} >= {}\n)",
                    burns(c.long),
                    burns(c.short),
                    requests_metric(c.short),
                    slo.min_events
                )
            })
            .collect();
        let (level, pace) = match severity {
            Severity::Page => ("page", "fast"),
            Severity::Ticket => ("ticket", "slowly"),
        };
        let pairs: Vec<String> =
            CONDITIONS.iter().filter(|c| c.severity == severity).map(|c| format!("{} & {} > {}", c.long, c.short, c.threshold)).collect();
        let mut alert_labels = labels.clone();
        alert_labels.insert("severity".to_owned(), level.to_owned());
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".to_owned(), format!("error budget of {} burning {pace}", slo.name));
        annotations.insert(
            "description".to_owned(),
            format!("the burn rate of {} ({} of {}) is above {}", slo.name, slo.service, slo.environment, pairs.join(" or ")),
        );
        rules.push(Rule::Alert { alert: ALERT.to_owned(), expr: conditions.join("\nor\n"), labels: alert_labels, annotations });
    }
    groups.push(Group { name: format!("pacer-slo-{}", slo.name), interval: None, rules });
    Ok(groups)
}

/// `groups` as YAML in `format`.
pub fn render(groups: &[Group], format: &Format) -> String {
    let mut out = String::from("# Generated by `pacer slo rules` from pacer's [[slo]] configuration.\n");
    let indent = match format {
        Format::Rules => 0,
        Format::Operator(resource) => {
            out.push_str("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n");
            let _ = writeln!(out, "  name: {}", quoted(&resource.name));
            if let Some(namespace) = &resource.namespace {
                let _ = writeln!(out, "  namespace: {}", quoted(namespace));
            }
            map(&mut out, 2, "labels", &resource.labels);
            out.push_str("spec:\n");
            2
        }
    };
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}groups:");
    for group in groups {
        let _ = writeln!(out, "{pad}  - name: {}", quoted(&group.name));
        if let Some(interval) = &group.interval {
            let _ = writeln!(out, "{pad}    interval: {}", quoted(interval));
        }
        let _ = writeln!(out, "{pad}    rules:");
        for rule in &group.rules {
            let at = indent + 8;
            match rule {
                Rule::Record { record, expr, labels } => {
                    let _ = writeln!(out, "{pad}      - record: {}", quoted(record));
                    scalar(&mut out, at, "expr", expr);
                    map(&mut out, at, "labels", labels);
                }
                Rule::Alert { alert, expr, labels, annotations } => {
                    let _ = writeln!(out, "{pad}      - alert: {}", quoted(alert));
                    scalar(&mut out, at, "expr", expr);
                    map(&mut out, at, "labels", labels);
                    map(&mut out, at, "annotations", annotations);
                }
            }
        }
    }
    out
}

/// `key: value` at `indent`; a value of several plain lines as a literal block, else quoted.
fn scalar(out: &mut String, indent: usize, key: &str, value: &str) {
    let pad = " ".repeat(indent);
    // A literal block keeps every character but cannot start with a space, end with a line
    // break, or hold blank lines and tabs where YAML reads indentation.
    let literal = value.contains('\n')
        && !value.starts_with([' ', '\t'])
        && !value.ends_with('\n')
        && value.lines().all(|line| !line.trim().is_empty() && !line.starts_with('\t') && !line.ends_with([' ', '\t']) && !line.contains(|c: char| c.is_control()));
    if literal {
        let _ = writeln!(out, "{pad}{key}: |-");
        for line in value.lines() {
            let _ = writeln!(out, "{pad}  {line}");
        }
    } else {
        let _ = writeln!(out, "{pad}{key}: {}", quoted(value));
    }
}

fn map(out: &mut String, indent: usize, key: &str, entries: &BTreeMap<String, String>) {
    if entries.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{key}:");
    for (name, value) in entries {
        let _ = writeln!(out, "{pad}  {}: {}", quoted(name), quoted(value));
    }
}

/// `text` as a JSON string, which is both a YAML double-quoted scalar and a PromQL string
/// literal (JSON's escapes are a subset of YAML's and of Go's, which PromQL uses).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::{Yaml, YamlLoader};

    const NAMES: LabelNames<'static> = LabelNames { service: "service", environment: "environment" };

    fn slo(name: &str, good: Option<&str>, errors: Option<&str>) -> Slo {
        Slo {
            name: name.to_owned(),
            service: "checkout".to_owned(),
            environment: "production".to_owned(),
            objective: 0.999,
            window: 30 * DAY,
            calendar: None,
            budgeting: pacer_engine::burn::Budgeting::Occurrences,
            min_events: 10.0,
            rollback: true,
            burn_alerts: crate::config::BurnAlerts::Pacer,
            source: SloSource::Prometheus {
                url: "http://prometheus:9090".to_owned(),
                good: good.map(str::to_owned),
                errors: errors.map(str::to_owned),
                total: "sum(increase(http_requests_total[$window]))".to_owned(),
            },
        }
    }

    fn records(group: &Group) -> Vec<&str> {
        group.rules.iter().filter_map(|r| if let Rule::Record { record, .. } = r { Some(record.as_str()) } else { None }).collect()
    }

    #[test]
    fn every_burn_window_and_the_slo_window_is_recorded_before_the_page_and_ticket_alerts() {
        let s = slo("checkout-availability", None, Some("sum(increase(http_requests_total{code=~\"5..\"}[$window]))"));
        let groups = groups(&[&s], NAMES).expect("rules");
        let recorded = records(&groups[0]);
        for window in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
            for metric in [requests_metric(window), errors_metric(window), error_ratio_metric(window)] {
                assert!(recorded.contains(&metric.as_str()), "{metric} in {recorded:?}");
            }
        }
        assert_eq!(recorded.len(), 24);
        let alerts: Vec<&Rule> = groups[0].rules.iter().skip(24).collect();
        assert_eq!(alerts.len(), 2, "a page and a ticket alert follow the recording rules");
        let Rule::Alert { expr, labels, .. } = alerts[0] else { panic!("an alert") };
        assert_eq!(labels.get("severity").map(String::as_str), Some("page"));
        assert_eq!(labels.get("slo").map(String::as_str), Some("checkout-availability"));
        assert!(expr.contains("pacer_slo:error_ratio:increase1h{") && expr.contains("> 14.4") && expr.contains("> 6\n"), "{expr}");
        assert!(expr.contains("pacer_slo:requests:increase5m{") && expr.contains(">= 10\n"), "the guard is on the short window: {expr}");
        assert!(expr.contains("/ 0.0010000000000000009 > "), "the evaluator's own 1 − objective: {expr}");
        let Rule::Alert { expr, labels, .. } = alerts[1] else { panic!("an alert") };
        assert_eq!(labels.get("severity").map(String::as_str), Some("ticket"));
        assert!(expr.contains("increase3d{") && expr.contains("> 1\n") && expr.contains("pacer_slo:requests:increase6h{"), "{expr}");
    }

    #[test]
    fn errors_are_increases_summed_over_series_never_averaged_ratios() {
        let s = slo("a", Some("sum(increase(ok_total[$window]))"), None);
        let groups = groups(&[&s], NAMES).expect("rules");
        let expr = |name: &str| {
            groups[0].rules.iter().find_map(|r| match r {
                Rule::Record { record, expr, .. } if record == name => Some(expr.clone()),
                _ => None,
            })
        };
        assert_eq!(expr("pacer_slo:requests:increase2h").as_deref(), Some("clamp_min((sum(sum(increase(http_requests_total[2h]))) or vector(0)), 0)"));
        let errors = expr("pacer_slo:errors:increase2h").expect("errors");
        assert!(errors.contains("clamp((sum(sum(increase(ok_total[2h]))) or vector(0)), 0, scalar(pacer_slo:requests:increase2h{"), "{errors}");
        let ratio = expr("pacer_slo:error_ratio:increase2h").expect("ratio");
        assert!(ratio.starts_with("pacer_slo:errors:increase2h{") && ratio.contains(" / pacer_slo:requests:increase2h{"), "{ratio}");
        assert!(!groups[0].rules.iter().any(|r| matches!(r, Rule::Record { expr, .. } | Rule::Alert { expr, .. } if expr.contains("avg"))));
    }

    #[test]
    fn windows_are_written_in_their_largest_whole_unit() {
        assert_eq!(duration(30 * DAY), "30d");
        assert_eq!(duration(36 * HOUR), "36h");
        assert_eq!(duration(90 * MINUTE), "90m");
        assert_eq!(duration(1_500), "1500ms");
    }

    #[test]
    fn event_slos_and_bad_label_names_are_refused() {
        let mut events = slo("e", None, None);
        events.source = SloSource::Events { series: "default".to_owned() };
        assert_eq!(groups(&[&events], NAMES), Err(RulesError::NotPrometheus("e".to_owned())));
        assert_eq!(groups(&[], NAMES), Err(RulesError::Nothing));
        let s = slo("a", None, Some("e[$window]"));
        assert_eq!(groups(&[&s], LabelNames { service: "app.name", environment: "env" }), Err(RulesError::LabelName("app.name".to_owned())));
    }

    fn parse(text: &str) -> Yaml {
        YamlLoader::load_from_str(text).expect("the output is YAML").remove(0)
    }

    #[test]
    fn both_formats_parse_back_to_the_same_rules_whatever_the_names_hold() {
        let mut s = slo("a \"quoted\": name", None, Some("sum(increase(x{a=\"b: c\"}[$window]))\n  # a comment"));
        s.service = "svc'\\".to_owned();
        let groups = groups(&[&s], NAMES).expect("rules");
        let rules = parse(&render(&groups, &Format::Rules));
        let mut labels = BTreeMap::new();
        labels.insert("release".to_owned(), "prometheus".to_owned());
        let resource = Resource { name: "pacer-slos".to_owned(), namespace: Some("monitoring".to_owned()), labels };
        let operator = parse(&render(&groups, &Format::Operator(resource)));
        assert_eq!(operator["kind"].as_str(), Some("PrometheusRule"));
        assert_eq!(operator["metadata"]["labels"]["release"].as_str(), Some("prometheus"));
        assert_eq!(operator["metadata"]["namespace"].as_str(), Some("monitoring"));
        for doc in [&rules["groups"], &operator["spec"]["groups"]] {
            assert_eq!(doc[0]["name"].as_str(), Some("pacer-slo-a \"quoted\": name"));
            let parsed = doc[0]["rules"].as_vec().expect("rules");
            assert_eq!(parsed.len(), groups[0].rules.len());
            for (yaml, rule) in parsed.iter().zip(&groups[0].rules) {
                let (expr, labels) = match rule {
                    Rule::Record { expr, labels, .. } | Rule::Alert { expr, labels, .. } => (expr, labels),
                };
                assert_eq!(yaml["expr"].as_str(), Some(expr.as_str()));
                assert_eq!(yaml["labels"]["service"].as_str(), Some("svc'\\"));
                assert_eq!(yaml["labels"]["slo"].as_str(), labels.get("slo").map(String::as_str));
            }
        }
    }
}
