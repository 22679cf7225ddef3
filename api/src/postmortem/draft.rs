//! The postmortem draft: a [`Timeline`] and its context turned into sections (summary, impact,
//! timeline, what shipped, detection and response, the DORA keys, and empty causes and action
//! items), then written as Markdown or as an HTML page from the same sections. Pure: no I/O.
//!
//! Blameless by construction: it names deployments, alerts and times, never who is at fault;
//! causes and action items are left for the team.

use std::fmt::Write as _;

use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::dora::RecoveryTime;
use pacer_engine::levels::Benchmarks;

use super::timeline::{Cause, Details, Entry, Kind, Timeline};
use crate::html::escape;
use crate::wording::{duration, exact_duration, level_name, percent};

/// What the postmortem says beyond the timeline.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The rollback policy's guard window for the service.
    pub guard_window: Millis,
    /// The team that owns the service, when known.
    pub team: Option<String>,
    /// The team's (else the service's) failed-deployment recovery over the 30 days before the
    /// blamed deployment finished (else before the incident opened).
    pub recovery_before: Option<RecoveryTime>,
    /// What the incident did to each SLO of its service.
    pub impact: Vec<SloImpact>,
    /// How the incident moved the DORA keys.
    pub dora: DoraEffect,
}

/// What an incident did to one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloImpact {
    /// The SLO.
    pub slo: String,
    /// Its objective (0.999).
    pub objective: f64,
    /// Its window in days.
    pub window_days: f64,
    /// The counts, when pacer holds them (`sli` events); `None` for an SLO on Prometheus queries.
    pub counts: Option<Burned>,
}

/// The SLI counts during an incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burned {
    /// Bad events while the incident was open.
    pub bad: i64,
    /// All events while it was open.
    pub total: i64,
    /// The share of the window's error budget those bad events used, when the window saw traffic.
    pub budget_consumed: Option<f64>,
    /// The highest error ratio of a five-minute bucket while it was open.
    pub peak_error_ratio: Option<f64>,
}

/// The length of the buckets the peak error ratio is taken over.
pub const PEAK_BUCKET: Millis = 5 * 60_000;

impl Burned {
    /// The counts of `samples` (`(at, good, total)`, during the incident), against `window_total`
    /// events over the SLO's window ending with the incident and `objective`.
    pub fn of(samples: &[(Millis, i64, i64)], window_total: i64, objective: f64) -> Self {
        let bad: i64 = samples.iter().map(|(_, good, total)| total - good).sum();
        let total: i64 = samples.iter().map(|(_, _, total)| total).sum();
        let allowed = (1.0 - objective) * window_total as f64;
        let mut buckets: Vec<(Millis, i64, i64)> = Vec::new();
        for &(at, good, all) in samples {
            let bucket = at.div_euclid(PEAK_BUCKET);
            match buckets.last_mut() {
                Some((b, bad, total)) if *b == bucket => {
                    *bad += all - good;
                    *total += all;
                }
                _ => buckets.push((bucket, all - good, all)),
            }
        }
        let peak = buckets.iter().filter(|(_, _, total)| *total > 0).map(|(_, bad, total)| *bad as f64 / *total as f64).fold(None, |max: Option<f64>, r| Some(max.map_or(r, |m| m.max(r))));
        Self { bad, total, budget_consumed: (allowed > 0.0).then(|| bad as f64 / allowed), peak_error_ratio: peak }
    }
}

/// How an incident moved the DORA keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoraEffect {
    /// The blamed deployments the analysis counts as failed.
    pub failed: Vec<FailedDeployment>,
    /// The deployments it made rework: each one's label and why.
    pub rework: Vec<(String, String)>,
}

/// A failed deployment, as the postmortem shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedDeployment {
    /// Its service and version.
    pub label: String,
    /// Why it counts as failed, in words.
    pub causes: Vec<String>,
    /// Its failed-deployment recovery sample, once it recovered.
    pub recovery_seconds: Option<f64>,
}

