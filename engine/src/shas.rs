//! The table of commit ids (shas) one history or analysis knows: each sha stored once, named
//! everywhere else by a [`ShaId`].
//!
//! A history names the same commit many times — as a commit, as each child's parent, in every
//! changeset and lead-time sample — and a `String` per use made the commit ids most of an
//! analysis's memory. [`Shas`] keeps every sha once, a Git sha (40 lowercase hex characters) as
//! its 20 bytes and any other id as its text, and hands out dense `u32` ids in the order they
//! are first seen; the commit graph, the changesets and the samples hold ids and resolve them
//! here only where a sha is shown. It does not know what a sha means: the graph is in
//! [`crate::changeset`].

use std::borrow::Cow;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::snapshot::{Codec, Reader, SnapshotError, invalid};

/// A sha's index in its [`Shas`] table.
pub type ShaId = u32;

/// The bit of an end offset that marks a sha stored as its 20 bytes.
const PACKED: u32 = 1 << 31;

/// Commit ids, each stored once, in the order they were first interned.
#[derive(Debug, Clone, Default)]
pub struct Shas {
    /// Every sha in id order: a Git sha as its 20 bytes, any other id as its UTF-8 text.
    bytes: Vec<u8>,
    /// Where each sha ends in `bytes`, with [`PACKED`] set on the Git shas; sha `i` starts where
    /// sha `i - 1` ends (0 for the first).
    ends: Vec<u32>,
    /// Every id, found by its sha's hash; the table holds only the id (4 bytes a sha), the sha
    /// itself is read from `bytes`.
    index: HashTable<ShaId>,
    /// foldhash, seeded at random for each table: a build from the history hashes millions of
    /// shas, and foldhash is built for short keys where the standard library's SipHash is not.
    hasher: RandomState,
}

/// A sha as it is stored: whether it is packed, and its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Stored<'a>(bool, &'a [u8]);

/// The 20 bytes of a Git sha, or `None` for any other id (upper case included: it is kept as
/// given, so it reads back as given).
fn pack(sha: &str) -> Option<[u8; 20]> {
    let hex = sha.as_bytes();
    if hex.len() != 40 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; 20];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

fn unpack(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [HEX[(b >> 4) as usize] as char, HEX[(b & 15) as usize] as char]).collect()
}

/// Sha `id` of a table's `bytes` and `ends`, as stored.
fn stored<'a>(bytes: &'a [u8], ends: &[u32], id: ShaId) -> Stored<'a> {
    let i = id as usize;
    let start = if i == 0 { 0 } else { (ends[i - 1] & !PACKED) as usize };
    Stored(ends[i] & PACKED != 0, &bytes[start..(ends[i] & !PACKED) as usize])
}

impl Shas {
    /// An empty table with room for about `shas` Git shas.
    pub fn with_capacity(shas: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(shas.saturating_mul(20)),
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

    /// The sha with id `id`, as it was interned.
    ///
    /// # Panics
    /// `id` is not from this table.
    pub fn sha(&self, id: ShaId) -> Cow<'_, str> {
        match stored(&self.bytes, &self.ends, id) {
            Stored(true, bytes) => Cow::Owned(unpack(bytes)),
            Stored(false, text) => Cow::Borrowed(std::str::from_utf8(text).expect("interned from a str")),
        }
    }

    /// The id of `sha`, when the table holds it.
    pub fn id(&self, sha: &str) -> Option<ShaId> {
        let packed = pack(sha);
        let key = packed.as_ref().map_or(Stored(false, sha.as_bytes()), |p| Stored(true, p));
        let hash = self.hasher.hash_one(key);
        self.index.find(hash, |&id| stored(&self.bytes, &self.ends, id) == key).copied()
    }

    /// The id of `sha`, added to the table if it is new.
    ///
    /// # Panics
    /// The table would hold more than `u32::MAX` shas or 2^31 bytes of shas.
    pub fn intern(&mut self, sha: &str) -> ShaId {
        let packed = pack(sha);
        self.intern_stored(packed.as_ref().map_or(Stored(false, sha.as_bytes()), |p| Stored(true, p)))
    }

    fn intern_stored(&mut self, key: Stored<'_>) -> ShaId {
        let Self { bytes, ends, index, hasher } = self;
        let hash = hasher.hash_one(key);
        if let Some(&id) = index.find(hash, |&id| stored(bytes, ends, id) == key) {
            return id;
        }
        let id = ShaId::try_from(ends.len()).expect("fewer than 2^32 shas");
        bytes.extend_from_slice(key.1);
        let end = u32::try_from(bytes.len()).ok().filter(|end| end & PACKED == 0).expect("fewer than 2^31 bytes of shas");
        ends.push(if key.0 { end | PACKED } else { end });
        index.insert_unique(hash, id, |&id| hasher.hash_one(stored(bytes, ends, id)));
        id
    }

