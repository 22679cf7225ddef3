//! What one (service, environment) shipped: its successful deployments in finish order, each
//! with its changeset and lead-time samples, as columns of numbers.
//!
//! A service's shipments depend on its own deployments, the commits they reach and the pull
//! requests merged as those commits, and on nothing of any other service (PRODUCT.md §4: a
//! changeset is per (service, environment)). So an analysis keeps them per service and rebuilds
//! one service's when one of those facts changes, never the environment's. Which facts those
//! are is kept with them, in a [`Reach`].
//!
//! Not for: failures (incidents and rollbacks cross services; see [`crate::dora`]).

use std::collections::{HashMap, HashSet};

use crate::changeset::{CommitGraph, Listed, changesets_and_live};
use crate::flat::Flat;
use crate::model::{Deployment, Millis};
use crate::reach::Reach;
use crate::samples::{LeadTimes, Run};
use crate::rework::{Reason, own_reason};
use crate::shas::{ShaId, SortedShas};
use crate::snapshot::{Codec, Reader, SnapshotError, invalid};
use crate::spill::Kept;
use crate::texts::Texts;

/// A team index of a deployment that names none.
pub(crate) const NO_TEAM: u32 = u32::MAX;

/// One service's successful deployments, one entry per deployment in finish order (then id),
/// column by column. Fixed once built: a change to the service's deployments, commits or pull
/// requests builds new shipments.
///
/// The columns summaries read are in memory; what only a page, a new deployment, an incident
/// naming a commit or a pull request's stages read — the commits — is kept out of it
/// ([`Commits`], see [`crate::spill`]), and so are the deployments' ids and versions, which
/// only a page, a report or a lookup by id reads (found by a hash of the id kept in memory).
#[derive(Debug, Clone, Default)]
pub(crate) struct Shipments {
    /// Deployment `i`'s id and version are texts `2i` and `2i + 1`; an empty version is none.
    /// Kept out of memory: no summary or series names a deployment.
    pub(crate) names: Kept<Texts>,
    /// When each finished: its time in every metric.
    pub(crate) finished_at: Vec<Millis>,
    /// Each one's team, as an index into `teams`, or [`NO_TEAM`].
    pub(crate) team: Vec<u32>,
    /// Why each is rework by its own facts: a rollback, unplanned, or a revert shipped (a
    /// fix-forward depends on incidents; see [`crate::rework`]).
    pub(crate) own_rework: Vec<Option<Reason>>,
    /// The deployments that shipped a revert first, each with the position in its changeset of
    /// the first revert commit; ascending.
    pub(crate) reverts: Vec<(u32, u32)>,
    /// Each one's lead-time samples, one per commit of its changeset with a known start; in
    /// finish order, so the samples of a window are one run.
    pub(crate) lead_times: LeadTimes,
    /// Each deployment's [`id_hash`] and index, ascending: a lookup by id reads the ids (out of
    /// memory) only for a deployment whose hash matches, nearly always the one looked for.
    pub(crate) by_hash: Vec<(u32, u32)>,
    /// The deployments that roll another back, ascending.
    pub(crate) rollbacks: Vec<u32>,
    /// The id of the deployment each of `rollbacks` rolls back, in the same order: a few
    /// deployments name one, so the others keep no room for it.
    pub(crate) rolled_back: Texts,
    /// Every team a deployment names, sorted.
    pub(crate) teams: Vec<String>,
    /// Every sha the shipments were made from (see [`Reach`]).
    pub(crate) reach: Reach,
    /// The commits: what each deployment shipped, and which are live.
    pub(crate) commits: Kept<Commits>,
}

/// One service's deployments' ids and versions, as read from where they are kept.
pub(crate) struct Names(std::sync::Arc<Texts>);

impl Names {
    /// Deployment `i`'s id.
    pub(crate) fn id(&self, i: usize) -> &str {
        self.0.get(2 * i as u32)
    }

