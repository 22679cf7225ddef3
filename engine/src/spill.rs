//! Values an analysis keeps out of memory: written once to a file of the process's own, read
//! back by position when they are needed, and their room given back when the last holder drops
//! them.
//!
//! What summaries and series read (finish times, lead-time samples, failures) is read on every
//! request and stays in memory. What they do not read — each service's sha table, the commits
//! each deployment shipped and which deployment shipped each commit — is read only where a page
//! shows a changeset, a new deployment is added after its service's last, an incident names a
//! commit or a pull request's stages are found. At a million deployments that is about half of
//! an analysis (BENCHMARKS.md), so it is kept here, in a [`Kept`], instead.
//!
//! The file is unlinked as soon as it is made: nothing outlives the process, and nothing else
//! reads it. It is one per process, like the allocator, because every analysis of the process
//! shares it and none has a say in where it lives; [`configure`] names its directory once, at
//! start. When it cannot be made, values stay in memory, and a warning says why.
//!
//! Not for: keeping anything across restarts (that is the snapshot in the database; see
//! [`crate::snapshot`]).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::snapshot::{Codec, decode, encode};

/// Where the spill file is made, when [`configure`] was not called: the system's temporary
/// directory.
static DIRECTORY: OnceLock<Option<PathBuf>> = OnceLock::new();
static FILE: OnceLock<Option<Arc<Spill>>> = OnceLock::new();

/// The values read back last, newest last, with their bytes in the file: kept alive so that
/// readers in a row share one read though none holds the value between them (a page naming fifty
/// deployments, a rollback decision naming each deployment of a service). At most
/// [`RECENT_BYTES`] of them.
static RECENT: Mutex<VecDeque<(Arc<dyn Any + Send + Sync>, u64)>> = Mutex::new(VecDeque::new());

/// How many bytes (as kept in the file) of values read back stay alive after their readers.
const RECENT_BYTES: u64 = 4 << 20;

/// Keeps `value`, just read back, alive among the [`RECENT`] ones.
fn remember(value: Arc<dyn Any + Send + Sync>, len: u64) {
    let mut recent = RECENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    recent.push_back((value, len));
    let mut total: u64 = recent.iter().map(|(_, len)| len).sum();
    while total > RECENT_BYTES && recent.len() > 1 {
        total -= recent.pop_front().map_or(0, |(_, len)| len);
    }
}

/// Names the directory of the process's spill file, or `None` to keep every value in memory.
/// Takes effect only before the first value is kept; returns whether it did.
pub fn configure(directory: Option<PathBuf>) -> bool {
    DIRECTORY.set(directory).is_ok() && FILE.get().is_none()
}

/// The process's spill file, made at the first call; `None` when values stay in memory.
fn file() -> Option<&'static Arc<Spill>> {
    FILE.get_or_init(|| {
        let directory = DIRECTORY.get_or_init(|| Some(std::env::temp_dir())).as_deref()?;
        match Spill::create(directory) {
            Ok(spill) => Some(Arc::new(spill)),
            Err(e) => {
                tracing::warn!(directory = %directory.display(), error = %e, "analysis spill file not made: the analysis stays in memory");
                None
            }
        }
    })
    .as_ref()
}

/// The bytes the process's spill file holds now, and the bytes it has room for (its length).
pub fn usage() -> (u64, u64) {
    file().map_or((0, 0), |f| f.extents.lock().map_or((0, 0), |e| (e.used, e.end)))
}

/// A file of values, each at its own extent.
#[derive(Debug)]
struct Spill {
    file: File,
    extents: Mutex<Extents>,
}

/// Which parts of the file are in use: everything below `end` that is not free.
#[derive(Debug, Default)]
struct Extents {
    /// Free extents, by offset; never two that touch.
    free: BTreeMap<u64, u64>,
    /// The end of the last extent in use.
    end: u64,
    /// The bytes in use.
    used: u64,
}

