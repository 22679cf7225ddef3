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

/// Values a percentile is taken of, read as often as it needs: a slice of them, or values kept
/// in another form (see [`crate::samples`]). Each is read as a key: an unsigned number ordered
/// as the values are, which [`Values::value`] turns into the value; only the two keys around each
/// percentile's rank are ever turned.
pub trait Values {
    /// How many there are.
    fn count(&self) -> usize;
    /// Every value's key.
    fn keys(&self) -> impl Iterator<Item = u64> + '_;
    /// The value of `key`: ascending in it.
    fn value(key: u64) -> f64;
    /// The bucket of `key` among 2^16, ascending in it, for the radix selection. By default its
    /// top 16 bits, which suit keys spread over all 64 bits, as a float's are.
    fn bucket(key: u64) -> usize {
        (key >> 48) as usize
    }
}

impl Values for &[f64] {
    fn count(&self) -> usize {
        self.len()
    }

    fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|&v| float_key(v))
    }

    fn value(key: u64) -> f64 {
        f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
    }
}

/// The bits of a float as an unsigned number in `f64::total_cmp` order.
fn float_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

/// The bucket among 2^16 of a key that is a plain number, such as milliseconds: below 1 024 the
/// key itself, above it its octave (the place of its top bit) and the ten bits under the top
/// one. Every octave has 1 024 buckets, so a bucket is never wider than a thousandth of its
/// values, wherever the values lie; the top 16 bits would put every duration under 9 years
/// of milliseconds in the first bucket.
pub(crate) fn log_linear_bucket(key: u64) -> usize {
    if key < 1 << 10 {
        return key as usize;
    }
    let top = 63 - key.leading_zeros();
    (((top - 9) as usize) << 10) | ((key >> (top - 10)) & 0x3ff) as usize
}

/// [`percentile_cont`] of each of `ps` (ascending) without copying or reordering `values`:
/// exactly the sorted answer (the same two ranks, the same arithmetic), found by a radix
/// selection. One pass counts the values by bucket, a second gathers only the buckets that hold
/// a wanted rank, and the rank is selected among those. A year of every service's lead times is
/// millions of samples; this reads them twice instead of copying them and selecting over the
/// copy. `None` when there are none.
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
    let ranks = if len < SMALL { ranks_select(&mut keys().collect::<Vec<u64>>(), ps) } else { ranks_radix(keys, V::bucket, len, ps) };
    ranks.map(|ranks| ranks.map(|rank| rank.interpolate(V::value)))
}

/// The two keys closest to a percentile's rank, and how far the rank is between them.
#[derive(Clone, Copy)]
struct Rank {
    lower: usize,
    low: u64,
    high: u64,
    rank: f64,
}

impl Rank {
    /// The percentile: interpolated linearly between the two values (the keys turned into
    /// values by `value`), as `PERCENTILE_CONT` does.
    fn interpolate(self, value: impl Fn(u64) -> f64) -> f64 {
        let (low, high) = (value(self.low), value(self.high));
        low + (high - low) * (self.rank - self.lower as f64)
    }
}

/// Each of `ps`' two closest ranks among `keys` by selection; reorders `keys`.
fn ranks_select<const N: usize>(keys: &mut [u64], ps: [f64; N]) -> Option<[Rank; N]> {
    if keys.is_empty() {
        return None;
    }
    let last = (keys.len() - 1) as f64;
    // Every key before `settled` is at its sorted rank or below every key from `settled` on.
    let mut settled = 0;
    Some(ps.map(|p| {
        let rank = p.clamp(0.0, 1.0) * last;
        let lower = rank.floor() as usize;
        let upper = rank.ceil() as usize;
        debug_assert!(lower + 1 >= settled, "ps ascending");
        if lower >= settled {
            keys[settled..].select_nth_unstable(lower - settled);
            settled = lower + 1;
        }
        let low = keys[lower];
        // The next rank up is the least key above the selected one.
        let high = if upper == lower { low } else { keys[lower + 1..].iter().copied().min().unwrap_or(low) };
        Rank { lower, low, high, rank }
    }))
}

/// Each of `ps`' two closest ranks among the `len` keys `keys` yields, by a radix selection
/// over the buckets `bucket` puts them in (see [`percentiles_cont`]); `keys` is read twice.
fn ranks_radix<I: Iterator<Item = u64>, const N: usize>(keys: impl Fn() -> I, bucket: fn(u64) -> usize, len: usize, ps: [f64; N]) -> Option<[Rank; N]> {
    const BUCKETS: usize = 1 << 16;
    if len == 0 {
        return None;
    }
    let mut counts = vec![0u32; BUCKETS];
    for k in keys() {
        counts[bucket(k)] += 1;
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
    // Gather the keys of every bucket a rank falls in.
    const NOT_WANTED: u8 = u8::MAX;
    let mut slot = vec![NOT_WANTED; BUCKETS];
    let mut gathered: Vec<Vec<u64>> = Vec::new();
    for &(lower, upper, _) in &ranks {
        for rank in [lower, upper] {
            let (b, _) = locate(rank);
            if slot[b] == NOT_WANTED {
                slot[b] = u8::try_from(gathered.len()).expect("fewer than 255 buckets: two a percentile");
                gathered.push(Vec::with_capacity(counts[b] as usize));
            }
        }
    }
    for k in keys() {
        let s = slot[bucket(k)];
        if s != NOT_WANTED {
            gathered[s as usize].push(k);
        }
    }
    let mut at = |rank: usize| {
        let (b, within) = locate(rank);
        let bucket = &mut gathered[slot[b] as usize];
        *bucket.select_nth_unstable(within).1
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
            let selected = percentiles_cont(&values, ps).expect("values");
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
    fn log_linear_buckets_ascend_with_the_key_and_stay_below_2_to_the_16() {
        let mut keys: Vec<u64> = (0..5_000).collect();
        for shift in 10..64 {
            let octave = 1u64 << shift;
            keys.extend([octave - 1, octave, octave + 1, octave + (octave >> 10) - 1, octave + (octave >> 10)]);
        }
        keys.push(u64::MAX);
        keys.sort_unstable();
        keys.dedup();
        let buckets: Vec<usize> = keys.iter().map(|&k| log_linear_bucket(k)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "ascending");
        assert!(buckets.iter().all(|&b| b < 1 << 16));
        assert_eq!((log_linear_bucket(1023), log_linear_bucket(1024), log_linear_bucket(1025)), (1023, 1024, 1025), "exact below 2 048");
        assert_eq!(log_linear_bucket(1 << 20), log_linear_bucket((1 << 20) + 1023), "a thousandth of an octave a bucket");
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
