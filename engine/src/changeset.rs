//! Changesets: which commits each deployment shipped, walked through the commit graph.
//!
//! The changeset of deployment D of a (service, environment) is every commit reachable from
//! D's commit through known parents that is not reachable from the commit of any earlier
//! successful deployment of the same (service, environment), plus the commits D lists
//! explicitly; each commit counts once per (service, environment), at the first deployment that
//! shipped it. The first known deployment counts only its explicit list: we cannot know what was
//! live before it. Reachable sets are closed under "parent of", so one walk that stops at commits
//! already live visits each commit once per (service, environment).

use std::collections::{HashMap, HashSet};

use crate::model::{Deployment, Millis};

/// What the graph knows of one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitNode {
    /// When it was committed, when the commit itself is known.
    pub committed_at: Option<Millis>,
    /// Its parents.
    pub parents: Vec<String>,
}

/// The commit graph: commit id → what is known of it.
pub type CommitGraph = HashMap<String, CommitNode>;

/// The changesets of the deployments of one (service, environment), in the order given, which
/// must be ascending by finish time (ties broken by id).
pub fn changesets(deployments: &[&Deployment], graph: &CommitGraph) -> Vec<Vec<String>> {
    let mut live: HashSet<&str> = HashSet::new();
    let mut counted: HashSet<&str> = HashSet::new();
    let mut result = Vec::with_capacity(deployments.len());
    for (position, deployment) in deployments.iter().enumerate() {
        // An explicit commit that an earlier deployment already put live was shipped then, even
        // when it was not counted (the first deployment counts only its own list).
        let explicit: Vec<&str> = deployment
            .commits
            .iter()
            .map(|c| c.sha.as_str())
            .filter(|sha| !live.contains(sha))
            .collect();
        let reached = walk_new(deployment.commit_sha.as_deref(), graph, &mut live);
        let candidates = if position == 0 { Vec::new() } else { reached };
        let mut changeset = Vec::new();
        for sha in candidates.into_iter().chain(explicit) {
            live.insert(sha);
            if counted.insert(sha) {
                changeset.push(sha.to_owned());
            }
        }
        result.push(changeset);
    }
    result
}

/// Walks from `head` through parents, never entering a commit already in `live`, adds what it
/// finds to `live` and returns it (head first, then breadth first).
fn walk_new<'g>(head: Option<&'g str>, graph: &'g CommitGraph, live: &mut HashSet<&'g str>) -> Vec<&'g str> {
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
        for parent in graph.get(sha).map(|n| n.parents.as_slice()).unwrap_or_default() {
            if live.insert(parent.as_str()) {
                found.push(parent.as_str());
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
        edges
            .iter()
            .map(|(sha, parents)| {
                let node = CommitNode { committed_at: Some(0), parents: parents.iter().map(|p| p.to_string()).collect() };
                (sha.to_string(), node)
            })
            .collect()
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
        let g = graph(&[("a", &[]), ("b", &["a"])]);
        let d = [deploy("d1", "b", &["b"])];
        assert_eq!(changesets(&d.iter().collect::<Vec<_>>(), &g), vec![vec!["b".to_string()]]);
    }

    #[test]
    fn a_merge_ships_both_sides_of_the_branch() {
        // a ← b (main) ; a ← x ← y (branch) ; m merges b and y
        let g = graph(&[("a", &[]), ("b", &["a"]), ("x", &["a"]), ("y", &["x"]), ("m", &["b", "y"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "m", &[])];
        let sets = changesets(&d.iter().collect::<Vec<_>>(), &g);
        assert_eq!(sorted(sets[1].clone()), vec!["b", "m", "x", "y"]);
    }

    #[test]
    fn a_rollback_then_forward_deploy_counts_no_commit_twice() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "b", &[]), deploy("d3", "a", &[]), deploy("d4", "c", &[])];
        let sets = changesets(&d.iter().collect::<Vec<_>>(), &g);
        assert_eq!(sets[1], vec!["b"]);
        assert!(sets[2].is_empty());
        assert_eq!(sets[3], vec!["c"]);
    }

    #[test]
    fn an_explicit_commit_already_shipped_is_not_counted_again() {
        let g = graph(&[("a", &[]), ("b", &["a"])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "b", &[]), deploy("d3", "b", &["b"])];
        let sets = changesets(&d.iter().collect::<Vec<_>>(), &g);
        assert_eq!(sets[1], vec!["b"]);
        assert!(sets[2].is_empty());
    }

    #[test]
    fn a_commit_the_first_deployment_put_live_is_never_counted_later() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let d = [deploy("d1", "b", &[]), deploy("d2", "c", &["a", "c"])];
        let sets = changesets(&d.iter().collect::<Vec<_>>(), &g);
        assert!(sets[0].is_empty());
        assert_eq!(sets[1], vec!["c"]);
    }

    #[test]
    fn an_unknown_head_commit_is_shipped_without_parents() {
        let g = graph(&[("a", &[])]);
        let d = [deploy("d1", "a", &[]), deploy("d2", "zzz", &[])];
        assert_eq!(changesets(&d.iter().collect::<Vec<_>>(), &g)[1], vec!["zzz"]);
    }
}
