//! The facts pacer stores and reasons about, normalized from every source.
//!
//! Timestamps are UTC milliseconds since the Unix epoch ([`Millis`]) everywhere: one unit in
//! memory, in both databases and in every computation, converted to RFC 3339 only at the edges.

use serde::Serialize;

/// UTC milliseconds since the Unix epoch.
pub type Millis = i64;

/// Milliseconds in one second, minute, hour and day.
pub const SECOND: Millis = 1_000;
/// Milliseconds in one minute.
pub const MINUTE: Millis = 60 * SECOND;
/// Milliseconds in one hour.
pub const HOUR: Millis = 3_600 * SECOND;
/// Milliseconds in one day.
pub const DAY: Millis = 24 * HOUR;

/// The state of a deployment. Only `Success` deployments count as deployments in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Started, not finished yet.
    InProgress,
    /// Finished and live.
    Success,
    /// Finished and not live.
    Failure,
    /// Stopped before it finished.
    Cancelled,
}

impl DeploymentStatus {
    /// Every status with its wire name.
    pub const ALL: [(&'static str, Self); 4] = [
        ("in_progress", Self::InProgress),
        ("success", Self::Success),
        ("failure", Self::Failure),
        ("cancelled", Self::Cancelled),
    ];

    /// The wire name (`in_progress`, `success`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// How far along the lifecycle the status is: a state of lower rank never overwrites one of
    /// higher rank, so an in-progress event that arrives late cannot undo a finished deployment.
    pub fn rank(self) -> i64 {
        match self {
            Self::InProgress => 0,
            Self::Success | Self::Failure | Self::Cancelled => 1,
        }
    }
}

/// A commit a deployment lists explicitly, with the time needed for its lead time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedCommit {
    /// The commit id.
    pub sha: String,
    /// When it was committed.
    pub committed_at: Option<Millis>,
    /// When it was authored.
    pub authored_at: Option<Millis>,
}

/// A deployment of one service to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    /// Unique id, the idempotency key.
    pub id: String,
    /// The deployed service.
    pub service: String,
    /// The normalized environment name.
    pub environment: String,
    /// The version label.
    pub version: Option<String>,
    /// The commit that is live after the deployment.
    pub commit_sha: Option<String>,
    /// Lifecycle state.
    pub status: DeploymentStatus,
    /// When it started.
    pub started_at: Option<Millis>,
    /// When it finished; the deployment's time in every metric.
    pub finished_at: Option<Millis>,
    /// Commits listed explicitly as shipped.
    pub commits: Vec<ShippedCommit>,
    /// The deployment this one rolls back.
    pub rollback_of: Option<String>,
    /// A hotfix or other unplanned deployment.
    pub unplanned: bool,
    /// The owning team, when the sender knows it.
    pub team: Option<String>,
    /// A link to the deployment.
    pub url: Option<String>,
}

#[cfg(test)]
impl Deployment {
    /// A successful production deployment of `sha` that finished at `finished_at`, naming
    /// nothing else: the deployment most tests start from.
    pub(crate) fn succeeded(id: &str, service: &str, sha: &str, finished_at: Millis) -> Self {
        Self {
            id: id.into(),
            service: service.into(),
            environment: "production".into(),
            version: None,
            commit_sha: Some(sha.into()),
            status: DeploymentStatus::Success,
            started_at: None,
            finished_at: Some(finished_at),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url: None,
        }
    }
}

/// A commit and its place in the commit graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The commit id (sha).
    pub sha: String,
    /// When it was committed.
    pub committed_at: Millis,
    /// The repository, `owner/name`.
    pub repository: Option<String>,
    /// The service it belongs to, when known.
    pub service: Option<String>,
    /// Parent commit ids, first parent first.
    pub parents: Vec<String>,
    /// When it was authored.
    pub authored_at: Option<Millis>,
    /// Its author.
    pub author: Option<String>,
    /// Its message.
    pub message: Option<String>,
}