    /// Deployment `i`'s version.
    pub(crate) fn version(&self, i: usize) -> Option<&str> {
        Some(self.0.get(2 * i as u32 + 1)).filter(|s| !s.is_empty())
    }
}

/// A deployment id's 32-bit FNV-1a hash: what a lookup by id compares in memory. Never written
/// to a snapshot (it is made again from the ids), so it may change between versions.
pub(crate) fn id_hash(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// The commits of one service's shipments: read where a changeset is shown or extended, never
/// by a summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commits {
    /// The commits each deployment shipped first, as ids in `shas`.
    pub(crate) changesets: Flat<ShaId>,
    /// One bit per entry of `changesets`' values, set when that commit has a lead-time sample:
    /// a deployment's samples are its changeset's commits with their bit set, in order, so the
    /// samples need no commit ids of their own.
    pub(crate) sampled: Vec<u64>,
    /// The shas the changesets name.
    pub(crate) shas: SortedShas,
    /// Merge commit of a pull request the service shipped → the start of the PR's branch, for
    /// the starts found in the graph (see `History::found_starts`); ascending by merge commit.
    pub(crate) branch_starts: Vec<(ShaId, Millis)>,
    /// The deployment (index) that shipped each sha: each commit counts once per service.
    pub(crate) shipper: Vec<u32>,
    /// What the first deployment's head reached: live before any changeset, and never counted.
    /// With the changesets' shas, exactly the commits that are live (see [`Commits::is_live`]).
    pub(crate) first_reached: SortedShas,
}

impl Commits {
    /// Whether `sha` is live: reached by a deployment of this service, or listed by one.
    pub(crate) fn is_live(&self, sha: &str) -> bool {
        self.shas.id(sha).is_some() || self.first_reached.id(sha).is_some()
    }

    /// The deployment that shipped `sha`.
    pub(crate) fn shipper_of(&self, sha: &str) -> Option<usize> {
        let id = self.shas.id(sha)?;
        self.shipper.get(id as usize).map(|&i| i as usize)
    }

    /// The commits deployment `i` shipped first, in changeset order.
    pub(crate) fn changeset(&self, i: usize) -> Vec<String> {
        self.changesets.of(i).iter().map(|&sha| self.shas.sha(sha).into_owned()).collect()
    }

    /// The commits of deployment `i`'s changeset that have a lead-time sample, in order.
    pub(crate) fn sampled_commits(&self, i: usize) -> impl Iterator<Item = String> + '_ {
        let entries = self.changesets.range(i);
        entries.filter(|&k| self.sampled[k / 64] >> (k % 64) & 1 == 1).map(|k| self.shas.sha(self.changesets.values()[k]).into_owned())
    }

    /// The branch start of the pull request merged as `sha`, when it was found in the graph.
    pub(crate) fn branch_start(&self, sha: &str) -> Option<Millis> {
        let id = self.shas.id(sha)?;
        self.branch_starts.binary_search_by_key(&id, |&(sha, _)| sha).ok().map(|k| self.branch_starts[k].1)
    }

    /// Adds a deployment's changeset (ids in `shas`) and which of its commits have a sample.
    fn push(&mut self, changeset: Vec<ShaId>, sampled: impl Iterator<Item = bool>) {
        let first_entry = self.changesets.values().len();
        self.sampled.resize((first_entry + changeset.len()).div_ceil(64), 0);
        for (k, _) in sampled.enumerate().filter(|(_, has)| *has) {
            let entry = first_entry + k;
            self.sampled[entry / 64] |= 1 << (entry % 64);
        }
        self.changesets.push(changeset);
    }

    /// Fills `shipper` from the changesets.
    fn index_shippers(&mut self) {
        self.shipper = vec![u32::MAX; self.shas.len()];
        for i in 0..self.changesets.len() {
            for &sha in self.changesets.of(i) {
                self.shipper[sha as usize] = i as u32;
            }
        }
    }

    fn shrink_to_fit(&mut self) {
        self.changesets.shrink_to_fit();
        self.sampled.shrink_to_fit();
        self.branch_starts.shrink_to_fit();
        self.shipper.shrink_to_fit();
    }

    /// The heap bytes held: the sha tables, the changesets, the shippers and the sample bits.
    fn heap_bytes(&self) -> [usize; 4] {
        [
            self.shas.heap_bytes() + self.first_reached.heap_bytes(),
            self.changesets.heap_bytes() + self.branch_starts.capacity() * size_of::<(ShaId, Millis)>(),
            self.shipper.capacity() * 4,
            self.sampled.capacity() * 8,
        ]
    }
}

