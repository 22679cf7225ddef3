//! Many short strings in one buffer, each read back by its index.
//!
//! A `String` per value costs its 24-byte header and an allocation (another 16 bytes or more)
//! whatever its length; an analysis of a million deployments holds millions of short values —
//! deployment ids, versions, rolled-back ids — where that overhead outweighs the text. [`Texts`]
//! keeps them one after another in one buffer with a 4-byte end offset each.

use crate::snapshot::{Codec, Reader, SnapshotError, invalid};

/// Strings one after another; string `i` is [`Texts::get`]`(i)`, in the order they were pushed.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// Every string, one after another.
    text: String,
    /// Where each string ends in `text`; string `i` runs from `ends[i - 1]` (0 for the first)
    /// to `ends[i]`.
    ends: Vec<u32>,
}

impl Texts {
    /// Empty, with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> Self {
        Self { text: String::with_capacity(bytes), ends: Vec::with_capacity(strings) }
    }

    /// Adds `s` and returns its index.
    ///
    /// # Panics
    /// There would be more than `u32::MAX` strings or bytes.
    pub fn push(&mut self, s: &str) -> u32 {
        let index = u32::try_from(self.ends.len()).expect("fewer than 2^32 strings");
        self.text.push_str(s);
        self.ends.push(u32::try_from(self.text.len()).expect("fewer than 2^32 bytes of strings"));
        index
    }

    /// String `index`.
    ///
    /// # Panics
    /// `index` is not below [`Texts::len`].
    pub fn get(&self, index: u32) -> &str {
        let i = index as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Keeps the first `strings` strings (all of them, when there are fewer).
    pub fn truncate(&mut self, strings: usize) {
        if strings < self.len() {
            self.text.truncate(if strings == 0 { 0 } else { self.ends[strings - 1] as usize });
            self.ends.truncate(strings);
        }
    }

    /// How many strings there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Gives back the spare capacity once nothing more will be pushed.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// The heap bytes it holds (its capacity, not its length).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<u32>()
    }
}

impl Codec for Texts {
    fn encode(&self, out: &mut Vec<u8>) {
        self.text.encode(out);
        self.ends.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let (text, ends) = (String::decode(input)?, Vec::<u32>::decode(input)?);
        // Every string ends after the one before, inside the text, on a character boundary.
        let mut start = 0;
        for &end in &ends {
            if end < start || !text.is_char_boundary(end as usize) {
                return Err(invalid("texts"));
            }
            start = end;
        }
        Ok(Self { text, ends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_read_back_by_index_including_empty_ones() {
        let mut texts = Texts::with_capacity(1, 1);
        let indexes: Vec<u32> = ["deploy-1", "", "v1.2.3", "é"].iter().map(|s| texts.push(s)).collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
        assert_eq!((texts.get(0), texts.get(1), texts.get(2), texts.get(3)), ("deploy-1", "", "v1.2.3", "é"));
        assert_eq!(texts.len(), 4);
    }
}
