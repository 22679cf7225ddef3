//! The passes of `pacer import github`: one [`Run`] reads each resource of a repository from its
//! stored cursor, page by page, and stores every object as a delivery of the source
//! `github-import` through [`Store::ingest_delivery`], saving the cursor after every page and
//! recording the period a completed pass covered ([`finish`]).
//!
//! It maps nothing itself (the collector's `github_import` source does) and makes no HTTP
//! request itself (the client, [`super::client`], does); it counts what it reads and stores into
//! the [`Progress`].

use pacer_collector::Collected;
use pacer_collector::sources::{self, Context, Parsed, Source};
use pacer_engine::Millis;
use pacer_store::{Delivered, Delivery, ImportCursor, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{GithubClient, Page};
use super::progress::{Counts, Event, Progress};
use super::{ImportError, Options, PER_PAGE, Resource, check_repo};

/// The source name of imported deliveries.
const SOURCE: Source = Source::GithubImport;
/// How far back a new pass re-reads before the end of the last completed one.
const OVERLAP: Millis = 24 * 3_600_000;

/// One import under way.
pub(super) struct Run<'a> {
    store: &'a Store,
    cx: Context<'a>,
    options: &'a Options,
    client: GithubClient,
    report: &'a mut (dyn FnMut(Event<'_>) + Send),
    /// Where it stands.
    pub(super) progress: Progress,
}

impl<'a> Run<'a> {
    /// An import of `options.repo` into `store`, telling what happens through `report`.
    pub(super) fn new(store: &'a Store, cx: Context<'a>, options: &'a Options, client: GithubClient, report: &'a mut (dyn FnMut(Event<'_>) + Send)) -> Self {
        Self { store, cx, options, client, report, progress: Progress::default() }
    }

    /// Reads every resource the configuration asks for, in import order.
    pub(super) async fn all(&mut self) -> Result<(), ImportError> {
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
        self.progress.begin(resource);
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

    async fn get(&mut self, path: &str) -> Result<Page, ImportError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
