//! `pacer import github`: fills in a repository's history from GitHub's REST API — default-branch
//! commits with their parents, pull requests with their commits and reviews, deployments with
//! their statuses, completed workflow runs, and published releases when they are a deploy source.
//!
//! This module is the command: its flags, what to import ([`Options`]), the resources it reads
//! ([`Resource`]) and why it stops ([`ImportError`]). Beneath it, `client` owns the HTTP side
//! (paging along `Link` headers, waiting out rate limits, retrying 5xx answers and network errors
//! with exponential backoff), `passes` the passes over resources with the stored cursors that
//! make an import resumable, and `progress` the counts and what is shown of them.
//!
//! It maps nothing itself: each object is stored as a delivery of the source `github-import`
//! through the webhooks' own [`Store::ingest_delivery`], and the collector
//! (`pacer_collector::sources::github_import`) maps it with the GitHub webhook mapping, so facts
//! get the webhooks' ids and values and an import overlapping webhooks stores nothing twice.
//!
//! A pass over a resource reads pages newest first until objects are older than `--since` (commits
//! are asked `since` directly) and saves its cursor — the next page — after every stored page: an
//! interrupted import (Ctrl-C, a crash, an error) resumes at that page. A completed pass records
//! the period it covered, so the next import of the same period reads only what changed since,
//! with a day of overlap for deployments and pull requests that were still moving.

mod client;
mod passes;
mod progress;

use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use http::StatusCode;
use pacer_collector::Normalizer;
use pacer_collector::sources::{self, Context, SourceConfig};
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_store::{Store, StoreError};
use serde_json::Value;

pub use self::progress::{Counts, Event, Progress, duration, summary};
use self::client::{GithubClient, encode};
use self::passes::Run;
use self::progress::ProgressLine;
use crate::app::{open_store, shutdown_signal};
use crate::config::{CommonArgs, Overrides, settings};

/// Objects asked per page (GitHub's maximum).
const PER_PAGE: u32 = 100;

/// What to import, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// `owner/name`.
    pub repo: String,
    /// Objects older than this (epoch ms) are not imported.
    pub since: Millis,
    /// The REST API's address: `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server.
    pub api_url: String,
    /// A token that can read the repository; without one GitHub allows 60 requests an hour.
    pub token: Option<String>,
    /// How many times a 5xx answer or a network error is retried before the import stops.
    pub retries: u32,
    /// The first retry's delay; each next one doubles it.
    pub backoff: Duration,
}

/// The resources of a repository an import reads, in the order it reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// Default-branch commits.
    Commits,
    /// Pull requests, with their commits and reviews.
    Pulls,
    /// Deployments, with their statuses.
    Deployments,
    /// Workflow runs (each attempt).
    Runs,
    /// Published releases, when they are a deploy source.
    Releases,
}

impl Resource {
    /// Every resource, in import order.
    pub const ALL: [Self; 5] = [Self::Commits, Self::Pulls, Self::Deployments, Self::Runs, Self::Releases];