impl Codec for Commits {
    fn encode(&self, out: &mut Vec<u8>) {
        let Self { changesets, sampled, shas, branch_starts, shipper, first_reached } = self;
        changesets.encode(out);
        sampled.encode(out);
        shas.encode(out);
        branch_starts.encode(out);
        shipper.encode(out);
        first_reached.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok(Self {
            changesets: Codec::decode(input)?,
            sampled: Codec::decode(input)?,
            shas: Codec::decode(input)?,
            branch_starts: Codec::decode(input)?,
            shipper: Codec::decode(input)?,
            first_reached: Codec::decode(input)?,
        })
    }
}

/// A deployment to add after the last one of a service, with what the store read for it: the
/// commits its head reaches that are not live yet, in the order of the changeset walk (head
/// first, then breadth first), each with its commit time when the commit is known; the times of
/// the commits it lists that the store knows; and the branch starts of the pull requests merged
/// as any of those commits.
#[derive(Debug, Clone)]
pub struct Appendix {
    /// The deployment, with its list.
    pub deployment: Deployment,
    /// The commits walked from its head, stopped at live ones.
    pub walked: Vec<(String, Option<Millis>)>,
    /// The commit times the store knows of the listed commits.
    pub listed_times: HashMap<String, Millis>,
    /// Merge commit → the earliest branch start given by the pull requests merged as it.
    pub pr_first_commit: HashMap<String, Millis>,
    /// Which of the walked and listed commits are reverts (see [`crate::rework::is_revert`]).
    pub reverts: HashSet<String>,
}

/// What building one service's shipments reads besides its deployments.
pub(crate) struct Sources<'a> {
    /// The commit graph; shas the deployments name that it does not are interned into it.
    pub(crate) graph: &'a mut CommitGraph,
    /// Merge commit → the branch start of the pull requests merged as it.
    pub(crate) pr_first_commit: &'a HashMap<ShaId, Millis>,
    /// The merge commits whose start was found in the graph.
    pub(crate) found_starts: &'a HashSet<ShaId>,
    /// What each found start's walk depended on (see `History::branch_nodes`).
    pub(crate) branch_nodes: &'a HashMap<ShaId, Vec<ShaId>>,
    /// The commits whose message begins as a revert's (see [`crate::rework::is_revert`]).
    pub(crate) reverts: &'a HashSet<ShaId>,
    /// Whether the graph holds only what this service reaches (a service's own read from the
    /// store), so that all of it is what the shipments depend on; otherwise the commits the
    /// deployments put live are.
    pub(crate) graph_is_the_service_s: bool,
}

