//! The table of commit ids (shas) one history or analysis knows: each sha stored once, named
//! everywhere else by a [`ShaId`].
//!
//! A history names the same commit many times — as a commit, as each child's parent, in every
//! changeset and lead-time sample — and a `String` per use made the commit ids most of an
//! analysis's memory. [`Shas`] keeps every sha in one text buffer and hands out dense `u32` ids
//! in the order they are first seen; the commit graph, the changesets and the samples hold ids
//! and resolve them here only where a sha is shown. It does not know what a sha means: the graph
//! is in [`crate::changeset`].

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// A sha's index in its [`Shas`] table.
pub type ShaId = u32;

/// Commit ids, each stored once, in the order they were first interned.
#[derive(Debug, Clone, Default)]
pub struct Shas {
    /// Every sha, one after another.
    text: String,
    /// Where each sha ends in `text`; sha `i` runs from `ends[i - 1]` (0 for the first) to `ends[i]`.
    ends: Vec<u32>,
    /// Every id, found by its sha's hash; the table holds only the id (4 bytes a sha), the sha
    /// itself is read from `text`.
    index: HashTable<ShaId>,
    hasher: RandomState,
}

/// Sha `id` of a table's `text` and `ends`.
fn sha_in<'a>(text: &'a str, ends: &[u32], id: ShaId) -> &'a str {
    let i = id as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

impl Shas {
    /// An empty table with room for about `shas` ids of 40 characters.
    pub fn with_capacity(shas: usize) -> Self {
        Self {
            text: String::with_capacity(shas.saturating_mul(40)),
            ends: Vec::with_capacity(shas),
            index: HashTable::with_capacity(shas),
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
        sha_in(&self.text, &self.ends, id)
    }

    /// The id of `sha`, when the table holds it.
    pub fn id(&self, sha: &str) -> Option<ShaId> {
        let hash = self.hasher.hash_one(sha);
        self.index.find(hash, |&id| self.sha(id) == sha).copied()
    }

    /// The id of `sha`, added to the table if it is new.
    ///
    /// # Panics
    /// The table would hold more than `u32::MAX` shas or bytes of shas.
    pub fn intern(&mut self, sha: &str) -> ShaId {
        let Self { text, ends, index, hasher } = self;
        let hash = hasher.hash_one(sha);
        if let Some(&id) = index.find(hash, |&id| sha_in(text, ends, id) == sha) {
            return id;
        }
        let id = ShaId::try_from(ends.len()).expect("fewer than 2^32 shas");
        text.push_str(sha);
        ends.push(u32::try_from(text.len()).expect("fewer than 2^32 bytes of shas"));
        index.insert_unique(hash, id, |&id| hasher.hash_one(sha_in(text, ends, id)));
        id
    }

    /// A table of only the ids `keep` marks (indexed by id), in the same order, and each old
    /// id's new id (`None` for the dropped ones).
    pub fn retain(&self, keep: &[bool]) -> (Self, Vec<Option<ShaId>>) {
        let kept = keep.iter().filter(|k| **k).count();
        let mut table = Self::with_capacity(kept);
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
        let Self { text, ends, index, hasher } = self;
        index.shrink_to_fit(|&id| hasher.hash_one(sha_in(text, ends, id)));
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
    fn many_shas_each_read_back_under_their_own_id() {
        let mut shas = Shas::with_capacity(4);
        let ids: Vec<ShaId> = (0..10_000).map(|i| shas.intern(&format!("{i:040x}"))).collect();
        shas.shrink_to_fit();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!((id as usize, shas.sha(id)), (i, format!("{i:040x}").as_str()));
            assert_eq!(shas.id(&format!("{i:040x}")), Some(id));
        }
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
