//! Changesets: which commits each deployment shipped, walked through the commit graph.
//!
//! The changeset of deployment D of a (service, environment) is every commit reachable from
//! D's commit through known parents that is not reachable from the commit of any earlier
//! successful deployment of the same (service, environment), plus the commits D lists
//! explicitly; each commit counts once per (service, environment), at the first deployment that
//! shipped it. The first known deployment counts only its explicit list: we cannot know what was
//! live before it. Reachable sets are closed under "parent of", so one walk that stops at commits
//! already live visits each commit once per (service, environment).

use std::collections::HashSet;

use crate::model::{Deployment, Millis};
use crate::shas::{ShaId, Shas};

/// The commit graph: what is known of each commit, by [`ShaId`] in the graph's own [`Shas`].
///
/// Built once with a [`GraphBuilder`], then read. Ids past the known commits (shas interned
/// later, such as a deployment's unknown head) are commits without a time or parents.
#[derive(Debug, Default)]
pub struct CommitGraph {
    shas: Shas,
    /// When each commit was committed, by id, when the commit itself is known.
    committed_at: Vec<Option<Millis>>,
    /// Where each commit's parents start in `parents`; commit `i`'s run to `first_parent[i + 1]`.
    first_parent: Vec<u32>,
    /// Every commit's parents, first parent first, commit after commit.
    parents: Vec<ShaId>,
}

impl CommitGraph {
    /// A builder with room for about `commits` commits.
    pub fn builder(commits: usize) -> GraphBuilder {
        GraphBuilder { shas: Shas::with_capacity(commits), committed_at: Vec::with_capacity(commits), edges: Vec::with_capacity(commits) }
    }

    /// The shas the graph names.
    pub fn shas(&self) -> &Shas {
        &self.shas
    }

    /// The id of `sha`, when the graph names it.
    pub fn id(&self, sha: &str) -> Option<ShaId> {
        self.shas.id(sha)
    }

    /// The id of `sha`, interned if the graph does not name it yet (as a commit it knows nothing of).
    pub fn intern(&mut self, sha: &str) -> ShaId {
        self.shas.intern(sha)
    }

    /// The sha of `id`.
    ///
    /// # Panics
    /// `id` is not from this graph.
    pub fn sha(&self, id: ShaId) -> std::borrow::Cow<'_, str> {
        self.shas.sha(id)
    }

    /// When the commit was committed, when it is known.
    pub fn committed_at(&self, id: ShaId) -> Option<Millis> {
        self.committed_at.get(id as usize).copied().flatten()
    }

    /// The commit's parents, first parent first; none when the commit is not known.
    pub fn parents(&self, id: ShaId) -> &[ShaId] {
        let i = id as usize;
        match (self.first_parent.get(i), self.first_parent.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.parents[start as usize..end as usize],
            _ => &[],
        }
    }

    /// The graph's table of shas, once the graph is no longer needed.
    pub fn into_shas(self) -> Shas {
        self.shas
    }
}

/// Collects commits and parent edges, in any order, into a [`CommitGraph`].
#[derive(Debug)]
pub struct GraphBuilder {
    shas: Shas,
    committed_at: Vec<Option<Millis>>,
    /// (child, position among its parents, parent); [`GraphBuilder::parent`] gives the
    /// position `u32::MAX`, and the build's stable sort keeps such parents in the order given.
    edges: Vec<(ShaId, u32, ShaId)>,
}

impl GraphBuilder {
    /// A known commit and when it was committed.
    pub fn commit(&mut self, sha: &str, committed_at: Millis) {
        let id = self.shas.intern(sha) as usize;
        if self.committed_at.len() <= id {
            self.committed_at.resize(id + 1, None);
        }
        self.committed_at[id] = Some(committed_at);
    }

    /// Names `sha` in the graph, known or not (a deployment's head, a branch's tip), so that it
    /// is among the graph's shas.
    pub fn name(&mut self, sha: &str) {
        self.shas.intern(sha);
    }

    /// The next parent of `sha`: a commit's parents are kept in the order they are given.
    pub fn parent(&mut self, sha: &str, parent: &str) {
        self.parent_at(sha, u32::MAX, parent);
    }

