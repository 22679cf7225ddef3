//! Window summaries already computed, kept with the analysis that computed them and carried to
//! the next one for as long as nothing they count has changed.
//!
//! A year of weekly buckets over every service reads millions of lead-time samples, and Grafana
//! asks for it again on every refresh. As facts arrive, nearly all of them land in the newest
//! bucket: an advanced analysis keeps every bucket that ends before the earliest time at which
//! a changed service's facts differ (see `Analysis::updated`), and computes only the others.
//! A bucket is kept by its exact bounds, so the clipped first and last buckets of a window that
//! ends "now" are computed each time.
//!
//! Bounded: past [`MOST`] values, the least recently used go first. Values are meant to be
//! cheap to clone (an `Arc`): each advance clones every value it carries.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::model::Millis;

/// Most values kept, over every key.
const MOST: usize = 4_096;

/// A window's bounds, `[start, end)`.
type Window = (Millis, Millis);

/// One key's values by window, each with its last use.
type Values<V> = HashMap<Window, (V, u64)>;

/// Values by key (a scope and its bands) and window.
#[derive(Debug)]
pub(crate) struct Memo<K, V> {
    state: Mutex<State<K, V>>,
}

#[derive(Debug)]
struct State<K, V> {
    /// Counts lookups: a value's last use is the count when it was last looked up.
    clock: u64,
    /// Few keys (a dashboard's scopes), each with its windows.
    keys: Vec<(K, Values<V>)>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { state: Mutex::new(State { clock: 0, keys: Vec::new() }) }
    }
}

impl<K: PartialEq + Clone, V: Clone> Memo<K, V> {
    /// The value of each of `windows` under `key`: kept, or made by `make` (outside the lock, so
    /// readers do not wait for each other) and kept.
    pub(crate) fn values(&self, key: &K, windows: &[Window], make: impl Fn(Window) -> V) -> Vec<V> {
        let kept: Vec<Option<V>> = {
            let mut state = self.lock();
            state.clock += 1;
            let clock = state.clock;
            match state.keys.iter_mut().find(|(k, _)| k == key) {
                Some((_, values)) => windows
                    .iter()
                    .map(|w| {
                        values.get_mut(w).map(|(value, used)| {
                            *used = clock;
                            value.clone()
                        })
                    })
                    .collect(),
                None => vec![None; windows.len()],
            }
        };
        let made: Vec<(Window, V)> = windows.iter().zip(&kept).filter(|(_, k)| k.is_none()).map(|(&w, _)| (w, make(w))).collect();
        if made.is_empty() {
            return kept.into_iter().flatten().collect();
        }
        let mut values = Vec::with_capacity(windows.len());
        let mut fresh = made.iter();
        for k in kept {
            match k {
                Some(value) => values.push(value),
                None => values.extend(fresh.next().map(|(_, v)| v.clone())),
            }
        }
        self.lock().insert(key, made);
        values
    }

    /// A memo holding the values whose key and window `keeps` says are still right.
    pub(crate) fn carried(&self, keeps: impl Fn(&K, Window) -> bool) -> Self {
        let state = self.lock();
        let keys: Vec<(K, Values<V>)> = state
            .keys
            .iter()
            .map(|(key, values)| (key.clone(), values.iter().filter(|(w, _)| keeps(key, **w)).map(|(w, v)| (*w, v.clone())).collect::<Values<V>>()))
            .filter(|(_, values)| !values.is_empty())
            .collect();
        Self { state: Mutex::new(State { clock: state.clock, keys }) }
    }

    /// The values held, each as `bytes` counts it.
    pub(crate) fn bytes(&self, bytes: impl Fn(&V) -> usize) -> usize {
        self.lock().keys.iter().flat_map(|(_, values)| values.values()).map(|(v, _)| bytes(v)).sum()
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // A value is inserted whole or not at all: what a panicking holder left is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: PartialEq + Clone, V> State<K, V> {
    /// Keeps `made` under `key`, then drops the least recently used values past [`MOST`].
    fn insert(&mut self, key: &K, made: Vec<(Window, V)>) {
        let clock = self.clock;
        let at = match self.keys.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.keys.push((key.clone(), HashMap::new()));
                self.keys.len() - 1
            }
        };
        let values = &mut self.keys[at].1;
        values.extend(made.into_iter().map(|(window, value)| (window, (value, clock))));
        if self.keys.iter().map(|(_, values)| values.len()).sum::<usize>() > MOST {
            self.evict(MOST * 3 / 4);
        }
    }

    /// Drops the least recently used values until `keep` are left.
    fn evict(&mut self, keep: usize) {
        let mut uses: Vec<(u64, usize, Window)> =
            self.keys.iter().enumerate().flat_map(|(k, (_, values))| values.iter().map(move |(w, (_, used))| (*used, k, *w))).collect();
        let cut = uses.len().saturating_sub(keep);
        if cut == 0 {
            return;
        }
        uses.select_nth_unstable_by_key(cut - 1, |&(used, ..)| used);
        for &(_, k, window) in &uses[..cut] {
            self.keys[k].1.remove(&window);
        }
        self.keys.retain(|(_, values)| !values.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_kept_value_is_not_made_again_and_a_new_window_or_key_is() {
        let memo: Memo<&str, i64> = Memo::default();
        let made = Cell::new(0);
        let make = |(start, end): Window| {
            made.set(made.get() + 1);
            end - start
        };
        assert_eq!(memo.values(&"all", &[(0, 10), (10, 30)], make), vec![10, 20]);
        assert_eq!(made.get(), 2);
        assert_eq!(memo.values(&"all", &[(0, 10), (10, 30), (30, 35)], make), vec![10, 20, 5]);
        assert_eq!(made.get(), 3, "only the new window is made");
        assert_eq!(memo.values(&"team", &[(0, 10)], make), vec![10]);
        assert_eq!(made.get(), 4, "another key's values are its own");
    }

    #[test]
    fn carried_keeps_only_what_the_rule_keeps() {
        let memo: Memo<&str, i64> = Memo::default();
        memo.values(&"all", &[(0, 10), (10, 20), (20, 30)], |(s, _)| s);
        memo.values(&"web", &[(0, 10), (10, 20)], |(s, _)| s);
        // A change at 15 in a service both keys hold: windows ending after it go.
        let next = memo.carried(|_, (_, end)| end <= 15);
        let made = Cell::new(Vec::new());
        let make = |(s, _): Window| {
            made.set([made.take(), vec![s]].concat());
            s
        };
        assert_eq!(next.values(&"all", &[(0, 10), (10, 20), (20, 30)], make), vec![0, 10, 20]);
        assert_eq!(next.values(&"web", &[(0, 10), (10, 20)], make), vec![0, 10]);
        assert_eq!(made.take(), vec![10, 20, 10]);
        assert_eq!(memo.bytes(|_| 1), 5, "the memo carried from is left as it was");
    }

    #[test]
    fn past_the_bound_the_least_recently_used_values_go_first() {
        let memo: Memo<u8, i64> = Memo::default();
        let windows: Vec<Window> = (0..MOST as i64).map(|i| (i, i + 1)).collect();
        memo.values(&0, &windows, |(s, _)| s);
        // The first window is used again, so it is the most recent; one more window overflows.
        memo.values(&0, &windows[..1], |_| unreachable!("kept"));
        memo.values(&1, &[(0, 1)], |(s, _)| s);
        assert_eq!(memo.bytes(|_| 1), MOST * 3 / 4);
        memo.values(&0, &windows[..1], |_| unreachable!("the most recently used are kept"));
        memo.values(&1, &[(0, 1)], |_| unreachable!("the newest is kept"));
    }
}
