//! `pacer send deployment | ci-run | incident`: one event from any pipeline (a Jenkinsfile, a
//! GitHub Actions step, a GitLab CI job) to a running pacer, through `POST /api/v1/events`.
//!
//! The token comes from the environment (`PACER_TOKEN`), never from the command line, where it
//! would show in process lists and CI logs. A 429 or a 5xx, or no answer, is retried with
//! exponential backoff (honouring `Retry-After`); a 4xx is final: pacer's problem text is printed
//! and the command exits non-zero, so the pipeline step fails with the reason. An event is
//! idempotent by its id, so a re-run job sends the same event and pacer stores it once; without
//! `--id`, a deployment's id is derived from its service, environment and version or commit.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

/// Options of `pacer send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The event to send.
    #[command(subcommand)]
    pub event: SendEvent,
    /// The pacer server.
    #[arg(long, global = true, env = "PACER_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// A token with the `ingest` scope (only from the environment).
    #[arg(skip = std::env::var("PACER_TOKEN").ok().filter(|t| !t.is_empty()))]
    pub token: Option<String>,
    /// Attempts after the first when pacer is busy or unreachable.
    #[arg(long, global = true, default_value_t = 5)]
    pub retries: u32,
    /// The first wait between attempts, in milliseconds; it doubles each time.
    #[arg(long, global = true, default_value_t = 1_000)]
    pub backoff_ms: u64,
    /// How long to wait for one answer, in seconds.
    #[arg(long, global = true, default_value_t = 10)]
    pub timeout_secs: u64,
}

/// The events `pacer send` knows.
#[derive(Debug, Subcommand)]
pub enum SendEvent {
    /// A deployment, started or finished.
    Deployment(DeploymentArgs),
    /// A CI run (a pipeline or a stage of one).
    CiRun(CiRunArgs),
    /// An incident, opened or resolved.
    Incident(IncidentArgs),
}

/// A deployment's status.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// Started, not finished.
    InProgress,
    /// Finished well.
    Success,
    /// Finished badly.
    Failure,
    /// Stopped before it finished.
    Cancelled,
}

/// `pacer send deployment`.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// The deployment's id (default: service/environment/version, or commit).
    #[arg(long)]
    pub id: Option<String>,
    /// The service deployed.
    #[arg(long)]
    pub service: String,
    /// The environment (default production).
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// The version deployed.
    #[arg(long)]
    pub version: Option<String>,
    /// The commit deployed (`$GIT_COMMIT`, `$GITHUB_SHA`, `$CI_COMMIT_SHA`).
    #[arg(long)]
    pub commit: Option<String>,
    /// How it went.
    #[arg(long, value_enum)]
    pub status: Status,
    /// When it started (RFC 3339).
    #[arg(long)]
    pub started_at: Option<String>,
    /// When it finished (RFC 3339; default now, unless it is in progress).
    #[arg(long)]
    pub finished_at: Option<String>,
    /// The deployment it rolls back.
    #[arg(long)]
    pub rollback_of: Option<String>,
    /// An unplanned deployment (a hotfix).
    #[arg(long)]
    pub unplanned: bool,
    /// The team that owns the service.
    #[arg(long)]
    pub team: Option<String>,
    /// A link to the pipeline run.
    #[arg(long)]
    pub url: Option<String>,
}

/// `pacer send ci-run`.
#[derive(Debug, Args)]
pub struct CiRunArgs {
    /// The run's id (`$BUILD_TAG`, `$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT`, `$CI_PIPELINE_ID`).
    #[arg(long)]
    pub id: String,
    /// The pipeline's name.
    #[arg(long)]
    pub pipeline: String,
    /// `success`, `failure`, `cancelled`, …
    #[arg(long)]
    pub status: String,
    /// When it started (RFC 3339).
    #[arg(long)]
    pub started_at: String,
    /// When it finished (RFC 3339; default now).
    #[arg(long)]
    pub finished_at: Option<String>,
    /// When it was queued (RFC 3339).
    #[arg(long)]
    pub queued_at: Option<String>,
    /// The delivery stage: `pre_commit`, `pull_request`, `post_merge`, `deploy`, …
    #[arg(long)]
    pub stage: Option<String>,
    /// The repository (`owner/name`).
    #[arg(long)]
    pub repository: Option<String>,
    /// The service.
    #[arg(long)]
    pub service: Option<String>,
    /// The commit built.
    #[arg(long)]
    pub commit: Option<String>,
    /// The branch built.
    #[arg(long)]
    pub branch: Option<String>,
    /// A link to the run.
    #[arg(long)]
    pub url: Option<String>,
}