/// A pull (merge) request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    /// Unique id, the idempotency key.
    pub id: String,
    /// The repository, `owner/name`.
    pub repository: String,
    /// The number within the repository.
    pub number: i64,
    /// When it was opened.
    pub opened_at: Millis,
    /// The service it belongs to, when known.
    pub service: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// When the first commit on its branch was made.
    pub first_commit_at: Option<Millis>,
    /// When it was first reviewed.
    pub first_review_at: Option<Millis>,
    /// When it was approved.
    pub approved_at: Option<Millis>,
    /// When it was merged.
    pub merged_at: Option<Millis>,
    /// When it was closed.
    pub closed_at: Option<Millis>,
    /// The commit its merge produced (a merge, squash or rebase commit).
    pub merge_commit_sha: Option<String>,
    /// Lines added.
    pub additions: Option<i64>,
    /// Lines deleted.
    pub deletions: Option<i64>,
    /// The head of its branch when last seen (webhooks); with `base_sha` it lets the store find
    /// the branch's first commit in the commit graph when `first_commit_at` is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// The head of the branch it targets when last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<String>,
}

/// A production incident (or one in another environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    /// Unique id, the idempotency key.
    pub id: String,
    /// The affected service.
    pub service: String,
    /// The normalized environment name.
    pub environment: String,
    /// When it opened.
    pub opened_at: Millis,
    /// When it was resolved.
    pub resolved_at: Option<Millis>,
    /// Severity label.
    pub severity: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// A link to it.
    pub url: Option<String>,
    /// The deployment named as its cause.
    pub deployment_id: Option<String>,
    /// The commit named as its cause.
    pub commit_sha: Option<String>,
}

impl Incident {
    /// An incident of `service` in production with no texts and no named cause: what a test
    /// starts from.
    #[cfg(test)]
    pub(crate) fn opened(id: &str, service: &str, opened_at: Millis, resolved_at: Option<Millis>) -> Self {
        Self {
            id: id.into(),
            service: service.into(),
            environment: "production".into(),
            opened_at,
            resolved_at,
            severity: None,
            title: None,
            url: None,
            deployment_id: None,
            commit_sha: None,
        }
    }

    /// How far along the lifecycle the incident is: resolved outranks open.
    pub fn rank(&self) -> i64 {
        i64::from(self.resolved_at.is_some())
    }
}

/// One CI pipeline run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiRun {
    /// Unique id, the idempotency key.
    pub id: String,
    /// The pipeline (workflow) name.
    pub pipeline: String,
    /// Outcome, as the sender names it.
    pub status: String,
    /// When it started.
    pub started_at: Millis,
    /// When it finished.
    pub finished_at: Millis,
    /// The delivery stage (`pre_commit`, `pull_request`, `post_merge`, `deploy`, …).
    pub stage: Option<String>,
    /// The repository.
    pub repository: Option<String>,
    /// The service.
    pub service: Option<String>,
    /// The commit it ran on.
    pub commit_sha: Option<String>,
    /// The branch it ran on.
    pub branch: Option<String>,
    /// When it was queued.
    pub queued_at: Option<Millis>,
    /// A link to it.
    pub url: Option<String>,
    /// Which attempt of the run this is (1 for the first; GitHub's `run_attempt`, GitLab's
    /// retries + 1), when the sender says.
    pub attempt: Option<i64>,
}

/// A count of good and total events for a service-level indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SliSample {
    /// The service.
    pub service: String,
    /// The normalized environment name.
    pub environment: String,
    /// The SLO the sample belongs to (`default` when unnamed).
    pub slo: String,
    /// The time of the sample.
    pub at: Millis,
    /// Good events.
    pub good: i64,
    /// All events.
    pub total: i64,
}

/// Any fact the collector produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// A deployment.
    Deployment(Deployment),
    /// A commit.
    Commit(Commit),
    /// A pull request.
    PullRequest(PullRequest),
    /// An incident.
    Incident(Incident),
    /// A CI run.
    CiRun(CiRun),
    /// An SLI sample.
    Sli(SliSample),
}
