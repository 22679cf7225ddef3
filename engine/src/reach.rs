//! Which shas a service's part of an analysis depends on, kept as a Bloom filter.
//!
//! A part of an analysis is made from the commits its deployments reach (through known parents),
//! the commits they list, and the pull-request branches behind their merge commits. When a commit
//! or a pull request changes, the parts whose [`Reach`] may hold its sha are rebuilt; the rest
//! are kept. A Bloom filter never says no for a sha it holds, so no part that depends on a fact
//! is ever missed; it says yes for a sha it does not hold about once in 70 000 tests (24 bits
//! and 12 probes a sha), which costs only a rebuild that was not needed. It takes 3 bytes a sha,
//! where a set of the shas themselves would take 20 or more.
//!
//! Not for: knowing what a part shipped (that is the part's own sorted sha table).

use crate::snapshot::{Codec, Reader, SnapshotError};

/// Bits kept per sha.
const BITS_PER_SHA: usize = 24;
/// Probes per sha: the number that minimizes false answers at 24 bits a sha (24 · ln 2 ≈ 16.6,
/// rounded down to keep each test cheap; 12 probes answer falsely at about 1.4 · 10⁻⁵).
const PROBES: u64 = 12;

/// A set of shas that may answer "maybe" for a sha it does not hold, and never "no" for one it
/// holds.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    bits: Vec<u64>,
}

impl Reach {
    /// The filter of `shas` (`count` of them, or about).
    pub fn of<'a>(count: usize, shas: impl IntoIterator<Item = &'a str>) -> Self {
        let words = (count.max(1) * BITS_PER_SHA).div_ceil(64);
        let mut reach = Self { bits: vec![0; words] };
        for sha in shas {
            reach.insert(sha);
        }
        reach
    }

    /// Adds `sha`. A filter sized for fewer shas than it holds answers "maybe" more often; the
    /// part it belongs to is rebuilt, and the filter sized anew, when a rare fact asks for it.
    pub fn insert(&mut self, sha: &str) {
        if self.bits.is_empty() {
            self.bits = vec![0; BITS_PER_SHA.div_ceil(64) * 64];
        }
        for bit in self.probes(sha) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether `sha` may be in the set: `false` means it surely is not.
    pub fn may_hold(&self, sha: &str) -> bool {
        !self.bits.is_empty() && self.probes(sha).all(|bit| self.bits[bit / 64] >> (bit % 64) & 1 == 1)
    }

    /// The heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.bits.capacity() * size_of::<u64>()
    }

    /// The bits `sha` sets: double hashing of one 64-bit FNV-1a hash, mixed (Kirsch–Mitzenmacher).
    fn probes(&self, sha: &str) -> impl Iterator<Item = usize> + use<> {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in sha.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let first = mix(hash);
        let step = mix(first) | 1;
        let size = (self.bits.len() * 64) as u64;
        (0..PROBES).map(move |i| (first.wrapping_add(i.wrapping_mul(step)) % size) as usize)
    }
}

impl Codec for Reach {
    fn encode(&self, out: &mut Vec<u8>) {
        self.bits.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok(Self { bits: Vec::decode(input)? })
    }
}

/// SplitMix64's finalizer: spreads FNV's weak low bits over the whole word.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sha_held_is_found_and_few_others_are() {
        let held: Vec<String> = (0..20_000u64).map(|i| format!("{:040x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect();
        let reach = Reach::of(held.len(), held.iter().map(String::as_str));
        assert!(held.iter().all(|sha| reach.may_hold(sha)), "no false no");
        let others = (0..200_000u64).filter(|i| reach.may_hold(&format!("{:040x}", i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 1))).count();
        assert!(others < 20, "{others} false yes in 200 000");
    }

    #[test]
    fn an_empty_reach_holds_nothing() {
        assert!(!Reach::default().may_hold("a"));
        assert!(!Reach::of(0, []).may_hold("a"));
    }
}
