//! PR flow (`docs/metrics.md`, "PR flow"): how many pull requests merge per week, how big they
//! are, and which ones wait for a first review right now.
//!
//! Pure functions over [`PullRequest`] facts; the store loads them and the api shapes the answer.
//! Where a merged pull request's lead time went (coding, pickup, review, deploy) is
//! [`crate::stages`], not this module.

use serde::Serialize;

use crate::calendar::{Interval, rfc3339};
use crate::model::{Millis, PullRequest};
use crate::percentile::percentile_cont;

/// The size buckets by changed lines (additions + deletions): name and the largest count in it.
pub const SIZES: [(&str, i64); 5] = [("xs", 10), ("s", 50), ("m", 250), ("l", 1_000), ("xl", i64::MAX)];

/// Merged pull requests in one week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekCount {
    /// Week start (Monday 00:00 UTC, or the window start), inclusive.
    pub from: String,
    /// Week end (the next Monday, or the window end), exclusive.
    pub to: String,
    /// Pull requests merged in it.
    pub merged: u64,
}

/// Merged pull requests of one size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeCount {
    /// `xs`, `s`, `m`, `l` or `xl`.
    pub size: &'static str,
    /// Fewest changed lines in the bucket.
    pub min_lines: i64,
    /// Most changed lines in the bucket; null for the last one.
    pub max_lines: Option<i64>,
    /// Pull requests merged in the window of this size.
    pub merged: u64,
}

/// An open pull request nobody has reviewed yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    /// Its id.
    pub id: String,
    /// Its repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its service, when known.
    pub service: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// When it was opened.
    pub opened_at: String,
    /// The same, in milliseconds.
    #[serde(skip)]
    pub opened_millis: Millis,
    /// now − opened_at.
    pub waiting_seconds: f64,
}

/// The PR flow of a window, as `GET /api/v1/prs/throughput` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    /// Window start (inclusive).
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// Pull requests merged in the window.
    pub merged: u64,
    /// merged / (window days / 7).
    pub merged_per_week: f64,
    /// Merged pull requests per week.
    pub weeks: Vec<WeekCount>,
    /// Merged pull requests by size.
    pub sizes: Vec<SizeCount>,
    /// Merged pull requests whose additions or deletions are unknown.
    pub unknown_size: u64,
    /// Median changed lines of the merged pull requests of known size; null without any.
    pub median_lines: Option<f64>,
    /// Open pull requests without a first review, longest waiting first.
    pub waiting_for_first_review: Vec<Waiting>,
}

/// The size bucket of `lines` changed lines.
pub fn size_of(lines: i64) -> &'static str {
    SIZES.iter().find(|(_, max)| lines <= *max).map_or("xl", |(name, _)| name)
}

/// The flow of the pull requests merged in `[from, to)`, and of those open at `now` without a
/// first review.
pub fn throughput(pull_requests: &[PullRequest], from: Millis, to: Millis, now: Millis) -> Throughput {
    let merged: Vec<&PullRequest> = pull_requests.iter().filter(|p| p.merged_at.is_some_and(|m| from <= m && m < to)).collect();
    let weeks = Interval::Week
        .buckets(from, to)
        .into_iter()
        .map(|(start, end)| WeekCount {
            from: rfc3339(start),
            to: rfc3339(end),
            merged: merged.iter().filter(|p| p.merged_at.is_some_and(|m| start <= m && m < end)).count() as u64,
        })
        .collect();
    let lines: Vec<i64> = merged.iter().filter_map(|p| Some(p.additions? + p.deletions?)).collect();
    let mut min_lines = 0;
    let sizes = SIZES
        .iter()
        .map(|(size, max)| {
            let count = SizeCount {
                size,
                min_lines,
                max_lines: (*max < i64::MAX).then_some(*max),
                merged: lines.iter().filter(|l| size_of(**l) == *size).count() as u64,
            };
            min_lines = max.saturating_add(1);
            count
        })
        .collect();
    let mut waiting: Vec<&PullRequest> = pull_requests
        .iter()
        .filter(|p| p.merged_at.is_none() && p.closed_at.is_none() && p.first_review_at.is_none() && p.opened_at <= now)
        .collect();
    waiting.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
    let as_f64: Vec<f64> = lines.iter().map(|l| *l as f64).collect();
    Throughput {
        from: rfc3339(from),
        to: rfc3339(to),
        merged: merged.len() as u64,
        merged_per_week: merged.len() as f64 * 7.0 * crate::model::DAY as f64 / (to - from) as f64,
        weeks,
        sizes,
        unknown_size: (merged.len() - lines.len()) as u64,
        median_lines: percentile_cont(&as_f64, 0.5),
        waiting_for_first_review: waiting
            .into_iter()
            .map(|p| Waiting {
                id: p.id.clone(),
                repository: p.repository.clone(),
                number: p.number,
                service: p.service.clone(),
                author: p.author.clone(),
                opened_at: rfc3339(p.opened_at),
                opened_millis: p.opened_at,
                waiting_seconds: (now - p.opened_at) as f64 / 1_000.0,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DAY, HOUR};

    fn pr(id: &str, opened: Millis, merged: Option<Millis>, lines: Option<(i64, i64)>) -> PullRequest {
        PullRequest {
            id: id.into(),
            repository: "acme/shop".into(),
            number: 1,
            opened_at: opened,
            service: None,
            author: None,
            first_commit_at: None,
            first_review_at: None,
            approved_at: None,
            merged_at: merged,
            closed_at: None,
            merge_commit_sha: None,
            additions: lines.map(|l| l.0),
            deletions: lines.map(|l| l.1),
            head_sha: None,
            base_sha: None,
        }
    }

    #[test]
    fn sizes_are_inclusive_at_their_upper_edge() {
        assert_eq!([size_of(0), size_of(10), size_of(11), size_of(250), size_of(1_000), size_of(1_001)], ["xs", "xs", "s", "m", "l", "xl"]);
    }

    #[test]
    fn merged_pull_requests_count_by_week_and_size_and_open_unreviewed_ones_wait() {
        // 2026-01-05 is a Monday.
        let monday = 1_767_571_200_000;
        let prs = [
            pr("a", monday, Some(monday + HOUR), Some((5, 5))),
            pr("b", monday, Some(monday + 8 * DAY), Some((40, 20))),
            pr("c", monday, Some(monday + 9 * DAY), None),
            pr("d", monday + DAY, None, None),
            pr("e", monday - DAY, Some(monday - HOUR), Some((1, 1))),
        ];
        let t = throughput(&prs, monday, monday + 14 * DAY, monday + 2 * DAY);
        assert_eq!(t.merged, 3);
        assert_eq!(t.merged_per_week, 1.5);
        assert_eq!(t.weeks.iter().map(|w| w.merged).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t.sizes.iter().map(|s| s.merged).collect::<Vec<_>>(), [1, 0, 1, 0, 0], "10 lines are xs, 60 are m");
        assert_eq!((t.sizes[1].min_lines, t.sizes[1].max_lines, t.sizes[4].max_lines), (11, Some(50), None));
        assert_eq!((t.unknown_size, t.median_lines), (1, Some(35.0)));
        assert_eq!(t.waiting_for_first_review.iter().map(|w| (w.id.as_str(), w.waiting_seconds)).collect::<Vec<_>>(), [("d", 86_400.0)]);
    }
}
