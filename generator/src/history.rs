//! One service's delivery history, simulated release by release.
//!
//! The main branch of `acme/<service>` only grows forward in time. Before each planned release,
//! a few changes land on main (direct pushes, merge-commit pull requests whose branch forked
//! from main earlier, squash-merged pull requests). The release deploys main's head to
//! `staging`, then to `production`; a deployment occasionally fails and is retried. Some
//! production releases go wrong: they are rolled back to the previous good deployment, fixed by
//! an unplanned hotfix release, or hit by an incident that names the deployment, one of its
//! commits, or nothing (opening within hours of it). Hourly SLI samples show error bursts while
//! a bad release is live.
//!
//! Nothing happens after `spec.end`: a deployment still running then is `in_progress`, an
//! incident still open is unresolved, a pull request not merged yet is open.

use std::mem;

use pacer_engine::model::{
    CiRun, Commit, DAY, Deployment, DeploymentStatus, Fact, HOUR, Incident, Millis, PullRequest, SECOND, ShippedCommit, SliSample,
};

use crate::Spec;
use crate::names;
use crate::random::Rng;

const MINUTE: Millis = 60 * SECOND;

/// Quiet weekends: a weekend day gets this share of a weekday's releases.
const WEEKEND_WEIGHT: f64 = 0.15;

/// How a failure splits: rollback, incident naming the deployment (fixed by a hotfix), incident
/// naming a commit (fixed by a hotfix); the rest are incidents naming nothing, mitigated
/// without a deployment.
const ROLLBACK_SHARE: f64 = 0.35;
const NAMED_DEPLOYMENT_SHARE: f64 = 0.20;
const NAMED_COMMIT_SHARE: f64 = 0.20;

/// Successful production deployments a failure adds on average (a rollback or a hotfix).
pub(crate) const EXTRA_DEPLOYS_PER_FAILURE: f64 = ROLLBACK_SHARE + NAMED_DEPLOYMENT_SHARE + NAMED_COMMIT_SHARE;

/// How changes reach main: direct pushes, squash merges, merge commits.
const DIRECT_SHARE: f64 = 0.10;
const SQUASH_SHARE: f64 = 0.45;

/// Branch commits of a merge-commit pull request: 1 to 4 with these weights.
const BRANCH_COMMITS: [(f64, usize); 4] = [(0.35, 1), (0.30, 2), (0.20, 3), (0.15, 4)];

/// Mean commits a change puts on main (direct 1, squash 1, merge 1 + branch commits).
fn commits_per_change() -> f64 {
    let branch: f64 = BRANCH_COMMITS.iter().map(|(p, n)| p * *n as f64).sum();
    DIRECT_SHARE + SQUASH_SHARE + (1.0 - DIRECT_SHARE - SQUASH_SHARE) * (1.0 + branch)
}

/// The facts of the service at `index`.
pub(crate) fn service(spec: &Spec, index: usize) -> Vec<Fact> {
    let mut sim = Sim::new(spec, index);
    sim.run();
    sim.facts
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    Staging,
    Production,
}

