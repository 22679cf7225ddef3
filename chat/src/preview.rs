//! A preview of each kind of message: an example event of the kind, rendered for every channel,
//! and the Slack message drawn as HTML roughly as Slack shows it — for people writing `[[notify]]`
//! rules and for the README's picture. Pure; the examples are fixed, so a preview never reads or
//! shows stored data.

use std::fmt::Write as _;

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident};
use serde_json::{Value, json};

use crate::event::{Burn, Digest, DigestKey, Event, Halt, Kind, RollbackNotice, Subject};
use crate::message::compose;
use crate::{slack, teams, webhook};

/// When the examples happen: Tuesday 24 November 2026, 14:05 UTC.
const AT: Millis = 1_795_529_100_000;
const MINUTE: Millis = 60_000;

/// An example event of `kind`.
pub fn example(kind: Kind) -> Event {
    let event = |service: &str, team: Option<&str>, subject| Event { kind, service: service.to_owned(), environment: "production".to_owned(), team: team.map(str::to_owned), at: AT, subject };
    match kind {
        Kind::DeploymentStarted | Kind::DeploymentSucceeded | Kind::DeploymentFailed => {
            let status = match kind {
                Kind::DeploymentStarted => DeploymentStatus::InProgress,
                Kind::DeploymentFailed => DeploymentStatus::Failure,
                _ => DeploymentStatus::Success,
            };
            let d = Deployment {
                id: "checkout-1843".to_owned(),
                service: "checkout".to_owned(),
                environment: "production".to_owned(),
                version: Some("2.14.0".to_owned()),
                commit_sha: Some("9f1c2e7a4b5d6c8e".to_owned()),
                status,
                started_at: Some(AT - 7 * MINUTE),
                finished_at: (status != DeploymentStatus::InProgress).then_some(AT),
                commits: Vec::new(),
                rollback_of: None,
                unplanned: false,
                team: Some("commerce".to_owned()),
                url: Some("https://ci.example.com/acme/checkout/runs/1843".to_owned()),
            };
            event("checkout", Some("commerce"), Subject::Deployment(d))
        }
        Kind::IncidentOpened | Kind::IncidentResolved => {
            let i = Incident {
                id: "PD-4711".to_owned(),
                service: "checkout".to_owned(),
                environment: "production".to_owned(),
                opened_at: AT - 42 * MINUTE,
                resolved_at: (kind == Kind::IncidentResolved).then_some(AT),
                severity: Some("SEV2".to_owned()),
                title: Some("Checkout returns 5xx for card payments".to_owned()),
                url: Some("https://acme.pagerduty.com/incidents/PD-4711".to_owned()),
                deployment_id: Some("checkout-1843".to_owned()),
                commit_sha: None,
            };
            event("checkout", None, Subject::Incident(i))
        }
        Kind::RollbackDecided | Kind::RollbackAwaitingApproval | Kind::RollbackDelivered | Kind::RollbackFailed => {
            let mode = if kind == Kind::RollbackAwaitingApproval { "manual" } else { "auto" };
            let reason = "High5xx fired 2026-11-24T14:03:00Z, 6 min after checkout 2.14.0 (9f1c2e7) was deployed; rolling back to 2.13.2 (4a7d0b1)";
            let report = serde_json::from_value(json!({
                "type": "rollback", "rollback_id": "rb_01JDX4T6", "mode": mode, "service": "checkout", "environment": "production",
                "reason": reason,
                "deployment": {"id": "checkout-1843", "version": "2.14.0", "commit_sha": "9f1c2e7a4b5d6c8e", "url": "https://ci.example.com/acme/checkout/runs/1843", "finished_at": "2026-11-24T13:57:00Z"},
                "target": {"id": "checkout-1839", "version": "2.13.2", "commit_sha": "4a7d0b1c2d3e4f50", "url": null, "finished_at": "2026-11-23T10:12:00Z"},
                "trigger": {"alert": "High5xx", "fingerprint": "5f0e9a", "labels": {"service": "checkout"}, "annotations": {"summary": "5xx above 5 % for 2 minutes"},
                            "starts_at": "2026-11-24T14:03:00Z", "generator_url": "https://prometheus.example.com/graph?g0.expr=rate", "values": null},
                "changes": {
                    "commits": [
                        {"sha": "9f1c2e7a4b5d6c8e", "repository": "acme/checkout", "author": "ana", "message": "Cache card-scheme prices <per region>", "committed_at": "2026-11-24T11:40:00Z"},
                        {"sha": "77b3a10e9d8c7b6a", "repository": "acme/checkout", "author": "jo", "message": "Retry payment provider timeouts & log them", "committed_at": "2026-11-24T09:15:00Z"}
                    ],
                    "pull_requests": [{"id": "acme/checkout#412", "repository": "acme/checkout", "number": 412, "author": "ana", "merged_at": "2026-11-24T12:01:00Z", "merge_commit_sha": "9f1c2e7a4b5d6c8e"}],
                    "compare_url": "https://github.com/acme/checkout/compare/4a7d0b1...9f1c2e7"
                },
                "incident_id": "PD-4711", "decided_at": "2026-11-24T14:05:00Z"
            }))
            .ok();
            let notice = RollbackNotice { id: "rb_01JDX4T6".to_owned(), mode: mode.to_owned(), reason: reason.to_owned(), report };
            event("checkout", None, Subject::Rollback(Box::new(notice)))
        }
        Kind::SloPage | Kind::SloTicket => {
            let burn = Burn { slo: "checkout-availability".to_owned(), objective: 0.999, windows: "1h&5m".to_owned(), budget_remaining: Some(0.62), error_ratio: Some(0.000_38) };
            event("checkout", None, Subject::Burn(burn))
        }
        Kind::GateHalted => {
            let halt = Halt {
                answer_id: 5_120,
                asker: "argo-rollouts".to_owned(),
                deployment: Some("checkout-1843".to_owned()),
                rollout: Some("shop/checkout@7d9f".to_owned()),
                rollback: true,
                reasons: vec!["alert High5xx fired 2026-11-24T14:03:00Z, after the rollout started".to_owned()],
            };
            event("checkout", None, Subject::Halt(halt))
        }
        Kind::DigestWeekly => {
            let key = |name: &str, value: &str, level: &str, change: &str| DigestKey { name: name.to_owned(), value: value.to_owned(), level: Some(level.to_owned()), change: change.to_owned() };
            let digest = Digest {
                week: "2026-W47".to_owned(),
                days: "16–22 Nov 2026 (UTC)".to_owned(),
                keys: vec![
                    key("Deployment frequency", "3.14 / day", "elite", "up 12 % (better; was 2.80 / day)"),
                    key("Lead time for changes", "5 h", "elite", "down 20 % (better; was 6 h)"),
                    key("Failed-deployment recovery time", "38 min", "elite", "steady (was 38 min)"),
                    key("Change failure rate", "4.5 %", "elite", "up 2 points (worse; was 2.5 %)"),
                    key("Rework rate", "3.0 %", "elite", "no number the week before"),
                ],
            };
            event("", Some("commerce"), Subject::Digest(digest))
        }
    }
}

