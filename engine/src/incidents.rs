//! One service's incidents as an analysis keeps them: columns, not an [`Incident`] each.
//!
//! Summaries read an incident's opening and resolution, attribution its named deployment or
//! commit, and pages its texts. An [`Incident`] holds eight `String`s, two of which (service and
//! environment) every incident of a part shares; at the full size that was 22 MB for 64 000
//! incidents. [`Incidents`] keeps the times as numbers and the six texts of each incident one
//! after another in one buffer, and makes an [`Incident`] where one is asked for.

use std::ops::Range;

use crate::model::{Incident, Millis};
use crate::texts::Texts;

/// Texts kept for each incident, in this order: its id, severity, title, url, named deployment
/// and named commit.
const TEXTS: u32 = 6;
/// The bit of [`Incidents::given`] that says text `t` of an incident is given; the id always is.
const fn given_bit(t: u32) -> u8 {
    1 << t
}

/// One service's incidents, ascending by opening time, then id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incidents {
    opened_at: Vec<Millis>,
    resolved_at: Vec<Option<Millis>>,
    /// Which of each incident's optional texts are given (an empty one is kept apart from none).
    given: Vec<u8>,
    /// Incident `j`'s texts are `TEXTS * j ..`, in the order of [`TEXTS`].
    texts: Texts,
}

impl Incidents {
    /// `incidents`, put in order.
    pub(crate) fn new(mut incidents: Vec<Incident>) -> Self {
        incidents.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        let count = incidents.len();
        let mut kept = Self {
            opened_at: Vec::with_capacity(count),
            resolved_at: Vec::with_capacity(count),
            given: Vec::with_capacity(count),
            texts: Texts::with_capacity(TEXTS as usize * count, incidents.iter().map(text_bytes).sum()),
        };
        for i in &incidents {
            kept.opened_at.push(i.opened_at);
            kept.resolved_at.push(i.resolved_at);
            kept.texts.push(&i.id);
            let mut given = 0;
            for (t, text) in (1..).zip(optional_texts(i)) {
                kept.texts.push(text.map_or("", String::as_str));
                given |= if text.is_some() { given_bit(t) } else { 0 };
            }
            kept.given.push(given);
        }
        kept
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.opened_at.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.opened_at.is_empty()
    }

    /// When incident `j` opened.
    pub(crate) fn opened_at(&self, j: usize) -> Millis {
        self.opened_at[j]
    }

    /// When incident `j` was resolved.
    pub(crate) fn resolved_at(&self, j: usize) -> Option<Millis> {
        self.resolved_at[j]
    }

    /// When each opened and was resolved, in order.
    pub(crate) fn times(&self) -> impl Iterator<Item = (Millis, Option<Millis>)> + '_ {
        self.opened_at.iter().copied().zip(self.resolved_at.iter().copied())
    }

    /// The incidents that opened in `[from, to)`.
    pub(crate) fn opened_in(&self, from: Millis, to: Millis) -> Range<usize> {
        let start = self.opened_at.partition_point(|&o| o < from);
        start..self.opened_at.partition_point(|&o| o < to).max(start)
    }

    /// Incident `j`'s id.
    pub(crate) fn id(&self, j: usize) -> &str {
        self.text(j, 0).unwrap_or_default()
    }

    /// The deployment incident `j` names as its cause.
    pub(crate) fn deployment_id(&self, j: usize) -> Option<&str> {
        self.text(j, 4)
    }

    /// The commit incident `j` names as its cause.
    pub(crate) fn commit_sha(&self, j: usize) -> Option<&str> {
        self.text(j, 5)
    }

    /// Where incident `id` is.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        (0..self.len()).find(|&j| self.id(j) == id)
    }

    /// Incident `j` whole, of `service` in `environment` (what every incident of a part shares).
    pub(crate) fn get(&self, j: usize, service: &str, environment: &str) -> Incident {
        let text = |t: u32| self.text(j, t).map(str::to_owned);
        Incident {
            id: self.id(j).to_owned(),
            service: service.to_owned(),
            environment: environment.to_owned(),
            opened_at: self.opened_at[j],
            resolved_at: self.resolved_at[j],
            severity: text(1),
            title: text(2),
            url: text(3),
            deployment_id: text(4),
            commit_sha: text(5),
        }
    }

    /// Text `t` of incident `j`, when it is given.
    fn text(&self, j: usize, t: u32) -> Option<&str> {
        (t == 0 || self.given[j] & given_bit(t) != 0).then(|| self.texts.get(TEXTS * j as u32 + t))
    }

    /// The heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.opened_at.capacity() * size_of::<Millis>() + self.resolved_at.capacity() * size_of::<Option<Millis>>() + self.given.capacity() + self.texts.heap_bytes()
    }
}

/// An incident's optional texts, in the order of [`TEXTS`] after its id.
fn optional_texts(i: &Incident) -> [Option<&String>; 5] {
    [i.severity.as_ref(), i.title.as_ref(), i.url.as_ref(), i.deployment_id.as_ref(), i.commit_sha.as_ref()]
}

/// The bytes of an incident's texts.
fn text_bytes(i: &Incident) -> usize {
    i.id.len() + optional_texts(i).iter().flatten().map(|s| s.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: &str, opened_at: Millis) -> Incident {
        Incident::opened(id, "api", opened_at, None)
    }

    #[test]
    fn incidents_come_back_whole_in_opening_order_with_an_empty_text_apart_from_none() {
        let named = Incident { resolved_at: Some(900), title: Some(String::new()), url: Some("https://x/1".into()), deployment_id: Some("api-3".into()), ..incident("b", 100) };
        let commit = Incident { severity: Some("sev1".into()), commit_sha: Some("abc".into()), ..incident("a", 100) };
        let kept = Incidents::new(vec![incident("c", 50), named.clone(), commit.clone()]);
        assert_eq!((kept.len(), kept.id(0), kept.id(1), kept.id(2)), (3, "c", "a", "b"), "by opening, then id");
        assert_eq!((kept.get(1, "api", "production"), kept.get(2, "api", "production")), (commit, named));
        assert_eq!((kept.deployment_id(2), kept.commit_sha(1), kept.deployment_id(0)), (Some("api-3"), Some("abc"), None));
        assert_eq!((kept.opened_in(50, 100), kept.opened_in(51, 101), kept.position("b")), (0..1, 1..3, Some(2)));
        assert_eq!(kept.times().collect::<Vec<_>>(), [(50, None), (100, None), (100, Some(900))]);
    }
}
