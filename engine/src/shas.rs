//! The table of commit ids (shas) one history or analysis knows: each sha stored once, named
//! everywhere else by a [`ShaId`].
//!
//! A history names the same commit many times — as a commit, as each child's parent, in every
//! changeset and lead-time sample — and a `String` per use made the commit ids most of an
//! analysis's memory. [`Shas`] keeps every sha in one text buffer and hands out dense `u32` ids
//! in the order they are first seen; the commit graph, the changesets and the samples hold ids
//! and resolve them here only where a sha is shown. It does not know what a sha means: the graph
//! is in [`crate::changeset`].

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

/// A sha's index in its [`Shas`] table.
pub type ShaId = u32;

/// Commit ids, each stored once, in the order they were first interned.
#[derive(Debug, Clone, Default)]
pub struct Shas {
    /// Every sha, one after another.
    text: String,
    /// Where each sha ends in `text`; sha `i` runs from `ends[i - 1]` (0 for the first) to `ends[i]`.
    ends: Vec<u32>,
    /// The hash of a sha → its id, for the first sha with that hash.
    index: HashMap<u64, ShaId>,
    /// The shas whose hash an earlier, different sha already has (practically never, but a
    /// 64-bit hash is not an identity).
    collided: HashMap<Box<str>, ShaId>,
    hasher: RandomState,
}

impl Shas {
    /// An empty table with room for about `shas` ids of 40 characters.
    pub fn with_capacity(shas: usize) -> Self {
        Self {
            text: String::with_capacity(shas.saturating_mul(40)),
            ends: Vec::with_capacity(shas),
            index: HashMap::with_capacity(shas),
            ..Self::default()
        }
    }

    /// How many shas the table holds; ids run from 0 to this, exclusive.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The sha with id `id`.
    ///
    /// # Panics
    /// `id` is not from this table.
    pub fn sha(&self, id: ShaId) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The id of `sha`, when the table holds it.
    pub fn id(&self, sha: &str) -> Option<ShaId> {
        let hash = self.hasher.hash_one(sha);
        let first = *self.index.get(&hash)?;
        if self.sha(first) == sha { Some(first) } else { self.collided.get(sha).copied() }
    }

    /// The id of `sha`, added to the table if it is new.
    ///
    /// # Panics
    /// The table would hold more than `u32::MAX` shas or bytes of shas.
    pub fn intern(&mut self, sha: &str) -> ShaId {
        let hash = self.hasher.hash_one(sha);
        match self.index.get(&hash) {
            Some(&first) if self.sha(first) == sha => first,
            Some(_) => match self.collided.get(sha) {
                Some(&id) => id,
                None => {
                    let id = self.push(sha);
                    self.collided.insert(sha.into(), id);
                    id
                }
            },
            None => {
                let id = self.push(sha);
                self.index.insert(hash, id);
                id
            }
        }
    }

    fn push(&mut self, sha: &str) -> ShaId {
        let id = ShaId::try_from(self.ends.len()).expect("fewer than 2^32 shas");
        self.text.push_str(sha);
        self.ends.push(u32::try_from(self.text.len()).expect("fewer than 2^32 bytes of shas"));
        id
    }

    /// A table of only the ids `keep` marks (indexed by id), in the same order, and each old
    /// id's new id (`None` for the dropped ones).
    pub fn retain(&self, keep: &[bool]) -> (Self, Vec<Option<ShaId>>) {
        let kept = keep.iter().filter(|k| **k).count();
        let mut table = Self::with_capacity(0);
        table.text.reserve_exact(kept * 40);
        table.ends.reserve_exact(kept);
        table.index.reserve(kept);
        let mut remap = Vec::with_capacity(self.len());
        for id in 0..self.len() {
            let keep = keep.get(id).copied().unwrap_or(false);
            remap.push(keep.then(|| table.intern(self.sha(id as ShaId))));
        }
        table.shrink_to_fit();
        (table, remap)
    }

    /// Gives back the spare capacity of a table that will not grow any more.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.index.shrink_to_fit();
        self.collided.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sha_interned_twice_gets_one_id_and_reads_back() {
        let mut shas = Shas::default();
        let a = shas.intern("aaaa");
        let b = shas.intern("bb");
        assert_eq!((a, b, shas.intern("aaaa")), (0, 1, 0));
        assert_eq!((shas.sha(a), shas.sha(b)), ("aaaa", "bb"));
        assert_eq!(shas.id("bb"), Some(1));
        assert_eq!(shas.id("cc"), None);
        assert_eq!(shas.len(), 2);
    }

    #[test]
    fn a_hash_collision_still_tells_the_shas_apart() {
        let mut shas = Shas::default();
        let a = shas.intern("a");
        // Force "b" into the collision path: give it the hash "a" already has.
        let hash = shas.hasher.hash_one("b");
        shas.index.insert(hash, a);
        let b = shas.intern("b");
        assert_ne!(a, b);
        assert_eq!(shas.id("b"), Some(b));
        assert_eq!(shas.intern("b"), b);
        assert_eq!(shas.sha(b), "b");
    }

    #[test]
    fn retain_keeps_the_marked_shas_in_order() {
        let mut shas = Shas::default();
        for sha in ["a", "b", "c", "d"] {
            shas.intern(sha);
        }
        let (kept, remap) = shas.retain(&[false, true, false, true]);
        assert_eq!(remap, vec![None, Some(0), None, Some(1)]);
        assert_eq!((kept.sha(0), kept.sha(1), kept.id("d"), kept.id("a")), ("b", "d", Some(1), None));
    }
}