/// What each channel gets for the example of `kind`, linking into pacer at `base_url`.
pub fn payloads(kind: Kind, base_url: &str) -> Value {
    let event = example(kind);
    let message = compose(&event, base_url);
    json!({
        "kind": kind.as_str(),
        "slack": slack::render(&message),
        "teams": teams::render(&message),
        "webhook": webhook::render(&event, &message),
    })
}

/// A Slack message (Block Kit) drawn as an HTML page, roughly as Slack shows it. It reads the very
/// payload Slack would be sent, as Slack reads it, so the picture cannot differ from the message: the header, mrkdwn
/// sections (bold, code, line breaks; the text is already escaped for mrkdwn, which is HTML's
/// escaping of `&`, `<` and `>`), fields in two columns, buttons and the context line.
pub fn html(payload: &Value) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>pacer chat preview</title></head>\
         <body style=\"margin:0;background:#f8f8f8;font:15px/1.46 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d1c1d\">\
         <div style=\"max-width:760px;margin:16px;padding:12px 16px;background:#fff;border:1px solid #ddd;border-radius:8px;display:flex;gap:10px\">\
         <div style=\"width:36px;height:36px;border-radius:6px;background:#2f6f4f;color:#fff;font-weight:700;display:flex;align-items:center;justify-content:center\">p</div>\
         <div style=\"flex:1\"><div><b>pacer</b> <span style=\"font-size:12px;color:#616061;background:#eee;padding:0 3px;border-radius:2px\">APP</span></div>",
    );
    for block in payload["blocks"].as_array().into_iter().flatten() {
        match block["type"].as_str().unwrap_or("") {
            "header" => {
                let _ = write!(out, "<div style=\"font-size:18px;font-weight:900;margin:6px 0\">{}</div>", emoji(&escape(block["text"]["text"].as_str().unwrap_or(""))));
            }
            "section" => {
                if let Some(text) = block["text"]["text"].as_str() {
                    let _ = write!(out, "<div style=\"margin:4px 0\">{}</div>", mrkdwn(text));
                }
                if let Some(fields) = block["fields"].as_array() {
                    out.push_str("<div style=\"display:grid;grid-template-columns:1fr 1fr;gap:6px 16px;margin:8px 0\">");
                    for field in fields {
                        let _ = write!(out, "<div>{}</div>", mrkdwn(field["text"].as_str().unwrap_or("")));
                    }
                    out.push_str("</div>");
                }
            }
            "actions" => {
                out.push_str("<div style=\"display:flex;flex-wrap:wrap;gap:8px;margin:8px 0\">");
                for button in block["elements"].as_array().into_iter().flatten() {
                    let _ = write!(
                        out,
                        "<a href=\"{}\" style=\"padding:3px 12px;border:1px solid #c6c6c6;border-radius:4px;color:#1d1c1d;text-decoration:none;font-weight:700;font-size:13px\">{}</a>",
                        escape(button["url"].as_str().unwrap_or("")),
                        escape(button["text"]["text"].as_str().unwrap_or(""))
                    );
                }
                out.push_str("</div>");
            }
            "context" => {
                for element in block["elements"].as_array().into_iter().flatten() {
                    let _ = write!(out, "<div style=\"font-size:12px;color:#616061;margin-top:4px\">{}</div>", mrkdwn(element["text"].as_str().unwrap_or("")));
                }
            }
            _ => {}
        }
    }
    out.push_str("</div></div></body></html>");
    out
}

