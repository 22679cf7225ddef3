//! GitHub's custom deployment protection rules: a `deployment_protection_rule` delivery (action
//! `requested`) asks the gate, and pacer approves or rejects the deployment through GitHub's REST
//! API as the GitHub App the rule belongs to — an App JWT buys an installation token, and the
//! review is posted to the delivery's `deployment_callback_url`
//! (<https://docs.github.com/en/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run>).
//!
//! The delivery has already been verified like every GitHub webhook (`X-Hub-Signature-256` with
//! the `[github]` secret, which is the App's webhook secret). GitHub does not redeliver on its
//! own, so a review GitHub refuses is answered 502 for the delivery log to show it.

use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Answer, Question, ask};
use crate::config::GithubApp;
use crate::problem::Problem;
use crate::state::AppState;

/// GitHub's longest review comment.
const COMMENT_CHARS: usize = 1024;

/// The fields of a `deployment_protection_rule` delivery pacer reads.
#[derive(Debug, Deserialize)]
struct ProtectionRule {
    action: String,
    environment: Option<String>,
    deployment_callback_url: Option<String>,
    deployment: Option<GithubDeployment>,
    repository: Option<Repository>,
    installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
struct GithubDeployment {
    id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Installation {
    id: u64,
}

/// The review GitHub takes.
#[derive(Debug, Serialize)]
struct Review<'a> {
    environment_name: &'a str,
    state: &'static str,
    comment: String,
}

/// Answers a `deployment_protection_rule` delivery: asks the gate and reviews the deployment.
///
/// # Errors
/// A payload without the fields a review needs (400), no GitHub App configured (400: the sender
/// is told why nothing was reviewed), GitHub refusing the review (502), or the database failing.
pub async fn review(state: &AppState, payload: &Value) -> Result<Value, Problem> {
    let rule: ProtectionRule = serde_json::from_value(payload.clone()).map_err(|e| invalid("", format!("expected a deployment_protection_rule payload: {e}")))?;
    if rule.action != "requested" {
        return Ok(json!({"accepted": 0, "duplicates": 0, "ignored": true, "reason": format!("deployment_protection_rule action {:?} asks nothing", rule.action)}));
    }
    let environment = rule.environment.ok_or_else(|| invalid("/environment", "expected the environment being deployed to but found none"))?;
    let callback = rule.deployment_callback_url.ok_or_else(|| invalid("/deployment_callback_url", "expected the URL to review the deployment at but found none"))?;
    let repository = rule.repository.ok_or_else(|| invalid("/repository/full_name", "expected the repository but found none"))?.full_name;
    let installation = rule.installation.ok_or_else(|| invalid("/installation/id", "expected the GitHub App installation but found none"))?.id;
    let Some(app) = &state.config.gate.github else {
        return Err(invalid("/installation", "no GitHub App is configured to review deployments ([gate] github_app_id and github_private_key_file)"));
    };
    let deployment = rule.deployment.and_then(|d| d.id);
    let question = Question {
        service: state.config.sources.service(&repository),
        environment: environment.clone(),
        deployment: None,
        rollout: deployment.map(|id| format!("github:{repository}/deployments/{id}")),
        asker: "github".to_owned(),
    };
    let answer = ask(state, question).await?;
    post_review(app, installation, &callback, &environment, &answer).await?;
    tracing::info!(service = answer.service, environment = answer.environment, decision = answer.decision, "github deployment reviewed");
    Ok(json!({"accepted": 0, "duplicates": 0, "ignored": false, "reviewed": if answer.proceed { "approved" } else { "rejected" }, "gate": answer}))
}

async fn post_review(app: &GithubApp, installation: u64, callback: &str, environment: &str, answer: &Answer) -> Result<(), Problem> {
    let failed = |detail: String| {
        tracing::warn!(detail, "github review failed");
        Problem::bad_gateway(format!("GitHub did not take the review: {detail}"))
    };
    let key = octocrab::EncodingKey::from_rsa_pem(&app.private_key).map_err(|e| failed(e.to_string()))?;
    let client = Octocrab::builder()
        .base_uri(app.api_url.as_str())
        .map_err(|e| failed(e.to_string()))?
        .app(AppId(app.app_id), key)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let installed = client.installation(InstallationId(installation)).map_err(|e| failed(e.to_string()))?;
    let comment: String = format!("pacer: {}", answer.summary).chars().take(COMMENT_CHARS).collect();
    let review = Review { environment_name: environment, state: if answer.proceed { "approved" } else { "rejected" }, comment };
    // The installation's token goes only to the configured API: the review is posted to the
    // callback's path there, and a callback elsewhere is refused.
    let origin = |url: &str| url.split('/').take(3).collect::<Vec<_>>().join("/");
    let path = callback
        .strip_prefix(&origin(&app.api_url))
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| failed(format!("the callback {callback} is not on the configured API {}; set [gate] github_api_url", app.api_url)))?;
    let response = installed._post(path, Some(&review)).await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("{callback} answered {}", response.status())));
    }
    Ok(())
}

fn invalid(pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::invalid_events(vec![pacer_collector::FieldError::new(pointer, detail.into())])
}
