//! `POST /webhooks/slack/commands` and `/webhooks/slack/interactions`: the deploy bot's slash
//! command, `/pacer <subcommand>`, and its confirm button.
//!
//! Every request must carry Slack's signature of its raw body made within the last five
//! minutes (`pacer_collector::sources::slack`); a missing, wrong or old one is a 401 and nothing
//! is done. Subcommands: `status <service> [environment]` (the live version and since when, the
//! last deployments, the five keys over 30 days with their levels, the SLOs' error budgets, open
//! incidents, rollbacks awaiting approval), `history <service> [n]` (the
//! last n deployments), `dora [team]` (the five keys of the last 7 days with their levels and
//! the change from the week before, as the page words them), and `approve <rollback id>` (the
//! manual policy's approval, only for Slack users listed in `[slack] admins`). Each answers from
//! the store and the cached analysis as an ephemeral message (an approval is said in the
//! channel); an answer not ready within `[slack] answer_within_ms` (2 s) is replaced by "working
//! on it" and posted to the command's `response_url` when ready, so Slack never waits past its
//! three seconds. `rollback <service> [environment]`
//! (admins only) answers with a confirm button; its click puts the request through the rollback
//! policy as an alert starting now would go (`alerting::roll_back_on_request`): the same
//! exactly-once decision, so a second click finds the same rollback.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use pacer_chat::text::{encode, escape_mrkdwn, short_sha, truncate_escaped};
use pacer_collector::sources::slack::{self, Interaction, SlashCommand};
use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{DAY, Deployment, DeploymentStatus};
use pacer_store::ListQuery;
use serde::Serialize;
use serde_json::{Value, json};

use crate::alerting::Requested;
use crate::clock::now;
use crate::problem::Problem;
use crate::query::Params;
use crate::state::AppState;
use crate::wording::{keys, level_name, percent};

/// The longest answer text (Slack's limit on a message's `text`).
const MAX_TEXT: usize = 3_000;
/// How long to wait for Slack to take a late answer.
const LATER_TIMEOUT: Duration = Duration::from_secs(10);

/// Slack bot routes. They take no bearer token: Slack proves itself by its signature.
pub fn router(state: AppState) -> Router {
    Router::new().route("/webhooks/slack/commands", post(command)).route("/webhooks/slack/interactions", post(interaction)).with_state(state)
}

/// An answer to a slash command or a button.
#[derive(Debug, Serialize)]
struct Reply {
    /// `ephemeral` (only the user sees it) or `in_channel`.
    response_type: &'static str,
    /// mrkdwn text.
    text: String,
    /// Block Kit blocks (a confirm button), when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    blocks: Vec<Value>,
}

impl Reply {
    fn to_user(text: String) -> Self {
        Self { response_type: "ephemeral", text: truncate_escaped(&text, MAX_TEXT), blocks: Vec::new() }
    }

    fn to_channel(text: String) -> Self {
        Self { response_type: "in_channel", text: truncate_escaped(&text, MAX_TEXT), blocks: Vec::new() }
    }
}