impl Shipments {
    /// The shipments of one service's successful deployments, each with its explicit list,
    /// in any order.
    pub(crate) fn build(mut deployments: Vec<(&Deployment, &[Listed])>, sources: Sources<'_>) -> Self {
        let Sources { graph, pr_first_commit, found_starts, branch_nodes, reverts, graph_is_the_service_s } = sources;
        deployments.sort_by(|(a, _), (b, _)| (a.finished_at, &a.id).cmp(&(b.finished_at, &b.id)));
        let (sets, live, first_reached) = changesets_and_live(&deployments, graph);

        let teams: Vec<String> = {
            let mut teams: Vec<String> = deployments.iter().filter_map(|(d, _)| d.team.clone()).collect();
            teams.sort_unstable();
            teams.dedup();
            teams
        };
        let count = deployments.len();
        let mut names = Texts::with_capacity(2 * count, 24 * count);
        let mut s = Self {
            finished_at: Vec::with_capacity(count),
            team: Vec::with_capacity(count),
            own_rework: Vec::with_capacity(count),
            lead_times: LeadTimes::with_capacity(count),
            ..Self::default()
        };
        let mut c = Commits { changesets: Flat::with_capacity(count, sets.iter().map(Vec::len).sum()), ..Commits::default() };
        for ((deployment, listed), changeset) in deployments.iter().zip(sets) {
            let finished_at = deployment.finished_at.expect("only finished deployments are shipped");
            let samples = lead_times(finished_at, &changeset, listed, graph, pr_first_commit);
            let team = deployment.team.as_deref().map_or(NO_TEAM, |t| teams.binary_search_by(|n| n.as_str().cmp(t)).map_or(NO_TEAM, |k| k as u32));
            let revert_at = changeset.iter().position(|sha| reverts.contains(sha));
            s.push(&mut c, &mut names, deployment, finished_at, team, changeset, samples, revert_at);
        }

        // What the shipments depend on, before the graph's ids are dropped.
        let shas = graph.shas();
        let depended: Vec<ShaId> = if graph_is_the_service_s {
            (0..shas.len() as ShaId).collect()
        } else {
            // What the deployments put live, and the branches of the pull requests merged as any of it.
            let branches = live.iter().filter_map(|sha| branch_nodes.get(sha)).flatten();
            live.iter().chain(branches).copied().collect()
        };
        let depended: Vec<std::borrow::Cow<'_, str>> = depended.into_iter().map(|id| shas.sha(id)).collect();
        s.reach = Reach::of(depended.len(), depended.iter().map(|sha| sha.as_ref()));

        c.first_reached = shas.sorted_of(first_reached).0;
        // Keep only the shas the changesets name, renumbered in sorted order.
        let (table, order) = shas.sorted_of(c.changesets.values().iter().copied());
        let renamed: HashMap<ShaId, ShaId> = order.iter().enumerate().map(|(new, &old)| (old, new as ShaId)).collect();
        c.changesets.values_mut().iter_mut().for_each(|sha| *sha = renamed[sha]);
        c.branch_starts = found_starts
            .iter()
            .filter_map(|sha| Some((*renamed.get(sha)?, *pr_first_commit.get(sha)?)))
            .collect();
        c.branch_starts.sort_unstable();
        c.shas = table;
        c.index_shippers();
        s.teams = teams;
        s.kept(c, names)
    }

    /// These shipments with `commits` and the deployments' `names` kept (see [`crate::spill`]),
    /// the ids hashed, and every column's spare capacity given back: shipments are fixed once
    /// made, and a column that grew by a push would otherwise keep up to as much room again as
    /// it holds.
    fn kept(mut self, mut commits: Commits, mut names: Texts) -> Self {
        let Self { names: _, finished_at, team, own_rework, reverts, lead_times, by_hash, rollbacks, rolled_back, teams, reach: _, commits: _ } = &mut self;
        *by_hash = (0..names.len() as u32 / 2).map(|i| (id_hash(names.get(2 * i)), i)).collect();
        by_hash.sort_unstable();
        names.shrink_to_fit();
        finished_at.shrink_to_fit();
        team.shrink_to_fit();
        own_rework.shrink_to_fit();
        reverts.shrink_to_fit();
        lead_times.shrink_to_fit();
        rollbacks.shrink_to_fit();
        rolled_back.shrink_to_fit();
        teams.shrink_to_fit();
        commits.shrink_to_fit();
        self.commits = Kept::new(commits);
        self.names = Kept::new(names);
        self
    }