    /// The shas `keep` marks (indexed by id), sorted into a table that no longer grows, and
    /// each old id's new id (`None` for the dropped ones).
    pub fn sorted(&self, keep: &[bool]) -> (SortedShas, Vec<Option<ShaId>>) {
        let kept = (0..self.len() as ShaId).filter(|&id| keep.get(id as usize).copied().unwrap_or(false));
        let (table, order) = self.sorted_of(kept);
        let mut remap = vec![None; self.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = Some(ShaId::try_from(new).expect("fewer than 2^32 shas"));
        }
        (table, remap)
    }

    /// The shas `ids` names (each once), sorted into a table that no longer grows, and the old
    /// id of each new one: new id `k` was `order[k]`. For a few shas of a large table, where a
    /// mark per sha of the table would cost more than the shas kept.
    pub fn sorted_of(&self, ids: impl IntoIterator<Item = ShaId>) -> (SortedShas, Vec<ShaId>) {
        let mut packed: Vec<(&[u8], ShaId)> = Vec::new();
        let mut text: Vec<(&[u8], ShaId)> = Vec::new();
        for id in ids {
            let Stored(is_packed, bytes) = stored(&self.bytes, &self.ends, id);
            if is_packed { &mut packed } else { &mut text }.push((bytes, id));
        }
        packed.sort_unstable();
        text.sort_unstable();
        let order = packed.iter().chain(&text).map(|&(_, old)| old).collect();
        let table = SortedShas {
            packed: packed.iter().map(|(bytes, _)| <[u8; 20]>::try_from(*bytes).expect("a packed sha is 20 bytes")).collect(),
            text: text.iter().map(|(bytes, _)| std::str::from_utf8(bytes).expect("interned from a str").into()).collect(),
        };
        (table, order)
    }

    /// The heap bytes the table holds: its bytes, offsets and index (capacities, not lengths).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * size_of::<u32>() + self.index.allocation_size()
    }

    /// Gives back the spare capacity of a table that will not grow any more.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        let Self { bytes, ends, index, hasher } = self;
        index.shrink_to_fit(|&id| hasher.hash_one(stored(bytes, ends, id)));
    }
}

/// The shas an analysis keeps once it is built, sorted: the Git shas as 20 bytes each, then
/// any other ids as text; a sha's id is its place in that order, and a sha is found by binary
/// search. A table that no longer grows needs neither the offsets nor the hash index of
/// [`Shas`], which at five million shas were a third of its memory.
#[derive(Debug, Clone, Default)]
pub struct SortedShas {
    /// The Git shas, ascending: ids `0..packed.len()`.
    packed: Vec<[u8; 20]>,
    /// Every other id, ascending: ids from `packed.len()` on.
    text: Vec<Box<str>>,
}

impl SortedShas {
    /// How many shas the table holds; ids run from 0 to this, exclusive.
    pub fn len(&self) -> usize {
        self.packed.len() + self.text.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sha with id `id`, as it was interned.
    ///
    /// # Panics
    /// `id` is not from this table.
    pub fn sha(&self, id: ShaId) -> Cow<'_, str> {
        let i = id as usize;
        match self.packed.get(i) {
            Some(bytes) => Cow::Owned(unpack(bytes)),
            None => Cow::Borrowed(&self.text[i - self.packed.len()]),
        }
    }

    /// The id of `sha`, when the table holds it.
    pub fn id(&self, sha: &str) -> Option<ShaId> {
        let found = match pack(sha) {
            Some(packed) => self.packed.binary_search(&packed).ok()?,
            None => self.packed.len() + self.text.binary_search_by(|t| t.as_bytes().cmp(sha.as_bytes())).ok()?,
        };
        Some(found as ShaId)
    }

    /// The table with only the shas `keep` marks (indexed by id), and each old id's new id
    /// (`None` for the dropped ones). Ids keep their order.
    pub fn retained(&self, keep: &[bool]) -> (SortedShas, Vec<Option<ShaId>>) {
        let kept = |id: usize| keep.get(id).copied().unwrap_or(false);
        let mut remap = Vec::with_capacity(self.len());
        let mut table = SortedShas::default();
        for (id, sha) in self.packed.iter().enumerate() {
            remap.push(kept(id).then_some(table.packed.len() as ShaId));
            if kept(id) {
                table.packed.push(*sha);
            }
        }
        for (j, sha) in self.text.iter().enumerate() {
            let id = self.packed.len() + j;
            remap.push(kept(id).then_some((table.packed.len() + table.text.len()) as ShaId));
            if kept(id) {
                table.text.push(sha.clone());
            }
        }
        (table, remap)
    }