/// A piece of running text.
#[derive(Debug, Clone, PartialEq)]
enum Inline {
    Text(String),
    Strong(String),
    Code(String),
    Link { text: String, url: String },
}

/// A block of a section.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Paragraph(Vec<Inline>),
    Italic(String),
    Heading(String),
    List(Vec<Vec<Inline>>),
}

/// One section: a title and its blocks.
#[derive(Debug, Clone, PartialEq)]
struct Section {
    title: &'static str,
    blocks: Vec<Block>,
}

/// The postmortem draft, ready to be written out.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    title: String,
    sections: Vec<Section>,
}

fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn strong(s: impl Into<String>) -> Inline {
    Inline::Strong(s.into())
}

fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

/// A link when there is a place to go, else nothing.
fn link(label: &str, url: Option<&str>) -> Vec<Inline> {
    url.map(|u| vec![text(" ("), Inline::Link { text: label.to_owned(), url: u.to_owned() }, text(")")]).unwrap_or_default()
}

/// A time as the draft writes it: `2026-01-05 10:02:00 UTC`.
pub fn when(at: Millis) -> String {
    DateTime::from_timestamp_millis(at).map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::DeploymentStarted => "deployment started",
        Kind::DeploymentFinished => "deployment finished",
        Kind::AlertFired => "alert fired",
        Kind::SloBurnStarted => "SLO burn started",
        Kind::IncidentOpened => "incident opened",
        Kind::RollbackDecided => "rollback decided",
        Kind::RollbackApproved => "rollback approved",
        Kind::HookAttempt => "hook attempt",
        Kind::GateAnswer => "gate answer",
        Kind::RollbackDeploymentFinished => "rollback deployed",
        Kind::FixForwardDeploymentFinished => "fix forward deployed",
        Kind::AlertResolved => "alert resolved",
        Kind::SloBurnEnded => "SLO burn ended",
        Kind::IncidentResolved => "incident resolved",
    }
}

fn maybe(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "unknown".to_owned(), exact_duration)
}

/// Composes the draft of `timeline` with its `context`.
pub fn compose(timeline: &Timeline, context: &Context) -> Draft {
    let i = &timeline.incident;
    let title = i.title.clone().unwrap_or_else(|| i.id.clone());
    let sections = vec![
        summary(timeline),
        impact(timeline, context),
        Section { title: "Timeline", blocks: timeline_blocks(&timeline.entries) },
        shipped(&timeline.entries),
        response(timeline, context),
        dora(timeline, context),
        Section { title: "Causes", blocks: vec![Block::Italic("To be written by the team: what made this possible, not who.".to_owned())] },
        Section { title: "Action items", blocks: vec![Block::Italic("To be written by the team.".to_owned())] },
    ];
    Draft { title: format!("Postmortem draft: {title}"), sections }
}