    /// These shipments with `appendices` added after the last deployment, in their order,
    /// exactly as a build of all of them would have it; `None` when they cannot be added so (one
    /// does not finish after the one before it, the shipments are empty, or one names a team no
    /// other deployment names), and the service must be built again. One copy of the columns
    /// however many are added.
    pub(crate) fn appended(&self, appendices: &[Appendix]) -> Option<Self> {
        let commits = self.commits.get();
        let mut s = self.clone();
        let mut previous: Option<(Millis, &str)> = None;
        // Each deployment's changeset as `changesets` walks it: what the head reached, then the
        // listed commits that were not live (live: the part's, or shipped by one added before).
        let mut added: HashSet<&str> = HashSet::new();
        let mut changesets: Vec<Vec<&str>> = Vec::with_capacity(appendices.len());
        let mut all_samples: Vec<Vec<Option<Millis>>> = Vec::with_capacity(appendices.len());
        let mut teams = Vec::with_capacity(appendices.len());
        for Appendix { deployment: d, walked, listed_times, pr_first_commit, .. } in appendices {
            let finished_at = d.finished_at?;
            let after_last = match previous {
                None => self.finish_after_last(finished_at, &d.id),
                // Finish time, then id, as `finish_after_last` orders them.
                Some(before) => (finished_at, d.id.as_str()) > before,
            };
            if !after_last || self.index(&d.id).is_some() {
                return None;
            }
            previous = Some((finished_at, &d.id));
            teams.push(match &d.team {
                None => NO_TEAM,
                Some(t) => self.teams.binary_search(t).ok()? as u32,
            });
            let mut changeset: Vec<&str> = walked.iter().map(|(sha, _)| sha.as_str()).collect();
            let mut counted: HashSet<&str> = changeset.iter().copied().collect();
            for c in &d.commits {
                if !commits.is_live(&c.sha) && !added.contains(c.sha.as_str()) && counted.insert(&c.sha) {
                    changeset.push(&c.sha);
                }
            }
            let times: HashMap<&str, Millis> = walked.iter().filter_map(|(sha, at)| Some((sha.as_str(), (*at)?))).collect();
            let samples: Vec<Option<Millis>> = changeset
                .iter()
                .map(|&sha| {
                    // As a build reads a list: the last time it gives for a commit.
                    let listed = d.commits.iter().rev().find(|c| c.sha == sha && c.committed_at.is_some()).and_then(|c| c.committed_at);
                    let committed = times.get(sha).or_else(|| listed_times.get(sha)).copied().or(listed);
                    sample(finished_at, committed, pr_first_commit.get(sha).copied())
                })
                .collect();
            added.extend(changeset.iter().copied());
            changesets.push(changeset);
            all_samples.push(samples);
        }

        // Every id moves to the table with the new shas; the shippers are indexed again below.
        let new: Vec<&str> = changesets.iter().flatten().copied().collect();
        let (shas, remap, ids) = commits.shas.inserted(&new);
        let mut c = Commits {
            changesets: commits.changesets.clone(),
            sampled: commits.sampled.clone(),
            shas,
            branch_starts: commits.branch_starts.clone(),
            shipper: Vec::new(),
            first_reached: commits.first_reached.clone(),
        };
        c.changesets.values_mut().iter_mut().for_each(|sha| *sha = remap[*sha as usize]);
        c.branch_starts.iter_mut().for_each(|(sha, _)| *sha = remap[*sha as usize]);
        let mut names = Texts::clone(&self.names.get());
        let mut ids = ids.into_iter();
        for (((appendix, changeset), samples), team) in appendices.iter().zip(changesets).zip(all_samples).zip(teams) {
            let Appendix { deployment: d, walked, reverts, .. } = appendix;
            let revert_at = changeset.iter().position(|sha| reverts.contains(*sha));
            let changeset_ids: Vec<ShaId> = ids.by_ref().take(changeset.len()).collect();
            s.push(&mut c, &mut names, d, d.finished_at?, team, changeset_ids, samples, revert_at);
            for sha in walked.iter().map(|(sha, _)| sha.as_str()).chain(d.commits.iter().map(|c| c.sha.as_str())) {
                s.reach.insert(sha);
            }
        }
        c.index_shippers();
        Some(s.kept(c, names))
    }

