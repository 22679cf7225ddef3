//! Percentiles with linear interpolation between closest ranks, as SQL's `PERCENTILE_CONT`.

/// The `p`-th percentile (0.0 ..= 1.0) of `values`, interpolated linearly between the two
/// closest ranks exactly as `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY v)` does in PostgreSQL.
/// Returns `None` when there are no values: a percentile of nothing is unknown, not 0.
pub fn percentile_cont(values: &[f64], p: f64) -> Option<f64> {
    percentiles_cont(values, [p]).map(|[v]| v)
}

/// [`percentile_cont`] over values already sorted ascending; `sorted` must not be empty.
pub fn percentile_cont_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = rank.ceil() as usize;
    sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower as f64)
}

/// [`percentile_cont`] of each of `ps` (ascending) by selection rather than sorting: linear in
/// the number of values, and exactly the sorted answer (the same two ranks, the same
/// arithmetic). Each selection after the first is made only among the values above the last
/// one's rank. Reorders `values`; `None` when there are none.
pub fn percentiles_cont_select<const N: usize>(values: &mut [f64], ps: [f64; N]) -> Option<[f64; N]> {
    ranks_select(values, ps).map(|ranks| ranks.map(|rank| rank.interpolate(|v| v)))
}

/// Values a percentile is taken of, read as often as it needs: a slice of them, or values kept
/// in another form (see [`crate::samples`]). Each is read as a key: a number ordered as the
/// values are, which [`Values::value`] turns into the value; only the two keys around each
/// percentile's rank are ever turned.
pub trait Values {
    /// How many there are.
    fn count(&self) -> usize;
    /// Every value's key.
    fn keys(&self) -> impl Iterator<Item = f64> + '_;
    /// The value of `key`: ascending in it. The keys of a slice are its values.
    fn value(key: f64) -> f64 {
        key
    }
}

impl Values for &[f64] {
    fn count(&self) -> usize {
        self.len()
    }

    fn keys(&self) -> impl Iterator<Item = f64> + '_ {
        self.iter().copied()
    }
}

/// [`percentile_cont`] of each of `ps` (ascending) without copying or reordering `values`:
/// exactly the sorted answer (the same two ranks, the same arithmetic), found by a radix
/// selection. One pass counts the values by the top 16 bits of their order-preserving bit
/// pattern, a second gathers only the buckets that hold a wanted rank, and the rank is selected
/// among those. A year of every service's lead times is millions of samples; this reads them
/// twice instead of copying them and selecting over the copy. `None` when there are none.
pub fn percentiles_cont<const N: usize>(values: &[f64], ps: [f64; N]) -> Option<[f64; N]> {
    percentiles_cont_of(&[values], ps)
}

/// [`percentiles_cont`] of the values of every one of `parts` together, as if they were one
/// slice: an analysis keeps each service's samples apart, and a window of every service is one
/// run of values a service.
pub fn percentiles_cont_of<V: Values, const N: usize>(parts: &[V], ps: [f64; N]) -> Option<[f64; N]> {
    /// Below this many values a copy and a selection cost less than the histogram.
    const SMALL: usize = 1 << 14;
    let len: usize = parts.iter().map(Values::count).sum();
    let keys = || parts.iter().flat_map(Values::keys);
    let ranks = if len < SMALL { ranks_select(&mut keys().collect::<Vec<f64>>(), ps) } else { ranks_radix(keys, len, ps) };
    ranks.map(|ranks| ranks.map(|rank| rank.interpolate(V::value)))
}

/// The two values closest to a percentile's rank, and how far the rank is between them.
#[derive(Clone, Copy)]
struct Rank {
    lower: usize,
    low: f64,
    high: f64,
    rank: f64,
}

impl Rank {
    /// The percentile: interpolated linearly between the two values (keys, turned into values
    /// by `value`), as `PERCENTILE_CONT` does.
    fn interpolate(self, value: impl Fn(f64) -> f64) -> f64 {
        let (low, high) = (value(self.low), value(self.high));
        low + (high - low) * (self.rank - self.lower as f64)
    }
}

/// Each of `ps`' two closest ranks among `values` by selection; reorders `values`.
fn ranks_select<const N: usize>(values: &mut [f64], ps: [f64; N]) -> Option<[Rank; N]> {
    if values.is_empty() {
        return None;
    }
    let last = (values.len() - 1) as f64;
    // Every value before `settled` is at its sorted rank or below every value from `settled` on.
    let mut settled = 0;
    Some(ps.map(|p| {
        let rank = p.clamp(0.0, 1.0) * last;
        let lower = rank.floor() as usize;
        let upper = rank.ceil() as usize;
        debug_assert!(lower + 1 >= settled, "ps ascending");
        if lower >= settled {
            values[settled..].select_nth_unstable_by(lower - settled, f64::total_cmp);
            settled = lower + 1;
        }
        let low = values[lower];
        // The next rank up is the least value above the selected one.
        let high = if upper == lower { low } else { values[lower + 1..].iter().copied().min_by(f64::total_cmp).unwrap_or(low) };
        Rank { lower, low, high, rank }
    }))
}

