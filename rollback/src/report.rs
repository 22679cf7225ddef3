//! The rollback report: what a rollback hook receives, and what chat messages about a rollback
//! read back from the stored decision. One typed shape for both, so the hook body and the chat
//! message never disagree. Times are RFC 3339 text, as sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of a rollback hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `rollback.requested`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The rollback's id.
    pub rollback_id: String,
    /// `auto`, `manual`, `dry_run` or `off`.
    pub mode: String,
    /// The service rolled back.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// One line for humans.
    pub reason: String,
    /// The bad deployment.
    pub deployment: DeploymentSummary,
    /// The deployment returned to.
    pub target: DeploymentSummary,
    /// The alert that triggered it.
    pub trigger: Trigger,
    /// What the bad deployment shipped.
    pub changes: Changes,
    /// The incident the alert opened.
    pub incident_id: String,
    /// When it was decided.
    pub decided_at: String,
}

/// A deployment as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    /// Its id.
    pub id: String,
    /// Its version label.
    pub version: Option<String>,
    /// Its head commit.
    pub commit_sha: Option<String>,
    /// The deployer's link to it (the build).
    pub url: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// The alert behind a rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The alert's name.
    pub alert: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: String,
    /// The link to the alert's source.
    pub generator_url: Option<String>,
    /// The values the alerting source observed, as it sent them.
    pub values: Option<Value>,
}

/// What a deployment shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Its commits.
    pub commits: Vec<ShippedCommit>,
    /// The pull requests merged as those commits.
    pub pull_requests: Vec<ShippedPullRequest>,
    /// The link to the changes between the target and the bad deployment.
    pub compare_url: Option<String>,
}

/// A commit a deployment shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedCommit {
    /// Its sha.
    pub sha: String,
    /// Its repository.
    pub repository: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// When it was committed.
    pub committed_at: String,
}

/// A pull request a deployment shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedPullRequest {
    /// Its id.
    pub id: String,
    /// Its repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its author.
    pub author: Option<String>,
    /// When it was merged.
    pub merged_at: Option<String>,
    /// Its merge commit.
    pub merge_commit_sha: Option<String>,
}