    /// These shipments without the deployments from index `k` on, and their ids, in order:
    /// exactly what a build of the first `k` would give, but for the teams and the [`Reach`],
    /// which keep what the dropped deployments named (a superset is what both need: the
    /// deployments appended again name the same teams, and a reach may answer "maybe" too
    /// often, never too rarely). `None` for `k == 0` (the first deployment's reach is what
    /// every changeset starts from) or past the last.
    pub(crate) fn truncated(&self, k: usize) -> Option<(Self, Vec<String>)> {
        if k == 0 || k >= self.len() {
            return None;
        }
        let commits = self.commits.get();
        let names = self.names();
        let dropped = (k..self.len()).map(|i| names.id(i).to_owned()).collect();
        let mut s = self.clone();
        s.finished_at.truncate(k);
        s.team.truncate(k);
        s.own_rework.truncate(k);
        s.reverts.retain(|&(i, _)| (i as usize) < k);
        s.lead_times.truncate(k);
        let rollbacks = s.rollbacks.partition_point(|&i| (i as usize) < k);
        s.rollbacks.truncate(rollbacks);
        s.rolled_back.truncate(rollbacks);
        let mut kept_names = Texts::clone(&names.0);
        kept_names.truncate(2 * k);

        let mut changesets = commits.changesets.clone();
        changesets.truncate(k);
        let entries = changesets.values().len();
        let mut sampled = commits.sampled.clone();
        sampled.truncate(entries.div_ceil(64));
        if let Some(last) = sampled.last_mut().filter(|_| !entries.is_multiple_of(64)) {
            *last &= (1 << (entries % 64)) - 1;
        }
        let mut keep = vec![false; commits.shas.len()];
        changesets.values().iter().for_each(|&sha| keep[sha as usize] = true);
        let (shas, remap) = commits.shas.retained(&keep);
        changesets.values_mut().iter_mut().for_each(|sha| *sha = remap[*sha as usize].expect("a kept changeset's sha is kept"));
        let branch_starts = commits.branch_starts.iter().filter_map(|&(sha, at)| Some((remap[sha as usize]?, at))).collect();
        let mut c = Commits { changesets, sampled, shas, branch_starts, shipper: Vec::new(), first_reached: commits.first_reached.clone() };
        c.index_shippers();
        Some((s.kept(c, kept_names), dropped))
    }

    /// Adds a deployment after the last one: its columns, its id and version to `names`, its
    /// changeset (ids in `commits.shas`) and the lead-time sample of each commit of it (`None`
    /// for none).
    #[expect(clippy::too_many_arguments, reason = "one deployment's columns, each given once")]
    fn push(
        &mut self,
        commits: &mut Commits,
        names: &mut Texts,
        d: &Deployment,
        finished_at: Millis,
        team: u32,
        changeset: Vec<ShaId>,
        samples: Vec<Option<Millis>>,
        revert_at: Option<usize>,
    ) {
        let index = self.len() as u32;
        commits.push(changeset, samples.iter().map(Option::is_some));
        self.lead_times.push(samples.into_iter().flatten());
        names.push(&d.id);
        names.push(d.version.as_deref().unwrap_or_default());
        self.finished_at.push(finished_at);
        self.team.push(team);
        self.own_rework.push(own_reason(d, revert_at.is_some()));
        if let Some(at) = revert_at {
            self.reverts.push((index, at as u32));
        }
        if let Some(rolled_back) = &d.rollback_of {
            self.rollbacks.push(index);
            self.rolled_back.push(rolled_back);
        }
    }

    /// How many deployments there are.
    pub(crate) fn len(&self) -> usize {
        self.finished_at.len()
    }

