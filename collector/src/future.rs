//! Timestamps from the future: a fact dated beyond now plus a tolerance is refused.
//!
//! A clock far ahead (a broken sender, a typo in a year, a forged event) would put a
//! deployment or an incident where no window reaches it yet and then surface it weeks later as a
//! fact nobody saw arrive; it would also sit forever "after" every real deployment in attribution.
//! The tolerance absorbs ordinary clock skew. Every source is checked the same way, after parsing,
//! on the facts themselves, so one rule covers the native API and every webhook.

use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::model::Fact;

use crate::FieldError;

/// Every timestamp of `facts` later than `now + tolerance`, each as a problem at
/// `/<index>/<field>` (the index of the fact; for the native API, of the event).
pub fn beyond(facts: &[&Fact], now: Millis, tolerance: Millis) -> Vec<FieldError> {
    let limit = now.saturating_add(tolerance);
    let mut errors = Vec::new();
    for (index, fact) in facts.iter().enumerate() {
        for (field, at) in times(fact) {
            if at > limit {
                let detail = format!(
                    "expected a time at most {} ahead of now ({}) but found {}",
                    tolerance_text(tolerance),
                    rfc3339(now),
                    rfc3339(at)
                );
                errors.push(FieldError::new(format!("/{index}/{field}"), detail));
            }
        }
    }
    errors
}

/// Each timestamp of a fact with its field's pointer below the fact.
fn times(fact: &Fact) -> Vec<(String, Millis)> {
    let named = |pairs: &[(&str, Option<Millis>)]| -> Vec<(String, Millis)> {
        pairs.iter().filter_map(|(name, at)| at.map(|at| ((*name).to_owned(), at))).collect()
    };
    match fact {
        Fact::Deployment(d) => {
            let mut all = named(&[("started_at", d.started_at), ("finished_at", d.finished_at)]);
            for (i, c) in d.commits.iter().enumerate() {
                all.extend(named(&[("committed_at", c.committed_at), ("authored_at", c.authored_at)]).into_iter().map(|(f, at)| (format!("commits/{i}/{f}"), at)));
            }
            all
        }
        Fact::Commit(c) => named(&[("committed_at", Some(c.committed_at)), ("authored_at", c.authored_at)]),
        Fact::PullRequest(p) => named(&[
            ("opened_at", Some(p.opened_at)),
            ("first_commit_at", p.first_commit_at),
            ("first_review_at", p.first_review_at),
            ("approved_at", p.approved_at),
            ("merged_at", p.merged_at),
            ("closed_at", p.closed_at),
        ]),
        Fact::Incident(i) => named(&[("opened_at", Some(i.opened_at)), ("resolved_at", i.resolved_at)]),
        Fact::CiRun(r) => named(&[("queued_at", r.queued_at), ("started_at", Some(r.started_at)), ("finished_at", Some(r.finished_at))]),
        Fact::Sli(s) => named(&[("at", Some(s.at))]),
    }
}

/// `1 h`, `90 s`, `2 min`.
fn tolerance_text(tolerance: Millis) -> String {
    let seconds = tolerance / 1_000;
    match seconds {
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;
    use crate::native::parse_body;
    use pacer_engine::model::HOUR;

    #[test]
    fn every_timestamp_past_the_tolerance_is_named_with_its_index_and_field() {
        let now = 1_800_000_000_000;
        let body = serde_json::json!([
            {"type": "commit", "id": "a", "committed_at": rfc3339(now + HOUR / 2)},
            {"type": "deployment", "id": "d", "service": "s", "status": "success", "started_at": rfc3339(now),
             "finished_at": rfc3339(now + 2 * HOUR), "commits": [{"sha": "a", "committed_at": rfc3339(now + 3 * HOUR)}]},
        ]);
        let facts = parse_body(body.to_string().as_bytes(), false, &Normalizer::default()).expect("valid");
        let facts: Vec<&Fact> = facts.iter().map(|c| &c.fact).collect();
        let errors = beyond(&facts, now, HOUR);
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/1/finished_at", "/1/commits/0/committed_at"], "{errors:#?}");
        assert!(errors[0].detail.contains("at most 1 h ahead"), "{}", errors[0].detail);
        assert!(beyond(&facts, now, 4 * HOUR).is_empty(), "a wider tolerance accepts them");
    }
}
