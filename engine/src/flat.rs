//! Many lists one after another in one vector, each read back by its index.
//!
//! An analysis holds a list per deployment (its changeset, its lead-time samples) and per
//! service (its deployments). A `Vec` per list costs a
//! 24-byte header and an allocation each; [`Flat`] keeps every list's values in one vector and a
//! 4-byte start offset per list, and lays consecutive lists side by side, so a run of lists is
//! one slice.

use std::ops::Range;

use crate::snapshot::{Codec, Reader, SnapshotError, invalid};

/// Lists one after another: list `i` is `values[first[i]..first[i + 1]]`.
#[derive(Debug, Clone)]
pub struct Flat<T> {
    /// Where each list starts in `values`, plus the end: one more entry than there are lists.
    first: Vec<u32>,
    /// Every list's values, list after list.
    values: Vec<T>,
}

impl<T> Default for Flat<T> {
    fn default() -> Self {
        Self { first: vec![0], values: Vec::new() }
    }
}

impl<T> Flat<T> {
    /// Empty, with room for `lists` lists of `values` values in all.
    pub fn with_capacity(lists: usize, values: usize) -> Self {
        let mut first = Vec::with_capacity(lists + 1);
        first.push(0);
        Self { first, values: Vec::with_capacity(values) }
    }

    /// Adds a list after the last one.
    ///
    /// # Panics
    /// There would be more than `u32::MAX` values.
    pub fn push(&mut self, list: impl IntoIterator<Item = T>) {
        self.values.extend(list);
        self.first.push(u32::try_from(self.values.len()).expect("fewer than 2^32 values"));
    }

    /// Adds `value` at the end of the last list.
    ///
    /// # Panics
    /// There is no list yet, or there would be more than `u32::MAX` values.
    pub fn push_to_last(&mut self, value: T) {
        assert!(!self.is_empty(), "a list to add to");
        self.values.push(value);
        *self.first.last_mut().expect("an end") = u32::try_from(self.values.len()).expect("fewer than 2^32 values");
    }

    /// Keeps the first `lists` lists (all of them, when there are fewer).
    pub fn truncate(&mut self, lists: usize) {
        if lists < self.len() {
            self.values.truncate(self.first[lists] as usize);
            self.first.truncate(lists + 1);
        }
    }

    /// How many lists there are.
    pub fn len(&self) -> usize {
        self.first.len() - 1
    }

    /// Whether there are no lists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where list `i` is in [`Flat::values`]; empty when there is no list `i`.
    pub fn range(&self, i: usize) -> Range<usize> {
        match (self.first.get(i), self.first.get(i + 1)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }

    /// List `i`; empty when there is no list `i`.
    pub fn of(&self, i: usize) -> &[T] {
        &self.values[self.range(i)]
    }

    /// Every value, list after list.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Every value, list after list, to change in place.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }

    /// Gives back the spare capacity once nothing more will be pushed.
    pub fn shrink_to_fit(&mut self) {
        self.first.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    /// The heap bytes it holds (its capacity, not its length).
    pub fn heap_bytes(&self) -> usize {
        self.first.capacity() * size_of::<u32>() + self.values.capacity() * size_of::<T>()
    }
}

impl<T: Codec> Codec for Flat<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.first.encode(out);
        self.values.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let (first, values) = (Vec::<u32>::decode(input)?, Vec::<T>::decode(input)?);
        // Lists start at 0, never run backwards, and end with the values.
        let ordered = first.first() == Some(&0) && first.windows(2).all(|w| w[0] <= w[1]) && first.last().is_some_and(|&end| end as usize == values.len());
        if !ordered {
            return Err(invalid("lists"));
        }
        Ok(Self { first, values })
    }
}

impl<T, L: IntoIterator<Item = T>> FromIterator<L> for Flat<T> {
    fn from_iter<I: IntoIterator<Item = L>>(lists: I) -> Self {
        let mut flat = Self::default();
        for list in lists {
            flat.push(list);
        }
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_back_in_order_and_a_missing_list_is_empty() {
        let flat: Flat<u32> = [vec![3, 1], vec![], vec![2]].into_iter().collect();
        assert_eq!((flat.len(), flat.of(0), flat.of(1), flat.of(2), flat.of(3)), (3, &[3, 1][..], &[][..], &[2][..], &[][..]));
        assert_eq!((flat.range(2), flat.values()), (2..3, &[3, 1, 2][..]));
    }

    #[test]
    fn a_value_pushed_to_the_last_list_extends_only_that_list() {
        let mut flat: Flat<u32> = Flat::default();
        flat.push([1]);
        flat.push([]);
        flat.push_to_last(2);
        flat.push_to_last(3);
        assert_eq!((flat.len(), flat.of(0), flat.of(1)), (2, &[1][..], &[2, 3][..]));
    }
}