    /// The deployments' ids and versions, read from where they are kept (see [`crate::spill`]):
    /// a reader of several holds them once.
    pub(crate) fn names(&self) -> Names {
        Names(self.names.get())
    }

    /// Deployment `i`'s id.
    pub(crate) fn id(&self, i: usize) -> String {
        self.names().id(i).to_owned()
    }

    /// Whether a deployment that finished at `finished_at` with id `id` comes after the last
    /// one, in finish order then id; never for the first. The last id is read only on a tie.
    pub(crate) fn finish_after_last(&self, finished_at: Millis, id: &str) -> bool {
        let Some(last) = self.len().checked_sub(1) else { return false };
        let last_at = self.finished_at[last];
        finished_at > last_at || (finished_at == last_at && id > self.names().id(last))
    }

    /// The id of the deployment that deployment `i` rolls back.
    pub(crate) fn rollback_of(&self, i: usize) -> Option<&str> {
        let k = self.rollbacks.binary_search(&(i as u32)).ok()?;
        Some(self.rolled_back.get(k as u32)).filter(|s| !s.is_empty())
    }

    /// The index of deployment `id`. The ids are read only when one has its hash.
    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        let hash = id_hash(id);
        let from = self.by_hash.partition_point(|&(h, _)| h < hash);
        let mut matching = self.by_hash[from..].iter().take_while(|&&(h, _)| h == hash).map(|&(_, i)| i as usize).peekable();
        matching.peek()?;
        let names = self.names();
        matching.find(|&i| names.id(i) == id)
    }

    /// The commits, when these shipments may hold `sha` (see [`Reach`]): read only then.
    pub(crate) fn commits_with(&self, sha: &str) -> Option<std::sync::Arc<Commits>> {
        self.reach.may_hold(sha).then(|| self.commits.get())
    }

    /// The indexes of the deployments that finished in `[from, to)`.
    pub(crate) fn finished_in(&self, from: Millis, to: Millis) -> std::ops::Range<usize> {
        let start = self.finished_at.partition_point(|&f| f < from);
        let end = self.finished_at.partition_point(|&f| f < to).max(start);
        start..end
    }

    /// The lead-time samples of the deployments `range`, as one run.
    pub(crate) fn lead_times_of(&self, range: std::ops::Range<usize>) -> Run<'_> {
        self.lead_times.of(range)
    }

    /// The bytes held, part by part, in the order of `Analysis::footprint`'s names: in memory
    /// (capacities, not lengths), then the bytes of the commits in the spill file.
    pub(crate) fn heap_bytes(&self) -> ([usize; 7], usize) {
        let vec = |capacity: usize, size: usize| capacity * size;
        let ([shas, changesets, shipper, sampled], spilled) = self.commits.bytes(Commits::heap_bytes);
        let (names, names_spilled) = self.names.bytes(Texts::heap_bytes);
        let memory = [
            shas,
            changesets,
            shipper,
            self.lead_times.heap_bytes() + sampled,
            names + self.rolled_back.heap_bytes(),
            vec(self.finished_at.capacity(), 8)
                + vec(self.team.capacity(), 4)
                + self.own_rework.capacity()
                + vec(self.reverts.capacity(), 8)
                + vec(self.by_hash.capacity(), 8)
                + vec(self.rollbacks.capacity(), 4),
            self.reach.heap_bytes(),
        ];
        (memory, spilled + names_spilled)
    }
}

