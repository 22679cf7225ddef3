//! `pacer import github`: fills in a repository's history from GitHub's REST API — default-branch
//! commits with their parents, pull requests with their commits and reviews, deployments with
//! their statuses, completed workflow runs, and published releases when they are a deploy source.
//!
//! This module owns the HTTP side: paging along `Link` headers, waiting out rate limits, retrying
//! 5xx answers and network errors with exponential backoff, the stored cursors that make an import
//! resumable, and progress. It maps nothing itself: each object is stored as a delivery of the
//! source `github-import` through the webhooks' own [`Store::ingest_delivery`], and the collector
//! (`pacer_collector::sources::github_import`) maps it with the GitHub webhook mapping, so facts
//! get the webhooks' ids and values and an import overlapping webhooks stores nothing twice.
//!
//! A pass over a resource reads pages newest first until objects are older than `--since` (commits
//! are asked `since` directly) and saves its cursor — the next page — after every stored page: an
//! interrupted import (Ctrl-C, a crash, an error) resumes at that page. A completed pass records
//! the period it covered, so the next import of the same period reads only what changed since,
//! with a day of overlap for deployments and pull requests that were still moving.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use http::StatusCode;
use http::header::HeaderMap;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use pacer_collector::sources::{self, Context, Parsed, Source, SourceConfig};
use pacer_collector::{Collected, Normalizer};
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_store::{Delivered, Delivery, ImportCursor, Store, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::{open_store, shutdown_signal};
use crate::config::{CommonArgs, Overrides, settings};

/// The source name of imported deliveries.
const SOURCE: Source = Source::GithubImport;
/// Objects asked per page (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// How far back a new pass re-reads before the end of the last completed one.
const OVERLAP: Millis = 24 * 3_600_000;
/// How long to wait on a rate limit GitHub gives no end for (its docs say at least a minute).
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

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

/// The counts of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects read from the listing.
    pub read: u64,
    /// Objects stored as new deliveries.
    pub stored: u64,
    /// Facts created or changed.
    pub facts_changed: u64,
    /// Facts already stored as they are (from webhooks or an earlier import).
    pub facts_unchanged: u64,
    /// Objects left out: runs not finished yet, objects pacer does not use or cannot read.
    pub skipped: u64,
    /// GitHub's estimate of how many objects the listing holds, when it gives one.
    pub estimate: Option<u64>,
}

/// Where an import stands.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The repository, as GitHub spells it.
    pub repo: String,
    /// The counts of every resource started so far.
    pub resources: BTreeMap<Resource, Counts>,
    /// The resource being read.
    pub current: Option<Resource>,
    /// Requests made.
    pub requests: u64,
    /// Times the import waited for a rate limit.
    pub rate_limit_waits: u64,
    /// Requests retried after a 5xx answer or a network error.
    pub retries: u64,
    /// When the current resource started.
    started: Option<Instant>,
}

impl Progress {
    /// How long the current resource still needs, from its rate so far and GitHub's estimate.
    pub fn eta(&self) -> Option<Duration> {
        let counts = self.resources.get(&self.current?)?;
        let (estimate, read) = (counts.estimate?, counts.read);
        let elapsed = self.started?.elapsed().as_secs_f64();
        if read == 0 || estimate <= read {
            return None;
        }
        Some(Duration::from_secs_f64(elapsed / read as f64 * (estimate - read) as f64))
    }

    /// One line: counts per resource, the estimate and ETA of the current one.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .resources
            .iter()
            .map(|(resource, c)| match c.estimate {
                Some(estimate) if Some(*resource) == self.current && estimate > c.read => format!("{} {}/~{estimate}", resource.label(), c.read),
                _ => format!("{} {}", resource.label(), c.read),
            })
            .collect();
        let eta = self.eta().map(|eta| format!(", eta {}", duration(eta))).unwrap_or_default();
        format!("importing {}: {}{eta}", self.repo, parts.join(", "))
    }
}

