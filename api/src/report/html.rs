//! The weekly report as HTML that survives mail clients: tables and inline styles only — no
//! stylesheet, no script — because that is what Outlook, Gmail and Apple Mail all render alike.

use super::*;

const FONT: &str = "font-family:Arial,Helvetica,sans-serif;";

const CELL: &str = "padding:6px 8px;border-bottom:1px solid #dddddd;text-align:left;vertical-align:top;font-size:13px;";

const HEAD: &str = "padding:6px 8px;border-bottom:2px solid #bbbbbb;text-align:left;background:#f2f2f2;font-size:12px;";

/// Colours of the level badges: elite, high, medium, low, none (the web page's).
const BADGE: [&str; 5] = ["#1b5e20", "#01579b", "#7a4f00", "#b71c1c", "#555555"];

fn badge(level: Option<Level>) -> String {
    let color = match level {
        Some(Level::Elite) => BADGE[0],
        Some(Level::High) => BADGE[1],
        Some(Level::Medium) => BADGE[2],
        Some(Level::Low) => BADGE[3],
        None => BADGE[4],
    };
    format!(
        r#"<span style="display:inline-block;padding:1px 8px;border-radius:10px;background:{color};color:#ffffff;font-size:12px;font-weight:bold;">{}</span>"#,
        level_name(level)
    )
}

