//! The weekly report as plain text, the alternative part of the email.

use super::*;

fn change_text(key: &Key) -> String {
    match key.change() {
        Change::Unknown => "no data to compare".to_owned(),
        Change::Steady { was } => format!("steady (was {was})"),
        Change::Moved { up, better, amount, was } => {
            format!("{} {amount} from {was} ({})", if up { "up" } else { "down" }, if better { "better" } else { "worse" })
        }
    }
}

pub(super) fn text(view: &View<'_>) -> String {
    let gathered = view.gathered;
    let mut out = String::new();
    let _ = writeln!(out, "pacer weekly report: {}", view.team_label());
    let _ = writeln!(out, "Week {} · {}", gathered.week, view.days());
    let _ = writeln!(out, "{} · {}", gathered.filters.environment, view.services());
    let _ = writeln!(out, "Overall level (DORA {} bands): {}\n", chart::year(view.benchmarks), level_name(gathered.summary.level));
    let _ = writeln!(out, "DORA KEYS");
    let trend = view.trend();
    let keys = view.keys();
    for (index, key) in keys.iter().enumerate() {
        if index == 0 || keys[index - 1].group != key.group {
            let _ = writeln!(out, "{}: {}", key.group.name(), key.group.about());
        }
        let level = key.level.map_or_else(String::new, |l| format!(" [{}]", level_name(l)));
        let _ = writeln!(out, "- {}: {}{level}, {}", key.name, key.shown_value(), change_text(key));
        let _ = writeln!(out, "  {}", key.detail);
        let weeks: Vec<String> = trend.iter().map(|(w, keys)| format!("W{:02} {}", w.number(), keys[index].shown_value())).collect();
        let _ = writeln!(out, "  trend: {}", weeks.join(" · "));
    }
    let zone = view.settings.zone.name();
    let _ = writeln!(out, "\nFAILED DEPLOYMENTS (times in {zone})");
    if gathered.failed.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for d in &gathered.failed {
        let causes: Vec<String> = d.causes.iter().map(failure_words).collect();
        let recovered = d.recovered_at.map_or_else(|| "not yet recovered".to_owned(), |r| format!("recovered in {}", duration((r - d.finished_at) as f64 / 1000.0)));
        let _ = writeln!(out, "- {} {} {}: {}; {recovered}", view.when(d.finished_at), d.service, d.label, causes.join("; "));
    }
    let _ = writeln!(out, "\nREWORK DEPLOYMENTS (times in {zone})");
    if gathered.reworked.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for d in &gathered.reworked {
        let _ = writeln!(out, "- {} {} {}: {}", view.when(d.finished_at), d.service, d.label, d.why);
    }
    let _ = writeln!(out, "\nINCIDENTS");
    if gathered.incidents.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for (i, blamed) in &gathered.incidents {
        let restored = i.resolved_at.map_or_else(|| "still open".to_owned(), |r| format!("restored in {}", duration((r - i.opened_at) as f64 / 1000.0)));
        let title = i.title.as_deref().map_or_else(String::new, |t| format!(" · {t}"));
        let blamed = if blamed.is_empty() { String::new() } else { format!("; blamed on {}", blamed.join(", ")) };
        let postmortem = view.postmortem_link(&i.id).map_or_else(String::new, |url| format!("; postmortem draft: {url}"));
        let _ = writeln!(out, "- {} {} {}{title}: {restored}{blamed}{postmortem}", view.when(i.opened_at), i.service, i.id);
    }
    let _ = writeln!(out, "\nROLLBACKS BY PACER");
    if gathered.rollbacks.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for r in &gathered.rollbacks {
        let _ = writeln!(out, "- {} {} {} → {} ({}, {}): {}", view.when(r.created_at), r.service, r.deployment_id, r.target_deployment_id, r.mode, r.state.replace('_', " "), r.reason);
    }
    if !gathered.slos.is_empty() {
        let _ = writeln!(out, "\nSLO ERROR BUDGETS AT THE END OF THE WEEK");
        for (slo, status) in &gathered.slos {
            let [name, service, objective, ratio, budget, state] = slo_row(slo, status.as_ref());
            let _ = writeln!(out, "- {name} ({service}, {objective}): error ratio {ratio}, budget left {budget}, {state}");
        }
    }
    let _ = writeln!(out, "\nDELIVERY STAGES AGAINST THEIR BUDGETS");
    for b in &gathered.budgets {
        let [stage, budget, measured, within, p95] = budget_row(b);
        let _ = writeln!(out, "- {stage} (budget {budget}): {within} of {measured}, p95 {p95}");
    }
    let [runs, rate, retries, flaky, green] = ci_row(&gathered.ci);
    let _ = writeln!(out, "- CI runs: {runs}, success rate {rate}, {retries} retries, {flaky} flaky runs, time to green (median) {green}");
    let _ = writeln!(out, "\nSLOWEST CHANGES (coding / pickup / review / deploy)");
    if gathered.slowest.is_empty() {
        let _ = writeln!(out, "- none");
    }
    for s in &gathered.slowest {
        let [change, service, lead, stages] = slow_row(view, s);
        let _ = writeln!(out, "- {lead}: {change}\n  {service}; {stages}");
    }
    let _ = writeln!(out, "\nTHE WEEK IN NUMBERS");
    for (path, value) in numbers(&gathered.summary) {
        let _ = writeln!(out, "- {}: {}", field_words(path), number_words(path, value));
    }
    out.push('\n');
    for (text, url) in view.links() {
        let _ = writeln!(out, "{text}: {url}");
    }
    let _ = writeln!(
        out,
        "Week {} runs from Monday 00:00 to the next Monday 00:00 in {zone}. The numbers are those of GET /api/v1/dora for this week and {}.",
        gathered.week,
        view.team_label()
    );
    out
}