/// Each of `ps`' two closest ranks among the `len` values `values` yields, by a radix
/// selection (see [`percentiles_cont`]); `values` is read twice.
fn ranks_radix<I: Iterator<Item = f64>, const N: usize>(values: impl Fn() -> I, len: usize, ps: [f64; N]) -> Option<[Rank; N]> {
    const BUCKETS: usize = 1 << 16;
    if len == 0 {
        return None;
    }
    // The bits of a float as an unsigned number in `f64::total_cmp` order.
    let key = |v: f64| {
        let bits = v.to_bits();
        if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
    };
    let bucket = |v: f64| (key(v) >> 48) as usize;
    let mut counts = vec![0u32; BUCKETS];
    for v in values() {
        counts[bucket(v)] += 1;
    }
    // Each wanted rank (the two closest to each percentile) as (bucket, rank within it).
    let last = (len - 1) as f64;
    let ranks: [(usize, usize, f64); N] = ps.map(|p| {
        let rank = p.clamp(0.0, 1.0) * last;
        (rank.floor() as usize, rank.ceil() as usize, rank)
    });
    let mut starts = Vec::with_capacity(BUCKETS);
    let mut total = 0usize;
    for &count in &counts {
        starts.push(total);
        total += count as usize;
    }
    let locate = |rank: usize| {
        let b = starts.partition_point(|&start| start <= rank) - 1;
        (b, rank - starts[b])
    };
    // Gather the values of every bucket a rank falls in.
    const NOT_WANTED: u8 = u8::MAX;
    let mut slot = vec![NOT_WANTED; BUCKETS];
    let mut gathered: Vec<Vec<f64>> = Vec::new();
    for &(lower, upper, _) in &ranks {
        for rank in [lower, upper] {
            let (b, _) = locate(rank);
            if slot[b] == NOT_WANTED {
                slot[b] = u8::try_from(gathered.len()).expect("fewer than 255 buckets: two a percentile");
                gathered.push(Vec::with_capacity(counts[b] as usize));
            }
        }
    }
    for v in values() {
        let s = slot[bucket(v)];
        if s != NOT_WANTED {
            gathered[s as usize].push(v);
        }
    }
    let mut at = |rank: usize| {
        let (b, within) = locate(rank);
        let bucket = &mut gathered[slot[b] as usize];
        *bucket.select_nth_unstable_by(within, f64::total_cmp).1
    };
    Some(ranks.map(|(lower, upper, rank)| {
        let low = at(lower);
        let high = if upper == lower { low } else { at(upper) };
        Rank { lower, low, high, rank }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_gives_exactly_the_sorted_answer() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for n in [1usize, 2, 3, 10, 101, 1_000] {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 10_000) as f64 / 7.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let ps = [0.0, 0.1, 0.5, 0.5, 0.9, 0.99, 1.0];
            let selected = percentiles_cont_select(&mut values.clone(), ps).expect("values");
            for (p, got) in ps.into_iter().zip(selected) {
                assert_eq!(got.to_bits(), percentile_cont_sorted(&sorted, p).to_bits(), "n = {n}, p = {p}");
            }
        }
    }

    #[test]
    fn the_radix_selection_gives_exactly_the_sorted_answer_without_touching_the_values() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Spread over many buckets, crowded into a few, all equal, and signed.
        let sets: [Vec<f64>; 4] = [
            (0..50_000).map(|_| (next() % 40_000_000) as f64 / 1000.0).collect(),
            (0..30_000).map(|_| 3600.0 + (next() % 7) as f64).collect(),
            vec![42.5; 20_000],
            (0..20_001).map(|_| (next() % 2_000_001) as f64 - 1_000_000.0).collect(),
        ];
        for values in sets {
            let before = values.clone();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let ps = [0.0, 0.1, 0.5, 0.5, 0.9, 0.99, 1.0];
            let got = percentiles_cont(&values, ps).expect("values");
            for (p, got) in ps.into_iter().zip(got) {
                assert_eq!(got.to_bits(), percentile_cont_sorted(&sorted, p).to_bits(), "n = {}, p = {p}", values.len());
            }
            assert_eq!(values, before, "read, not reordered");
        }
    }

    #[test]
    fn no_values_have_no_percentile() {
        assert_eq!(percentile_cont(&[], 0.5), None);
    }

    #[test]
    fn median_of_an_even_count_interpolates_between_the_middle_two() {
        assert_eq!(percentile_cont(&[4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
    }

    #[test]
    fn p90_matches_postgres_percentile_cont() {
        // SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FROM unnest('{1,2,3,4,5,6,7,8,9,10}'::float8[]) v; → 9.1
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let p90 = percentile_cont(&values, 0.9).expect("values");
        assert!((p90 - 9.1).abs() < 1e-9, "p90 was {p90}");
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        assert_eq!(percentile_cont(&[7.0], 0.9), Some(7.0));
    }
}
