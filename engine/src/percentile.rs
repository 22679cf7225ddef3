//! Percentiles with linear interpolation between closest ranks, as SQL's `PERCENTILE_CONT`.

/// The `p`-th percentile (0.0 ..= 1.0) of `values`, interpolated linearly between the two
/// closest ranks exactly as `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY v)` does in PostgreSQL.
/// Returns `None` when there are no values: a percentile of nothing is unknown, not 0.
pub fn percentile_cont(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    percentiles_cont_select(&mut values.to_vec(), [p]).map(|[v]| v)
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
        low + (high - low) * (rank - lower as f64)
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
