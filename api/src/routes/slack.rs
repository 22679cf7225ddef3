//! `POST /webhooks/slack/commands`: the deploy bot's slash command, `/pacer <subcommand>`.
//!
//! Every request must carry Slack's signature of its raw body made within the last five
//! minutes (`pacer_collector::sources::slack`); a missing, wrong or old one is a 401 and nothing
//! is done. Subcommands: `status <service> [environment]` (the live version and since when, the
//! last deployments, open incidents, rollbacks awaiting approval), `history <service> [n]` (the
//! last n deployments), `dora [team]` (the five keys of the last 7 days with their levels and
//! the change from the week before, as the page words them), and `approve <rollback id>` (the
//! manual policy's approval, only for Slack users listed in `[slack] admins`). Each answers at
//! once from the store and the cached analysis, well within Slack's three seconds, as an
//! ephemeral message (an approval is said in the channel). Not built yet: `rollback` and the
//! interactions endpoint.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use pacer_chat::text::{encode, escape_mrkdwn, short_sha, truncate_escaped};
use pacer_collector::sources::slack::{self, SlashCommand};
use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{DAY, Deployment, DeploymentStatus};
use pacer_store::ListQuery;
use serde::Serialize;

use crate::clock::now;
use crate::problem::Problem;
use crate::query::Params;
use crate::state::AppState;
use crate::wording::{Change, keys, level_name};

/// The longest answer text (Slack's limit on a message's `text`).
const MAX_TEXT: usize = 3_000;

/// Slack bot routes. They take no bearer token: Slack proves itself by its signature.
pub fn router(state: AppState) -> Router {
    Router::new().route("/webhooks/slack/commands", post(command)).with_state(state)
}

/// An answer to a slash command.
#[derive(Debug, Serialize)]
struct Reply {
    /// `ephemeral` (only the user sees it) or `in_channel`.
    response_type: &'static str,
    /// mrkdwn text.
    text: String,
}

impl Reply {
    fn to_user(text: String) -> Self {
        Self { response_type: "ephemeral", text: truncate_escaped(&text, MAX_TEXT) }
    }

    fn to_channel(text: String) -> Self {
        Self { response_type: "in_channel", text: truncate_escaped(&text, MAX_TEXT) }
    }
}

