//! Change tracking for incremental checkpoints: which (key, namespace)
//! slots of a table were touched since the last capture.
//!
//! The synchronous part of a checkpoint then visits only the changed slots
//! instead of the whole table. Every mutable access of the
//! [`KeyGroupedStore`](crate::store::KeyGroupedStore) notes its slot here,
//! so no write path of any table can forget to.
//!
//! A capture is copy-on-write. Starting one swaps the set of touched slots
//! for an empty one and encodes nothing, so the synchronous part of a
//! checkpoint is O(1) whatever the state's size. The slots are encoded
//! later, in bounded slices between record batches; a slot that is about to
//! change before its turn is encoded first, as it was when the capture
//! started. The capture therefore holds the state of the barrier, while the
//! records after the barrier are processed without waiting for it.

use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::canonical::DeltaEntry;
use crate::codec::CodecError;
use crate::hash::{slot_hash, stable_hash};
use crate::key_group::KeyGroup;
use crate::store::Slot;
use crate::ttl::{StateTtl, TtlUpdate};

/// Called with a slot the first time it changes after a capture, before
/// the change: appends the stored keys the slot held (for tables that store
/// several entries per slot, so that a capture can write tombstones for
/// the ones that are gone by then).
pub(crate) type Memo<K, N, C> =
    Arc<dyn Fn(KeyGroup, &Slot<K, N, C>, &mut Vec<Vec<u8>>) + Send + Sync>;

/// Called by a map table with each user key a map held before its first
/// change in a period: appends that entry's stored key.
pub type UserKeyMemo<K, N, UK> =
    Arc<dyn Fn(KeyGroup, &K, &N, &UK, &mut Vec<Vec<u8>>) + Send + Sync>;

/// Appends the delta entries of the slot of (key, ns) in key group `kg`:
/// its canonical entries, or a tombstone when the slot (`None`) is gone
/// and the table stores the slot under one key.
pub(crate) type SlotEncoder<K, N, C> = Arc<
    dyn Fn(KeyGroup, &K, &N, Option<&Slot<K, N, C>>, &mut Vec<DeltaEntry>) -> Result<(), CodecError>
        + Send
        + Sync,
>;

/// Whether reads restart the TTL: such tables cannot track changes, since
/// a read updates an expiry through a shared reference.
pub(crate) fn reads_restart_ttl(ttl: Option<StateTtl>) -> bool {
    ttl.is_some_and(|t| t.update == TtlUpdate::OnReadAndWrite)
}

/// A dirty table keeps at most this many slots' capacity after a capture,
/// so one capture of a huge first checkpoint does not pin its memory.
const KEPT_CAPACITY_MAX: usize = 1 << 16;

/// A capture in progress.
#[derive(Clone)]
pub(crate) struct Capture<K, N> {
    /// Slots of the capture: those at buckets from `bucket` on are not
    /// encoded yet. It never grows once the capture started, so bucket
    /// indices stay valid while it drains. Encoded slots stay in it: a
    /// removal leaves a tombstone, and a set emptied by removals makes
    /// every lookup of an absent slot probe the whole table.
    pub(crate) pending: HashTable<(KeyGroup, K, N)>,
    /// The next bucket of `pending` to encode.
    pub(crate) bucket: usize,
    /// Encoded entries not handed out yet (slots copied before a change).
    pub(crate) out: Vec<DeltaEntry>,
    /// Stored keys the captured slots held at the previous capture (only
    /// for tables with a memo): tombstones, which a value of the same key
    /// outranks once the delta is sorted.
    pub(crate) before: Vec<Vec<u8>>,
    /// The first slot that could not be encoded; the capture fails with it.
    pub(crate) error: Option<CodecError>,
}

impl<K, N> Capture<K, N> {
    fn copy<C>(
        &mut self,
        encode: &SlotEncoder<K, N, C>,
        kg: KeyGroup,
        key: &K,
        ns: &N,
        slot: Option<&Slot<K, N, C>>,
    ) {
        encode_slot(encode, &mut self.error, kg, key, ns, slot, &mut self.out);
    }
}

/// Appends the delta entries of a slot to `out`; a slot that cannot be
/// encoded leaves its error in `error` (the first one wins) and the capture
/// goes on, to fail once complete.
pub(crate) fn encode_slot<K, N, C>(
    encode: &SlotEncoder<K, N, C>,
    error: &mut Option<CodecError>,
    kg: KeyGroup,
    key: &K,
    ns: &N,
    slot: Option<&Slot<K, N, C>>,
    out: &mut Vec<DeltaEntry>,
) {
    if let Err(e) = encode(kg, key, ns, slot, out) {
        error.get_or_insert(e);
    }
}

/// The slots touched since the last capture, and the capture in progress.
///
/// A restore into a table with nothing noted makes every slot count as
/// touched until the next capture, and notes nothing: the first capture
/// after a restore is the whole table anyway, and noting each of millions
/// of restored keys in `dirty` cost a fifth of a heap restore (perf, 10 M
/// keys). A table filled by records notes each key as usual, so its first
/// capture starts in O(1) like every other.
pub(crate) struct ChangeTracker<K, N, C> {
    dirty: HashTable<(KeyGroup, K, N)>,
    memo: Option<Memo<K, N, C>>,
    before: Vec<Vec<u8>>,
    /// Restored since the last capture: every slot of the table is a change.
    everything: bool,
    pub(crate) encode: SlotEncoder<K, N, C>,
    pub(crate) capture: Option<Box<Capture<K, N>>>,
}