/// Escapes plain text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Slack's emoji codes in pacer's messages as the characters Slack shows.
fn emoji(text: &str) -> String {
    [(":rocket:", "🚀"), (":white_check_mark:", "✅"), (":warning:", "⚠️"), (":rotating_light:", "🚨")]
        .iter()
        .fold(text.to_owned(), |text, (code, shown)| text.replace(code, shown))
}

/// Escaped mrkdwn as HTML: `*bold*`, `` `code` `` and line breaks (Slack's escaping of `&`, `<`
/// and `>` is HTML's, so the text goes in as it is).
fn mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut bold, mut code) = (false, false);
    for c in emoji(text).chars() {
        match c {
            '*' if !code => {
                out.push_str(if bold { "</b>" } else { "<b>" });
                bold = !bold;
            }
            '`' => {
                out.push_str(if code { "</code>" } else { "<code style=\"background:#f6f6f6;border:1px solid #ddd;border-radius:3px;padding:0 3px;color:#e01e5a\">" });
                code = !code;
            }
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    if bold {
        out.push_str("</b>");
    }
    if code {
        out.push_str("</code>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_an_example_for_every_channel() {
        for (name, kind) in Kind::ALL {
            let payloads = payloads(kind, "https://pacer.example.com");
            assert_eq!(payloads["webhook"]["type"], name);
            assert!(payloads["slack"]["blocks"].as_array().is_some_and(|b| b.len() >= 3), "{name}");
            assert_eq!(payloads["teams"]["type"], "message", "{name}");
        }
    }

    #[test]
    fn the_html_keeps_the_escaping_and_draws_the_marks() {
        let page = html(&payloads(Kind::RollbackDecided, "https://pacer.example.com")["slack"]);
        assert!(page.contains("Cache card-scheme prices &lt;per region&gt;"), "user text stays escaped");
        assert!(page.contains("<b>Changes shipped</b>"));
        assert!(page.contains("🚨 Rolling back checkout"));
        assert!(!page.contains("<per region>"));
    }
}