/// Refuses a request Slack did not sign (401, nothing done).
fn signed_by_slack(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), Problem> {
    let Some(secret) = &state.config.webhooks.slack else {
        return Err(Problem::not_found("the Slack bot is not configured: set slack.signing_secret"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    slack::verify(secret.expose(), header("x-slack-request-timestamp"), header("x-slack-signature"), body, now() / 1_000).map_err(|error| {
        tracing::warn!(error = %error, "slack request refused");
        Problem::unauthorized(error.to_string())
    })
}

fn is_admin(state: &AppState, user: &str) -> bool {
    state.config.sources.slack_admins.contains(user)
}

fn not_admin(user: &str, what: &str) -> Reply {
    Reply::to_user(format!(
        "Only pacer admins may {what}: ask one to add your Slack user id `{}` to `[slack] admins`. Nothing was done.",
        escape_mrkdwn(user)
    ))
}

async fn command(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Reply>, Problem> {
    signed_by_slack(&state, &headers, &body)?;
    let command = SlashCommand::parse(&body).map_err(|detail| Problem::unreadable_body(StatusCode::BAD_REQUEST, detail))?;
    tracing::info!(user = command.user_id, subcommand = command.words().first().copied().unwrap_or(""), "slack command");
    let within = Duration::from_millis(state.config.sources.slack_answer_within_ms());
    let response_url = command.response_url.clone();
    let mut answering = tokio::spawn({
        let state = state.clone();
        async move { answer(&state, &command).await }
    });
    match tokio::time::timeout(within, &mut answering).await {
        Ok(joined) => joined.map_err(|_| Problem::internal())?.map(Json),
        Err(_) => {
            tokio::spawn(answer_later(response_url, answering));
            Ok(Json(Reply::to_user("Working on it: the answer follows here in a moment.".to_owned())))
        }
    }
}

/// The answer to `command`.
async fn answer(state: &AppState, command: &SlashCommand) -> Result<Reply, Problem> {
    let words = command.words();
    let normalizer = &state.config.normalizer;
    Ok(match words.as_slice() {
        ["status", service] => status(state, service, "production").await?,
        ["status", service, environment] => status(state, service, &normalizer.environment(environment)).await?,
        ["history", service] => history(state, service, 5).await?,
        ["history", service, n] => match n.parse::<i64>().ok().filter(|n| (1..=20).contains(n)) {
            Some(n) => history(state, service, n).await?,
            None => Reply::to_user(format!("Expected a number of deployments from 1 to 20 but found `{}`.", escape_mrkdwn(n))),
        },
        ["approve", id] => approve(state, command, id).await?,
        ["rollback", service] => confirm_rollback(state, command, service, "production"),
        ["rollback", service, environment] => confirm_rollback(state, command, service, &normalizer.environment(environment)),
        ["dora"] => dora(state, None).await?,
        ["dora", team] => dora(state, Some(team)).await?,
        _ => Reply::to_user(usage(&command.command)),
    })
}

/// Posts an answer that was not ready in time to the `response_url` Slack gave with the command
/// (Slack takes answers there for 30 minutes). The URL is never logged: it lets anyone answer.
async fn answer_later(response_url: String, answering: tokio::task::JoinHandle<Result<Reply, Problem>>) {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let reply = match answering.await {
        Ok(Ok(reply)) => reply,
        Ok(Err(problem)) => Reply::to_user(format!("pacer could not answer: {}.", escape_mrkdwn(&problem.detail))),
        Err(_) => Reply::to_user("pacer could not answer: the command failed.".to_owned()),
    };
    if !(response_url.starts_with("https://") || response_url.starts_with("http://")) {
        tracing::warn!("slack command answered late but gave no response_url; the answer is dropped");
        return;
    }
    let client = CLIENT.get_or_init(|| reqwest::Client::builder().user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION"))).build().unwrap_or_default());
    match client.post(&response_url).timeout(LATER_TIMEOUT).json(&reply).send().await {
        Ok(response) if response.status().is_success() => tracing::info!("slack command answered through its response_url"),
        Ok(response) => tracing::warn!(status = response.status().as_u16(), "slack refused the late answer to a command"),
        Err(error) => tracing::warn!(error = %error.without_url(), "the late answer to a slack command could not be posted"),
    }
}

fn usage(command: &str) -> String {
    let c = if command.is_empty() { "/pacer".to_owned() } else { escape_mrkdwn(command) };
    format!(
        "Usage:\n• `{c} status <service> [environment]`: what is live, the last deployments, the five keys over 30 days, SLO budgets, open incidents, rollbacks awaiting approval\n\
         • `{c} history <service> [n]`: the last n deployments (5 by default)\n\
         • `{c} dora [team]`: the five keys over the last 7 days, with their levels and the change from the week before\n\
         • `{c} rollback <service> [environment]`: ask the rollback policy to roll back the current deployment, after you confirm (admins only)\n\
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
    let scope = format!("&service={}&environment={}", encode(service), encode(environment));
    match key_lines(state, &scope, 30).await? {
        Ok(lines) => text.push_str(&format!("DORA keys, last 30 days:\n{lines}")),
        Err(nothing) => text.push_str(&format!("DORA keys: {nothing}\n")),
    }
    let budgets = budget_lines(state, service, environment).await;
    if !budgets.is_empty() {
        text.push_str("SLOs:\n");
        text.push_str(&budgets);
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
    let scope = team.map(|team| format!("&team={}", encode(team))).unwrap_or_default();
    let whose = team.map_or_else(|| "every team".to_owned(), |t| format!("*{}*", escape_mrkdwn(t)));
    Ok(Reply::to_user(match key_lines(state, &scope, 7).await? {
        Ok(lines) => format!("DORA keys of {whose} in production, last 7 days:\n{lines}"),
        Err(nothing) => nothing,
    }))
}

/// The five keys over the last `days` days in `scope` (`&team=…`, `&service=…&environment=…`)
/// with their levels and the change from the `days` before, a line each: the numbers `GET
/// /api/v1/dora?from=now-{days}d{scope}` gives, read by the same code. `Err` says why there is
/// nothing to show.
async fn key_lines(state: &AppState, scope: &str, days: i64) -> Result<Result<String, String>, Problem> {
    let params = Params::parse(Some(&format!("from=now-{days}d{scope}")))?;
    let (analysis, f) = match crate::read::dora::analyze(state, &params).await {
        Ok(found) => found,
        Err(problem) if (400..500).contains(&problem.status) => return Ok(Err(format!("Nothing to show: {}.", escape_mrkdwn(&problem.detail)))),
        Err(problem) => return Err(problem),
    };
    let now = analysis.summary(f.from, f.to, f.benchmarks, &f.scope);
    let before = analysis.summary(f.from - (f.to - f.from), f.from, f.benchmarks, &f.scope);
    let mut text = String::new();
    for key in keys(&now, &before, f.benchmarks) {
        let level = key.level.map(|l| format!(" ({})", level_name(l))).unwrap_or_default();
        let words = key.change().words();
        let change = if days == 7 { words } else { words.replace("the week before", &format!("the {days} days before")) };
        text.push_str(&format!("• *{}*: {}{level} — {change}\n", key.name, key.shown_value()));
    }
    Ok(Ok(text))
}

/// Each SLO of `service` in `environment` with its error budget left and its state, as `GET
/// /api/v1/slos` computes them; empty without SLOs.
async fn budget_lines(state: &AppState, service: &str, environment: &str) -> String {
    let mut text = String::new();
    for slo in state.config.slos.iter().filter(|s| s.service == service && s.environment == environment) {
        let line = match crate::read::slo::status(&state.store, slo, now()).await {
            Ok(status) => {
                let left = status.budget_remaining.map_or_else(|| "no traffic yet".to_owned(), |left| format!("{} of the error budget left", percent(left)));
                format!("• *{}* ({} over {} days): {left}, {}\n", escape_mrkdwn(&slo.name), percent(slo.objective), status.window_days, status.status.name())
            }
            Err(problem) => format!("• *{}*: could not be read ({})\n", escape_mrkdwn(&slo.name), escape_mrkdwn(&problem.detail)),
        };
        text.push_str(&line);
    }
    text
}

/// Asks the admin to confirm, with a button whose click comes back to the interactions route.
fn confirm_rollback(state: &AppState, command: &SlashCommand, service: &str, environment: &str) -> Reply {
    if !is_admin(state, &command.user_id) {
        tracing::warn!(user = command.user_id, service, "slack rollback refused: not an admin");
        return not_admin(&command.user_id, "ask for rollbacks");
    }
    let text = format!(
        "Roll back *{}* in {}? The rollback policy decides, as for an alert now: the current deployment goes back to the last good one.",
        escape_mrkdwn(service),
        escape_mrkdwn(environment)
    );
    let button = json!({"type": "button", "action_id": "rollback", "style": "danger", "value": format!("{service} {environment}"),
                        "text": {"type": "plain_text", "text": "Roll back"}});
    let blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}), json!({"type": "actions", "elements": [button]})];
    Reply { blocks, ..Reply::to_user(text) }
}

/// `POST /webhooks/slack/interactions`: the confirm button of `rollback`.
async fn interaction(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Reply>, Problem> {
    signed_by_slack(&state, &headers, &body)?;
    let interaction = Interaction::parse(&body).map_err(|detail| Problem::unreadable_body(StatusCode::BAD_REQUEST, detail))?;
    let user = interaction.user.id.as_str();
    let Some(action) = interaction.actions.first().filter(|a| a.action_id == "rollback") else {
        return Ok(Json(Reply::to_user("Nothing was done: pacer knows no such button.".to_owned())));
    };
    if !is_admin(&state, user) {
        tracing::warn!(user, "slack rollback refused: not an admin");
        return Ok(Json(not_admin(user, "ask for rollbacks")));
    }
    let Some((service, environment)) = action.value.split_once(' ') else {
        return Ok(Json(Reply::to_user("Nothing was done: the button names no service.".to_owned())));
    };
    let (name, env) = (escape_mrkdwn(service), escape_mrkdwn(environment));
    let reply = match crate::alerting::roll_back_on_request(&state, "slack", service, environment, &format!("slack:{user}")).await? {
        Requested::Decided(id) => Reply::to_channel(format!("<@{user}> asked to roll back *{name}* in {env}: rollback `{}` decided.", escape_mrkdwn(&id))),
        Requested::Skipped(reason) => Reply::to_user(format!("Nothing was done: the rollback policy skipped it ({}).", reason.name())),
        Requested::NoPolicy => Reply::to_user(format!("Nothing was done: no rollback policy covers *{name}* in {env}.")),
    };
    Ok(Json(reply))
}

async fn approve(state: &AppState, command: &SlashCommand, id: &str) -> Result<Reply, Problem> {
    if !is_admin(state, &command.user_id) {
        tracing::warn!(user = command.user_id, rollback_id = id, "slack approval refused: not an admin");
        return Ok(not_admin(&command.user_id, "approve rollbacks"));
    }
    let by = format!("slack:{}", command.user_id);
    match crate::approval::approve(state, id, &by).await {
        Ok(()) => Ok(Reply::to_channel(format!("<@{}> approved rollback `{}`: its hooks are on their way.", command.user_id, escape_mrkdwn(id)))),
        Err(problem) if (400..500).contains(&problem.status) => Ok(Reply::to_user(format!("Nothing was done: {}.", escape_mrkdwn(&problem.detail)))),
        Err(problem) => Err(problem),
    }
}