    /// The parent of `sha` at `position` (0 the first), for edges read in any order: a whole
    /// table read in its storage order rather than sorted by the database.
    pub fn parent_at(&mut self, sha: &str, position: u32, parent: &str) {
        let child = self.shas.intern(sha);
        let parent = self.shas.intern(parent);
        self.edges.push((child, position, parent));
    }

    /// The graph.
    pub fn build(self) -> CommitGraph {
        let Self { mut shas, mut committed_at, mut edges } = self;
        let nodes = shas.len();
        committed_at.resize(nodes, None);
        committed_at.shrink_to_fit();
        // By position; a stable sort keeps the parents given without one in the order given.
        edges.sort_by_key(|(child, position, _)| (*child, *position));
        let mut first_parent = Vec::with_capacity(nodes + 1);
        let mut parents = Vec::with_capacity(edges.len());
        let mut next = edges.iter().peekable();
        for id in 0..nodes {
            first_parent.push(u32::try_from(parents.len()).expect("fewer than 2^32 parent edges"));
            while let Some((_, _, parent)) = next.next_if(|(child, ..)| *child as usize == id) {
                parents.push(*parent);
            }
        }
        first_parent.push(u32::try_from(parents.len()).expect("fewer than 2^32 parent edges"));
        shas.shrink_to_fit();
        CommitGraph { shas, committed_at, first_parent, parents }
    }
}

/// A commit a deployment lists explicitly, named by its id in the [`CommitGraph`]: the form the
/// analysis reads lists in, so a history of millions of listed commits holds no `String` per
/// entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// The commit.
    pub sha: ShaId,
    /// When it was committed, as the deployment listed it (the graph's time wins when it has one).
    pub committed_at: Option<Millis>,
}

/// The changesets of the deployments of one (service, environment), each with its explicit
/// list, in the order given, which must be ascending by finish time (ties broken by id); the
/// deployments' head shas that the graph does not name yet are interned into it.
pub fn changesets(deployments: &[(&Deployment, &[Listed])], graph: &mut CommitGraph) -> Vec<Vec<ShaId>> {
    changesets_and_live(deployments, graph).0
}

/// [`changesets`], and every commit the deployments put live: all that their heads reach
/// through known parents, and what they list. What the changesets depend on, but for the times.
/// The third list is what the first deployment's head reached: live before any changeset.
pub fn changesets_and_live(deployments: &[(&Deployment, &[Listed])], graph: &mut CommitGraph) -> (Vec<Vec<ShaId>>, HashSet<ShaId>, Vec<ShaId>) {
    let mut live: HashSet<ShaId> = HashSet::new();
    let mut counted: HashSet<ShaId> = HashSet::new();
    let mut result = Vec::with_capacity(deployments.len());
    let mut first_reached = Vec::new();
    for (position, (deployment, listed)) in deployments.iter().enumerate() {
        // An explicit commit that an earlier deployment already put live was shipped then, even
        // when it was not counted (the first deployment counts only its own list).
        let explicit: Vec<ShaId> = listed.iter().map(|c| c.sha).filter(|sha| !live.contains(sha)).collect();
        let head = deployment.commit_sha.as_deref().map(|sha| graph.intern(sha));
        let reached = walk_new(head, graph, &mut live);
        let candidates = if position == 0 {
            first_reached = reached;
            Vec::new()
        } else {
            reached
        };
        let mut changeset = Vec::new();
        for sha in candidates.into_iter().chain(explicit) {
            live.insert(sha);
            if counted.insert(sha) {
                changeset.push(sha);
            }
        }
        result.push(changeset);
    }
    (result, live, first_reached)
}