    /// The table with `new` shas (none of them in it already) added, each old id's new id, and
    /// the new shas' ids, in the order given. Ids keep their order, so sorted lists of ids stay
    /// sorted once renumbered.
    pub fn inserted(&self, new: &[&str]) -> (SortedShas, Vec<ShaId>, Vec<ShaId>) {
        let mut packed: Vec<[u8; 20]> = new.iter().filter_map(|sha| pack(sha)).collect();
        let mut text: Vec<Box<str>> = new.iter().filter(|sha| pack(sha).is_none()).map(|sha| Box::<str>::from(*sha)).collect();
        packed.sort_unstable();
        packed.dedup();
        text.sort_unstable();
        text.dedup();
        // Each old entry moves up by the new ones that sort before it.
        let before_packed = |old: &[u8; 20]| packed.partition_point(|p| p < old);
        let before_text = |old: &str| text.partition_point(|t| t.as_ref() < old);
        let packed_len = self.packed.len() + packed.len();
        let mut remap = Vec::with_capacity(self.len());
        for (i, old) in self.packed.iter().enumerate() {
            remap.push((i + before_packed(old)) as ShaId);
        }
        for (j, old) in self.text.iter().enumerate() {
            remap.push((packed_len + j + before_text(old)) as ShaId);
        }
        let mut table = SortedShas { packed: Vec::with_capacity(packed_len), text: Vec::with_capacity(self.text.len() + text.len()) };
        table.packed.extend(self.packed.iter().chain(&packed).copied());
        table.packed.sort_unstable();
        table.text.extend(self.text.iter().chain(&text).cloned());
        table.text.sort_unstable();
        let ids = new.iter().map(|sha| table.id(sha).expect("an inserted sha is in the table")).collect();
        (table, remap, ids)
    }

    /// The heap bytes the table holds (capacities, not lengths).
    pub fn heap_bytes(&self) -> usize {
        self.packed.capacity() * 20 + self.text.capacity() * size_of::<Box<str>>() + self.text.iter().map(|t| t.len()).sum::<usize>()
    }
}

impl Codec for SortedShas {
    fn encode(&self, out: &mut Vec<u8>) {
        self.packed.encode(out);
        self.text.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let (packed, text) = (Vec::<[u8; 20]>::decode(input)?, Vec::<Box<str>>::decode(input)?);
        // Found by binary search: both halves strictly ascending.
        if !packed.windows(2).all(|w| w[0] < w[1]) || !text.windows(2).all(|w| w[0] < w[1]) {
            return Err(invalid("shas"));
        }
        Ok(Self { packed, text })
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
        assert_eq!((shas.sha(a), shas.sha(b)), ("aaaa".into(), "bb".into()));
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
            assert_eq!((id as usize, shas.sha(id)), (i, format!("{i:040x}").into()));
            assert_eq!(shas.id(&format!("{i:040x}")), Some(id));
        }
    }

    #[test]
    fn a_git_sha_takes_twenty_bytes_and_other_ids_read_back_exactly_as_given() {
        let git = "0123456789abcdef0123456789abcdef01234567";
        let upper = git.to_uppercase();
        let mut shas = Shas::default();
        let (g, u, short) = (shas.intern(git), shas.intern(&upper), shas.intern("0123"));
        assert_eq!(shas.bytes.len(), 20 + 40 + 4, "only the lowercase Git sha is packed");
        assert_eq!((shas.sha(g), shas.sha(u), shas.sha(short)), (git.into(), upper.clone().into(), "0123".into()));
        assert_eq!((shas.id(git), shas.id(&upper), shas.id("0123"), shas.id(&git[..39])), (Some(g), Some(u), Some(short), None));
        // A 20-character id is text even though a packed sha is 20 bytes long.
        let twenty = shas.intern("abcdefghijklmnopqrst");
        assert_eq!((shas.sha(twenty), shas.id("abcdefghijklmnopqrst")), ("abcdefghijklmnopqrst".into(), Some(twenty)));
    }

    #[test]
    fn sorted_keeps_the_marked_shas_in_order_and_finds_each_by_search() {
        let git = |i: u64| format!("{:040x}", i * 0xabc_def);
        let mut shas = Shas::default();
        for sha in ["zeta", &git(7), "Alpha", &git(3), &git(5), "beta"] {
            shas.intern(sha);
        }
        let (sorted, remap) = shas.sorted(&[true, true, true, false, true, true]);
        // Git shas first, ascending, then the other ids, ascending by their bytes.
        assert_eq!(remap, vec![Some(4), Some(1), Some(2), None, Some(0), Some(3)]);
        let read: Vec<String> = (0..sorted.len() as ShaId).map(|id| sorted.sha(id).into_owned()).collect();
        assert_eq!(read, [git(5), git(7), "Alpha".into(), "beta".into(), "zeta".into()]);
        for (id, sha) in read.iter().enumerate() {
            assert_eq!(sorted.id(sha), Some(id as ShaId), "{sha} is found under its own id");
        }
        assert_eq!((sorted.id(&git(3)), sorted.id("gamma"), sorted.id(&git(7).to_uppercase())), (None, None, None));
    }
}