/// What an import tells as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A page was stored.
    Progress(&'a Progress),
    /// Something the user should know: a rate-limit wait, a retry, a resumed pass.
    Notice(String),
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
    let mut run = Run { store, cx: Context { normalizer, config: sources }, options, client, report, progress: Progress::default() };
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

/// One import under way.
struct Run<'a> {
    store: &'a Store,
    cx: Context<'a>,
    options: &'a Options,
    client: GithubClient,
    report: &'a mut (dyn FnMut(Event<'_>) + Send),
    progress: Progress,
}

impl Run<'_> {
    async fn all(&mut self) -> Result<(), ImportError> {
        check_repo(&self.options.repo)?;
        if self.options.token.is_none() {
            self.notice("no token given (--token or PACER_GITHUB_TOKEN): GitHub allows 60 requests an hour without one".to_owned());
        }
        let repository = self.get(&format!("/repos/{}", self.options.repo)).await?.body;
        let (Some(full_name), Some(default_branch)) = (repository["full_name"].as_str(), repository["default_branch"].as_str()) else {
            return Err(ImportError::Unexpected { path: format!("/repos/{}", self.options.repo), detail: "no full_name or default_branch".into() });
        };
        // What the mapping reads of the repository, as webhooks carry it.
        let repository = json!({"full_name": full_name, "default_branch": default_branch});
        self.progress.repo = full_name.to_owned();
        let source = self.cx.config.github.deploy_source;
        for resource in Resource::ALL {
            // Only what counts as a deployment is read (github.deploy_source).
            let skipped = match resource {
                Resource::Deployments => !source.deployments(),
                Resource::Releases => !source.releases(),
                _ => false,
            };
            if !skipped {
                self.pass(resource, &repository).await?;
            }
        }
        Ok(())
    }

    /// Reads one resource from its cursor to the end of the pass.
    async fn pass(&mut self, resource: Resource, repository: &Value) -> Result<(), ImportError> {
        let repo = repository["full_name"].as_str().unwrap_or_default().to_owned();
        let since = self.options.since;
        let mut cursor = self.store.import_cursor(&repo, resource.name()).await?.unwrap_or_default();
        if cursor.next_url.is_some() {
            self.notice(format!("{}: resuming where an earlier import stopped", resource.label()));
        } else {
            cursor.stop_before = match (cursor.synced_from, cursor.synced_until) {
                // The period up to the last completed pass is stored: read only what changed since.
                (Some(from), Some(until)) if from <= since => since.max(until - OVERLAP),
                _ => since,
            };
            cursor.newest = None;
            let branch = repository["default_branch"].as_str().unwrap_or("main");
            cursor.next_url = Some(resource.first_page(&repo, branch, cursor.stop_before));
        }
        self.progress.current = Some(resource);
        self.progress.started = Some(Instant::now());
        self.progress.resources.entry(resource).or_default();
        while let Some(url) = cursor.next_url.clone() {
            let mut page = self.get(&url).await?;
            let (items, estimate) = page.items(resource == Resource::Runs, &url)?;
            self.counts(resource).estimate = self.counts(resource).estimate.or(estimate);
            let mut ended = false;
            for object in items {
                let at = resource.time_of(&object);
                if resource.ordered_by().is_some() && at.is_some_and(|at| at < cursor.stop_before) {
                    ended = true;
                    break;
                }
                cursor.newest = cursor.newest.max(at);
                self.counts(resource).read += 1;
                self.object(resource, object, repository).await?;
                cursor.imported += 1;
            }
            cursor.next_url = if ended { None } else { page.next };
            if cursor.next_url.is_none() {
                finish(&mut cursor);
            }
            self.store.save_import_cursor(&repo, resource.name(), &cursor, pacer_api::now()).await?;
            (self.report)(Event::Progress(&self.progress));
        }
        Ok(())
    }

    /// Reads what one listed object needs and stores it.
    async fn object(&mut self, resource: Resource, object: Value, repository: &Value) -> Result<(), ImportError> {
        let repo = repository["full_name"].as_str().unwrap_or_default().to_owned();
        match resource {
            Resource::Commits => {
                let sha = object["sha"].as_str().unwrap_or_default().to_owned();
                // A monorepo's services follow the paths a commit touches, which only the single
                // commit lists.
                let object = if self.cx.config.repositories.iter().any(|r| r.path_prefix.is_some() && r.repository.eq_ignore_ascii_case(&repo)) {
                    self.get(&format!("/repos/{repo}/commits/{sha}")).await?.body
                } else {
                    object
                };
                self.deliver(resource, "commit", &format!("commits/{sha}"), json!({"commit": object, "repository": repository})).await
            }
            Resource::Pulls => {
                let number = object["number"].as_i64().unwrap_or_default();
                let detail = self.get(&format!("/repos/{repo}/pulls/{number}")).await?.body;
                let commits = self.all_pages(&format!("/repos/{repo}/pulls/{number}/commits?per_page={PER_PAGE}")).await?;
                let reviews = self.all_pages(&format!("/repos/{repo}/pulls/{number}/reviews?per_page={PER_PAGE}")).await?;
                let payload = json!({"pull_request": detail, "commits": commits, "reviews": reviews, "repository": repository});
                self.deliver(resource, "pull_request", &format!("pull/{number}"), payload).await
            }
            Resource::Deployments => {
                let id = object["id"].as_i64().unwrap_or_default();
                let statuses = self.all_pages(&format!("/repos/{repo}/deployments/{id}/statuses?per_page={PER_PAGE}")).await?;
                let payload = json!({"deployment": object, "statuses": statuses, "repository": repository});
                self.deliver(resource, "deployment", &format!("deployments/{id}"), payload).await
            }
            Resource::Runs => {
                if object["status"].as_str() != Some("completed") {
                    // Its webhook, or the next import, records it once it completes.
                    self.counts(resource).skipped += 1;
                    return Ok(());
                }
                let id = object["id"].as_i64().unwrap_or_default();
                let attempt = object["run_attempt"].as_i64().unwrap_or(1);
                for earlier in 1..attempt {
                    let run = self.get(&format!("/repos/{repo}/actions/runs/{id}/attempts/{earlier}")).await?.body;
                    let payload = json!({"action": "completed", "workflow_run": run, "repository": repository});
                    self.deliver(resource, "workflow_run", &format!("actions/runs/{id}/attempts/{earlier}"), payload).await?;
                }
                let payload = json!({"action": "completed", "workflow_run": object, "repository": repository});
                self.deliver(resource, "workflow_run", &format!("actions/runs/{id}/attempts/{attempt}"), payload).await
            }
            Resource::Releases => {
                let id = object["id"].as_i64().unwrap_or_default();
                let payload = json!({"action": "published", "release": object, "repository": repository});
                self.deliver(resource, "release", &format!("releases/{id}"), payload).await
            }
        }
    }

    /// Maps one object and stores it with its facts, unless the same object was stored before.
    async fn deliver(&mut self, resource: Resource, event: &str, object: &str, payload: Value) -> Result<(), ImportError> {
        let facts = match sources::parse(SOURCE, event, &payload, &self.cx) {
            Ok(Parsed::Facts(facts)) => facts,
            Ok(Parsed::Ignored(_)) => {
                self.counts(resource).skipped += 1;
                return Ok(());
            }
            Err(problems) => {
                let detail: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.pointer, p.detail)).collect();
                self.notice(format!("{object} skipped: {}", detail.join("; ")));
                self.counts(resource).skipped += 1;
                return Ok(());
            }
        };
        let text = payload.to_string();
        let digest: String = Sha256::digest(text.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect();
        // The same object read again is a replay; a changed one is a new delivery.
        let delivery_id = format!("{}/{object}@{digest}", self.progress.repo.to_ascii_lowercase());
        let facts: Vec<Collected> = facts.into_iter().map(|fact| Collected::new(fact, Value::Null)).collect();
        let delivery = Delivery { source: SOURCE.as_str(), delivery_id: &delivery_id, event, payload: &text };
        let counts = match self.store.ingest_delivery(delivery, pacer_api::now(), &facts).await? {
            Delivered::Stored(outcome) => (1, outcome.accepted, outcome.duplicates),
            Delivered::Replayed => (0, 0, facts.len() as u64),
        };
        let c = self.counts(resource);
        c.stored += counts.0;
        c.facts_changed += counts.1;
        c.facts_unchanged += counts.2;
        Ok(())
    }

    /// Every object of a listing, following its pages.
    async fn all_pages(&mut self, first: &str) -> Result<Vec<Value>, ImportError> {
        let mut all = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let mut page = self.get(&url).await?;
            all.extend(page.items(false, &url)?.0);
            next = page.next;
        }
        Ok(all)
    }

    async fn get(&mut self, path: &str) -> Result<Answer, ImportError> {
        let Self { client, progress, report, .. } = self;
        client.get(path, progress, &mut **report).await
    }

    fn counts(&mut self, resource: Resource) -> &mut Counts {
        self.progress.resources.entry(resource).or_default()
    }

    fn notice(&mut self, text: String) {
        (self.report)(Event::Notice(text));
    }
}