/// Walks from `head` through parents, never entering a commit already in `live`, adds what it
/// finds to `live` and returns it (head first, then breadth first).
fn walk_new(head: Option<ShaId>, graph: &CommitGraph, live: &mut HashSet<ShaId>) -> Vec<ShaId> {
    let Some(head) = head else { return Vec::new() };
    let mut found = Vec::new();
    if !live.insert(head) {
        return found;
    }
    found.push(head);
    let mut next = 0;
    while next < found.len() {
        let sha = found[next];
        next += 1;
        for &parent in graph.parents(sha) {
            if live.insert(parent) {
                found.push(parent);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeploymentStatus, ShippedCommit};

    fn graph(edges: &[(&str, &[&str])]) -> CommitGraph {
        let mut graph = CommitGraph::builder(edges.len());
        for (sha, parents) in edges {
            graph.commit(sha, 0);
            for parent in *parents {
                graph.parent(sha, parent);
            }
        }
        graph.build()
    }

    /// The changesets, as shas.
    fn changesets_of(deployments: &[Deployment], graph: &mut CommitGraph) -> Vec<Vec<String>> {
        let lists: Vec<Vec<Listed>> = deployments
            .iter()
            .map(|d| d.commits.iter().map(|c| Listed { sha: graph.intern(&c.sha), committed_at: c.committed_at }).collect())
            .collect();
        let given: Vec<(&Deployment, &[Listed])> = deployments.iter().zip(&lists).map(|(d, l)| (d, l.as_slice())).collect();
        let sets = changesets(&given, graph);
        sets.into_iter().map(|set| set.into_iter().map(|id| graph.sha(id).into_owned()).collect()).collect()
    }

    fn deploy(id: &str, sha: &str, explicit: &[&str]) -> Deployment {
        Deployment {
            id: id.into(),
            service: "api".into(),
            environment: "production".into(),
            version: None,
            commit_sha: Some(sha.into()),
            status: DeploymentStatus::Success,
            started_at: None,
            finished_at: Some(0),
            commits: explicit.iter().map(|s| ShippedCommit { sha: s.to_string(), committed_at: None, authored_at: None }).collect(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url: None,
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn the_first_deployment_counts_only_its_explicit_list() {
        let mut g = graph(&[("a", &[]), ("b", &["a"])]);
        let d = [deploy("d1", "b", &["b"])];
        assert_eq!(changesets_of(&d, &mut g), vec![vec!["b".to_string()]]);
    }

    #[test]
    fn a_merge_ships_both_sides_of_the_branch() {
        // a ← b (main) ; a ← x ← y (branch) ; m merges b and y
        let mut g = graph(&[("a", &[]), ("b", &["a"]), ("x", &["a"]), ("y", &["x"]), ("m", &["b", "y"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "m", &[])];
        let sets = changesets_of(&d, &mut g);
        assert_eq!(sorted(sets[1].clone()), vec!["b", "m", "x", "y"]);
    }

    #[test]
    fn a_rollback_then_forward_deploy_counts_no_commit_twice() {
        let mut g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "b", &[]), deploy("d3", "a", &[]), deploy("d4", "c", &[])];
        let sets = changesets_of(&d, &mut g);
        assert_eq!(sets[1], vec!["b"]);
        assert!(sets[2].is_empty());
        assert_eq!(sets[3], vec!["c"]);
    }

    #[test]
    fn an_explicit_commit_already_shipped_is_not_counted_again() {
        let mut g = graph(&[("a", &[]), ("b", &["a"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "b", &[]), deploy("d3", "b", &["b"])];
        let sets = changesets_of(&d, &mut g);
        assert_eq!(sets[1], vec!["b"]);
        assert!(sets[2].is_empty());
    }

    #[test]
    fn a_commit_the_first_deployment_put_live_is_never_counted_later() {
        let mut g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let d = [deploy("d1", "b", &[]), deploy("d2", "c", &["a", "c"])];
        let sets = changesets_of(&d, &mut g);
        assert!(sets[0].is_empty());
        assert_eq!(sets[1], vec!["c"]);
    }

    #[test]
    fn parents_given_with_their_positions_in_any_order_keep_the_positions_order() {
        let mut builder = CommitGraph::builder(4);
        // As a whole table read in storage order may give them: positions out of order, and
        // one commit's parents between another's.
        builder.parent_at("m", 2, "c");
        builder.parent_at("n", 1, "b");
        builder.parent_at("m", 0, "a");
        builder.parent_at("n", 0, "c");
        builder.parent_at("m", 1, "b");
        let graph = builder.build();
        let parents = |sha: &str| graph.parents(graph.id(sha).expect("named")).iter().map(|&id| graph.sha(id).into_owned()).collect::<Vec<_>>();
        assert_eq!(parents("m"), ["a", "b", "c"]);
        assert_eq!(parents("n"), ["c", "b"]);
        assert!(parents("a").is_empty());
    }

    #[test]
    fn an_unknown_head_commit_is_shipped_without_parents() {
        let mut g = graph(&[("a", &[])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "zzz", &[])];
        assert_eq!(changesets_of(&d, &mut g)[1], vec!["zzz"]);
    }
}