fn summary(timeline: &Timeline) -> Section {
    let i = &timeline.incident;
    let mut items = vec![
        vec![strong("Incident:"), text(" "), code(&i.id), text(format!(" · {} in {} · severity {}", i.service, i.environment, i.severity.as_deref().unwrap_or("not given")))],
        vec![strong("Opened:"), text(format!(" {}", when(i.opened_at)))],
        vec![
            strong("Resolved:"),
            text(match i.resolved_at {
                Some(r) => format!(" {} (restored in {})", when(r), maybe(timeline.durations.restore_seconds)),
                None => " not yet".to_owned(),
            }),
        ],
    ];
    let blamed = i.blamed_deployments.join(", ");
    items.push(vec![
        strong("Cause:"),
        text(match i.cause {
            Cause::NamedDeployment => format!(" the incident names deployment {blamed}"),
            Cause::NamedCommit => format!(" the incident names a commit that deployment {blamed} shipped"),
            Cause::GuardWindow => format!(" deployment {blamed}, which finished within the guard window before the alert"),
            Cause::AttributionWindow => format!(" deployment {blamed}, the latest one before the incident, within the attribution window (the incident names no cause)"),
            Cause::Unknown => " unknown: the incident names none, and no deployment finished within the attribution window before it".to_owned(),
        }),
    ]);
    let decided: Vec<&Entry> = timeline.entries.iter().filter(|e| e.kind == Kind::RollbackDecided).collect();
    let rollback = if decided.is_empty() {
        " pacer decided none".to_owned()
    } else {
        decided.iter().map(|e| format!(" {}", e.summary)).collect::<Vec<_>>().join(";")
    };
    items.push(vec![strong("Rollback:"), text(rollback)]);
    let mut blocks = vec![Block::List(items)];
    if !timeline.unknown.is_empty() {
        blocks.push(Block::Paragraph(vec![strong("Not known to pacer:")]));
        blocks.push(Block::List(timeline.unknown.iter().map(|u| vec![text(u)]).collect()));
    }
    Section { title: "Summary", blocks }
}

fn impact(timeline: &Timeline, context: &Context) -> Section {
    let mut items = vec![vec![
        strong("Duration:"),
        text(match timeline.durations.restore_seconds {
            Some(s) => format!(" {} from opening to resolution", exact_duration(s)),
            None => " still open".to_owned(),
        }),
    ]];
    for slo in &context.impact {
        let head = vec![strong(format!("SLO {}", slo.slo)), text(format!(" ({} over {} days):", percent(slo.objective), slo.window_days))];
        let words = match &slo.counts {
            Some(b) if b.total == 0 => " no SLI events while the incident was open".to_owned(),
            Some(b) => format!(
                " {} bad of {} events while open; {} of the window's error budget consumed; peak error ratio {} (five-minute buckets)",
                b.bad,
                b.total,
                b.budget_consumed.map_or_else(|| "an unknown share".to_owned(), percent),
                b.peak_error_ratio.map_or_else(|| "unknown".to_owned(), percent)
            ),
            None => " its counts come from Prometheus queries, which the draft does not read: budget consumed and peak error ratio unknown".to_owned(),
        };
        items.push(head.into_iter().chain([text(words)]).collect());
    }
    if context.impact.is_empty() {
        items.push(vec![text("No SLO covers this service: the error budget consumed and the peak error ratio are unknown.")]);
    }
    Section { title: "Impact", blocks: vec![Block::List(items)] }
}

fn timeline_blocks(entries: &[Entry]) -> Vec<Block> {
    let items = entries
        .iter()
        .map(|e| {
            let mut line = vec![code(when(e.at)), text(" "), strong(kind_words(e.kind)), text(format!(" — {}", e.summary))];
            line.extend(link("link", e.link.as_deref()));
            line
        })
        .collect();
    vec![Block::List(items)]
}

