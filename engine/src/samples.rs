//! Lead-time samples, four bytes each, read back exactly.
//!
//! A lead-time sample is a whole, positive number of milliseconds (a deployment's finish less
//! a commit's start), shown in seconds. An analysis of a million deployments holds about five
//! million of them: 40 MB as `f64`. [`LeadTimes`] keeps each in a `u32`:
//! - below 2^31 ms (24.8 days), the milliseconds;
//! - a whole number of seconds below 2^31 s, the seconds with the top bit set;
//! - any other (longer than 24.8 days and not whole seconds), a 0 — no sample is 0 ms, the
//!   definition drops those — with the milliseconds kept aside.
//!
//! Every sample reads back as the same milliseconds, so every number made of them is exactly
//! the one the `f64` seconds gave (see [`Run`]).

use std::ops::Range;

use crate::flat::Flat;
use crate::model::Millis;
use crate::percentile::Values;
use crate::snapshot::{Codec, Reader, SnapshotError, invalid};

/// The bit that marks a kept sample as whole seconds rather than milliseconds.
const SECONDS: u32 = 1 << 31;
/// The kept sample of one that did not fit: its milliseconds are in `LeadTimes::wide`.
const WIDE: u32 = 0;

/// One list of lead-time samples per deployment, in finish order, so that the samples of a run
/// of deployments (a window's) are one [`Run`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LeadTimes {
    /// Each sample packed into four bytes (see the module).
    lists: Flat<u32>,
    /// The samples that did not fit, as (their position in `lists`' values, their
    /// milliseconds), ascending: one for each [`WIDE`] there, in order.
    wide: Vec<(u32, Millis)>,
}

impl LeadTimes {
    /// Empty, with room for `lists` lists.
    pub(crate) fn with_capacity(lists: usize) -> Self {
        Self { lists: Flat::with_capacity(lists, 0), wide: Vec::new() }
    }

    /// Adds the next deployment's samples, in milliseconds.
    ///
    /// # Panics
    /// A sample is not positive (the definition keeps none that is not).
    pub(crate) fn push(&mut self, millis: impl IntoIterator<Item = Millis>) {
        let first = self.lists.values().len();
        let mut wide = Vec::new();
        self.lists.push(millis.into_iter().enumerate().map(|(k, ms)| {
            assert!(ms > 0, "a lead-time sample is positive");
            let packed = pack(ms);
            if packed == WIDE {
                wide.push((u32::try_from(first + k).expect("fewer than 2^32 samples"), ms));
            }
            packed
        }));
        self.wide.extend(wide);
    }

    /// Keeps the samples of the first `lists` deployments.
    pub(crate) fn truncate(&mut self, lists: usize) {
        if lists < self.len() {
            let end = self.lists.range(lists).start as u32;
            self.lists.truncate(lists);
            self.wide.retain(|&(position, _)| position < end);
        }
    }

    /// How many lists there are: one a deployment.
    pub(crate) fn len(&self) -> usize {
        self.lists.len()
    }

    /// The samples of the deployments `range`, one after another.
    pub(crate) fn of(&self, range: Range<usize>) -> Run<'_> {
        let values = if range.is_empty() { 0..0 } else { self.lists.range(range.start).start..self.lists.range(range.end - 1).end };
        let at = |position: usize| self.wide.partition_point(|&(p, _)| (p as usize) < position);
        Run { packed: &self.lists.values()[values.clone()], wide: &self.wide[at(values.start)..at(values.end)] }
    }

    /// Gives back the spare capacity once nothing more will be pushed.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.lists.shrink_to_fit();
        self.wide.shrink_to_fit();
    }

    /// The heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.lists.heap_bytes() + self.wide.capacity() * size_of::<(u32, Millis)>()
    }
}

/// `ms` in four bytes, or [`WIDE`] when it does not fit.
fn pack(ms: Millis) -> u32 {
    match u32::try_from(ms) {
        Ok(small) if small < SECONDS => small,
        _ if ms % 1_000 == 0 => u32::try_from(ms / 1_000).ok().filter(|&s| s < SECONDS).map_or(WIDE, |s| s | SECONDS),
        _ => WIDE,
    }
}

impl Codec for LeadTimes {
    fn encode(&self, out: &mut Vec<u8>) {
        self.lists.encode(out);
        self.wide.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let (lists, wide) = (Flat::<u32>::decode(input)?, Vec::<(u32, Millis)>::decode(input)?);
        // Exactly one wide sample for each marker, at its position.
        let markers = lists.values().iter().enumerate().filter(|&(_, &p)| p == WIDE).map(|(k, _)| k);
        if !markers.eq(wide.iter().map(|&(p, _)| p as usize)) || wide.iter().any(|&(_, ms)| pack(ms) != WIDE || ms <= 0) {
            return Err(invalid("lead-time samples"));
        }
        Ok(Self { lists, wide })
    }
}

