//! The deploy gate's rule: from what pacer knows about a service right now — its SLOs' burn, its
//! open incidents, the alerts since the rollout started, pacer's own rollback decisions and the
//! change freezes — whether a rollout may take its next step, with every reason.
//!
//! Pure: the gate ([`super`]) gathers the [`Evidence`] and records the [`Verdict`].

use pacer_engine::Millis;
use pacer_engine::burn::Severity;
use pacer_engine::calendar::rfc3339;
use serde::{Deserialize, Serialize};

/// Which SLO burn halts a rollout (`[gate] slo_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SloLevel {
    /// A page-level burn halts; a ticket-level burn is reported without halting.
    #[default]
    Page,
    /// A ticket-level burn halts too.
    Ticket,
    /// Burn is reported without halting.
    Off,
}

impl SloLevel {
    /// Every level with its name in the configuration.
    pub const ALL: [(&'static str, Self); 3] = [("page", Self::Page), ("ticket", Self::Ticket), ("off", Self::Off)];

    fn halts(self, severity: Severity) -> bool {
        match self {
            Self::Page => severity == Severity::Page,
            Self::Ticket => true,
            Self::Off => false,
        }
    }
}

/// What the gate knows about a service when asked.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The service's SLOs in the environment that burn (page or ticket level).
    pub burning: Vec<Burn>,
    /// Incidents still open that opened before the rollout started.
    pub open_incidents: Vec<Seen>,
    /// Incidents (alerts) that opened since the rollout started, resolved or not.
    pub alerts_since: Vec<Seen>,
    /// pacer's rollback decisions for the service since the rollout started.
    pub rollbacks: Vec<RollbackSeen>,
    /// The change freezes that hold now: (name, window in words, why).
    pub freezes: Vec<(String, String, Option<String>)>,
    /// What the gate could not check, in words (an unknown deployment, an SLO it could not read).
    pub unknown: Vec<String>,
}

/// An SLO that burns.
#[derive(Debug, Clone)]
pub struct Burn {
    /// The SLO.
    pub slo: String,
    /// How urgent.
    pub severity: Severity,
    /// The window pair that burns (`1h&5m`).
    pub windows: String,
}

/// An incident the gate saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its id.
    pub id: String,
    /// Its title, when it has one.
    pub title: Option<String>,
    /// When it opened.
    pub opened_at: Millis,
    /// When it was resolved.
    pub resolved_at: Option<Millis>,
    /// A link to it.
    pub url: Option<String>,
}

/// A rollback decision the gate saw.
#[derive(Debug, Clone)]
pub struct RollbackSeen {
    /// Its id.
    pub id: String,
    /// The deployment it undoes.
    pub deployment_id: String,
    /// `auto`, `manual` or `dry_run`.
    pub mode: String,
    /// Its state (`awaiting_approval`, `dispatching`, …).
    pub state: String,
}

/// Why the gate answered as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An SLO burns.
    SloBurn,
    /// An incident is open on the service.
    OpenIncident,
    /// An alert fired since the rollout started.
    AlertSinceStart,
    /// pacer decided to roll the service back.
    Rollback,
    /// A change freeze holds.
    Freeze,
    /// Something the gate could not check.
    Unknown,
}

/// One reason, as answered and as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// What kind of reason.
    pub kind: Kind,
    /// Whether it halts the rollout.
    pub blocking: bool,
    /// In words.
    pub detail: String,
    /// The SLO, incident, rollback or freeze it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A link to it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the rollout may take its next step.
    pub proceed: bool,
    /// Every reason, blocking ones first.
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// Whether what blocks the rollout came from the rollout itself (a burn, an alert since it
    /// started, a rollback decision), so that a rollout in progress should be undone — as opposed
    /// to a freeze or an older incident, which only keep it from going further.
    pub fn calls_for_rollback(&self) -> bool {
        self.reasons.iter().any(|r| r.blocking && matches!(r.kind, Kind::SloBurn | Kind::AlertSinceStart | Kind::Rollback))
    }

    /// The reasons in one line each, blocking first, for a tool that shows text.
    pub fn summary(&self) -> String {
        if self.reasons.is_empty() {
            return "proceed: no SLO burns, no incident is open, no alert fired, no rollback was decided and no freeze holds".to_owned();
        }
        let head = if self.proceed { "proceed" } else { "halt" };
        let lines: Vec<String> = self.reasons.iter().map(|r| format!("- {}{}", if r.blocking { "" } else { "(note) " }, r.detail)).collect();
        format!("{head}:\n{}", lines.join("\n"))
    }
}

