//! Alerts from Prometheus Alertmanager (webhook payload version 4) and Grafana unified alerting,
//! which posts the same shape with a few more fields (`values`, `fingerprint`, …).
//!
//! Formats: <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config> and
//! <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>.
//! Parsing is lenient — unknown fields are ignored, `labels`/`annotations` may be null, legacy
//! payloads have no `fingerprint` — but a body without an `alerts` array, or an alert without a
//! valid `startsAt`, is malformed.
//!
//! Each alert becomes an incident keyed by its fingerprint (or a hash of its labels) and start,
//! so repeats, HA pairs sending twice and out-of-order delivery all land on one incident.

use std::collections::BTreeMap;

use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::model::Incident;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fields::{FieldError, kind};
use crate::normalize::{Normalizer, PRODUCTION};

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `firing` (true) or `resolved` (false).
    pub firing: bool,
    /// The `alertname` label.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started.
    pub starts_at: Millis,
    /// When it ended, for a resolved alert.
    pub ends_at: Option<Millis>,
    /// The link to the expression that fired.
    pub generator_url: Option<String>,
    /// The sender's fingerprint, or a hash of the labels when it sends none.
    pub fingerprint: String,
    /// Observed values (Grafana's `values`, or `valueString`), when sent.
    pub values: Option<Value>,
}

/// Which labels name the service and the environment, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelNames {
    /// Labels naming the service.
    pub service: Vec<String>,
    /// Labels naming the environment.
    pub environment: Vec<String>,
}

impl Default for LabelNames {
    fn default() -> Self {
        Self {
            service: ["service", "app", "job"].map(String::from).to_vec(),
            environment: ["environment", "env"].map(String::from).to_vec(),
        }
    }
}

impl Alert {
    /// The service the alert is about, from the first configured label present.
    pub fn service(&self, names: &LabelNames) -> Option<&str> {
        names.service.iter().find_map(|n| self.labels.get(n)).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// The environment the alert is about (production when no label names one).
    pub fn environment(&self, names: &LabelNames, normalizer: &Normalizer) -> String {
        names
            .environment
            .iter()
            .find_map(|n| self.labels.get(n))
            .map_or_else(|| PRODUCTION.to_owned(), |e| normalizer.environment(e))
    }

    /// The incident this alert opens or resolves, or `None` when no label names a service.
    /// `cause` is the deployment it is attributed to, when known.
    pub fn incident(&self, names: &LabelNames, normalizer: &Normalizer, cause: Option<String>, now: Millis) -> Option<Incident> {
        let service = self.service(names)?.to_owned();
        let title = match self.annotations.get("summary") {
            Some(summary) => format!("{}: {summary}", self.name),
            None => self.name.clone(),
        };
        Some(Incident {
            id: format!("alert:{}:{}", self.fingerprint, self.starts_at),
            service,
            environment: self.environment(names, normalizer),
            opened_at: self.starts_at,
            // A resolved alert without an end time ended when pacer heard of it.
            resolved_at: (!self.firing).then(|| self.ends_at.unwrap_or(now).max(self.starts_at)),
            severity: self.labels.get("severity").cloned(),
            title: Some(title),
            url: self.generator_url.clone(),
            deployment_id: cause,
            commit_sha: None,
        })
    }
}

/// Parses an Alertmanager or Grafana notification.
///
/// # Errors
/// Every problem that makes the body malformed, with pointers.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, Vec<FieldError>> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| vec![FieldError::new("", format!("invalid JSON: {e}"))])?;
    crate::body::replace_nul(&mut value);
    let Some(alerts) = value.get("alerts") else {
        return Err(vec![FieldError::new("/alerts", "expected an array of alerts but the field is missing")]);
    };
    let Some(alerts) = alerts.as_array() else {
        return Err(vec![FieldError::new("/alerts", format!("expected an array of alerts but found {}", kind(alerts)))]);
    };
    let group_status = value.get("status").and_then(Value::as_str);
    let mut parsed = Vec::with_capacity(alerts.len());
    let mut errors = Vec::new();
    for (index, alert) in alerts.iter().enumerate() {
        match parse_alert(alert, group_status, &format!("/alerts/{index}")) {
            Ok(a) => parsed.push(a),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(parsed) } else { Err(errors) }
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value else { return BTreeMap::new() };
    map.iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect()
}

/// Alertmanager's "no end" is the zero time, `0001-01-01T00:00:00Z`.
fn time(value: Option<&Value>) -> Option<Millis> {
    let text = value?.as_str()?;
    let t = DateTime::parse_from_rfc3339(text).ok()?.timestamp_millis();
    (t > 0).then_some(t)
}

fn parse_alert(alert: &Value, group_status: Option<&str>, pointer: &str) -> Result<Alert, FieldError> {
    if !alert.is_object() {
        return Err(FieldError::new(pointer, format!("expected an alert object but found {}", kind(alert))));
    }
    let labels = string_map(alert.get("labels"));
    let annotations = string_map(alert.get("annotations"));
    let starts_at = time(alert.get("startsAt"))
        .ok_or_else(|| FieldError::new(format!("{pointer}/startsAt"), "expected an RFC 3339 start time"))?;
    let status = alert.get("status").and_then(Value::as_str).or(group_status).unwrap_or("firing");
    let fingerprint = match alert.get("fingerprint").and_then(Value::as_str).filter(|f| !f.is_empty()) {
        Some(f) => f.to_owned(),
        None => {
            let mut hash = Sha256::new();
            for (k, v) in &labels {
                hash.update(k.as_bytes());
                hash.update([0]);
                hash.update(v.as_bytes());
                hash.update([0]);
            }
            hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
        }
    };
    let values = alert.get("values").filter(|v| !v.is_null()).cloned().or_else(|| alert.get("valueString").filter(|v| !v.is_null()).cloned());
    Ok(Alert {
        firing: status != "resolved",
        name: labels.get("alertname").cloned().unwrap_or_else(|| "alert".to_owned()),
        labels,
        annotations,
        starts_at,
        ends_at: time(alert.get("endsAt")),
        generator_url: alert.get("generatorURL").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
        fingerprint,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_alert_without_fingerprint_hashes_its_labels() {
        let body = br#"{"status":"firing","alerts":[{"labels":{"alertname":"High5xx","service":"api"},"annotations":null,
            "startsAt":"2026-11-22T08:00:00.123456789Z","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let alerts = parse(body).expect("valid");
        assert_eq!(alerts[0].ends_at, None);
        assert!(alerts[0].firing);
        assert_eq!(alerts[0].fingerprint.len(), 16);
        let incident = alerts[0].incident(&LabelNames::default(), &Normalizer::default(), None, 0).expect("service");
        assert_eq!(incident.service, "api");
        assert_eq!(incident.resolved_at, None);
    }

    #[test]
    fn a_body_without_alerts_or_with_a_bad_start_is_malformed() {
        assert_eq!(parse(b"{}").expect_err("malformed")[0].pointer, "/alerts");
        assert_eq!(parse(br#"{"alerts":[{"labels":{}}]}"#).expect_err("malformed")[0].pointer, "/alerts/0/startsAt");
        assert!(parse(b"nope").is_err());
    }
}