/// Records a completed pass: the period it covered joins the one stored, when they meet.
fn finish(cursor: &mut ImportCursor) {
    let stop = cursor.stop_before;
    let joins = matches!((cursor.synced_from, cursor.synced_until), (Some(from), Some(until)) if from <= stop && stop <= until);
    let (from, until) = if joins { (cursor.synced_from.unwrap_or(stop), cursor.synced_until) } else { (stop, None) };
    cursor.synced_from = Some(from.min(stop));
    cursor.synced_until = Some(cursor.newest.max(until).unwrap_or(stop));
    cursor.newest = None;
}

/// What an answer means.
enum Reply {
    /// The page.
    Page(Answer),
    /// A rate limit: ask again once it ends.
    Wait,
    /// A failure worth retrying.
    Failed(String),
}

/// A successful answer.
struct Answer {
    body: Value,
    /// The next page, as a path on the API.
    next: Option<String>,
    /// The number of the last page, from the `Link` header.
    last_page: Option<u64>,
}

impl Answer {
    /// The objects of a listing page and an estimate of the listing's size. Runs come wrapped
    /// (`{"total_count", "workflow_runs"}`), other listings are arrays.
    fn items(&mut self, wrapped: bool, path: &str) -> Result<(Vec<Value>, Option<u64>), ImportError> {
        let total = self.body["total_count"].as_u64().filter(|_| wrapped);
        let list = if wrapped { self.body["workflow_runs"].take() } else { self.body.take() };
        let Value::Array(items) = list else {
            return Err(ImportError::Unexpected { path: path.to_owned(), detail: "expected a list of objects".into() });
        };
        let estimate = total.or_else(|| self.last_page.map(|last| last * items.len() as u64));
        Ok((items, estimate))
    }
}

