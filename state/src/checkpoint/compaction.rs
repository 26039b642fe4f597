//! When to stop appending deltas and write a full file again.
//!
//! A state's files form a chain: one full file, then deltas. Restoring
//! reads the whole chain, and storage holds all of it, so a chain whose
//! deltas outgrow the live state is replaced: the next checkpoint writes a
//! full file (from memory for the heap backend, or by merging the chain
//! with [`compact_into`](super::merge::compact_into)). Once the retained
//! checkpoints no longer reference the old chain, the registry deletes it.
//!
//! Bound: a chain holds at most `(1 + ratio) × live` bytes. Right after a
//! new full file, the older retained checkpoints still reference the old
//! chain, so retained storage peaks at about `(2 + ratio) × live` for
//! `checkpoints_retained - 1` checkpoints and is otherwise at most
//! `(1 + ratio) × live`, however long the job runs (with the default ratio
//! 0.5: a 2.5× peak, 1.5× between peaks).

use super::manifest::{FileKind, FileRef};

/// Limits on a delta chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactionPolicy {
    /// Write a full file once the chain's deltas would exceed this multiple
    /// of the live state's estimated size.
    pub delta_chain_bytes_ratio_max: f64,
    /// Write a full file once the chain has this many deltas (bounds the
    /// number of files a restore merges).
    pub delta_chain_len_max: u32,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            delta_chain_bytes_ratio_max: 0.5,
            delta_chain_len_max: 32,
        }
    }
}

/// Sizes of one state's current chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainStats {
    /// Bytes of the full file that starts the chain.
    pub full_bytes: u64,
    /// Bytes of all deltas after it.
    pub delta_bytes: u64,
    /// Number of deltas.
    pub delta_count: u32,
}

impl ChainStats {
    /// Sizes of the chain formed by `files` (a full file, then deltas);
    /// `None` if the files do not start with a full file.
    pub fn of<'a>(files: impl IntoIterator<Item = &'a FileRef>) -> Option<ChainStats> {
        let mut files = files.into_iter();
        let first = files.next()?;
        if first.kind != FileKind::Full {
            return None;
        }
        let mut stats = ChainStats {
            full_bytes: first.size_bytes,
            ..ChainStats::default()
        };
        for f in files {
            if f.kind != FileKind::Delta {
                return None;
            }
            stats.delta_bytes += f.size_bytes;
            stats.delta_count += 1;
        }
        Some(stats)
    }
}

/// What the next checkpoint of a state writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextFile {
    /// A full file: starts a new chain.
    Full,
    /// A delta appended to the current chain.
    Delta,
}

impl CompactionPolicy {
    /// Decides the next file of a state. `chain` is `None` when there is no
    /// chain yet; `live_bytes_estimate` is the caller's estimate of the live
    /// state's encoded size (the full file's size is a fair one);
    /// `next_delta_bytes_estimate` the size of the delta it would write.
    pub fn next_file(
        &self,
        chain: Option<ChainStats>,
        live_bytes_estimate: u64,
        next_delta_bytes_estimate: u64,
    ) -> NextFile {
        let Some(chain) = chain else {
            return NextFile::Full;
        };
        if chain.delta_count >= self.delta_chain_len_max {
            return NextFile::Full;
        }
        let deltas = chain.delta_bytes.saturating_add(next_delta_bytes_estimate) as f64;
        let allowed = self.delta_chain_bytes_ratio_max * live_bytes_estimate.max(1) as f64;
        if deltas > allowed {
            NextFile::Full
        } else {
            NextFile::Delta
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_until_they_outgrow_the_live_state() {
        let p = CompactionPolicy {
            delta_chain_bytes_ratio_max: 0.5,
            delta_chain_len_max: 10,
        };
        assert_eq!(p.next_file(None, 100, 10), NextFile::Full);
        let chain = ChainStats {
            full_bytes: 100,
            delta_bytes: 30,
            delta_count: 3,
        };
        assert_eq!(p.next_file(Some(chain), 100, 20), NextFile::Delta);
        assert_eq!(p.next_file(Some(chain), 100, 21), NextFile::Full);
        let long = ChainStats {
            delta_count: 10,
            ..chain
        };
        assert_eq!(p.next_file(Some(long), 1_000_000, 1), NextFile::Full);
    }
}