impl Extents {
    /// The offset of `len` bytes: the first free extent that holds them, else the end.
    fn take(&mut self, len: u64) -> u64 {
        self.used += len;
        let found = self.free.iter().find(|&(_, &free)| free >= len).map(|(&at, &free)| (at, free));
        match found {
            Some((at, free)) => {
                self.free.remove(&at);
                if free > len {
                    self.free.insert(at + len, free - len);
                }
                at
            }
            None => {
                self.end += len;
                self.end - len
            }
        }
    }

    /// Gives back `len` bytes at `at`, joined to the free extents they touch.
    fn give(&mut self, mut at: u64, mut len: u64) {
        self.used -= len;
        if let Some((&before, &before_len)) = self.free.range(..at).next_back()
            && before + before_len == at
        {
            self.free.remove(&before);
            (at, len) = (before, before_len + len);
        }
        if let Some(after_len) = self.free.remove(&(at + len)) {
            len += after_len;
        }
        if at + len == self.end {
            self.end = at;
        } else {
            self.free.insert(at, len);
        }
    }
}

impl Spill {
    /// A new, already unlinked file in `directory`.
    fn create(directory: &Path) -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = directory.join(format!(".pacer-analysis-{}-{nanos}.spill", std::process::id()));
        let file = File::options().read(true).write(true).create_new(true).open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Self { file, extents: Mutex::default() })
    }
}

/// A value kept in the spill file (or in memory, where there is none).
#[derive(Debug)]
pub(crate) struct Kept<T>(Holder<T>);

#[derive(Debug)]
enum Holder<T> {
    Memory(Arc<T>),
    /// Shared by every clone, so that its extent is given back once, when the last one drops.
    File(Arc<Extent<T>>),
}

#[derive(Debug)]
struct Extent<T> {
    spill: Arc<Spill>,
    at: u64,
    len: u64,
    /// The value as last read, while some reader still holds it or it is among the values read
    /// last ([`RECENT`]): readers in a row share one read.
    read: Mutex<Weak<T>>,
}

impl<T> Drop for Extent<T> {
    fn drop(&mut self) {
        if let Ok(mut extents) = self.spill.extents.lock() {
            extents.give(self.at, self.len);
        }
    }
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Holder::Memory(value) => Holder::Memory(Arc::clone(value)),
            Holder::File(extent) => Holder::File(Arc::clone(extent)),
        })
    }
}

impl<T: Codec + Default> Default for Kept<T> {
    fn default() -> Self {
        Self(Holder::Memory(Arc::default()))
    }
}

