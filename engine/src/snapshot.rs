//! One service's part of an analysis as bytes, and back: what a replica stores so that the next
//! start reads the parts instead of the whole history (see `docs/scaling.md`, A cold start).
//!
//! The bytes are the part's columns one after another, little-endian, each list preceded by its
//! length, between a header (a magic word and [`FORMAT`]) and a CRC-32 of everything before it.
//! They are read back only by the same format: a change to what a part holds, or to how it is
//! made from the facts, must change [`FORMAT`], and parts of another format are not read (the
//! analysis is built from the history instead). Decoding checks every length and offset it
//! reads, so bytes that are cut short, damaged or of another format are an error, never a panic
//! or a wrong part.
//!
//! Not for: where the bytes are kept (the store's `snapshots` module) or when they are written
//! (the api's analyses).

use std::fmt;

use crate::rework::Reason;

/// The format of the bytes this build writes and reads. Change it whenever a part's columns,
/// or the way a part is made from the facts, change.
pub const FORMAT: u32 = 4;

/// What begins every encoded part.
const MAGIC: &[u8; 8] = b"pacer\0pt";

/// Why bytes are not a part this build can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(String);

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SnapshotError {}

/// A value that can be written as bytes and read back.
pub(crate) trait Codec: Sized {
    /// Appends `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`.
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError>;
}

/// `value` as bytes: the header, the value, the checksum.
pub(crate) fn encode<T: Codec>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 12);
    out.extend_from_slice(MAGIC);
    FORMAT.encode(&mut out);
    value.encode(&mut out);
    let crc = crc32fast::hash(&out);
    crc.encode(&mut out);
    out
}

/// The value `bytes` hold, when they are whole and of this build's [`FORMAT`].
///
/// # Errors
/// The bytes are cut short, damaged, of another format, or hold more than the value.
pub(crate) fn decode<T: Codec>(bytes: &[u8]) -> Result<T, SnapshotError> {
    let Some((body, crc)) = bytes.split_last_chunk::<4>() else { return Err(SnapshotError("expected a part but found fewer than 4 bytes".into())) };
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(SnapshotError("the part's checksum does not match its bytes".into()));
    }
    let mut input = Reader { bytes: body };
    if input.take(MAGIC.len())? != MAGIC {
        return Err(SnapshotError("expected a part but found other bytes".into()));
    }
    let format = u32::decode(&mut input)?;
    if format != FORMAT {
        return Err(SnapshotError(format!("expected a part of format {FORMAT} but found format {format}")));
    }
    let value = T::decode(&mut input)?;
    if !input.bytes.is_empty() {
        return Err(SnapshotError(format!("{} bytes left after the part", input.bytes.len())));
    }
    Ok(value)
}

/// Bytes being decoded, from the front.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if n > self.bytes.len() {
            return Err(SnapshotError(format!("expected {n} more bytes but found {}", self.bytes.len())));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// A list's length, checked against the bytes left: each element takes at least
    /// `min_size` bytes.
    pub(crate) fn length(&mut self, min_size: usize) -> Result<usize, SnapshotError> {
        let n = u64::decode(self)?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_size.max(1)) <= self.bytes.len() => Ok(n),
            _ => Err(SnapshotError(format!("a list of {n} elements is longer than the {} bytes left", self.bytes.len()))),
        }
    }
}

/// A failed check of a decoded value's invariant.
pub(crate) fn invalid(what: &str) -> SnapshotError {
    SnapshotError(format!("the part's {what} do not fit together"))
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
                let bytes = input.take(size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(bytes.try_into().expect("taken to size")))
            }
        }
    )*};
}
number!(u32, u64, i64, f64);

impl Codec for [u8; 20] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok(input.take(20)?.try_into().expect("taken to size"))
    }
}

impl Codec for String {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let n = input.length(1)?;
        String::from_utf8(input.take(n)?.to_vec()).map_err(|_| invalid("texts"))
    }
}

impl Codec for Box<str> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        String::decode(input).map(String::into_boxed_str)
    }
}

impl<T: Codec> Codec for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        for value in self {
            value.encode(out);
        }
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        let n = input.length(1)?;
        // Exactly `n`: a part is fixed once read, so no room to grow.
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(T::decode(input)?);
        }
        Ok(values)
    }
}

impl<A: Codec, B: Codec> Codec for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok((A::decode(input)?, B::decode(input)?))
    }
}

impl Codec for Option<Reason> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            None => 0,
            Some(Reason::Rollback) => 1,
            Some(Reason::Unplanned) => 2,
            Some(Reason::FixForward) => 3,
            Some(Reason::Revert) => 4,
        });
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
        Ok(match input.take(1)?[0] {
            0 => None,
            1 => Some(Reason::Rollback),
            2 => Some(Reason::Unplanned),
            3 => Some(Reason::FixForward),
            4 => Some(Reason::Revert),
            other => return Err(SnapshotError(format!("expected a rework reason but found {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Sample(Vec<(u32, i64)>, String, Vec<Option<Reason>>, Vec<f64>);

    impl Codec for Sample {
        fn encode(&self, out: &mut Vec<u8>) {
            self.0.encode(out);
            self.1.encode(out);
            self.2.encode(out);
            self.3.encode(out);
        }
        fn decode(input: &mut Reader<'_>) -> Result<Self, SnapshotError> {
            Ok(Self(Codec::decode(input)?, Codec::decode(input)?, Codec::decode(input)?, Codec::decode(input)?))
        }
    }

    fn sample() -> Sample {
        Sample(vec![(1, -5), (u32::MAX, i64::MAX)], "déploiement".into(), vec![None, Some(Reason::Revert)], vec![0.5, f64::MAX])
    }

    #[test]
    fn a_value_reads_back_as_it_was_written() {
        assert_eq!(decode::<Sample>(&encode(&sample())), Ok(sample()));
    }

    #[test]
    fn damaged_short_or_foreign_bytes_are_errors_not_panics() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode::<Sample>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(decode::<Sample>(&flipped).is_err(), "byte {at} flipped");
        }
        let mut other_format = bytes[..bytes.len() - 4].to_vec();
        other_format[MAGIC.len()] = FORMAT as u8 + 1;
        let crc = crc32fast::hash(&other_format);
        other_format.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode::<Sample>(&other_format).expect_err("another format").to_string(), format!("expected a part of format {FORMAT} but found format {}", FORMAT + 1));
    }

    #[test]
    fn a_length_beyond_the_bytes_is_refused_before_anything_is_allocated() {
        let mut out = Vec::new();
        u64::MAX.encode(&mut out);
        let mut input = Reader { bytes: &out };
        assert!(Vec::<u64>::decode(&mut input).is_err());
    }
}
