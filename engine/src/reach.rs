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

use crate::snapshot::{Codec, Reader, SnapshotError, invalid};

/// Bits kept per sha.
const BITS_PER_SHA: usize = 24;
/// Probes per sha: the number that minimizes false answers at 24 bits a sha (24 · ln 2 ≈ 16.6,
/// rounded down to keep each test cheap; 12 probes answer falsely at about 1.4 · 10⁻⁵).
const PROBES: u64 = 12;

/// A set of shas that may answer "maybe" for a sha it does not hold, and never "no" for one it
/// holds.
///
/// A part made whole sizes its filter for the shas it depends on; a part that new deployments
/// are appended to keeps adding shas. So the filter is a list of layers (a scalable Bloom
/// filter): when the newest layer holds as many shas as it was sized for, the next sha goes to a
/// new layer twice its size. A sha may be held when every probe of it is set in one layer; each
/// layer answers falsely at the rate above, and a part grown to a thousand times its first size
/// has ten layers, so it stays near one false "maybe" in 7 000.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    layers: Vec<Layer>,
}

/// One layer of a [`Reach`]: its bits, and how many shas were put in it.
#[derive(Debug, Clone, Default)]
struct Layer {
    bits: Vec<u64>,
    held: u64,
}

impl Layer {
    /// An empty layer with room for `shas` shas.
    fn for_shas(shas: usize) -> Self {
        Self { bits: vec![0; (shas.max(1) * BITS_PER_SHA).div_ceil(64)], held: 0 }
    }

    /// How many shas it was sized for.
    fn room(&self) -> u64 {
        (self.bits.len() * 64 / BITS_PER_SHA) as u64
    }

    fn insert(&mut self, sha: &str) {
        for bit in probes(sha, self.bits.len()) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
        self.held += 1;
    }

    fn may_hold(&self, sha: &str) -> bool {
        probes(sha, self.bits.len()).all(|bit| self.bits[bit / 64] >> (bit % 64) & 1 == 1)
    }
}

impl Reach {
    /// The filter of `shas` (`count` of them, or about).
    pub fn of<'a>(count: usize, shas: impl IntoIterator<Item = &'a str>) -> Self {
        let mut reach = Self { layers: vec![Layer::for_shas(count)] };
        for sha in shas {
            reach.insert(sha);
        }
        reach
    }

    /// Adds `sha`, in a new layer twice the size of the newest when that one is full.
    pub fn insert(&mut self, sha: &str) {
        if self.layers.last().is_none_or(|newest| newest.held >= newest.room()) {
            // A first layer made by an insert has room for what a few deployments ship.
            let room = self.layers.last().map_or(170, |newest| 2 * newest.room() as usize);
            self.layers.push(Layer::for_shas(room));
        }
        if let Some(newest) = self.layers.last_mut() {
            newest.insert(sha);
        }
    }

    /// Whether `sha` may be in the set: `false` means it surely is not.
    pub fn may_hold(&self, sha: &str) -> bool {
        self.layers.iter().any(|layer| layer.may_hold(sha))
    }

    /// The heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.layers.capacity() * size_of::<Layer>() + self.layers.iter().map(|l| l.bits.capacity() * size_of::<u64>()).sum::<usize>()
    }
}

/// The bits `sha` sets in a layer of `words` words: one 64-bit FNV-1a hash, mixed once per
/// probe with the probe's number. (Double hashing, `first + i · step`, sets the same bits for
/// two shas whose `first` and `step` agree modulo the layer's size, which in a small layer
/// is far likelier than its false answers: a layer of 512 bits answered "maybe" for one sha in
/// 600 it did not hold.)
fn probes(sha: &str, words: usize) -> impl Iterator<Item = usize> + use<> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sha.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let size = (words * 64) as u64;
    (0..PROBES).map(move |i| (mix(hash ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % size) as usize)
}

impl Codec for Reach {
    fn encode(&self, out: &mut Vec<u8>) {
        self.layers.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok(Self { layers: Vec::decode(input)? })
    }
}

impl Codec for Layer {
    fn encode(&self, out: &mut Vec<u8>) {
        self.bits.encode(out);
        self.held.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let bits: Vec<u64> = Vec::decode(input)?;
        if bits.is_empty() {
            return Err(invalid("reach layers"));
        }
        Ok(Self { bits, held: u64::decode(input)? })
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
    fn a_reach_that_outgrows_its_size_keeps_its_false_answers_rare() {
        let sha = |i: u64| format!("{:040x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Sized for 20, then 20 000 more added one by one, as appended deployments add them.
        let mut reach = Reach::of(20, (0..20).map(sha).collect::<Vec<_>>().iter().map(String::as_str));
        for i in 20..20_020 {
            reach.insert(&sha(i));
        }
        assert!((0..20_020).all(|i| reach.may_hold(&sha(i))), "no false no");
        let others = (0..200_000u64).filter(|i| reach.may_hold(&format!("{:040x}", i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 1))).count();
        assert!(others < 60, "{others} false yes in 200 000");
    }

    #[test]
    fn an_empty_reach_holds_nothing() {
        assert!(!Reach::default().may_hold("a"));
        assert!(!Reach::of(0, []).may_hold("a"));
    }
}