impl Codec for Shipments {
    // The fields in the order they were written before the commits were kept apart, so that a
    // snapshot reads the same either way.
    fn encode(&self, out: &mut Vec<u8>) {
        // Every field, so that a field added later does not compile until it is written here
        // (and `snapshot::FORMAT` changes).
        let Self { names, finished_at, team, own_rework, reverts, lead_times, by_hash: _, rollbacks, rolled_back, teams, reach, commits } = self;
        let commits = commits.get();
        let Commits { changesets, sampled, shas, branch_starts, shipper, first_reached } = commits.as_ref();
        // The ids' hashes are made again from the ids when they are read back.
        names.get().encode(out);
        finished_at.encode(out);
        team.encode(out);
        own_rework.encode(out);
        reverts.encode(out);
        changesets.encode(out);
        lead_times.encode(out);
        sampled.encode(out);
        shas.encode(out);
        branch_starts.encode(out);
        shipper.encode(out);
        rollbacks.encode(out);
        rolled_back.encode(out);
        teams.encode(out);
        reach.encode(out);
        first_reached.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let mut c = Commits::default();
        let names: Texts = Codec::decode(input)?;
        let mut s = Self { finished_at: Codec::decode(input)?, team: Codec::decode(input)?, own_rework: Codec::decode(input)?, reverts: Codec::decode(input)?, ..Self::default() };
        c.changesets = Codec::decode(input)?;
        s.lead_times = Codec::decode(input)?;
        c.sampled = Codec::decode(input)?;
        c.shas = Codec::decode(input)?;
        c.branch_starts = Codec::decode(input)?;
        c.shipper = Codec::decode(input)?;
        s.rollbacks = Codec::decode(input)?;
        s.rolled_back = Codec::decode(input)?;
        s.teams = Codec::decode(input)?;
        s.reach = Codec::decode(input)?;
        c.first_reached = Codec::decode(input)?;
        // What the part's readers index by: one entry a deployment in every column, ids within
        // their tables.
        let count = s.len();
        let (shas, deployment, teams) = (c.shas.len(), |i: &u32| (*i as usize) < count, s.teams.len());
        let fits = names.len() == 2 * count
            && s.rolled_back.len() == s.rollbacks.len()
            && [s.team.len(), s.own_rework.len(), c.changesets.len(), s.lead_times.len()].iter().all(|&n| n == count)
            && c.sampled.len() == c.changesets.values().len().div_ceil(64)
            && c.changesets.values().iter().all(|&sha| (sha as usize) < shas)
            && c.branch_starts.iter().all(|&(sha, _)| (sha as usize) < shas)
            && c.shipper.len() == shas
            && c.shipper.iter().all(|i| *i == u32::MAX || deployment(i))
            && s.rollbacks.iter().chain(s.reverts.iter().map(|(i, _)| i)).all(deployment)
            && s.team.iter().all(|&t| t == NO_TEAM || (t as usize) < teams);
        if !fits {
            return Err(invalid("columns"));
        }
        Ok(s.kept(c, names))
    }
}

/// The lead-time sample of each commit of a changeset, in changeset order: `None` for a commit
/// with no known start or a sample that is not positive (dropped by the definition).
fn lead_times(finished_at: Millis, changeset: &[ShaId], listed: &[Listed], graph: &CommitGraph, pr_first_commit: &HashMap<ShaId, Millis>) -> Vec<Option<Millis>> {
    let explicit: HashMap<ShaId, Millis> = listed.iter().filter_map(|c| Some((c.sha, c.committed_at?))).collect();
    changeset
        .iter()
        .map(|&sha| {
            let committed = graph.committed_at(sha).or_else(|| explicit.get(&sha).copied());
            sample(finished_at, committed, pr_first_commit.get(&sha).copied())
        })
        .collect()
}

/// The lead-time sample in milliseconds of a commit shipped at `finished_at`: from its start, the
/// earlier of its commit time and the start of the branch of the pull request merged as it;
/// `None` with no start, or when not positive (dropped by the definition).
fn sample(finished_at: Millis, committed: Option<Millis>, branch_start: Option<Millis>) -> Option<Millis> {
    let start = match (committed, branch_start) {
        (Some(c), Some(b)) => c.min(b),
        (c, b) => c.or(b)?,
    };
    let sample = finished_at - start;
    (sample > 0).then_some(sample)
}