/// `pacer send incident`.
#[derive(Debug, Args)]
pub struct IncidentArgs {
    /// The incident's id.
    #[arg(long)]
    pub id: String,
    /// The service affected.
    #[arg(long)]
    pub service: String,
    /// The environment (default production).
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// When it opened (RFC 3339; default now).
    #[arg(long)]
    pub opened_at: Option<String>,
    /// When it was resolved (RFC 3339).
    #[arg(long)]
    pub resolved_at: Option<String>,
    /// Its severity.
    #[arg(long)]
    pub severity: Option<String>,
    /// Its title.
    #[arg(long)]
    pub title: Option<String>,
    /// A link to it.
    #[arg(long)]
    pub url: Option<String>,
    /// The deployment that caused it.
    #[arg(long)]
    pub deployment: Option<String>,
    /// The commit that caused it.
    #[arg(long)]
    pub commit: Option<String>,
}

/// Sends the event.
///
/// # Errors
/// pacer refused the event (its problem text), or stayed busy or unreachable through every retry.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let event = event(&args.event, &now);
    let (kind, id) = (event["type"].as_str().unwrap_or_default().to_owned(), event["id"].as_str().unwrap_or_default().to_owned());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout_secs)).build().context("cannot make an HTTP client")?;
    let url = format!("{}/api/v1/events", args.server.trim_end_matches('/'));
    let mut wait = Duration::from_millis(args.backoff_ms);
    for attempt in 0..=args.retries {
        let mut request = client.post(&url).json(&event);
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        let retry_in = match request.send().await {
            Ok(response) if response.status().is_success() => {
                let answer: Value = response.json().await.unwrap_or_default();
                let stored = if answer["duplicates"].as_u64() == Some(1) { "already stored" } else { "stored" };
                println!("{kind} {id}: {stored}");
                return Ok(());
            }
            Ok(response) if response.status().as_u16() == 429 || response.status().is_server_error() => {
                let status = response.status();
                let after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
                eprintln!("pacer answered {status}; attempt {} of {}", attempt + 1, args.retries + 1);
                after.map_or(wait, |s| Duration::from_secs(s.min(60)))
            }
            Ok(response) => {
                let status = response.status();
                let problem: Value = response.json().await.unwrap_or_default();
                bail!("pacer refused the {kind} ({status}): {}", problem_text(&problem));
            }
            Err(error) => {
                eprintln!("cannot reach pacer at {url}: {error}; attempt {} of {}", attempt + 1, args.retries + 1);
                wait
            }
        };
        if attempt < args.retries {
            tokio::time::sleep(retry_in).await;
            wait = wait.saturating_mul(2).min(Duration::from_secs(60));
        }
    }
    bail!("pacer at {url} stayed busy or unreachable through {} attempts; the {kind} {id} was not sent", args.retries + 1)
}