fn shipped(entries: &[Entry]) -> Section {
    let mut blocks = Vec::new();
    for e in entries.iter().filter(|e| e.kind == Kind::DeploymentFinished) {
        let Details::Deployment(d) = &e.details else { continue };
        let Some(shipped) = &d.shipped else { continue };
        blocks.push(Block::Heading(format!("{} {} ({})", d.service, d.version.as_deref().unwrap_or(&d.deployment_id), d.deployment_id)));
        let mut items: Vec<Vec<Inline>> = Vec::new();
        for c in &shipped.commits {
            let mut line = vec![text("Commit "), code(c.sha.get(..10).unwrap_or(&c.sha))];
            line.push(text(format!(" by {}", c.author.as_deref().unwrap_or("an unknown author"))));
            line.push(text(format!(": {}", c.message.as_deref().unwrap_or("(no message known)"))));
            items.push(line);
        }
        for p in &shipped.pull_requests {
            let stage = |name: &str, at: Option<Millis>| format!("{name} {}", at.map_or_else(|| "unknown".to_owned(), when));
            items.push(vec![text(format!(
                "Pull request {}#{} by {}: first commit {}; opened {}; {}; {}",
                p.repository,
                p.number,
                p.author.as_deref().unwrap_or("an unknown author"),
                p.first_commit_at.map_or_else(|| "unknown".to_owned(), when),
                when(p.opened_at),
                stage("first review", p.first_review_at),
                stage("merged", p.merged_at)
            ))]);
        }
        for r in &shipped.ci_runs {
            let mut line = vec![text(format!("CI run {} of {}: {}, finished {}", r.id, r.pipeline, r.status, when(r.finished_at)))];
            line.extend(link("run", r.url.as_deref()));
            items.push(line);
        }
        if shipped.commits.is_empty() {
            items.push(vec![text("No commit is known to have shipped first with it.")]);
        }
        if shipped.ci_runs.is_empty() {
            items.push(vec![text("No CI run of its commit is known.")]);
        }
        match &shipped.compare_url {
            Some(url) => items.push(vec![text("Changes: "), Inline::Link { text: "compare".to_owned(), url: url.clone() }]),
            None => items.push(vec![text("No compare link: the repository or the previous deployment's commit is unknown.")]),
        }
        blocks.push(Block::List(items));
    }
    if blocks.is_empty() {
        blocks.push(Block::Paragraph(vec![text("No deployment is blamed, so nothing shipped is known to be involved.")]));
    }
    Section { title: "What shipped", blocks }
}

fn response(timeline: &Timeline, context: &Context) -> Section {
    let d = &timeline.durations;
    let guard = duration(context.guard_window as f64 / 1000.0);
    let detect = match d.detect_seconds {
        Some(s) if s * 1000.0 <= context.guard_window as f64 => format!(" {} (deployment finished → first alert), within the {guard} guard window", exact_duration(s)),
        Some(s) => format!(" {} (deployment finished → first alert), beyond the {guard} guard window: no automatic rollback could follow", exact_duration(s)),
        None => " unknown (no deployment is blamed)".to_owned(),
    };
    let mut items = vec![
        vec![strong("Time to detect:"), text(detect)],
        vec![strong("Time to decide:"), text(format!(" {} (first alert → pacer's rollback decision)", maybe(d.decide_seconds)))],
        vec![strong("Time to roll back:"), text(format!(" {} (decision → rollback deployment finished)", maybe(d.roll_back_seconds)))],
        vec![strong("Time to restore:"), text(format!(" {} (opened → resolved)", maybe(d.restore_seconds)))],
    ];
    let whose = context.team.as_ref().map_or_else(|| format!("service {}", timeline.incident.service), |t| format!("team {t}"));
    // This incident's recovery: the failed deployment's sample, else the time to restore.
    let this = context.dora.failed.iter().find_map(|f| f.recovery_seconds).or(d.restore_seconds);
    let this = this.map_or_else(
        || "this incident has not recovered yet".to_owned(),
        |s| format!("this recovery took {}, {} by the 2024 bands", exact_duration(s), level_name(Some(Benchmarks::default().bands().recovery(s)))),
    );
    let before = match &context.recovery_before {
        Some(RecoveryTime { median_seconds: Some(median), level, recovered, .. }) => format!(
            " {this}; the {whose}'s failed-deployment recovery over the 30 days before: median {} over {recovered} recovered deployment{} ({})",
            exact_duration(*median),
            if *recovered == 1 { "" } else { "s" },
            level_name(*level)
        ),
        _ => format!(" {this}; the {whose} recovered from no failed deployment in the 30 days before, so there is no level of its own to compare with"),
    };
    items.push(vec![strong("Recovery level:"), text(before)]);
    Section { title: "Detection and response", blocks: vec![Block::List(items)] }
}