    /// The name its cursor is stored under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Commits => "commits",
            Self::Pulls => "pulls",
            Self::Deployments => "deployments",
            Self::Runs => "runs",
            Self::Releases => "releases",
        }
    }

    /// What progress lines call it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Commits => "commits",
            Self::Pulls => "pull requests",
            Self::Deployments => "deployments",
            Self::Runs => "workflow runs",
            Self::Releases => "releases",
        }
    }

    /// The first page of a pass that stops at `stop` (epoch ms).
    fn first_page(self, repo: &str, default_branch: &str, stop: Millis) -> String {
        match self {
            Self::Commits => format!("/repos/{repo}/commits?sha={}&since={}&per_page={PER_PAGE}", encode(default_branch), encode(&rfc3339(stop))),
            Self::Pulls => format!("/repos/{repo}/pulls?state=all&sort=updated&direction=desc&per_page={PER_PAGE}"),
            Self::Deployments => format!("/repos/{repo}/deployments?per_page={PER_PAGE}"),
            Self::Runs => format!("/repos/{repo}/actions/runs?per_page={PER_PAGE}"),
            Self::Releases => format!("/repos/{repo}/releases?per_page={PER_PAGE}"),
        }
    }

    /// Where an object's time is, in the order pages list them (newest first); `None` for
    /// commits, whose dates need not follow the listing order (the page asks `since` instead).
    fn ordered_by(self) -> Option<&'static str> {
        match self {
            Self::Commits => None,
            Self::Pulls => Some("/updated_at"),
            Self::Deployments | Self::Runs | Self::Releases => Some("/created_at"),
        }
    }

    /// An object's own time, for the covered period.
    fn time_of(self, object: &Value) -> Option<Millis> {
        let pointer = self.ordered_by().unwrap_or("/commit/committer/date");
        object.pointer(pointer).and_then(Value::as_str).and_then(sources::parse_time)
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// `--repo` is not `owner/name`.
    #[error("expected --repo owner/name (letters, digits, '-', '_', '.') but found {0:?}")]
    BadRepo(String),
    /// GitHub refused the token.
    #[error("GitHub answered 401 Bad credentials: the token (--token or PACER_GITHUB_TOKEN) is wrong or expired")]
    Unauthorized,
    /// The repository, or an object of it, is unknown (or the token may not read it).
    #[error("GitHub answered 404 Not Found for {0}: check the repository name, and that the token can read it")]
    NotFound(String),
    /// GitHub answered with another error.
    #[error("GitHub answered {status} for {path}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// What was asked.
        path: String,
        /// GitHub's message.
        message: String,
    },
    /// GitHub kept failing or could not be reached.
    #[error("GitHub failed {attempts} times in a row for {path} (last: {last}); run the import again to resume")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What was asked.
        path: String,
        /// The last failure.
        last: String,
    },
    /// An answer was not what GitHub documents.
    #[error("unexpected answer for {path}: {detail}")]
    Unexpected {
        /// What was asked.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The client could not be set up (a malformed `--api-url`).
    #[error("cannot use the GitHub API at {url:?}: {detail}")]
    Client {
        /// The address.
        url: String,
        /// Why.
        detail: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
}

/// Imports `options.repo` into `store` until done, an error, or `cancel` completes; reports
/// progress and notices through `report`. Returns the counts, also when it stopped early.
pub async fn import_github(
    store: &Store,
    normalizer: &Normalizer,
    sources: &SourceConfig,
    options: &Options,
    report: &mut (dyn FnMut(Event<'_>) + Send),
    cancel: impl Future<Output = ()>,
) -> (Progress, Result<(), ImportError>) {
    let client = match GithubClient::new(options) {
        Ok(client) => client,
        Err(e) => return (Progress::default(), Err(e)),
    };
    let mut run = Run::new(store, Context { normalizer, config: sources }, options, client, report);
    let result = tokio::select! {
        result = run.all() => result,
        () = cancel => Err(ImportError::Interrupted),
    };
    (run.progress, result)
}

/// Checks `owner/name`.
///
/// # Errors
/// It is not `owner/name`.
pub fn check_repo(repo: &str) -> Result<(), ImportError> {
    let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && part != "." && part != "..";
    match repo.split_once('/') {
        Some((owner, name)) if valid(owner) && valid(name) => Ok(()),
        _ => Err(ImportError::BadRepo(repo.to_owned())),
    }
}

/// Options of `pacer import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where to import from.
    #[command(subcommand)]
    pub from: ImportFrom,
}

/// The hosts `pacer import` reads.
#[derive(Debug, clap::Subcommand)]
pub enum ImportFrom {
    /// A GitHub repository's commits, pull requests, deployments and workflow runs.
    Github(GithubArgs),
}

/// Options of `pacer import github`.
#[derive(Debug, clap::Args)]
pub struct GithubArgs {
    /// Configuration and database.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The repository, owner/name.
    #[arg(long)]
    pub repo: String,
    /// How far back: 90d, 12w, 36h, or an RFC 3339 time.
    #[arg(long, default_value = "90d")]
    pub since: String,
    /// GitHub's REST API; for GitHub Enterprise Server https://HOST/api/v3.
    #[arg(long, env = "PACER_GITHUB_API_URL", default_value = "https://api.github.com")]
    pub api_url: String,
    /// A token that can read the repository (contents, pull requests, deployments, actions).
    #[arg(long, env = "PACER_GITHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How many times a 5xx answer or a network error is retried (1 s, 2 s, 4 s, …) before the
    /// import stops; running it again resumes.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
}

/// Runs `pacer import …`.
///
/// # Errors
/// Bad arguments or configuration, or the import stopped before it was done.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let ImportFrom::Github(args) = args.from;
    check_repo(&args.repo)?;
    let now = pacer_api::now();
    let since = parse_since(&args.since, now).ok_or_else(|| anyhow::anyhow!("expected --since like 90d, 12w, 36h or an RFC 3339 time but found {:?}", args.since))?;
    let settings = settings(args.common.config.as_deref(), &Overrides { listen: None, database_url: args.common.database_url.clone() })?;
    let store = open_store(&settings.database_url).await?;
    let options = Options { repo: args.repo, since, api_url: args.api_url, token: args.token.filter(|t| !t.trim().is_empty()), retries: args.retries, backoff: Duration::from_secs(1) };
    let mut line = ProgressLine::new(std::io::stderr().is_terminal());
    let started = Instant::now();
    eprintln!("importing {} from {} since {}", options.repo, options.api_url, rfc3339(since));
    let (progress, result) =
        import_github(&store, &settings.api.normalizer, &settings.api.sources, &options, &mut |event| line.show(&event), shutdown_signal()).await;
    line.clear();
    println!("{}", summary(&progress, started.elapsed(), result.is_ok()));
    result.map_err(anyhow::Error::from)
}

/// `90d`, `12w`, `36h`, `30m` back from `now`, or an RFC 3339 time.
pub fn parse_since(text: &str, now: Millis) -> Option<Millis> {
    let text = text.trim();
    let relative = text.len() > 1 && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if relative { pacer_api::query::parse_time(&format!("now-{text}"), now) } else { pacer_api::query::parse_time(text, now).filter(|_| text.contains('T')) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_span_back_from_now_or_a_time() {
        let now = 1_767_571_200_000; // 2026-01-05T00:00:00Z
        assert_eq!(parse_since("90d", now), Some(now - 90 * 86_400_000));
        assert_eq!(parse_since("36h", now), Some(now - 36 * 3_600_000));
        assert_eq!(parse_since("2026-01-04T00:00:00Z", now), Some(now - 86_400_000));
        for bad in ["", "d", "90", "90y", "2026-01-04", "yesterday"] {
            assert_eq!(parse_since(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn repository_names_must_be_owner_slash_name() {
        assert!(check_repo("octo-org/hello.world_2").is_ok());
        for bad in ["octo", "octo/", "/x", "a/b/c", "a b/c", "../x", "a/.."] {
            assert!(check_repo(bad).is_err(), "{bad:?} accepted");
        }
    }
}