async fn command(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Reply>, Problem> {
    let Some(secret) = &state.config.webhooks.slack else {
        return Err(Problem::not_found("the Slack bot is not configured: set slack.signing_secret"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(error) = slack::verify(secret.expose(), header("x-slack-request-timestamp"), header("x-slack-signature"), &body, now() / 1_000) {
        tracing::warn!(error = %error, "slack request refused");
        return Err(Problem::unauthorized(error.to_string()));
    }
    let command = SlashCommand::parse(&body).map_err(|detail| Problem::unreadable_body(StatusCode::BAD_REQUEST, detail))?;
    let words = command.words();
    tracing::info!(user = command.user_id, subcommand = words.first().copied().unwrap_or(""), "slack command");
    let normalizer = &state.config.normalizer;
    let reply = match words.as_slice() {
        ["status", service] => status(&state, service, "production").await?,
        ["status", service, environment] => status(&state, service, &normalizer.environment(environment)).await?,
        ["history", service] => history(&state, service, 5).await?,
        ["history", service, n] => match n.parse::<i64>().ok().filter(|n| (1..=20).contains(n)) {
            Some(n) => history(&state, service, n).await?,
            None => Reply::to_user(format!("Expected a number of deployments from 1 to 20 but found `{}`.", escape_mrkdwn(n))),
        },
        ["approve", id] => approve(&state, &command, id).await?,
        ["dora"] => dora(&state, None).await?,
        ["dora", team] => dora(&state, Some(team)).await?,
        _ => Reply::to_user(usage(&command.command)),
    };
    Ok(Json(reply))
}

fn usage(command: &str) -> String {
    let c = if command.is_empty() { "/pacer".to_owned() } else { escape_mrkdwn(command) };
    format!(
        "Usage:\n• `{c} status <service> [environment]`: what is live, the last deployments, open incidents, rollbacks awaiting approval\n\
         • `{c} history <service> [n]`: the last n deployments (5 by default)\n\
         • `{c} dora [team]`: the five keys over the last 7 days, with their levels and the change from the week before\n\
         • `{c} approve <rollback id>`: approve a rollback the manual policy holds (admins only)"
    )
}

/// `version (sha)`, or what names the deployment best.
fn label(d: &Deployment) -> String {
    let version = d.version.clone().unwrap_or_else(|| d.id.clone());
    match &d.commit_sha {
        Some(sha) => format!("{version} ({})", short_sha(sha)),
        None => version,
    }
}

fn line(d: &Deployment) -> String {
    let when = d.finished_at.or(d.started_at).map(rfc3339).unwrap_or_default();
    let rolls_back = d.rollback_of.as_deref().map(|of| format!(", rolls back `{}`", escape_mrkdwn(of))).unwrap_or_default();
    let commits = if d.commits.is_empty() { String::new() } else { format!(", {} commits", d.commits.len()) };
    format!("• `{}` {} {when}{commits}{rolls_back}", escape_mrkdwn(&label(d)), d.status.as_str())
}

async fn deployments(state: &AppState, service: &str, environment: &str, limit: i64) -> Result<Vec<Deployment>, Problem> {
    let query = ListQuery { environment: environment.to_owned(), services: Some(vec![service.to_owned()]), limit, ..ListQuery::default() };
    Ok(state.store.deployments(&query).await?.items)
}

async fn status(state: &AppState, service: &str, environment: &str) -> Result<Reply, Problem> {
    let recent = deployments(state, service, environment, 5).await?;
    let (name, env) = (escape_mrkdwn(service), escape_mrkdwn(environment));
    if recent.is_empty() {
        return Ok(Reply::to_user(format!("No deployments of *{name}* in {env} yet.")));
    }
    let mut text = format!("*{name}* in {env}\n");
    // The newest successful deployment among the last few; an older one is not looked for.
    match recent.iter().find(|d| d.status == DeploymentStatus::Success) {
        Some(live) => text.push_str(&format!("Live: `{}` since {}\n", escape_mrkdwn(&label(live)), live.finished_at.map(rfc3339).unwrap_or_default())),
        None => text.push_str("Live: no successful deployment among the last five\n"),
    }
    text.push_str("Last deployments:\n");
    for d in &recent {
        text.push_str(&line(d));
        text.push('\n');
    }
    let query = ListQuery { environment: environment.to_owned(), services: Some(vec![service.to_owned()]), limit: 50, ..ListQuery::default() };
    let open: Vec<_> = state.store.incidents(&query).await?.items.into_iter().filter(|i| i.resolved_at.is_none()).collect();
    if open.is_empty() {
        text.push_str("Open incidents: none\n");
    } else {
        text.push_str("Open incidents:\n");
        for i in &open {
            text.push_str(&format!("• {} (opened {})\n", escape_mrkdwn(i.title.as_deref().unwrap_or(&i.id)), rfc3339(i.opened_at)));
        }
    }
    let waiting: Vec<_> = state.store.rollbacks_since(service, environment, now() - 30 * DAY).await?.into_iter().filter(|r| r.state == "awaiting_approval").collect();
    if !waiting.is_empty() {
        text.push_str("Rollbacks awaiting approval:\n");
        for r in &waiting {
            text.push_str(&format!("• `{}`: {}\n", escape_mrkdwn(&r.id), escape_mrkdwn(&r.reason)));
        }
    }
    Ok(Reply::to_user(text))
}

async fn history(state: &AppState, service: &str, n: i64) -> Result<Reply, Problem> {
    let recent = deployments(state, service, "production", n).await?;
    let name = escape_mrkdwn(service);
    if recent.is_empty() {
        return Ok(Reply::to_user(format!("No deployments of *{name}* in production yet.")));
    }
    let lines: Vec<String> = recent.iter().map(line).collect();
    Ok(Reply::to_user(format!("Last {} deployments of *{name}* in production:\n{}", recent.len(), lines.join("\n"))))
}

async fn dora(state: &AppState, team: Option<&str>) -> Result<Reply, Problem> {
    let query = match team {
        Some(team) => format!("from=now-7d&team={}", encode(team)),
        None => "from=now-7d".to_owned(),
    };
    let params = Params::parse(Some(&query))?;
    let (analysis, f) = match crate::read::dora::analyze(state, &params).await {
        Ok(found) => found,
        Err(problem) if (400..500).contains(&problem.status) => return Ok(Reply::to_user(format!("Nothing to show: {}.", escape_mrkdwn(&problem.detail)))),
        Err(problem) => return Err(problem),
    };
    let now = analysis.summary(f.from, f.to, f.benchmarks, &f.scope);
    let before = analysis.summary(f.from - (f.to - f.from), f.from, f.benchmarks, &f.scope);
    let whose = team.map_or_else(|| "every team".to_owned(), |t| format!("*{}*", escape_mrkdwn(t)));
    let mut text = format!("DORA keys of {whose} in production, last 7 days:\n");
    for key in keys(&now, &before, f.benchmarks) {
        let level = key.level.map(|l| format!(" ({})", level_name(l))).unwrap_or_default();
        let change = match key.change() {
            Change::Unknown => "no number the week before".to_owned(),
            Change::Steady { was } => format!("steady (was {was})"),
            Change::Moved { up, better, amount, was } => {
                format!("{} {amount} ({}; was {was})", if up { "up" } else { "down" }, if better { "better" } else { "worse" })
            }
        };
        text.push_str(&format!("• *{}*: {}{level} — {change}\n", key.name, key.shown_value()));
    }
    Ok(Reply::to_user(text))
}

async fn approve(state: &AppState, command: &SlashCommand, id: &str) -> Result<Reply, Problem> {
    if !state.config.sources.slack_admins.contains(&command.user_id) {
        tracing::warn!(user = command.user_id, rollback_id = id, "slack approval refused: not an admin");
        return Ok(Reply::to_user(format!(
            "Only pacer admins may approve rollbacks: ask one to add your Slack user id `{}` to `[slack] admins`. Nothing was done.",
            escape_mrkdwn(&command.user_id)
        )));
    }
    let by = format!("slack:{}", command.user_id);
    match crate::approval::approve(state, id, &by).await {
        Ok(()) => Ok(Reply::to_channel(format!("<@{}> approved rollback `{}`: its hooks are on their way.", command.user_id, escape_mrkdwn(id)))),
        Err(problem) if (400..500).contains(&problem.status) => Ok(Reply::to_user(format!("Nothing was done: {}.", escape_mrkdwn(&problem.detail)))),
        Err(problem) => Err(problem),
    }
}