fn dora(timeline: &Timeline, context: &Context) -> Section {
    let mut items: Vec<Vec<Inline>> = Vec::new();
    for f in &context.dora.failed {
        items.push(vec![strong("Change failure rate:"), text(format!(" {} counts as a failed deployment ({})", f.label, f.causes.join("; ")))]);
        items.push(vec![
            strong("Failed-deployment recovery time:"),
            text(match f.recovery_seconds {
                Some(s) => format!(" a sample of {} for {}", exact_duration(s), f.label),
                None => format!(" {} has not recovered yet", f.label),
            }),
        ]);
    }
    if context.dora.failed.is_empty() {
        items.push(vec![strong("Change failure rate:"), text(" no deployment counts as failed through this incident")]);
    }
    items.push(vec![
        strong("Time to restore:"),
        text(match timeline.durations.restore_seconds {
            Some(s) => format!(" a sample of {}", exact_duration(s)),
            None => " no sample until it is resolved".to_owned(),
        }),
    ]);
    for (label, why) in &context.dora.rework {
        items.push(vec![strong("Rework rate:"), text(format!(" {label} counts as rework ({why})"))]);
    }
    if context.dora.rework.is_empty() {
        items.push(vec![strong("Rework rate:"), text(" no deployment counts as rework through this incident")]);
    }
    Section { title: "Effect on the DORA keys", blocks: vec![Block::List(items)] }
}

/// Escapes text for Markdown: the characters that would start emphasis, code, links or HTML.
/// (Text never starts a line, so `#` cannot make a heading, and the draft has no tables.)
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn markdown_inline(out: &mut String, inline: &[Inline]) {
    for piece in inline {
        match piece {
            Inline::Text(t) => out.push_str(&markdown_text(t)),
            Inline::Strong(t) => {
                let _ = write!(out, "**{}**", markdown_text(t));
            }
            Inline::Code(t) => {
                let fence = if t.contains('`') { "`` " } else { "`" };
                let close = if t.contains('`') { " ``" } else { "`" };
                let _ = write!(out, "{fence}{t}{close}");
            }
            Inline::Link { text, url } => {
                let url = url.replace(' ', "%20").replace('(', "%28").replace(')', "%29");
                let _ = write!(out, "[{}]({url})", markdown_text(text));
            }
        }
    }
}

impl Draft {
    /// The draft as Markdown (CommonMark).
    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n\n", markdown_text(&self.title));
        out.push_str("_A blameless draft pacer wrote from the facts it recorded. Times are UTC. Edit it freely._\n");
        for section in &self.sections {
            let _ = write!(out, "\n## {}\n", section.title);
            for block in &section.blocks {
                out.push('\n');
                match block {
                    Block::Paragraph(inline) => {
                        markdown_inline(&mut out, inline);
                        out.push('\n');
                    }
                    Block::Italic(t) => {
                        let _ = writeln!(out, "_{}_", markdown_text(t));
                    }
                    Block::Heading(t) => {
                        let _ = writeln!(out, "### {}", markdown_text(t));
                    }
                    Block::List(items) => {
                        for item in items {
                            out.push_str("- ");
                            markdown_inline(&mut out, item);
                            out.push('\n');
                        }
                    }
                }
            }
        }
        out
    }

    /// The draft as a standalone HTML page; every piece of text is escaped, and only web links
    /// (`http`, `https`, or a path on pacer) become anchors.
    pub fn html(&self) -> String {
        let mut out = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>\n<h1>{}</h1>\n<p class=\"note\">A blameless draft pacer wrote from the facts it recorded. Times are UTC. Edit it freely.</p>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for section in &self.sections {
            let _ = writeln!(out, "<section><h2>{}</h2>", escape(section.title));
            for block in &section.blocks {
                match block {
                    Block::Paragraph(inline) => {
                        out.push_str("<p>");
                        html_inline(&mut out, inline);
                        out.push_str("</p>\n");
                    }
                    Block::Italic(t) => {
                        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(t));
                    }
                    Block::Heading(t) => {
                        let _ = writeln!(out, "<h3>{}</h3>", escape(t));
                    }
                    Block::List(items) => {
                        out.push_str("<ul>\n");
                        for item in items {
                            out.push_str("<li>");
                            html_inline(&mut out, item);
                            out.push_str("</li>\n");
                        }
                        out.push_str("</ul>\n");
                    }
                }
            }
            out.push_str("</section>\n");
        }
        out.push_str("</main></body></html>\n");
        out
    }
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;color:#1f1f1f;background:#fff;margin:0}main{max-width:960px;margin:0 auto;padding:24px}h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:16px}code{font:13px ui-monospace,monospace;background:#f3f3f3;padding:1px 4px;border-radius:3px}.note{color:#555;font-style:italic}a{color:#0b57d0}li{margin:3px 0}";