/// GitHub's REST API through octocrab, with pacer's own retries and rate-limit waits (octocrab's
/// retry has no backoff and says nothing while it waits).
struct GithubClient {
    octocrab: Octocrab,
    /// `scheme://authority` of the API, which `Link` headers must keep.
    origin: String,
    /// The API's path prefix (`/api/v3` on GitHub Enterprise Server).
    prefix: String,
    retries: u32,
    backoff: Duration,
    /// Until when the rate limit is used up (epoch ms), from the last answer.
    exhausted_until: Option<Millis>,
}

impl GithubClient {
    fn new(options: &Options) -> Result<Self, ImportError> {
        let url = options.api_url.trim_end_matches('/');
        let bad = |detail: String| ImportError::Client { url: options.api_url.clone(), detail };
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad("expected an absolute http(s) URL".into()));
        };
        let origin = format!("{scheme}://{authority}");
        let mut builder = Octocrab::builder()
            .base_uri(url)
            .map_err(|e| bad(e.to_string()))?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)));
        if let Some(token) = &options.token {
            builder = builder.personal_token(token.clone());
        }
        let octocrab = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Self { octocrab, origin, prefix: uri.path().trim_end_matches('/').to_owned(), retries: options.retries, backoff: options.backoff, exhausted_until: None })
    }

    /// GETs `path` (a path on the API, with its query), waiting out rate limits and retrying
    /// failures.
    async fn get(&mut self, path: &str, progress: &mut Progress, report: &mut (dyn FnMut(Event<'_>) + Send)) -> Result<Answer, ImportError> {
        let mut failures = 0u32;
        loop {
            if let Some(until) = self.exhausted_until.take() {
                progress.rate_limit_waits += 1;
                wait_until(until, report).await;
            }
            progress.requests += 1;
            // Paths only: octocrab sends the token to api.github.com or to a path on base_uri.
            let failure = match self.octocrab._get(path).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = self.octocrab.body_to_string(http::Response::from_parts(parts.clone(), body)).await;
                    match body {
                        Ok(body) => match self.answer(path, parts.status, &parts.headers, &body)? {
                            Reply::Page(answer) => return Ok(answer),
                            Reply::Wait => continue,
                            Reply::Failed(failure) => failure,
                        },
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => format!("cannot reach {}: {e}", self.origin),
            };
            failures += 1;
            if failures > self.retries {
                return Err(ImportError::GaveUp { attempts: failures, path: path.to_owned(), last: failure });
            }
            let delay = self.backoff * 2u32.saturating_pow(failures - 1);
            progress.retries += 1;
            report(Event::Notice(format!("{failure} for {path}; retrying in {} (retry {failures} of {})", duration(delay), self.retries)));
            tokio::time::sleep(delay).await;
        }
    }

    /// What an answer means: the page, a rate limit to wait out, a failure worth retrying, or an
    /// error that ends the import.
    fn answer(&mut self, path: &str, status: StatusCode, headers: &HeaderMap, body: &str) -> Result<Reply, ImportError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let reset = header("x-ratelimit-reset").and_then(|s| s.parse::<i64>().ok()).map(|s| s * 1_000);
        let exhausted = header("x-ratelimit-remaining") == Some("0");
        if status.is_success() {
            if exhausted {
                self.exhausted_until = reset;
            }
            let body = serde_json::from_str(body).map_err(|e| ImportError::Unexpected { path: path.to_owned(), detail: format!("invalid JSON: {e}") })?;
            let links = header("link").map(links).unwrap_or_default();
            let next = links.get("next").map(|url| self.path_of(url)).transpose()?;
            let last_page = links.get("last").and_then(|url| page_number(url));
            return Ok(Reply::Page(Answer { body, next, last_page }));
        }
        let message = serde_json::from_str::<Value>(body).ok().and_then(|b| b["message"].as_str().map(str::to_owned)).unwrap_or_default();
        if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = header("retry-after").and_then(|s| s.parse::<i64>().ok()).map(|s| pacer_api::now() + s * 1_000);
            let secondary = status == StatusCode::TOO_MANY_REQUESTS || message.to_ascii_lowercase().contains("rate limit");
            let until = retry_after
                .or(if exhausted { reset } else { None })
                .or_else(|| secondary.then(|| pacer_api::now() + SECONDARY_LIMIT_WAIT.as_millis() as i64));
            if let Some(until) = until {
                self.exhausted_until = Some(until);
                return Ok(Reply::Wait);
            }
        }
        match status {
            StatusCode::UNAUTHORIZED => Err(ImportError::Unauthorized),
            StatusCode::NOT_FOUND => Err(ImportError::NotFound(path.to_owned())),
            s if s.is_server_error() => Ok(Reply::Failed(format!("GitHub answered {s}"))),
            s => Err(ImportError::Status { status: s, path: path.to_owned(), message }),
        }
    }

    /// The path on the API of a `Link` URL; a link to another host is refused, since the token
    /// must not go there.
    fn path_of(&self, url: &str) -> Result<String, ImportError> {
        let path = url.strip_prefix(&self.origin).filter(|p| p.starts_with('/'));
        let path = path.ok_or_else(|| ImportError::Unexpected { path: url.to_owned(), detail: format!("a page link outside {}", self.origin) })?;
        Ok(path.strip_prefix(&self.prefix).filter(|p| p.starts_with('/')).unwrap_or(path).to_owned())
    }
}