fn heading(html: &mut String, title: &str) {
    let _ = write!(html, r#"<tr><td style="padding:24px 0 8px 0;{FONT}"><h2 style="margin:0;font-size:18px;color:#1b1b1b;">{title}</h2></td></tr>"#);
}

/// A table section: a heading, then the column heads and rows (already escaped cells), or
/// `nothing` when there are no rows.
fn table(html: &mut String, title: &str, columns: &[&str], rows: &[Vec<String>], nothing: &str) {
    heading(html, title);
    html.push_str(r#"<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;"#);
    let _ = write!(html, r#"{FONT}"><tr>"#);
    for column in columns {
        let _ = write!(html, r#"<th style="{HEAD}">{column}</th>"#);
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, r#"<td style="{CELL}">{cell}</td>"#);
        }
        html.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(html, r#"<tr><td colspan="{}" style="{CELL}color:#4a4a4a;">{nothing}</td></tr>"#, columns.len());
    }
    html.push_str("</table></td></tr>");
}

fn change_html(key: &Key) -> String {
    match key.change() {
        Change::Unknown => r#"<span style="color:#4a4a4a;">no data to compare</span>"#.to_owned(),
        Change::Steady { was } => format!(r#"<span style="color:#4a4a4a;">&#8594; steady (was {})</span>"#, escape(&was)),
        Change::Moved { up, better, amount, was } => {
            let (arrow, word) = if up { ("&#8593;", "up") } else { ("&#8595;", "down") };
            let (color, verdict) = if better { ("#1b5e20", "better") } else { ("#b71c1c", "worse") };
            format!(r#"<span style="color:{color};">{arrow} {word} {amount} from {} ({verdict})</span>"#, escape(&was))
        }
    }
}


pub(super) fn html(view: &View<'_>, images: &[Image], embed: Embed) -> String {
    let gathered = view.gathered;
    let mut html = String::with_capacity(32 * 1024 + images.iter().map(|i| i.png.len() * 4 / 3).sum::<usize>());
    let title = format!("pacer weekly report · {} · {}", view.team_label(), gathered.week);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f4f4;"><tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="width:640px;max-width:100%;background:#ffffff;border:1px solid #dddddd;{FONT}color:#1b1b1b;">
<tr><td style="padding:20px 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td style="{FONT}"><h1 style="margin:0;font-size:22px;">pacer weekly report: {team}</h1>
<p style="margin:6px 0 0 0;font-size:14px;color:#4a4a4a;">Week <strong id="week">{week}</strong> · {days}</p>
<p style="margin:4px 0 0 0;font-size:13px;color:#4a4a4a;">{environment} · {services}</p>
<p style="margin:10px 0 0 0;font-size:14px;">Overall level (DORA {year} bands): <span data-metric="level" data-value="{level_raw}">{level}</span></p></td></tr>
"#,
        title = escape(&title),
        team = escape(&view.team_label()),
        week = gathered.week,
        days = escape(&view.days()),
        environment = escape(&gathered.filters.environment),
        services = escape(&view.services()),
        year = chart::year(view.benchmarks),
        level_raw = gathered.summary.level.map_or("", |l| level_name(Some(l))),
        level = badge(gathered.summary.level),
    );

    // The keys: this week, its level, the change from last week, and the trend.
    heading(&mut html, "DORA keys");
    let trend = view.trend();
    html.push_str(r#"<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;"#);
    let _ = write!(
        html,
        r#"{FONT}"><tr><th style="{HEAD}width:30%;">Key</th><th style="{HEAD}width:16%;">This week</th><th style="{HEAD}width:22%;">vs last week</th>"#
    );
    for (week, _) in &trend {
        let _ = write!(html, r#"<th style="{HEAD}text-align:right;width:8%;">W{:02}</th>"#, week.number());
    }
    html.push_str("</tr>");
    let keys = view.keys();
    for (index, key) in keys.iter().enumerate() {
        if index == 0 || keys[index - 1].group != key.group {
            let _ = write!(
                html,
                r#"<tr><td colspan="{}" style="{CELL}background:#f7f7f7;font-size:12px;"><strong>{}</strong> · {}</td></tr>"#,
                3 + trend.len(),
                key.group.name(),
                key.group.about()
            );
        }
        let level = key.level.map_or_else(String::new, |l| format!("<br>{}", badge(l)));
        let _ = write!(
            html,
            r#"<tr><td style="{CELL}"><strong>{name}</strong><br><span style="color:#4a4a4a;font-size:12px;">{detail}</span></td><td style="{CELL}white-space:nowrap;"><strong style="font-size:15px;">{value}</strong>{level}</td><td style="{CELL}font-size:12px;">{change}</td>"#,
            name = key.name,
            detail = escape(&key.detail),
            value = escape(&key.shown_value()),
            change = change_html(key),
        );
        for (_, keys) in &trend {
            let _ = write!(html, r#"<td style="{CELL}text-align:right;font-size:12px;">{}</td>"#, escape(&keys[index].shown_value()));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></td></tr>");

    // The charts.
    heading(&mut html, &format!("The last {CHART_WEEKS} weeks"));
    for (image, (kind, chart)) in images.iter().zip(&gathered.charts) {
        let src = match embed {
            Embed::ContentId => format!("cid:{}", image.cid),
            Embed::DataUri => format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&image.png)),
        };
        let alt = format!("{} per week, {} weeks to {}, {}", kind.title(), CHART_WEEKS, gathered.week, chart.subtitle);
        let _ = write!(
            html,
            r#"<tr><td style="padding:4px 0 12px 0;"><img src="{src}" width="{w}" height="{h}" alt="{alt}" style="display:block;width:100%;max-width:{w}px;height:auto;border:1px solid #dddddd;"></td></tr>"#,
            w = CHART_SIZE.0,
            h = CHART_SIZE.1,
            alt = escape(&alt),
        );
    }

    let zone = view.settings.zone.name();
    let failed: Vec<Vec<String>> = gathered
        .failed
        .iter()
        .map(|d| {
            let causes: Vec<String> = d.causes.iter().map(failure_words).collect();
            let recovered = d.recovered_at.map_or_else(|| "not yet".to_owned(), |r| duration((r - d.finished_at) as f64 / 1000.0));
            vec![
                escape(&view.when(d.finished_at)),
                escape(&d.service),
                escape(&d.label),
                escape(&causes.join("; ")),
                escape(&recovered),
            ]
        })
        .collect();
    table(&mut html, "Failed deployments", &[&format!("Finished ({zone})"), "Service", "Version", "Why it counts as failed", "Recovered in"], &failed, "No deployment failed this week.");

    let reworked: Vec<Vec<String>> = gathered
        .reworked
        .iter()
        .map(|d| vec![escape(&view.when(d.finished_at)), escape(&d.service), escape(&d.label), escape(&d.why)])
        .collect();
    table(&mut html, "Rework deployments", &[&format!("Finished ({zone})"), "Service", "Version", "Why it is rework"], &reworked, "No deployment was rework this week.");

    let incidents: Vec<Vec<String>> = gathered
        .incidents
        .iter()
        .map(|(i, blamed)| {
            let name = match &i.title {
                Some(title) => format!("{} · {title}", i.id),
                None => i.id.clone(),
            };
            let name = match i.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                Some(url) => format!(r#"<a href="{}" style="color:#0b57d0;">{}</a>"#, escape(url), escape(&name)),
                None => escape(&name),
            };
            let restored = i.resolved_at.map_or_else(|| "still open".to_owned(), |r| duration((r - i.opened_at) as f64 / 1000.0));
            vec![
                escape(&view.when(i.opened_at)),
                escape(&i.service),
                name,
                escape(i.severity.as_deref().unwrap_or("—")),
                escape(&restored),
                escape(&if blamed.is_empty() { "—".to_owned() } else { blamed.join(", ") }),
                view.postmortem_link(&i.id).map_or_else(|| "—".to_owned(), |url| format!(r#"<a href="{}" style="color:#0b57d0;">draft</a>"#, escape(&url))),
            ]
        })
        .collect();
    table(&mut html, "Incidents", &[&format!("Opened ({zone})"), "Service", "Incident", "Severity", "Restored in", "Blamed on", "Postmortem"], &incidents, "No incidents this week.");

    let rollbacks: Vec<Vec<String>> = gathered
        .rollbacks
        .iter()
        .map(|r| {
            vec![
                escape(&view.when(r.created_at)),
                escape(&r.service),
                escape(&format!("{} → {}", r.deployment_id, r.target_deployment_id)),
                escape(&format!("{}, {}", r.mode, r.state.replace('_', " "))),
                escape(&r.reason),
            ]
        })
        .collect();
    table(&mut html, "Rollbacks by pacer", &[&format!("Decided ({zone})"), "Service", "Deployment → target", "Mode, state", "Reason"], &rollbacks, "pacer rolled nothing back this week.");

    let slos: Vec<Vec<String>> = gathered.slos.iter().map(|(slo, status)| slo_row(slo, status.as_ref()).map(|c| escape(&c)).to_vec()).collect();
    if !slos.is_empty() {
        table(&mut html, "SLO error budgets at the end of the week", &["SLO", "Service", "Objective", "Error ratio (window)", "Budget left", "Status"], &slos, "");
    }

    // Each cell of a budget row carries the stage and its raw number, as the API gives them.
    let budgets: Vec<Vec<String>> = gathered
        .budgets
        .iter()
        .map(|b| {
            let [stage, budget, measured, within, p95] = budget_row(b);
            let raw = b.compliance_percent.map_or_else(String::new, |p| p.to_string());
            vec![
                escape(&stage),
                escape(&budget),
                escape(&measured),
                format!(r#"<span data-budget="{}" data-value="{}">{}</span>"#, escape(&b.stage), escape(&raw), escape(&within)),
                escape(&p95),
            ]
        })
        .collect();
    table(&mut html, "Delivery stages against their budgets", &["Stage", "Budget", "Measured", "Within budget", "p95"], &budgets, "");
    let ci = ci_row(&gathered.ci).iter().zip(CI_FIELDS).map(|(cell, field)| format!(r#"<span data-ci="{field}">{}</span>"#, escape(cell))).collect();
    table(&mut html, "CI runs this week", &["Runs", "Success rate", "Retries", "Flaky runs", "Time to green (median)"], &[ci], "");

    let slowest: Vec<Vec<String>> = gathered.slowest.iter().map(|s| slow_row(view, s).map(|c| escape(&c)).to_vec()).collect();
    table(
        &mut html,
        "Slowest changes",
        &["Change", "Service", "Lead time", "Coding / pickup / review / deploy"],
        &slowest,
        "No change reached production this week.",
    );

    // Every number, as `GET /api/v1/dora` gives it for this week and team.
    let rows: Vec<Vec<String>> = numbers(&gathered.summary)
        .into_iter()
        .map(|(path, value)| {
            vec![
                escape(&field_words(path)),
                format!(r#"<span data-metric="{}" data-value="{}">{}</span>"#, escape(path), escape(&raw(value)), escape(&number_words(path, value))),
            ]
        })
        .collect();
    table(&mut html, "The week in numbers", &["Number", "Value"], &rows, "");

    let links: Vec<String> =
        view.links().into_iter().map(|(text, url)| format!(r#"<a href="{}" style="color:#0b57d0;">{text}</a>"#, escape(&url))).collect();
    let links = if links.is_empty() { String::new() } else { format!("{}<br>", links.join(" · ")) };
    let _ = write!(
        html,
        r#"<tr><td style="padding:24px 0 0 0;{FONT}font-size:12px;color:#4a4a4a;">{links}Week {week} runs from Monday 00:00 to the next Monday 00:00 in {zone}; deployments count by when they finished, incidents by when they opened. The numbers are those of GET /api/v1/dora for this week and {team}; definitions are in pacer's docs/metrics.md.</td></tr>
</table></td></tr></table>
</td></tr></table>
</body></html>
"#,
        week = gathered.week,
        zone = escape(zone),
        team = escape(&view.team_label()),
    );
    html
}
