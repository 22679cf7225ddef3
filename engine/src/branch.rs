//! A pull request's branch in the commit graph: when its first commit was made.
//!
//! PRODUCT.md §4: a PR's `first_commit_at`, when no sender gives it, is the earliest commit pushed
//! to the PR's head branch that is not reachable from the base branch. Given the branch's head and
//! the base's head, [`first_commit_at`] walks both histories newest first, painting each commit
//! with the heads that reach it, the way `git merge-base` does, and stops as soon as every commit
//! left to visit is reachable from the base: it visits the branch and the few base commits newer
//! than it, never the whole history.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};

use crate::changeset::CommitGraph;
use crate::model::Millis;
use crate::shas::ShaId;

/// Most commits one walk visits; a branch longer than this starts at the oldest commit seen.
pub const MAX_VISITED: usize = 100_000;

const HEAD: u8 = 1;
const BASE: u8 = 2;

/// The earliest commit time on the branch `head` that is not reachable from `base`, among the
/// commits the graph knows; `None` when there is none (the head is unknown or already in the
/// base). Commit times are trusted to grow from parent to child, as Git itself assumes.
pub fn first_commit_at(graph: &CommitGraph, head: &str, base: &str) -> Option<Millis> {
    first_commit_at_visiting(graph, head, base, |_| {})
}

/// [`first_commit_at`], telling `visit` every commit the walk depends on: the tips, and each
/// commit it looked at, known or not (a commit that becomes known may move the start).
pub fn first_commit_at_visiting(graph: &CommitGraph, head: &str, base: &str, mut visit: impl FnMut(ShaId)) -> Option<Millis> {
    let mut paint: HashMap<ShaId, u8> = HashMap::new();
    // Ties in time pop in descending sha order, as they always have.
    let mut queue: BinaryHeap<(Millis, Cow<'_, str>, ShaId)> = BinaryHeap::new();
    let mut pending_head = 0usize;
    let head = graph.id(head);
    for (sha, color) in [(head, HEAD), (graph.id(base), BASE)] {
        let Some(sha) = sha else { continue };
        visit(sha);
        let Some(at) = graph.committed_at(sha) else { continue };
        let entry = paint.entry(sha).or_default();
        *entry |= color;
        queue.push((at, graph.sha(sha), sha));
    }
    if head.and_then(|h| paint.get(&h)).is_none_or(|c| *c != HEAD) {
        return None;
    }
    pending_head += 1;
    let mut earliest: Option<Millis> = None;
    let mut visited = 0;
    // Once no queued commit is on the branch alone, every ancestor left is the base's.
    while pending_head > 0 && visited < MAX_VISITED {
        let Some((at, _, sha)) = queue.pop() else { break };
        let color = paint.get(&sha).copied().unwrap_or_default();
        if color == HEAD {
            pending_head -= 1;
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        visited += 1;
        for &parent in graph.parents(sha) {
            visit(parent);
            let Some(parent_at) = graph.committed_at(parent) else { continue };
            match paint.entry(parent) {
                Entry::Vacant(slot) => {
                    slot.insert(color);
                    queue.push((parent_at, graph.sha(parent), parent));
                    if color == HEAD {
                        pending_head += 1;
                    }
                }
                Entry::Occupied(mut slot) => {
                    let before = *slot.get();
                    let after = before | color;
                    if after != before {
                        slot.insert(after);
                        if before == HEAD {
                            // Still queued: it is no longer only on the branch.
                            pending_head -= 1;
                        }
                    }
                }
            }
        }
    }
    earliest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, Millis, &[&str])]) -> CommitGraph {
        let mut graph = CommitGraph::builder(edges.len());
        for (sha, at, parents) in edges {
            graph.commit(sha, *at);
            for parent in *parents {
                graph.parent(sha, parent);
            }
        }
        graph.build()
    }

    #[test]
    fn the_branch_starts_at_its_oldest_commit_not_on_the_base() {
        // main: a(0) ← b(5) ← c(9); branch from b: x(6) ← y(7) ← z(8)
        let g = graph(&[("a", 0, &[]), ("b", 5, &["a"]), ("c", 9, &["b"]), ("x", 6, &["b"]), ("y", 7, &["x"]), ("z", 8, &["y"])]);
        assert_eq!(first_commit_at(&g, "z", "c"), Some(6));
    }

    #[test]
    fn main_merged_into_the_branch_does_not_count_as_branch_work() {
        // main: a(0) ← b(4) ← c(5); branch x(2) from a, then merge m(6) of x and c.
        let g = graph(&[("a", 0, &[]), ("b", 4, &["a"]), ("c", 5, &["b"]), ("x", 2, &["a"]), ("m", 6, &["x", "c"])]);
        assert_eq!(first_commit_at(&g, "m", "c"), Some(2));
    }

    #[test]
    fn a_branch_whose_first_push_had_no_parent_still_has_a_start() {
        let g = graph(&[("a", 0, &[]), ("x", 3, &[]), ("y", 4, &["x"])]);
        assert_eq!(first_commit_at(&g, "y", "a"), Some(3));
    }

    #[test]
    fn a_head_already_in_the_base_or_unknown_has_no_branch() {
        let g = graph(&[("a", 0, &[]), ("b", 1, &["a"])]);
        assert_eq!(first_commit_at(&g, "a", "b"), None);
        assert_eq!(first_commit_at(&g, "b", "b"), None);
        assert_eq!(first_commit_at(&g, "zzz", "b"), None);
    }
}
