//! Change tracking for incremental checkpoints: which (key, namespace)
//! slots of a table were touched since the last capture.
//!
//! The synchronous part of a checkpoint then visits only the changed slots
//! instead of the whole table. Every mutable access of the
//! [`KeyGroupedStore`](crate::store::KeyGroupedStore) notes its slot here,
//! so no write path of any table can forget to.

use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

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

/// Whether reads restart the TTL: such tables cannot track changes, since
/// a read updates an expiry through a shared reference.
pub(crate) fn reads_restart_ttl(ttl: Option<StateTtl>) -> bool {
    ttl.is_some_and(|t| t.update == TtlUpdate::OnReadAndWrite)
}

/// A dirty table keeps at most this many slots' capacity after a capture,
/// so one capture of a huge first checkpoint does not pin its memory.
const KEPT_CAPACITY_MAX: usize = 1 << 16;

/// The slots touched since the last capture.
///
/// Until the first capture, every slot counts as touched and nothing is
/// noted: tracking starts with the table empty (before a load or a restore
/// fills it), so the first capture is the whole table anyway, and noting
/// each of millions of restored or loaded keys in `dirty` cost a fifth of
/// a heap restore (perf, 10 M keys).
pub(crate) struct ChangeTracker<K, N, C> {
    dirty: HashTable<(KeyGroup, K, N)>,
    memo: Option<Memo<K, N, C>>,
    before: Vec<Vec<u8>>,
    /// No capture yet: every slot of the table is a change.
    everything: bool,
}

/// What a capture takes from the tracker.
pub struct Changes<K, N> {
    /// Every touched slot, in no order.
    pub slots: Vec<(KeyGroup, K, N)>,
    /// Stored keys the touched slots held at the previous capture (only
    /// for tables with a memo): candidates for tombstones.
    pub before: Vec<Vec<u8>>,
}

impl<K: Clone, N: Clone, C> Clone for ChangeTracker<K, N, C> {
    fn clone(&self) -> Self {
        Self {
            dirty: self.dirty.clone(),
            memo: self.memo.clone(),
            before: self.before.clone(),
            everything: self.everything,
        }
    }
}

impl<K, N, C> std::fmt::Debug for ChangeTracker<K, N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeTracker")
            .field("dirty", &self.dirty.len())
            .field("before", &self.before.len())
            .finish()
    }
}

impl<K, N, C> ChangeTracker<K, N, C>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
{
    pub(crate) fn new(memo: Option<Memo<K, N, C>>) -> Self {
        Self {
            dirty: HashTable::new(),
            memo,
            before: Vec::new(),
            everything: true,
        }
    }

    /// True until the first capture: every slot is a change, and
    /// [`take`](Self::take) leaves listing them to the caller.
    pub(crate) fn everything(&self) -> bool {
        self.everything
    }

    fn rehash(d: &(KeyGroup, K, N)) -> u64 {
        slot_hash(stable_hash(&d.1), &d.2)
    }

    /// Notes that (key, ns) of key group `kg`, whose slot hash is `hash`,
    /// is about to change; `current` looks the slot up (only called for a
    /// slot not yet noted, and only when there is a memo). True when the
    /// slot was not noted yet in this period.
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
        if let Some(memo) = &self.memo
            && let Some(slot) = current()
        {
            memo(kg, slot, &mut self.before);
        }
        vacant.insert((kg, key.clone(), ns.clone()));
        true
    }

    /// How many memo keys exist, so a visit that changed nothing can be
    /// undone with [`forget`](Self::forget).
    pub(crate) fn mark(&self) -> usize {
        self.before.len()
    }

    /// Takes back the note of (key, ns) made after `mark`.
    pub(crate) fn forget(&mut self, hash: u64, key: &K, ns: &N, mark: usize) {
        if let Ok(e) = self.dirty.find_entry(hash, |d| d.1 == *key && d.2 == *ns) {
            e.remove();
        }
        self.before.truncate(mark);
    }

    /// Everything noted since the last capture; starts a new period. The
    /// first capture's slots are every slot of the table, which the caller
    /// lists (see [`everything`](Self::everything)).
    pub(crate) fn take(&mut self) -> Changes<K, N> {
        self.everything = false;
        let kept = self.dirty.len().min(KEPT_CAPACITY_MAX);
        let dirty = std::mem::replace(&mut self.dirty, HashTable::with_capacity(kept));
        Changes {
            slots: dirty.into_iter().collect(),
            before: std::mem::take(&mut self.before),
        }
    }

    /// Approximate bytes the tracker holds.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.dirty.allocation_size() + self.before.iter().map(Vec::capacity).sum::<usize>()
    }
}
