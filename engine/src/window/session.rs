//! Merging windows (sessions): the active windows of each key, and how a
//! new window merges with them.

use spate_state::{KeyGroupRange, KeyRef, ValueTable};

use super::assigner::Window;
use crate::error::Result;

/// The active windows of each key of a merging window operator.
pub(crate) struct MergingWindows<K, W> {
    active: ValueTable<K, (), Vec<W>>,
}

/// The outcome of adding a window to a key's set.
pub(crate) struct Merge<W> {
    /// The window the new record belongs to.
    pub(crate) result: W,
    /// Windows that were merged into `result` and no longer exist.
    pub(crate) merged_away: Vec<W>,
}

impl<K: crate::Key, W: Window> MergingWindows<K, W> {
    pub(crate) fn new(range: KeyGroupRange) -> Self {
        Self {
            active: ValueTable::new(range, None),
        }
    }

    /// The active windows, for checkpoints.
    pub(crate) fn table(&self) -> &dyn spate_state::CanonicalState {
        &self.active
    }

    /// The same, for restores.
    pub(crate) fn table_mut(&mut self) -> &mut dyn spate_state::CanonicalState {
        &mut self.active
    }

    /// Adds `new` to `key`'s windows, merging every window it intersects.
    pub(crate) fn add(&mut self, kr: KeyRef, key: &K, new: W) -> Result<Merge<W>> {
        let mut windows = self.active.remove(kr, key, &(), 0)?.unwrap_or_default();
        let mut result = new;
        let mut merged_away = Vec::new();
        // A merge can make the result touch windows it did not touch before.
        loop {
            let before = merged_away.len();
            let mut keep = Vec::with_capacity(windows.len());
            for w in windows {
                if w.intersects(&result) {
                    result = result.cover(&w);
                    merged_away.push(w);
                } else {
                    keep.push(w);
                }
            }
            windows = keep;
            if merged_away.len() == before {
                break;
            }
        }
        merged_away.retain(|w| *w != result);
        windows.push(result.clone());
        windows.sort();
        self.active.put(kr, key.clone(), (), windows, 0)?;
        Ok(Merge {
            result,
            merged_away,
        })
    }

    /// Forgets `window` of `key` (it was cleaned up).
    pub(crate) fn remove(&mut self, kr: KeyRef, key: &K, window: &W) -> Result<()> {
        if let Some(mut windows) = self.active.remove(kr, key, &(), 0)? {
            windows.retain(|w| w != window);
            if !windows.is_empty() {
                self.active.put(kr, key.clone(), (), windows, 0)?;
            }
        }
        Ok(())
    }

    /// True when `window` is still an active window of `key`.
    pub(crate) fn contains(&self, kr: KeyRef, key: &K, window: &W) -> Result<bool> {
        Ok(self
            .active
            .get(kr, key, &(), 0)?
            .is_some_and(|ws| ws.iter().any(|w| w == window)))
    }
}
