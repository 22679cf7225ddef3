//! pacer's generator: a seeded, realistic delivery history for the demo and the benchmarks.
//!
//! From a [`Spec`] it simulates, per service, a repository `acme/<service>` whose main branch
//! grows by direct pushes, merge-commit pull requests and squash-merged pull requests; releases
//! that go to `staging` and then `production`; failed deployments, rollbacks, hotfixes and
//! incidents (naming a deployment, naming a commit, or naming nothing); CI runs; and hourly SLI
//! samples. The same spec always gives the same facts.
//!
//! It owns nothing of what the numbers mean (that is `pacer-engine`) nor of storage: it yields
//! [`Fact`]s, one service at a time, so a benchmark can stream millions of them into a database
//! or, through [`to_ndjson`], into `POST /api/v1/events` without holding them all.

mod history;
mod names;
mod random;

use pacer_engine::model::{DAY, Fact, Millis};

pub use pacer_collector::render::{to_ndjson, write_ndjson};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Seed of every random choice: the same spec gives the same facts.
    pub seed: u64,
    /// Number of services (each with its own repository).
    pub services: usize,
    /// Number of teams; services are split among them in contiguous blocks. 0 counts as 1.
    pub teams: usize,
    /// Length of the history in days, ending at [`Spec::end`].
    pub days: i64,
    /// End of the history: nothing is generated after it.
    pub end: Millis,
    /// Mean number of planned production releases per service per day (weekends are quieter;
    /// each service gets a rate between half and one and a half times this).
    pub deploys_per_service_per_day: f64,
    /// Mean number of commits (on main and on merged branches) shipped by a planned release.
    pub commits_per_deploy: f64,
    /// Share of planned production releases that go wrong (an incident, a rollback or both).
    pub failure_rate: f64,
    /// Whether each release goes to `staging` before `production`.
    pub staging: bool,
    /// Share of services whose CI runs are generated (pull request checks, post-merge builds,
    /// deploy jobs): about 6 runs per production deployment of each such service.
    pub ci_runs_share: f64,
    /// Whether to generate one production SLI sample per service per hour.
    pub sli: bool,
    /// Share of services whose deployer lists the shipped commits on each deployment (the
    /// others leave the changeset to the commit graph).
    pub listed_commits_share: f64,
}

impl Spec {
    /// The history `pacer demo` loads: 8 services in 3 teams over the 180 days before `end`,
    /// with staging, CI runs, SLI samples, incidents, rollbacks and hotfixes.
    pub fn demo(end: Millis) -> Self {
        Self {
            seed: 20_240_601,
            services: 8,
            teams: 3,
            days: 180,
            end,
            deploys_per_service_per_day: 1.5,
            commits_per_deploy: 4.0,
            failure_rate: 0.08,
            staging: true,
            ci_runs_share: 1.0,
            sli: true,
            listed_commits_share: 0.25,
        }
    }

    /// A benchmark data set: `services` services over the year before `end`, with about
    /// `deployments` successful production deployments and about `commits` commits in all.
    /// Only production deployments, commits, pull requests and incidents are generated; turn on
    /// [`Spec::staging`] or [`Spec::sli`], or raise [`Spec::ci_runs_share`] or
    /// [`Spec::listed_commits_share`], for more.
    pub fn benchmark(end: Millis, services: usize, deployments: u64, commits: u64) -> Self {
        let days = 365;
        let failure_rate = 0.08;
        // Failures add rollbacks and hotfixes to the planned releases.
        let planned = deployments as f64 / (1.0 + history::EXTRA_DEPLOYS_PER_FAILURE * failure_rate);
        Self {
            seed: 1,
            services,
            teams: services.div_ceil(20).max(1),
            days,
            end,
            deploys_per_service_per_day: planned / (services.max(1) as f64 * days as f64),
            commits_per_deploy: commits as f64 / planned.max(1.0),
            failure_rate,
            staging: false,
            ci_runs_share: 0.0,
            sli: false,
            listed_commits_share: 0.0,
        }
    }

    /// Start of the history.
    pub fn start(&self) -> Millis {
        self.end - self.days * DAY
    }
}

/// The services of a spec with their teams, as `(service, team)`, in generation order.
pub fn services(spec: &Spec) -> Vec<(String, String)> {
    (0..spec.services).map(|i| (names::service(i), names::team(names::team_index(i, spec.services, spec.teams)))).collect()
}

/// Every fact of the spec, one service after another; only one service's facts are held at a
/// time.
pub fn generate(spec: &Spec) -> impl Iterator<Item = Fact> + use<> {
    let spec = spec.clone();
    (0..spec.services).flat_map(move |index| service_facts(&spec, index))
}

/// The facts of the service at `index` (see [`services`]): independent of every other
/// service's, so services can be generated in parallel.
pub fn service_facts(spec: &Spec, index: usize) -> Vec<Fact> {
    history::service(spec, index)
}