impl<T: Codec + Send + Sync + 'static> Kept<T> {
    /// `value`, written to the spill file; kept in memory when there is none, or the write
    /// failed (said once by a warning).
    pub(crate) fn new(value: T) -> Self {
        let Some(spill) = file() else { return Self(Holder::Memory(Arc::new(value))) };
        let bytes = encode(&value);
        let len = bytes.len() as u64;
        let at = spill.extents.lock().map(|mut e| e.take(len));
        let Ok(at) = at else { return Self(Holder::Memory(Arc::new(value))) };
        let extent = Extent { spill: Arc::clone(spill), at, len, read: Mutex::new(Weak::new()) };
        match spill.file.write_all_at(&bytes, at) {
            Ok(()) => Self(Holder::File(Arc::new(extent))),
            Err(e) => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| tracing::warn!(error = %e, "analysis spill file not written: the analysis stays in memory"));
                drop(extent);
                Self(Holder::Memory(Arc::new(value)))
            }
        }
    }

    /// The value, read back from the file when it is there.
    ///
    /// # Panics
    /// The process's own spill file no longer reads back what was written to it (the disk
    /// failed under it): what it held is lost, as memory that failed would be.
    pub(crate) fn get(&self) -> Arc<T> {
        let extent = match &self.0 {
            Holder::Memory(value) => return Arc::clone(value),
            Holder::File(extent) => extent,
        };
        let mut read = extent.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(value) = read.upgrade() {
            return value;
        }
        let mut bytes = vec![0; extent.len as usize];
        let value = extent.spill.file.read_exact_at(&mut bytes, extent.at).map_err(|e| e.to_string()).and_then(|()| decode::<T>(&bytes).map_err(|e| e.to_string()));
        let value = Arc::new(value.unwrap_or_else(|e| panic!("the analysis spill file does not read back: {e}")));
        *read = Arc::downgrade(&value);
        remember(Arc::clone(&value) as Arc<dyn Any + Send + Sync>, extent.len);
        value
    }

    /// What `heap` counts of the value when it is in memory (nothing when it is not), and the
    /// bytes it takes in the file.
    pub(crate) fn bytes<B: Default>(&self, heap: impl Fn(&T) -> B) -> (B, usize) {
        match &self.0 {
            Holder::Memory(value) => (heap(value), 0),
            Holder::File(extent) => (B::default(), extent.len as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_extents_are_joined_and_taken_again_before_the_file_grows() {
        let mut e = Extents::default();
        let (a, b, c, d) = (e.take(10), e.take(20), e.take(30), e.take(5));
        assert_eq!((a, b, c, d, e.end, e.used), (0, 10, 30, 60, 65, 65));
        e.give(b, 20);
        e.give(a, 10);
        assert_eq!(e.free.iter().map(|(&at, &len)| (at, len)).collect::<Vec<_>>(), [(0, 30)], "the two freed extents are one");
        assert_eq!(e.take(25), 0, "a value that fits goes to the first free extent");
        assert_eq!(e.take(8), 65, "one that does not goes to the end");
        e.give(d, 5);
        e.give(65, 8);
        assert_eq!((e.end, e.used), (60, 55), "freeing the last extents shortens the file");
        e.give(c, 30);
        e.give(0, 25);
        assert_eq!((e.end, e.used, e.free.len()), (0, 0, 0), "everything freed: an empty file");
    }

    #[test]
    fn without_a_spill_file_a_value_stays_in_memory_and_is_shared_by_its_clones() {
        let kept = Kept(Holder::Memory(Arc::new(vec![1u32, 2, 3])));
        assert!(Arc::ptr_eq(&kept.get(), &kept.clone().get()));
        assert_eq!(kept.bytes(|v| v.len()), (3, 0), "counted in memory, nothing in a file");
    }

    #[test]
    fn a_kept_value_reads_back_and_its_room_is_given_back_when_the_last_clone_drops() {
        let spill = Arc::new(Spill::create(&std::env::temp_dir()).expect("a spill file in the temporary directory"));
        let keep = |value: Vec<u32>| {
            let bytes = encode(&value);
            let at = spill.extents.lock().expect("not poisoned").take(bytes.len() as u64);
            spill.file.write_all_at(&bytes, at).expect("written");
            Kept::<Vec<u32>>(Holder::File(Arc::new(Extent { spill: Arc::clone(&spill), at, len: bytes.len() as u64, read: Mutex::new(Weak::new()) })))
        };
        let (a, b) = (keep((0..1000).collect()), keep(vec![7, 8, 9]));
        assert_eq!(*a.get(), (0..1000).collect::<Vec<u32>>());
        assert_eq!(*b.get(), [7, 8, 9]);
        let held = a.get();
        assert!(Arc::ptr_eq(&held, &a.get()), "a value some reader holds is not read again");
        let (clone, used) = (a.clone(), spill.extents.lock().expect("not poisoned").used);
        drop(a);
        assert_eq!(spill.extents.lock().expect("not poisoned").used, used, "a clone still holds the extent");
        assert_eq!(*clone.get(), *held);
        drop((clone, held));
        assert_eq!(spill.extents.lock().expect("not poisoned").used, b.bytes(|_| 0).1 as u64, "only the other value's bytes are in use");
    }
}