/// The native event for `event`, timed at `now` where a time is left out.
fn event(event: &SendEvent, now: &str) -> Value {
    let mut fields = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            fields.insert(name.to_owned(), value);
        }
    };
    let text = |v: &Option<String>| v.as_ref().map(|s| json!(s));
    match event {
        SendEvent::Deployment(d) => {
            let status = d.status.to_possible_value().map(|v| v.get_name().replace('-', "_")).unwrap_or_default();
            let label = d.version.as_deref().or(d.commit.as_deref()).unwrap_or("unversioned");
            put("type", Some(json!("deployment")));
            put("id", Some(json!(d.id.clone().unwrap_or_else(|| format!("{}/{}/{label}", d.service, d.environment)))));
            put("service", Some(json!(d.service)));
            put("environment", Some(json!(d.environment)));
            put("version", text(&d.version));
            put("commit_sha", text(&d.commit));
            let in_progress = matches!(d.status, Status::InProgress);
            let finished_at = if in_progress { None } else { Some(d.finished_at.clone().unwrap_or_else(|| now.to_owned())) };
            put("started_at", text(&d.started_at).or_else(|| in_progress.then(|| json!(now))));
            put("finished_at", text(&finished_at));
            put("status", Some(json!(status)));
            put("rollback_of", text(&d.rollback_of));
            put("unplanned", d.unplanned.then_some(json!(true)));
            put("team", text(&d.team));
            put("url", text(&d.url));
        }
        SendEvent::CiRun(r) => {
            put("type", Some(json!("ci_run")));
            put("id", Some(json!(r.id)));
            put("pipeline", Some(json!(r.pipeline)));
            put("status", Some(json!(r.status)));
            put("started_at", Some(json!(r.started_at)));
            put("finished_at", Some(json!(r.finished_at.clone().unwrap_or_else(|| now.to_owned()))));
            put("queued_at", text(&r.queued_at));
            put("stage", text(&r.stage));
            put("repository", text(&r.repository));
            put("service", text(&r.service));
            put("commit_sha", text(&r.commit));
            put("branch", text(&r.branch));
            put("url", text(&r.url));
        }
        SendEvent::Incident(i) => {
            put("type", Some(json!("incident")));
            put("id", Some(json!(i.id)));
            put("service", Some(json!(i.service)));
            put("environment", Some(json!(i.environment)));
            put("opened_at", Some(json!(i.opened_at.clone().unwrap_or_else(|| now.to_owned()))));
            put("resolved_at", text(&i.resolved_at));
            put("severity", text(&i.severity));
            put("title", text(&i.title));
            put("url", text(&i.url));
            put("deployment_id", text(&i.deployment));
            put("commit_sha", text(&i.commit));
        }
    }
    Value::Object(fields)
}

/// A problem body in words: its detail, then each field's problem on its own line.
fn problem_text(problem: &Value) -> String {
    let mut text = problem["detail"].as_str().or(problem["title"].as_str()).unwrap_or("no reason given").to_owned();
    for error in problem["errors"].as_array().into_iter().flatten() {
        // The pointer names the event's index in the batch; one event is sent, so drop "/0".
        let pointer = error["pointer"].as_str().unwrap_or_default();
        let field = pointer.strip_prefix("/0/").unwrap_or(pointer);
        text.push_str(&format!("\n  {field}: {}", error["detail"].as_str().unwrap_or_default()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(status: Status) -> DeploymentArgs {
        DeploymentArgs {
            id: None,
            service: "checkout".into(),
            environment: "production".into(),
            version: Some("1.4.2".into()),
            commit: Some("abc123".into()),
            status,
            started_at: None,
            finished_at: None,
            rollback_of: None,
            unplanned: false,
            team: None,
            url: None,
        }
    }

    #[test]
    fn a_finished_deployment_is_timed_now_and_named_by_its_version() {
        let sent = event(&SendEvent::Deployment(deployment(Status::Success)), "2026-12-06T10:00:00.000Z");
        assert_eq!(
            sent,
            json!({"type": "deployment", "id": "checkout/production/1.4.2", "service": "checkout", "environment": "production",
                   "version": "1.4.2", "commit_sha": "abc123", "finished_at": "2026-12-06T10:00:00.000Z", "status": "success"})
        );
    }

    #[test]
    fn a_deployment_in_progress_has_a_start_and_no_finish() {
        let sent = event(&SendEvent::Deployment(deployment(Status::InProgress)), "2026-12-06T10:00:00.000Z");
        assert_eq!(sent["status"], "in_progress");
        assert_eq!(sent["started_at"], "2026-12-06T10:00:00.000Z");
        assert!(sent.get("finished_at").is_none(), "{sent}");
    }

    #[test]
    fn a_problem_is_read_field_by_field() {
        let problem = json!({"detail": "1 problem in the request; nothing was stored", "errors": [{"pointer": "/0/started_at", "detail": "expected an RFC 3339 time"}]});
        assert_eq!(problem_text(&problem), "1 problem in the request; nothing was stored\n  started_at: expected an RFC 3339 time");
    }
}