/// Sleeps until `until` (epoch ms), saying until when; at least a second, so that a clock
/// behind GitHub's cannot make it ask again and again.
async fn wait_until(until: Millis, report: &mut (dyn FnMut(Event<'_>) + Send)) {
    let until = until.max(pacer_api::now() + 1_000);
    let wait = Duration::from_millis(u64::try_from(until - pacer_api::now()).unwrap_or(0));
    let at = chrono::DateTime::from_timestamp_millis(until).map(|t| t.format("%H:%M:%S UTC").to_string()).unwrap_or_default();
    report(Event::Notice(format!("GitHub's rate limit is used up: waiting until {at} ({})", duration(wait))));
    tokio::time::sleep(wait).await;
}

/// The parts of a `Link` header (RFC 8288) by relation: `<url>; rel="next", <url>; rel="last"`.
fn links(header: &str) -> BTreeMap<String, String> {
    header
        .split(',')
        .filter_map(|part| {
            let (url, params) = part.split_once(';')?;
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let rel = params.split(';').find_map(|p| p.trim().strip_prefix("rel="))?.trim_matches('"');
            Some((rel.to_owned(), url.to_owned()))
        })
        .collect()
}

/// The `page` query parameter of a URL.
fn page_number(url: &str) -> Option<u64> {
    url.split_once('?')?.1.split('&').find_map(|kv| kv.strip_prefix("page=")).and_then(|n| n.parse().ok())
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A duration as people read it: `45 s`, `3 min 20 s`, `1 h 5 min`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64().ceil() as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
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
    let mut line = ProgressLine { tty: std::io::stderr().is_terminal(), drawn: false };
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

/// The progress display on stderr: one line redrawn in place on a terminal, one line per page
/// otherwise (a log file, CI).
struct ProgressLine {
    tty: bool,
    drawn: bool,
}

impl ProgressLine {
    fn show(&mut self, event: &Event<'_>) {
        match event {
            Event::Progress(progress) if self.tty => {
                eprint!("\r\x1b[2K{}", progress.line());
                self.drawn = true;
            }
            Event::Progress(progress) => eprintln!("{}", progress.line()),
            Event::Notice(text) => {
                self.clear();
                eprintln!("{text}");
            }
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

/// The closing summary: a line per resource and what the import did.
pub fn summary(progress: &Progress, took: Duration, done: bool) -> String {
    let head = if done { "imported" } else { "stopped importing" };
    let mut out = format!(
        "{head} {} in {}: {} requests, {} rate-limit waits, {} retries\n",
        if progress.repo.is_empty() { "nothing" } else { &progress.repo },
        duration(took),
        progress.requests,
        progress.rate_limit_waits,
        progress.retries
    );
    for (resource, c) in &progress.resources {
        out.push_str(&format!(
            "  {:<14} {:>6} read, {:>6} fact updates, {:>6} already stored, {:>4} skipped\n",
            resource.label(),
            c.read,
            c.facts_changed,
            c.facts_unchanged,
            c.skipped
        ));
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_and_last_pages() {
        let header = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        let links = links(header);
        assert_eq!(links.get("next").map(String::as_str), Some("https://api.github.com/repositories/1/pulls?page=2"));
        assert_eq!(links.get("last").and_then(|u| page_number(u)), Some(5));
    }

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

    #[test]
    fn a_completed_pass_extends_the_period_it_joins() {
        let mut cursor = ImportCursor { stop_before: 100, newest: Some(500), synced_from: Some(50), synced_until: Some(300), ..ImportCursor::default() };
        finish(&mut cursor);
        assert_eq!((cursor.synced_from, cursor.synced_until), (Some(50), Some(500)));
        let mut apart = ImportCursor { stop_before: 400, newest: Some(500), synced_from: Some(50), synced_until: Some(300), ..ImportCursor::default() };
        finish(&mut apart);
        assert_eq!((apart.synced_from, apart.synced_until), (Some(400), Some(500)), "a gap is not covered");
    }
}
