//! A small, fast, seeded pseudo-random number generator and the few distributions the history
//! needs.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state, an add and a mix per number, good
//! enough statistically for synthetic data and fully reproducible from its seed on every
//! platform. It is not for anything secret.

use pacer_engine::Millis;

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose every output follows from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[low, high)`; `low` when the range is empty.
    pub(crate) fn between(&mut self, low: Millis, high: Millis) -> Millis {
        if high <= low { low } else { low + self.below((high - low) as u64) as Millis }
    }

    /// One of `items`, uniformly.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal duration with the given median and spread, clamped to `[low, high]`: how
    /// long human work takes (mostly short, sometimes much longer).
    pub(crate) fn duration(&mut self, median: Millis, sigma: f64, low: Millis, high: Millis) -> Millis {
        let value = median as f64 * (sigma * self.normal()).exp();
        (value as Millis).clamp(low, high)
    }

    /// Poisson with the given mean (Knuth's method; a normal approximation for large means).
    pub(crate) fn poisson(&mut self, mean: f64) -> u64 {
        if mean.is_nan() || mean <= 0.0 {
            return 0;
        }
        if mean >= 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-mean).exp();
        let mut count = 0;
        let mut product = self.unit();
        while product > limit {
            count += 1;
            product *= self.unit();
        }
        count
    }

    /// 40 lowercase hex digits, shaped like a git commit id.
    pub(crate) fn sha(&mut self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut sha = String::with_capacity(40);
        for word in [self.next_u64(), self.next_u64(), self.next_u64() >> 32] {
            let digits = if sha.len() == 32 { 8 } else { 16 };
            for i in (0..digits).rev() {
                sha.push(char::from(HEX[((word >> (i * 4)) & 0xF) as usize]));
            }
        }
        sha
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_another_seed_others() {
        let take = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(take(7), take(7));
        assert_ne!(take(7), take(8));
    }

    #[test]
    fn ranges_and_shas_are_well_formed() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let x = rng.between(-5, 5);
            assert!((-5..5).contains(&x), "between(-5, 5) gave {x}");
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u), "unit gave {u}");
        }
        assert_eq!(rng.between(3, 3), 3);
        let sha = rng.sha();
        assert_eq!(sha.len(), 40, "sha {sha}");
        assert!(sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "sha {sha}");
    }

    #[test]
    fn poisson_has_about_the_asked_mean() {
        let mut rng = Rng::new(3);
        for mean in [0.5, 2.0, 45.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| rng.poisson(mean)).sum();
            let observed = total as f64 / f64::from(n);
            assert!((observed - mean).abs() < mean * 0.05, "mean {mean}: observed {observed}");
        }
    }
}