fn html_inline(out: &mut String, inline: &[Inline]) {
    for piece in inline {
        match piece {
            Inline::Text(t) => out.push_str(&escape(t)),
            Inline::Strong(t) => {
                let _ = write!(out, "<strong>{}</strong>", escape(t));
            }
            Inline::Code(t) => {
                let _ = write!(out, "<code>{}</code>", escape(t));
            }
            Inline::Link { text, url } => {
                if url.starts_with("https://") || url.starts_with("http://") || (url.starts_with('/') && !url.starts_with("//")) {
                    let _ = write!(out, r#"<a href="{}">{}</a>"#, escape(url), escape(text));
                } else {
                    out.push_str(&escape(text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postmortem::timeline::{Durations, Heading, Source};

    fn timeline(title: &str, link: &str) -> Timeline {
        let incident = Heading {
            id: "INC-1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            title: Some(title.into()),
            severity: None,
            url: None,
            opened_at: 0,
            resolved_at: Some(90_000),
            cause: Cause::Unknown,
            blamed_deployments: Vec::new(),
        };
        let entry = Entry {
            at: 0,
            kind: Kind::IncidentOpened,
            source: Source::Incident,
            summary: title.into(),
            link: Some(link.into()),
            details: Details::Incident(crate::postmortem::timeline::IncidentDetails { incident_id: "INC-1".into(), title: None, severity: None }),
        };
        Timeline { incident, entries: vec![entry], durations: Durations { restore_seconds: Some(90.0), ..Durations::default() }, unknown: Vec::new() }
    }

    #[test]
    fn user_text_is_escaped_in_html_and_a_script_link_is_not_followed() {
        let draft = compose(&timeline("<script>alert(1)</script>", "javascript:alert(1)"), &Context::default());
        let html = draft.html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("href=\"javascript:"), "{html}");
    }

    #[test]
    fn user_text_cannot_start_markdown_emphasis_or_links() {
        let draft = compose(&timeline("*boom* [x](y)", "https://tracker/INC-1"), &Context::default());
        let md = draft.markdown();
        assert!(md.contains(r"\*boom\* \[x\](y)"), "{md}");
        assert!(md.contains("[link](https://tracker/INC-1)"), "{md}");
        assert!(md.contains("## Causes\n\n_To be written"), "{md}");
    }

    #[test]
    fn the_budget_consumed_is_bad_events_over_the_window_s_allowance_and_the_peak_is_per_bucket() {
        // Two samples in one bucket (10 bad of 100), one in the next (40 bad of 100).
        let samples = [(0, 45, 50), (60_000, 45, 50), (PEAK_BUCKET, 60, 100)];
        let burned = Burned::of(&samples, 100_000, 0.999);
        assert_eq!((burned.bad, burned.total), (50, 200));
        assert!(burned.budget_consumed.is_some_and(|b| (b - 0.5).abs() < 1e-9), "50 bad of the 100 the window allows: {burned:?}");
        assert_eq!(burned.peak_error_ratio, Some(0.4));
        assert_eq!(Burned::of(&[], 0, 0.999).budget_consumed, None, "no traffic, no budget");
    }
}