impl<K: Clone, N: Clone, C> Clone for ChangeTracker<K, N, C> {
    fn clone(&self) -> Self {
        Self {
            dirty: self.dirty.clone(),
            memo: self.memo.clone(),
            before: self.before.clone(),
            everything: self.everything,
            encode: self.encode.clone(),
            capture: self.capture.clone(),
        }
    }
}

impl<K, N, C> std::fmt::Debug for ChangeTracker<K, N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeTracker")
            .field("dirty", &self.dirty.len())
            .field("before", &self.before.len())
            .field("capturing", &self.capture.is_some())
            .finish()
    }
}

impl<K, N, C> ChangeTracker<K, N, C>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
{
    pub(crate) fn new(memo: Option<Memo<K, N, C>>, encode: SlotEncoder<K, N, C>) -> Self {
        Self {
            dirty: HashTable::new(),
            memo,
            before: Vec::new(),
            everything: false,
            encode,
            capture: None,
        }
    }

    /// True from a restore until the next capture: every slot is a change,
    /// and [`start_capture`](Self::start_capture) leaves listing them to
    /// the caller.
    pub(crate) fn everything(&self) -> bool {
        self.everything
    }

    /// A restored slot is about to be written: with nothing noted since
    /// the last capture, the whole table becomes the next capture's change
    /// and nothing more is noted until then; otherwise restored slots are
    /// noted as usual.
    pub(crate) fn restoring(&mut self) {
        if self.capture.is_none() && self.dirty.is_empty() && self.before.is_empty() {
            self.everything = true;
        }
    }

    pub(crate) fn rehash(d: &(KeyGroup, K, N)) -> u64 {
        slot_hash(stable_hash(&d.1), &d.2)
    }

    /// Notes that (key, ns) of key group `kg`, whose slot hash is `hash`,
    /// is about to change; `current` looks the slot up (only called for a
    /// slot not yet noted, and only when there is a memo or a capture to
    /// copy it for). True when the slot was not noted yet in this period.
    #[inline]
    pub(crate) fn note<'s>(
        &mut self,
        hash: u64,
        kg: KeyGroup,
        key: &K,
        ns: &N,
        current: impl FnOnce() -> Option<&'s Slot<K, N, C>>,
    ) -> bool
    where
        K: 's,
        N: 's,
        C: 's,
    {
        if self.everything {
            return false;
        }
        let eq = |d: &(KeyGroup, K, N)| d.1 == *key && d.2 == *ns;
        let Entry::Vacant(vacant) = self.dirty.entry(hash, eq, Self::rehash) else {
            return false;
        };
        let capture = self
            .capture
            .as_deref_mut()
            .filter(|c| c.bucket < c.pending.num_buckets() && !c.pending.is_empty());
        if self.memo.is_some() || capture.is_some() {
            let slot = current();
            // Copy-on-write: the capture keeps the slot as it was, unless
            // its turn came already.
            if let Some(c) = capture
                && let Some(index) = c.pending.find_bucket_index(hash, eq)
                && index >= c.bucket
                && let Ok(pending) = c.pending.get_bucket_entry(index)
            {
                pending.remove();
                c.copy(&self.encode, kg, key, ns, slot);
            }
            if let (Some(memo), Some(slot)) = (&self.memo, slot) {
                memo(kg, slot, &mut self.before);
            }
        }
        vacant.insert((kg, key.clone(), ns.clone()));
        true
    }

    /// How many memo keys exist, so a visit that changed nothing can be
    /// undone with [`forget`](Self::forget).
    pub(crate) fn mark(&self) -> usize {
        self.before.len()
    }

    /// Takes back the note of (key, ns) made after `mark` (a copy made for
    /// a capture stays: the slot is unchanged, so the copy is right).
    pub(crate) fn forget(&mut self, hash: u64, key: &K, ns: &N, mark: usize) {
        if let Ok(e) = self.dirty.find_entry(hash, |d| d.1 == *key && d.2 == *ns) {
            e.remove();
        }
        self.before.truncate(mark);
    }

    /// Starts a capture of everything noted since the last one, and a new
    /// period; O(1). At the first capture after a restore the pending set
    /// is empty and the caller adds every slot of the table (see
    /// [`everything`](Self::everything)). None when a capture is already in
    /// progress.
    pub(crate) fn start_capture(&mut self) -> Option<&mut Capture<K, N>> {
        if self.capture.is_some() {
            return None;
        }
        self.everything = false;
        let kept = self.dirty.len().min(KEPT_CAPACITY_MAX);
        let pending = std::mem::replace(&mut self.dirty, HashTable::with_capacity(kept));
        let capture = self.capture.insert(Box::new(Capture {
            pending,
            bucket: 0,
            out: Vec::new(),
            before: std::mem::take(&mut self.before),
            error: None,
        }));
        Some(capture)
    }

    /// Approximate bytes the tracker holds.
    pub(crate) fn approx_bytes(&self) -> usize {
        let capture = self.capture.as_ref().map_or(0, |c| {
            c.pending.allocation_size()
                + c.out.capacity() * size_of::<DeltaEntry>()
                + c.before.iter().map(Vec::capacity).sum::<usize>()
        });
        self.dirty.allocation_size()
            + self.before.iter().map(Vec::capacity).sum::<usize>()
            + capture
    }
}