/// The samples of consecutive deployments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    packed: &'a [u32],
    /// The milliseconds of the [`WIDE`] ones among `packed`, in order.
    wide: &'a [(u32, Millis)],
}

impl<'a> Run<'a> {
    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        self.packed.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// Each sample's milliseconds, in order.
    pub(crate) fn millis(self) -> impl Iterator<Item = Millis> + 'a {
        let mut wide = self.wide.iter().map(|&(_, ms)| ms);
        self.packed.iter().map(move |&p| match p {
            WIDE => wide.next().expect("one wide sample for each marker"),
            p if p & SECONDS != 0 => Millis::from(p & !SECONDS) * 1_000,
            p => Millis::from(p),
        })
    }

    /// Each sample in seconds, in order.
    pub(crate) fn seconds(self) -> impl Iterator<Item = f64> + 'a {
        self.millis().map(|ms| seconds(ms as f64))
    }
}

/// A sample's seconds from its milliseconds (held exactly in an `f64`).
fn seconds(millis: f64) -> f64 {
    millis / 1_000.0
}

/// Percentiles read the milliseconds, exact in an `f64` and ordered as the seconds are, and
/// turn only the values they pick into seconds: the same numbers as the seconds themselves
/// give, without a division a sample.
impl Values for Run<'_> {
    fn count(&self) -> usize {
        self.len()
    }

    fn keys(&self) -> impl Iterator<Item = f64> + '_ {
        self.millis().map(|ms| ms as f64)
    }

    fn value(key: f64) -> f64 {
        seconds(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::percentile::percentiles_cont_of;
    use crate::snapshot::{decode, encode};

    /// Milliseconds of each kind: below 2^31, whole seconds above it, and the three that do not
    /// fit (not whole seconds, 2^31 seconds, neither).
    const KINDS: [Millis; 7] = [1, 1_500, 2_147_483_647, 3_000_000_000, 2_147_483_649, 2_147_483_648_000, 3_000_000_000_001];

    #[test]
    fn every_sample_reads_back_as_its_milliseconds_and_its_seconds() {
        let mut times = LeadTimes::with_capacity(3);
        times.push(KINDS[..2].iter().copied());
        times.push([]);
        times.push(KINDS[2..].iter().copied());
        assert_eq!(times.wide.len(), 3, "three of them do not fit in four bytes");
        assert_eq!(times.of(0..3).millis().collect::<Vec<_>>(), KINDS);
        assert_eq!(times.of(2..3).millis().collect::<Vec<_>>(), KINDS[2..]);
        assert_eq!((times.of(1..2).len(), times.of(3..3).is_empty()), (0, true));
        let exact: Vec<u64> = KINDS.iter().map(|&ms| (ms as f64 / 1000.0).to_bits()).collect();
        assert_eq!(times.of(0..3).seconds().map(f64::to_bits).collect::<Vec<_>>(), exact);
    }

    #[test]
    fn percentiles_of_runs_are_those_of_the_seconds() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut times = LeadTimes::with_capacity(40);
        for _ in 0..40 {
            times.push((0..1_000).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                1 + (state % 5_000_000_000) as Millis
            }));
        }
        let runs = [times.of(0..25), times.of(25..40)];
        let seconds: Vec<f64> = runs.iter().flat_map(|r| r.seconds()).collect();
        let ps = [0.5, 0.9];
        let of_seconds = percentiles_cont_of(&[seconds.as_slice()], ps).expect("samples");
        let of_runs = percentiles_cont_of(&runs, ps).expect("samples");
        assert_eq!(of_runs.map(f64::to_bits), of_seconds.map(f64::to_bits));
    }

    #[test]
    fn a_snapshot_reads_back_the_same_samples_and_refuses_a_marker_without_its_value() {
        let mut times = LeadTimes::with_capacity(1);
        times.push(KINDS);
        let read: LeadTimes = decode(&encode(&times)).expect("valid");
        assert_eq!(read.of(0..1).millis().collect::<Vec<_>>(), KINDS);
        let broken = LeadTimes { lists: times.lists.clone(), wide: times.wide[..1].to_vec() };
        assert!(decode::<LeadTimes>(&encode(&broken)).is_err());
    }
}