impl Env {
    fn name(self) -> &'static str {
        match self {
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Self::Staging => "stg",
            Self::Production => "prod",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeKind {
    Direct,
    Squash,
    Merge,
}

/// A deployment that was made.
#[derive(Debug, Clone)]
struct Done {
    id: String,
    started: Millis,
    finished: Millis,
}

/// The production deployment that is live and healthy.
#[derive(Debug, Clone)]
struct Live {
    sha: String,
    version: String,
}

/// The times and size of a pull request that was never merged.
struct Unmerged {
    opened: Millis,
    first_commit: Millis,
    first_review: Option<Millis>,
    closed: Option<Millis>,
    additions: i64,
    deletions: i64,
}

/// The pull-request timeline, backwards from the merge.
struct PrTimes {
    first_commit: Millis,
    opened: Millis,
    first_review: Option<Millis>,
    approved: Millis,
}

struct Sim<'s> {
    spec: &'s Spec,
    rng: Rng,
    start: Millis,
    end: Millis,
    service: String,
    team: String,
    repository: String,
    utc_offset: Millis,
    authors: Vec<&'static str>,
    rate: f64,
    failure_rate: f64,
    list_commits: bool,
    /// Whether this service's CI runs are generated (see [`Spec::ci_runs_share`]).
    ci_runs: bool,
    facts: Vec<Fact>,
    /// Main's first-parent history: (committed_at, sha), ascending.
    main: Vec<(Millis, String)>,
    /// Main commits landed for the release being prepared.
    landed: Vec<String>,
    /// Commits not yet shipped to staging and to production, for deployers that list them.
    unshipped: [Vec<ShippedCommit>; 2],
    pr_number: i64,
    deployments: [u32; 2],
    incidents: u32,
    runs: u32,
    version: [u32; 3],
    last_good: Option<Live>,
    revert_next: Option<String>,
    /// SLI error bursts: (from, to, extra error ratio).
    bursts: Vec<(Millis, Millis, f64)>,
}

impl<'s> Sim<'s> {
    fn new(spec: &'s Spec, index: usize) -> Self {
        let mut rng = Rng::new(spec.seed ^ (index as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        let team_index = names::team_index(index, spec.services, spec.teams);
        let service = names::service(index);
        // Spread a share of the services evenly: service i is in it when the running share
        // crosses a whole.
        let in_share = |share: f64| {
            let share = share.clamp(0.0, 1.0);
            ((index + 1) as f64 * share).floor() > (index as f64 * share).floor()
        };
        let list_commits = in_share(spec.listed_commits_share);
        let ci_runs = in_share(spec.ci_runs_share);
        // Services differ: between half and one and a half times the asked rates, spread evenly
        // (a golden-ratio sequence) so the totals over many services stay as asked.
        let spread = |k: f64| 0.5 + ((index as f64 + k) * 0.618_033_988_749_895).fract();
        let rate = spec.deploys_per_service_per_day.max(0.0) * spread(0.5);
        let failure_rate = (spec.failure_rate.max(0.0) * spread(0.25)).min(0.9);
        let version = [1 + rng.below(3) as u32, rng.below(12) as u32, 0];
        Self {
            spec,
            start: spec.start(),
            end: spec.end,
            repository: format!("acme/{service}"),
            service,
            team: names::team(team_index),
            utc_offset: (names::utc_offset_hours(team_index) * HOUR as f64) as Millis,
            authors: names::authors(team_index),
            rate,
            failure_rate,
            list_commits,
            ci_runs,
            rng,
            facts: Vec::new(),
            main: Vec::new(),
            landed: Vec::new(),
            unshipped: [Vec::new(), Vec::new()],
            pr_number: 0,
            deployments: [0, 0],
            incidents: 0,
            runs: 0,
            version,
            last_good: None,
            revert_next: None,
            bursts: Vec::new(),
        }
    }

    fn run(&mut self) {
        if self.end <= self.start {
            return;
        }
        self.initial_commit();
        let changes_per_release = self.spec.commits_per_deploy.max(0.0) / commits_per_change();
        let schedule = self.schedule();
        let mut cursor = self.start + MINUTE;
        for (i, &planned) in schedule.iter().enumerate() {
            let start = planned.max(cursor + 20 * MINUTE);
            if start + 3 * HOUR > self.end {
                break;
            }
            let count = 1 + self.rng.poisson(changes_per_release - 1.0) as usize;
            self.land_changes(cursor + MINUTE, start - 5 * MINUTE, count);
            cursor = self.release(start, schedule.get(i + 1).copied());
        }
        // Work merged since the last release, and pull requests still open at the end.
        let tail = self.rng.poisson(changes_per_release * 0.5) as usize;
        self.land_changes(cursor + MINUTE, self.end - 30 * MINUTE, tail);
        for _ in 0..1 + self.rng.below(3) {
            self.open_pull_request();
        }
        if self.spec.sli {
            self.sli();
        }
    }

    /// Planned release start times: a Poisson count per day, in the team's working hours on
    /// weekdays, with some off-hours releases and quiet weekends.
    fn schedule(&mut self) -> Vec<Millis> {
        let norm = 7.0 / (5.0 + 2.0 * WEEKEND_WEIGHT);
        let mut times = Vec::new();
        for day in self.start.div_euclid(DAY)..=(self.end - 1).div_euclid(DAY) {
            // 1970-01-01 was a Thursday: Monday is 0, Saturday 5, Sunday 6.
            let weekday = (day + 3).rem_euclid(7);
            let weight = if weekday >= 5 { WEEKEND_WEIGHT } else { 1.0 };
            for _ in 0..self.rng.poisson(self.rate * weight * norm) {
                let at = if self.rng.chance(0.1) {
                    day * DAY + self.rng.between(0, DAY)
                } else {
                    day * DAY + 9 * HOUR - self.utc_offset + self.rng.between(0, 9 * HOUR)
                };
                if at > self.start + 6 * HOUR && at < self.end - 3 * HOUR {
                    times.push(at);
                }
            }
        }
        times.sort_unstable();
        times
    }

    fn initial_commit(&mut self) {
        let sha = self.rng.sha();
        let author = self.author();
        self.commit(&sha, self.start, Vec::new(), author, None, "Initial commit".to_owned());
        self.on_main(self.start, sha);
    }

    fn head(&self) -> String {
        self.main.last().map(|(_, sha)| sha.clone()).unwrap_or_default()
    }

    fn author(&mut self) -> &'static str {
        self.authors[self.rng.below(self.authors.len() as u64) as usize]
    }

    fn message(&mut self) -> String {
        let verb = self.rng.below(names::MESSAGES.0 as u64) as usize;
        let subject = self.rng.below(names::MESSAGES.1 as u64) as usize;
        names::message(verb, subject)
    }

    /// Lands `count` changes on main, merged at increasing times in `(from, to)`.
    fn land_changes(&mut self, from: Millis, to: Millis, count: usize) {
        let mut times: Vec<Millis> = (0..count).map(|_| self.rng.between(from, to)).collect();
        times.sort_unstable();
        let mut previous = self.main.last().map_or(from, |(t, _)| *t);
        for at in times {
            // Merges are strictly ordered: one second apart at least.
            let at = at.max(previous + SECOND);
            if at > to.max(from) {
                break;
            }
            previous = at;
            let title = self.revert_next.take();
            let sha = self.change(at, self.start + MINUTE, title, false);
            self.landed.push(sha);
        }
    }

    /// One change merged into main at `merged_at`, its work starting after `floor`; returns the
    /// new main commit.
    fn change(&mut self, merged_at: Millis, floor: Millis, title: Option<String>, hotfix: bool) -> String {
        let roll = self.rng.unit();
        let kind = if hotfix {
            if roll < 0.4 { ChangeKind::Direct } else { ChangeKind::Squash }
        } else if roll < DIRECT_SHARE {
            ChangeKind::Direct
        } else if roll < DIRECT_SHARE + SQUASH_SHARE {
            ChangeKind::Squash
        } else {
            ChangeKind::Merge
        };
        let author = self.author();
        let title = title.unwrap_or_else(|| self.message());
        let head = self.head();
        let sha = self.rng.sha();
        if kind == ChangeKind::Direct {
            let authored = merged_at - self.rng.between(2 * MINUTE, 3 * HOUR);
            self.commit(&sha, merged_at, vec![head], author, Some(authored.max(floor)), title);
            self.on_main(merged_at, sha.clone());
            self.post_merge_build(&sha, merged_at);
            return sha;
        }

        if !hotfix && self.rng.chance(0.05) {
            self.abandoned_pull_request(merged_at, floor);
        }
        self.pr_number += 1;
        let number = self.pr_number;
        let branch = format!("{author}/{}-{number}", title.split(' ').next().unwrap_or("change").to_lowercase());
        let times = self.pr_times(merged_at, floor, hotfix);
        let (tip, before_tip, parents, message) = if kind == ChangeKind::Merge {
            let count = self.branch_commit_count();
            let mut at: Vec<Millis> = (1..count).map(|_| self.rng.between(times.first_commit + SECOND, times.approved)).collect();
            at.sort_unstable();
            at.insert(0, times.first_commit);
            let fork = self.head_at(times.first_commit);
            let mut chain = vec![fork];
            let mut chain_times = Vec::with_capacity(at.len());
            for (k, t) in at.iter().enumerate() {
                // Never before the parent, and before the merge.
                let t = (*t).max(times.first_commit + k as Millis * SECOND).min(merged_at - SECOND);
                let branch_sha = self.rng.sha();
                let parent = chain.last().cloned().unwrap_or_default();
                let text = if k == 0 { title.clone() } else { self.message() };
                self.commit(&branch_sha, t, vec![parent], author, Some(t), text);
                chain.push(branch_sha);
                chain_times.push(t);
            }
            let tip = (chain.last().cloned().unwrap_or_default(), chain_times.last().copied().unwrap_or(times.first_commit));
            let before_tip = (chain.len() > 2).then(|| (chain[chain.len() - 2].clone(), chain_times[chain_times.len() - 2]));
            let message = format!("Merge pull request #{number} from acme/{branch}");
            (tip.clone(), before_tip, vec![head, tip.0], message)
        } else {
            // The branch commits of a squash merge never reach main; only its tip is known to CI.
            ((self.rng.sha(), times.opened), None, vec![head], format!("{title} (#{number})"))
        };
        self.pull_request_checks(tip, before_tip, &branch, times.opened, merged_at);
        self.commit(&sha, merged_at, parents, author, Some(merged_at), message);
        self.on_main(merged_at, sha.clone());

        let additions = self.rng.duration(60, 1.2, 1, 4_000);
        let deletions = (additions as f64 * self.rng.unit() * 0.8) as i64;
        self.pull_request(PullRequest {
            id: format!("{}#{number}", self.repository),
            repository: self.repository.clone(),
            number,
            opened_at: times.opened,
            service: Some(self.service.clone()),
            author: Some(author.to_owned()),
            first_commit_at: Some(times.first_commit),
            first_review_at: times.first_review,
            approved_at: Some(times.approved),
            merged_at: Some(merged_at),
            closed_at: Some(merged_at),
            merge_commit_sha: Some(sha.clone()),
            additions: Some(additions),
            deletions: Some(deletions),
            head_sha: None,
            base_sha: None,
        });
        self.post_merge_build(&sha, merged_at);
        sha
    }

    fn branch_commit_count(&mut self) -> usize {
        let mut roll = self.rng.unit();
        for (p, n) in BRANCH_COMMITS {
            if roll < p {
                return n;
            }
            roll -= p;
        }
        1
    }

    /// Main's head at `at`.
    fn head_at(&self, at: Millis) -> String {
        let after = self.main.partition_point(|(t, _)| *t <= at);
        self.main[after.saturating_sub(1)].1.clone()
    }

    /// Coding, pickup, review and merge wait, backwards from the merge, squeezed after `floor`.
    fn pr_times(&mut self, merged_at: Millis, floor: Millis, hotfix: bool) -> PrTimes {
        let scale = if hotfix { 0.1 } else { 1.0 };
        let mut coding = self.rng.duration(5 * HOUR, 1.1, 10 * MINUTE, 6 * DAY) as f64 * scale;
        let mut pickup = self.rng.duration(90 * MINUTE, 1.0, 2 * MINUTE, 2 * DAY) as f64 * scale;
        let reviewed = !hotfix || self.rng.chance(0.5);
        let mut review = if reviewed && self.rng.chance(0.7) {
            self.rng.duration(2 * HOUR, 1.1, 5 * MINUTE, 3 * DAY) as f64 * scale
        } else {
            0.0
        };
        let mut wait = self.rng.duration(20 * MINUTE, 1.0, 30 * SECOND, DAY) as f64 * scale;
        let available = (merged_at - floor - MINUTE).max(4 * SECOND) as f64;
        let total = coding + pickup + review + wait;
        if total > available {
            let squeeze = available / total;
            coding *= squeeze;
            pickup *= squeeze;
            review *= squeeze;
            wait *= squeeze;
        }
        let approved = merged_at - (wait as Millis).max(SECOND);
        let first_review = approved - review as Millis;
        let opened = first_review - pickup as Millis;
        let first_commit = opened - (coding as Millis).max(SECOND);
        PrTimes { first_commit, opened, first_review: reviewed.then_some(first_review), approved }
    }

    /// A pull request closed without merging, some time before `before`.
    fn abandoned_pull_request(&mut self, before: Millis, floor: Millis) {
        let opened = (before - self.rng.duration(2 * DAY, 1.0, HOUR, 10 * DAY)).max(floor);
        if opened >= before {
            return;
        }
        let closed = self.rng.between(opened + 1, before);
        self.pr_number += 1;
        let author = self.author();
        let first_commit = (opened - self.rng.duration(3 * HOUR, 1.0, MINUTE, 3 * DAY)).max(self.start);
        let additions = self.rng.duration(40, 1.2, 1, 2_000);
        let deletions = self.rng.duration(10, 1.2, 0, 1_000);
        self.unmerged_pull_request(author, Unmerged { opened, first_commit, first_review: None, closed: Some(closed), additions, deletions });
    }

    /// A pull request still open at the end of the history.
    fn open_pull_request(&mut self) {
        let opened = self.end - self.rng.between(HOUR, 3 * DAY);
        if opened <= self.start {
            return;
        }
        self.pr_number += 1;
        let author = self.author();
        let first_review = self.rng.chance(0.5).then(|| self.rng.between(opened + 1, self.end));
        let first_commit = (opened - self.rng.duration(4 * HOUR, 1.0, MINUTE, 4 * DAY)).max(self.start);
        let additions = self.rng.duration(60, 1.2, 1, 4_000);
        let deletions = self.rng.duration(15, 1.2, 0, 1_000);
        self.unmerged_pull_request(author, Unmerged { opened, first_commit, first_review, closed: None, additions, deletions });
    }

    /// Records the pull request numbered `pr_number` that was never merged.
    fn unmerged_pull_request(&mut self, author: &str, pr: Unmerged) {
        self.pull_request(PullRequest {
            id: format!("{}#{}", self.repository, self.pr_number),
            repository: self.repository.clone(),
            number: self.pr_number,
            opened_at: pr.opened,
            service: Some(self.service.clone()),
            author: Some(author.to_owned()),
            first_commit_at: Some(pr.first_commit),
            first_review_at: pr.first_review,
            approved_at: None,
            merged_at: None,
            closed_at: pr.closed,
            merge_commit_sha: None,
            additions: Some(pr.additions),
            deletions: Some(pr.deletions),
            head_sha: None,
            base_sha: None,
        });
    }

    /// A planned release of main's head: staging, then production; returns when main may move
    /// on (the start of the last production deployment it made).
    fn release(&mut self, start: Millis, next_planned: Option<Millis>) -> Millis {
        let landed = mem::take(&mut self.landed);
        let sha = self.head();
        let minor = self.rng.chance(0.08);
        let version = self.bump_version(minor);
        let mut at = start;
        if self.spec.staging {
            let staged = self.deploy_with_retries(Env::Staging, &sha, &version, at, false);
            at = staged.finished + self.rng.between(10 * MINUTE, 60 * MINUTE);
        }
        let done = self.deploy_with_retries(Env::Production, &sha, &version, at, false);
        if self.rng.chance(self.failure_rate) {
            self.failure(&done, &sha, &version, &landed, next_planned)
        } else {
            self.last_good = Some(Live { sha, version });
            done.started
        }
    }

    /// What follows a bad production deployment; returns when main may move on.
    fn failure(&mut self, bad: &Done, sha: &str, version: &str, landed: &[String], next_planned: Option<Millis>) -> Millis {
        let roll = self.rng.unit();
        let room = next_planned.unwrap_or(self.end).min(self.end) - bad.finished;
        let can_roll_back = self.last_good.is_some();
        if roll < ROLLBACK_SHARE && can_roll_back {
            self.roll_back(bad, version)
        } else if roll < ROLLBACK_SHARE + NAMED_DEPLOYMENT_SHARE {
            self.hotfix(bad, (Some(bad.id.clone()), None))
        } else if roll < ROLLBACK_SHARE + NAMED_DEPLOYMENT_SHARE + NAMED_COMMIT_SHARE && !landed.is_empty() {
            let culprit = self.rng.pick(landed).clone();
            self.hotfix(bad, (None, Some(culprit)))
        } else if room >= 40 * MINUTE {
            self.unexplained_incident(bad, sha, version, room)
        } else if can_roll_back {
            self.roll_back(bad, version)
        } else {
            self.hotfix(bad, (Some(bad.id.clone()), None))
        }
    }

    /// Rolls production back to the last good deployment's commit, minutes after `bad`; often
    /// with an incident naming the bad deployment.
    fn roll_back(&mut self, bad: &Done, bad_version: &str) -> Millis {
        let Some(good) = self.last_good.clone() else { return bad.started };
        let started = bad.finished + self.rng.duration(12 * MINUTE, 0.6, 3 * MINUTE, 45 * MINUTE);
        let duration = self.rng.between(2 * MINUTE, 6 * MINUTE);
        let finished = started + duration;
        if self.rng.chance(0.6) {
            let opened = self.rng.between(bad.finished + MINUTE, started);
            let resolved = finished + self.rng.between(MINUTE, 15 * MINUTE);
            let named = self.rng.chance(0.7).then(|| bad.id.clone());
            let title = format!(
                "{}: {} after {bad_version}",
                self.service,
                names::symptom(self.rng.below(names::SYMPTOM_COUNT as u64) as usize)
            );
            self.incident(opened, resolved, title, named, None);
        }
        let ratio = self.burst_ratio();
        self.bursts.push((bad.finished, finished, ratio));
        self.deploy(
            Env::Production,
            &good.sha,
            &good.version,
            started,
            duration,
            DeploymentStatus::Success,
            Some(bad.id.clone()),
            false,
        );
        // What `git revert` writes: the next change backs the bad one out of main.
        self.revert_next = Some(format!("Revert \"changes shipped in {bad_version}\""));
        started
    }

    /// An incident naming the bad deployment or one of its commits, resolved by an unplanned
    /// release of a fix — which the deployer marks `unplanned` only some of the time: the others
    /// count as rework as fix-forwards, deployed while the incident was open.
    fn hotfix(&mut self, bad: &Done, cause: (Option<String>, Option<String>)) -> Millis {
        let marked = self.rng.chance(0.6);
        let opened = bad.finished + self.rng.duration(30 * MINUTE, 0.8, 2 * MINUTE, 8 * HOUR);
        let merged = opened + self.rng.duration(70 * MINUTE, 0.7, 15 * MINUTE, 10 * HOUR);
        let title = format!("Fix {}", names::symptom(self.rng.below(names::SYMPTOM_COUNT as u64) as usize));
        let sha = self.change(merged, opened, Some(title), true);
        let version = self.bump_version(false);
        let mut at = merged + self.rng.between(3 * MINUTE, 10 * MINUTE);
        if self.spec.staging {
            let duration = self.rng.between(3 * MINUTE, 8 * MINUTE);
            let staged = self.deploy(Env::Staging, &sha, &version, at, duration, DeploymentStatus::Success, None, true);
            at = staged.finished + self.rng.between(3 * MINUTE, 15 * MINUTE);
        }
        let duration = self.rng.between(3 * MINUTE, 10 * MINUTE);
        let fixed = self.deploy(Env::Production, &sha, &version, at, duration, DeploymentStatus::Success, None, marked);
        let resolved = fixed.finished + self.rng.between(2 * MINUTE, 30 * MINUTE);
        let symptom = names::symptom(self.rng.below(names::SYMPTOM_COUNT as u64) as usize);
        self.incident(opened, resolved, format!("{}: {symptom}", self.service), cause.0, cause.1);
        let ratio = self.burst_ratio();
        self.bursts.push((bad.finished, resolved, ratio));
        self.last_good = Some(Live { sha, version });
        fixed.started
    }

    /// An incident naming no cause, opening within hours of `bad` (before anything else is
    /// deployed) and mitigated without a deployment.
    fn unexplained_incident(&mut self, bad: &Done, sha: &str, version: &str, room: Millis) -> Millis {
        let latest = bad.finished + room.min(6 * HOUR) - 10 * MINUTE;
        let opened = self.rng.between(bad.finished + 10 * MINUTE, latest);
        let resolved = opened + self.rng.duration(45 * MINUTE, 0.9, 4 * MINUTE, 10 * HOUR);
        let symptom = names::symptom(self.rng.below(names::SYMPTOM_COUNT as u64) as usize);
        self.incident(opened, resolved, format!("{}: {symptom}", self.service), None, None);
        let ratio = self.burst_ratio();
        let onset = opened - self.rng.between(0, 10 * MINUTE);
        self.bursts.push((onset, resolved, ratio));
        self.last_good = Some(Live { sha: sha.to_owned(), version: version.to_owned() });
        bad.started
    }

    fn burst_ratio(&mut self) -> f64 {
        0.01 + self.rng.unit() * 0.2
    }

    /// Bumps the version (a minor release resets the patch number) and returns it as `v1.4.12`.
    fn bump_version(&mut self, minor: bool) -> String {
        if minor {
            self.version[1] += 1;
            self.version[2] = 0;
        } else {
            self.version[2] += 1;
        }
        let [major, minor, patch] = self.version;
        format!("v{major}.{minor}.{patch}")
    }

    /// Deploys to `env`, retrying after a failed attempt; returns the successful deployment.
    fn deploy_with_retries(&mut self, env: Env, sha: &str, version: &str, start: Millis, unplanned: bool) -> Done {
        let failure_chance = match env {
            Env::Staging => 0.04,
            Env::Production => 0.025,
        };
        let mut at = start;
        let mut attempt = 0;
        loop {
            // At most two failed attempts: the third always goes through.
            let fails = attempt < 2 && self.rng.chance(failure_chance);
            let status = if fails { DeploymentStatus::Failure } else { DeploymentStatus::Success };
            let duration = self.rng.between(3 * MINUTE, 14 * MINUTE);
            let done = self.deploy(env, sha, version, at, duration, status, None, unplanned);
            if !fails {
                return done;
            }
            attempt += 1;
            at = done.finished + self.rng.between(5 * MINUTE, 25 * MINUTE);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deploy(
        &mut self,
        env: Env,
        sha: &str,
        version: &str,
        started: Millis,
        duration: Millis,
        status: DeploymentStatus,
        rollback_of: Option<String>,
        unplanned: bool,
    ) -> Done {
        let slot = env as usize;
        self.deployments[slot] += 1;
        let id = format!("{}-{}-{:04}", self.service, env.short(), self.deployments[slot]);
        let finished = started + duration;
        let done = Done { id: id.clone(), started, finished };
        if started > self.end {
            return done;
        }
        let commits = if !self.list_commits || rollback_of.is_some() {
            Vec::new()
        } else if status == DeploymentStatus::Success && finished <= self.end {
            mem::take(&mut self.unshipped[slot])
        } else {
            self.unshipped[slot].clone()
        };
        let (status, finished_at) =
            if finished <= self.end { (status, Some(finished)) } else { (DeploymentStatus::InProgress, None) };
        if self.ci_runs && finished <= self.end {
            let queued = started - self.rng.between(5 * SECOND, MINUTE);
            let outcome = if status == DeploymentStatus::Success { "success" } else { "failure" };
            self.ci_run(&format!("deploy-{}", env.name()), "deploy", sha, "main", (queued, started, finished), outcome);
        }
        self.facts.push(Fact::Deployment(Deployment {
            url: Some(format!("https://deploy.acme.example/{}/{}/{id}", self.service, env.name())),
            id,
            service: self.service.clone(),
            environment: env.name().to_owned(),
            version: Some(version.to_owned()),
            commit_sha: Some(sha.to_owned()),
            status,
            started_at: Some(started),
            finished_at,
            commits,
            rollback_of,
            unplanned,
            team: Some(self.team.clone()),
        }));
        done
    }

    fn incident(
        &mut self,
        opened: Millis,
        resolved: Millis,
        title: String,
        deployment_id: Option<String>,
        commit_sha: Option<String>,
    ) {
        if opened > self.end {
            return;
        }
        self.incidents += 1;
        let id = format!("{}-inc-{:03}", self.service, self.incidents);
        let roll = self.rng.unit();
        let severity = if roll < 0.1 {
            "sev1"
        } else if roll < 0.5 {
            "sev2"
        } else {
            "sev3"
        };
        self.facts.push(Fact::Incident(Incident {
            url: Some(format!("https://status.acme.example/incidents/{id}")),
            id,
            service: self.service.clone(),
            environment: Env::Production.name().to_owned(),
            opened_at: opened,
            resolved_at: (resolved <= self.end).then_some(resolved),
            severity: Some(severity.to_owned()),
            title: Some(title),
            deployment_id,
            commit_sha,
        }));
    }

    fn commit(&mut self, sha: &str, at: Millis, parents: Vec<String>, author: &str, authored: Option<Millis>, message: String) {
        if at > self.end {
            return;
        }
        if self.list_commits {
            for pending in &mut self.unshipped {
                pending.push(ShippedCommit { sha: sha.to_owned(), committed_at: Some(at), authored_at: None });
            }
        }
        self.facts.push(Fact::Commit(Commit {
            sha: sha.to_owned(),
            committed_at: at,
            repository: Some(self.repository.clone()),
            service: Some(self.service.clone()),
            parents,
            authored_at: authored,
            author: Some(author.to_owned()),
            message: Some(message),
        }));
    }

    fn on_main(&mut self, at: Millis, sha: String) {
        self.main.push((at, sha));
    }

    /// Emits a pull request as it stands at the end of the history.
    fn pull_request(&mut self, mut pr: PullRequest) {
        if pr.opened_at > self.end {
            return;
        }
        if pr.merged_at.is_some_and(|t| t > self.end) || pr.closed_at.is_some_and(|t| t > self.end) {
            pr.merged_at = None;
            pr.closed_at = None;
            pr.merge_commit_sha = None;
        }
        let end = self.end;
        for field in [&mut pr.first_review_at, &mut pr.approved_at] {
            if field.is_some_and(|t| t > end) {
                *field = None;
            }
        }
        self.facts.push(Fact::PullRequest(pr));
    }

    /// Checks on a pull request's tip (after the later of its push and the opening) before the
    /// merge: sometimes a flaky failure re-run on the same commit, sometimes a real failure on
    /// the commit before the tip.
    fn pull_request_checks(
        &mut self,
        (tip, tip_at): (String, Millis),
        before_tip: Option<(String, Millis)>,
        branch: &str,
        opened: Millis,
        merged_at: Millis,
    ) {
        if !self.ci_runs {
            return;
        }
        let deadline = merged_at - SECOND;
        if let Some((earlier, pushed)) = before_tip
            && self.rng.chance(0.15)
        {
            let queued = pushed + self.rng.between(5 * SECOND, MINUTE);
            self.timed_run("pull-request", "pull_request", &earlier, branch, queued, tip_at.min(deadline), "failure");
        }
        let mut queued = tip_at.max(opened) + self.rng.between(5 * SECOND, MINUTE);
        if self.rng.chance(0.07) {
            let finished = self.timed_run("pull-request", "pull_request", &tip, branch, queued, deadline, "failure");
            queued = finished + self.rng.between(5 * SECOND, 5 * MINUTE);
        }
        self.timed_run("pull-request", "pull_request", &tip, branch, queued, deadline, "success");
    }

    /// The build of main after a merge; sometimes a flaky failure followed by a passing re-run.
    fn post_merge_build(&mut self, sha: &str, merged_at: Millis) {
        if !self.ci_runs {
            return;
        }
        let queued = merged_at + self.rng.between(2 * SECOND, 30 * SECOND);
        let mut next = queued;
        if self.rng.chance(0.04) {
            let finished = self.timed_run("build", "post_merge", sha, "main", queued, Millis::MAX, "failure");
            next = finished + self.rng.between(MINUTE, 10 * MINUTE);
        }
        self.timed_run("build", "post_merge", sha, "main", next, Millis::MAX, "success");
    }

    /// A CI run queued at `queued`, finished by `deadline` when it can be; returns its finish.
    #[allow(clippy::too_many_arguments)]
    fn timed_run(
        &mut self,
        pipeline: &str,
        stage: &str,
        sha: &str,
        branch: &str,
        queued: Millis,
        deadline: Millis,
        status: &str,
    ) -> Millis {
        let started = queued + self.rng.between(5 * SECOND, 90 * SECOND);
        let finished = (started + self.rng.between(4 * MINUTE, 18 * MINUTE)).min(deadline);
        let started = started.min(finished);
        let queued = queued.min(started);
        self.ci_run(pipeline, stage, sha, branch, (queued, started, finished), status);
        finished
    }

    fn ci_run(
        &mut self,
        pipeline: &str,
        stage: &str,
        sha: &str,
        branch: &str,
        (queued, started, finished): (Millis, Millis, Millis),
        status: &str,
    ) {
        if finished > self.end {
            return;
        }
        self.runs += 1;
        let number = self.runs;
        self.facts.push(Fact::CiRun(CiRun {
            id: format!("{}-run-{number:06}", self.service),
            pipeline: pipeline.to_owned(),
            status: status.to_owned(),
            started_at: started,
            finished_at: finished,
            stage: Some(stage.to_owned()),
            repository: Some(self.repository.clone()),
            service: Some(self.service.clone()),
            commit_sha: Some(sha.to_owned()),
            branch: Some(branch.to_owned()),
            queued_at: Some(queued),
            url: Some(format!("https://ci.acme.example/{}/runs/{number}", self.repository)),
            attempt: Some(1),
        }));
    }

    /// One production sample per hour, counting the hour before it: traffic follows the team's
    /// day and week; errors stay low except while a bad release is live.
    fn sli(&mut self) {
        let base = 5_000.0 * (40.0_f64).powf(self.rng.unit());
        let baseline = 0.0001 + self.rng.unit() * 0.0009;
        let mut bursts = mem::take(&mut self.bursts);
        bursts.sort_by_key(|b| b.0);
        let mut first_open = 0;
        let mut at = (self.start.div_euclid(HOUR) + 1) * HOUR;
        while at <= self.end {
            let from = at - HOUR;
            let local_hour = ((at + self.utc_offset).rem_euclid(DAY) / HOUR) as f64;
            let daily = 0.3 + 0.7 * (0.5 - 0.5 * ((local_hour - 3.0) / 24.0 * std::f64::consts::TAU).cos());
            let weekday = (at.div_euclid(DAY) + 3).rem_euclid(7);
            let weekly = if weekday >= 5 { 0.7 } else { 1.0 };
            let total = (base * daily * weekly * (0.9 + 0.2 * self.rng.unit())).round().max(1.0) as i64;
            while first_open < bursts.len() && bursts[first_open].1 <= from {
                first_open += 1;
            }
            let mut ratio = baseline * (0.5 + self.rng.unit());
            for &(burst_from, burst_to, burst_ratio) in bursts[first_open..].iter().take_while(|b| b.0 < at) {
                let overlap = (burst_to.min(at) - burst_from.max(from)).max(0);
                ratio += burst_ratio * overlap as f64 / HOUR as f64;
            }
            let bad = ((total as f64 * ratio).round() as i64).clamp(0, total);
            self.facts.push(Fact::Sli(SliSample {
                service: self.service.clone(),
                environment: Env::Production.name().to_owned(),
                slo: "availability".to_owned(),
                at,
                good: total - bad,
                total,
            }));
            at += HOUR;
        }
    }
}
