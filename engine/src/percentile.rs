//! Percentiles with linear interpolation between closest ranks, as SQL's `PERCENTILE_CONT`.

/// The `p`-th percentile (0.0 ..= 1.0) of `values`, interpolated linearly between the two
/// closest ranks exactly as `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY v)` does in PostgreSQL.
/// Returns `None` when there are no values: a percentile of nothing is unknown, not 0.
pub fn percentile_cont(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_cont_sorted(&sorted, p))
}

/// [`percentile_cont`] over values already sorted ascending; `sorted` must not be empty.
pub fn percentile_cont_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = rank.ceil() as usize;
    sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