/// Decides from `evidence` under `slo_level`.
pub fn decide(evidence: &Evidence, slo_level: SloLevel) -> Verdict {
    let mut reasons = Vec::new();
    for burn in &evidence.burning {
        let level = match burn.severity {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        };
        reasons.push(Reason {
            kind: Kind::SloBurn,
            blocking: slo_level.halts(burn.severity),
            detail: format!("SLO {} burns its error budget at {level} level ({})", burn.slo, burn.windows),
            subject: Some(burn.slo.clone()),
            url: None,
        });
    }
    for (incidents, kind) in [(&evidence.open_incidents, Kind::OpenIncident), (&evidence.alerts_since, Kind::AlertSinceStart)] {
        for seen in incidents {
            let title = seen.title.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
            let state = match seen.resolved_at {
                Some(at) => format!("opened {} and resolved {}", rfc3339(seen.opened_at), rfc3339(at)),
                None => format!("open since {}", rfc3339(seen.opened_at)),
            };
            let detail = match kind {
                Kind::AlertSinceStart => format!("incident {}{title} fired since the rollout started: {state}", seen.id),
                _ => format!("incident {}{title} is {state}", seen.id),
            };
            reasons.push(Reason { kind, blocking: true, detail, subject: Some(seen.id.clone()), url: seen.url.clone() });
        }
    }
    for rollback in &evidence.rollbacks {
        let dry_run = rollback.mode == "dry_run";
        let detail = format!(
            "pacer decided to roll back deployment {} ({}, {}){}",
            rollback.deployment_id,
            rollback.mode,
            rollback.state.replace('_', " "),
            if dry_run { "; a dry run does not halt" } else { "" }
        );
        reasons.push(Reason { kind: Kind::Rollback, blocking: !dry_run, detail, subject: Some(rollback.id.clone()), url: None });
    }
    for (name, window, why) in &evidence.freezes {
        let why = why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
        reasons.push(Reason { kind: Kind::Freeze, blocking: true, detail: format!("change freeze {name} holds ({window}){why}"), subject: Some(name.clone()), url: None });
    }
    for what in &evidence.unknown {
        reasons.push(Reason { kind: Kind::Unknown, blocking: false, detail: what.clone(), subject: None, url: None });
    }
    reasons.sort_by_key(|r| !r.blocking);
    Verdict { proceed: !reasons.iter().any(|r| r.blocking), reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: &str, resolved_at: Option<Millis>) -> Seen {
        Seen { id: id.into(), title: Some("checkout 5xx".into()), opened_at: 1_000, resolved_at, url: None }
    }

    #[test]
    fn nothing_known_against_a_service_lets_it_proceed() {
        let verdict = decide(&Evidence::default(), SloLevel::Page);
        assert!(verdict.proceed && verdict.reasons.is_empty() && !verdict.calls_for_rollback());
    }

    #[test]
    fn each_kind_of_evidence_halts_on_its_own() {
        let cases: Vec<(&str, Evidence, bool)> = vec![
            ("a page-level burn", Evidence { burning: vec![Burn { slo: "avail".into(), severity: Severity::Page, windows: "1h&5m".into() }], ..Evidence::default() }, true),
            ("an open incident", Evidence { open_incidents: vec![incident("i-1", None)], ..Evidence::default() }, false),
            ("an alert since the start, even resolved", Evidence { alerts_since: vec![incident("i-2", Some(2_000))], ..Evidence::default() }, true),
            ("a rollback decision", Evidence { rollbacks: vec![RollbackSeen { id: "r".into(), deployment_id: "d".into(), mode: "auto".into(), state: "delivered".into() }], ..Evidence::default() }, true),
            ("a freeze", Evidence { freezes: vec![("weekend".into(), "Fri 16:00 to Mon 08:00 UTC".into(), None)], ..Evidence::default() }, false),
        ];
        for (what, evidence, undo) in cases {
            let verdict = decide(&evidence, SloLevel::Page);
            assert!(!verdict.proceed, "{what} should halt");
            assert_eq!(verdict.calls_for_rollback(), undo, "{what}: whether it calls for a rollback");
            assert!(verdict.summary().starts_with("halt:"), "{what}: {}", verdict.summary());
        }
    }

    #[test]
    fn what_does_not_halt_is_still_said() {
        let ticket = Evidence { burning: vec![Burn { slo: "avail".into(), severity: Severity::Ticket, windows: "1d&2h".into() }], ..Evidence::default() };
        let verdict = decide(&ticket, SloLevel::Page);
        assert!(verdict.proceed, "a ticket-level burn does not halt at slo_level page");
        assert_eq!(verdict.reasons.len(), 1);
        assert!(!decide(&ticket, SloLevel::Ticket).proceed, "it halts at slo_level ticket");
        let dry = Evidence { rollbacks: vec![RollbackSeen { id: "r".into(), deployment_id: "d".into(), mode: "dry_run".into(), state: "dry_run".into() }], unknown: vec!["deployment d-9 is not known".into()], ..Evidence::default() };
        let verdict = decide(&dry, SloLevel::Page);
        assert!(verdict.proceed && verdict.reasons.len() == 2, "a dry-run rollback and an unknown are notes: {verdict:?}");
    }

    #[test]
    fn blocking_reasons_come_first() {
        let evidence = Evidence { unknown: vec!["x".into()], freezes: vec![("f".into(), "w".into(), Some("holidays".into()))], ..Evidence::default() };
        let verdict = decide(&evidence, SloLevel::Page);
        assert_eq!(verdict.reasons[0].kind, Kind::Freeze);
        assert_eq!(verdict.reasons[0].detail, "change freeze f holds (w): holidays");
    }
}
