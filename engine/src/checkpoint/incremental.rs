//! Incremental state files: for each task's state, the driver keeps what
//! the last checkpoint wrote and writes only the difference as a delta
//! file (changed and new entries, tombstones for removed ones) appended to
//! the state's chain, until the [`CompactionPolicy`] asks for a full file
//! again. Retention then deletes the old chain once no retained
//! checkpoint references it, so storage stays bounded by the live state.
//!
//! States whose tables note their changes arrive as changes already
//! ([`Captured::Changes`]); the planner then needs no fingerprint, and a
//! full file is written by merging the chain's local copies with the
//! changes, off the tasks' cores.
//!
//! This is a pure planner: entries in, the file to write out. The driver
//! does the writing.

use std::collections::HashMap;

use spate_state::checkpoint::{ChainStats, CompactionPolicy, FileKind, FileRef, NextFile};
use spate_state::{CanonicalEntry, DeltaEntry};

use super::operator_state::Captured;
use super::snapshot::TaskKey;

/// What the previous checkpoint stored of one state: each key with a hash
/// of its value, sorted by key.
type Fingerprint = Vec<(Vec<u8>, u64)>;

/// One state's chain: its files (full first) and what they add up to.
#[derive(Default)]
struct Chain {
    files: Vec<FileRef>,
    /// Whole captures only: what the previous one held.
    last: Fingerprint,
    /// Fed by captures of changes.
    of_changes: bool,
    /// Captures of changes: the chain's files may be missing from storage
    /// (a checkpoint failed), so the next file is a full one.
    full_due: bool,
    /// Captures of changes whose file could not be written: the next file
    /// holds them too.
    unwritten: Vec<DeltaEntry>,
}

/// The file to write for one state.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PlannedFile {
    /// Full or delta.
    pub(crate) kind: FileKind,
    /// Sorted entries; `None` deletes the key (deltas, and changes merged
    /// into a full file).
    pub(crate) entries: Vec<DeltaEntry>,
    /// The chain's files before this one.
    pub(crate) chain: Vec<FileRef>,
    /// A full file of a chain of changes: the merge of the chain's files
    /// (their local copies) with `entries`. The chain's files are then
    /// kept locally too, for the next such merge.
    pub(crate) of_changes: bool,
}

/// The chains of every task's states.
pub(crate) struct StateChains {
    policy: CompactionPolicy,
    chains: HashMap<(TaskKey, String), Chain>,
}

fn value_hash(v: &[u8]) -> u64 {
    // Stable across runs: fingerprints only compare within one job run,
    // but a fixed function keeps the planner deterministic in tests.
    spate_state::stable_hash(v)
}

fn entries_bytes(e: &[(Vec<u8>, Option<Vec<u8>>)]) -> u64 {
    e.iter()
        .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
        .sum()
}

impl StateChains {
    pub(crate) fn new(policy: CompactionPolicy) -> Self {
        Self {
            policy,
            chains: HashMap::new(),
        }
    }

    /// Plans the file of `state` of `task` for what was captured. `None`
    /// when nothing changed since the previous file of the chain.
    pub(crate) fn plan(
        &mut self,
        task: TaskKey,
        state: &str,
        captured: Captured,
    ) -> Option<PlannedFile> {
        match captured {
            Captured::Whole(entries) => self.plan_whole(task, state, entries),
            Captured::Changes(changes) => self.plan_changes(task, state, changes),
            // A RocksDB instance's files are its own; the stager lists
            // them without a plan.
            Captured::Rocks(_) => None,
        }
    }

    /// Plans the file of a state captured as its changes.
    fn plan_changes(
        &mut self,
        task: TaskKey,
        state: &str,
        mut changes: Vec<DeltaEntry>,
    ) -> Option<PlannedFile> {
        spate_state::canonical::sort_delta(&mut changes);
        let chain = self.chains.entry((task, state.to_owned())).or_default();
        chain.of_changes = true;
        let changes = newer_wins(std::mem::take(&mut chain.unwritten), changes);
        if chain.files.is_empty() {
            // Tracking started with the table empty: the changes are all
            // there is.
            let entries: Vec<DeltaEntry> = changes.into_iter().filter(|e| e.1.is_some()).collect();
            return (!entries.is_empty()).then_some(PlannedFile {
                kind: FileKind::Full,
                entries,
                chain: Vec::new(),
                of_changes: true,
            });
        }
        if changes.is_empty() && !chain.full_due {
            return None;
        }
        let stats = ChainStats::of(&chain.files);
        // The full file stands in for the live state, which the driver
        // does not hold.
        let live_bytes = stats.map_or(0, |s| s.full_bytes);
        let next = if chain.full_due {
            NextFile::Full
        } else {
            self.policy
                .next_file(stats, live_bytes, entries_bytes(&changes))
        };
        Some(PlannedFile {
            kind: match next {
                NextFile::Full => FileKind::Full,
                NextFile::Delta => FileKind::Delta,
            },
            entries: changes,
            chain: chain.files.clone(),
            of_changes: true,
        })
    }

    /// The file planned for `state` of `task` could not be written: its
    /// changes go into the next file of the chain.
    pub(crate) fn not_written(&mut self, task: TaskKey, state: &str, planned: PlannedFile) {
        if let Some(chain) = self.chains.get_mut(&(task, state.to_owned()))
            && chain.of_changes
        {
            chain.unwritten = planned.entries;
            chain.full_due |= planned.kind == FileKind::Full;
        }
    }

    /// Plans the file of a state captured whole.
    fn plan_whole(
        &mut self,
        task: TaskKey,
        state: &str,
        entries: Vec<CanonicalEntry>,
    ) -> Option<PlannedFile> {
        let chain = self.chains.entry((task, state.to_owned())).or_default();
        let fingerprint: Fingerprint = entries
            .iter()
            .map(|(k, v)| (k.clone(), value_hash(v)))
            .collect();
        let delta = diff(&chain.last, &entries);
        let live_bytes: u64 = entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        let stats = ChainStats::of(&chain.files);
        let next = self
            .policy
            .next_file(stats, live_bytes, entries_bytes(&delta));
        chain.last = fingerprint;
        match next {
            NextFile::Delta if delta.is_empty() => None,
            NextFile::Delta => Some(PlannedFile {
                kind: FileKind::Delta,
                entries: delta,
                chain: chain.files.clone(),
                of_changes: false,
            }),
            NextFile::Full if entries.is_empty() => {
                // An empty state needs no file.
                chain.files.clear();
                None
            }
            NextFile::Full => Some(PlannedFile {
                kind: FileKind::Full,
                entries: entries.into_iter().map(|(k, v)| (k, Some(v))).collect(),
                chain: Vec::new(),
                of_changes: false,
            }),
        }
    }

    /// The file planned for `state` of `task` was written as `file`.
    pub(crate) fn written(&mut self, task: TaskKey, state: &str, file: FileRef) {
        if let Some(chain) = self.chains.get_mut(&(task, state.to_owned())) {
            if file.kind == FileKind::Full {
                chain.files.clear();
                chain.full_due = false;
            }
            chain.files.push(file);
        }
    }

    /// The chain of `state` of `task` as the manifest lists it.
    pub(crate) fn files(&self, task: TaskKey, state: &str) -> &[FileRef] {
        self.chains
            .get(&(task, state.to_owned()))
            .map_or(&[], |c| c.files.as_slice())
    }

    /// A checkpoint failed: its files may be missing from storage, so
    /// every chain starts again with a full file. Chains of changes keep
    /// their files (kept locally) to merge the full file from.
    pub(crate) fn reset(&mut self) {
        self.chains.retain(|_, c| c.of_changes);
        for chain in self.chains.values_mut() {
            chain.full_due = !chain.files.is_empty();
        }
    }
}

/// Two sorted deltas as one: for a key in both, the newer entry.
fn newer_wins(older: Vec<DeltaEntry>, newer: Vec<DeltaEntry>) -> Vec<DeltaEntry> {
    if older.is_empty() {
        return newer;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut o, mut n) = (older.into_iter().peekable(), newer.into_iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (None, None) => return out,
            (Some(_), None) => out.extend(o.next()),
            (None, Some(_)) => out.extend(n.next()),
            (Some(a), Some(b)) => match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => out.extend(o.next()),
                std::cmp::Ordering::Greater => out.extend(n.next()),
                std::cmp::Ordering::Equal => {
                    o.next();
                    out.extend(n.next());
                }
            },
        }
    }
}

/// Entries of `now` that are new or changed since `before`, and tombstones
/// for the keys of `before` that are gone; both inputs sorted by key.
fn diff(before: &Fingerprint, now: &[CanonicalEntry]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let (mut b, mut n) = (before.iter().peekable(), now.iter().peekable());
    loop {
        match (b.peek(), n.peek()) {
            (None, None) => return out,
            (Some((bk, _)), None) => {
                out.push((bk.clone(), None));
                b.next();
            }
            (None, Some((nk, nv))) => {
                out.push((nk.clone(), Some(nv.clone())));
                n.next();
            }
            (Some((bk, bh)), Some((nk, nv))) => match bk.cmp(nk) {
                std::cmp::Ordering::Less => {
                    out.push((bk.clone(), None));
                    b.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push((nk.clone(), Some(nv.clone())));
                    n.next();
                }
                std::cmp::Ordering::Equal => {
                    if *bh != value_hash(nv) {
                        out.push((nk.clone(), Some(nv.clone())));
                    }
                    b.next();
                    n.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use spate_state::checkpoint::KeyGroupSpan;

    use super::*;

    const TASK: TaskKey = TaskKey {
        node: 3,
        subtask: 0,
    };

    fn e(k: &str, v: &str) -> CanonicalEntry {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    fn file(name: &str, kind: FileKind, size_bytes: u64) -> FileRef {
        FileRef {
            name: name.into(),
            size_bytes,
            crc32c: 0,
            kind,
            key_groups: KeyGroupSpan { start: 0, end: 1 },
            state: "3/s".into(),
            added_in: 1,
            local_name: None,
        }
    }

    fn whole(entries: Vec<CanonicalEntry>) -> Captured {
        Captured::Whole(entries)
    }

    fn chains() -> StateChains {
        // Entries of a few bytes: only the chain length limits deltas here.
        StateChains::new(CompactionPolicy {
            delta_chain_bytes_ratio_max: 100.0,
            delta_chain_len_max: 3,
        })
    }

    #[test]
    fn a_delta_holds_only_changes_and_removals() {
        let mut c = chains();
        let first = c.plan(
            TASK,
            "s",
            whole(vec![e("a", "1"), e("b", "2"), e("c", "3")]),
        );
        assert_eq!(first.as_ref().map(|p| p.kind), Some(FileKind::Full));
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        let second = c
            .plan(
                TASK,
                "s",
                whole(vec![e("a", "1"), e("c", "9"), e("d", "4")]),
            )
            .unwrap();
        assert_eq!(second.kind, FileKind::Delta);
        let want: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
            (b"b".to_vec(), None),
            (b"c".to_vec(), Some(b"9".to_vec())),
            (b"d".to_vec(), Some(b"4".to_vec())),
        ];
        assert_eq!(second.entries, want);
        assert_eq!(second.chain.len(), 1, "the delta follows the full file");
    }

    #[test]
    fn nothing_changed_writes_nothing_and_keeps_the_chain() {
        let mut c = chains();
        c.plan(TASK, "s", whole(vec![e("a", "1")]));
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        assert_eq!(c.plan(TASK, "s", whole(vec![e("a", "1")])), None);
        assert_eq!(c.files(TASK, "s").len(), 1);
    }

    #[test]
    fn a_long_chain_is_replaced_by_a_full_file() {
        let mut c = chains();
        c.plan(TASK, "s", whole(vec![e("a", "0")]));
        c.written(TASK, "s", file("f0", FileKind::Full, 1000));
        for i in 1..=3 {
            let p = c
                .plan(TASK, "s", whole(vec![e("a", &i.to_string())]))
                .unwrap();
            assert_eq!(p.kind, FileKind::Delta);
            c.written(TASK, "s", file(&format!("d{i}"), FileKind::Delta, 10));
        }
        let p = c.plan(TASK, "s", whole(vec![e("a", "4")])).unwrap();
        assert_eq!(p.kind, FileKind::Full, "3 deltas is the chain's limit");
        c.written(TASK, "s", file("f4", FileKind::Full, 1000));
        assert_eq!(c.files(TASK, "s").len(), 1);
    }

    fn changes(items: &[(&str, Option<&str>)]) -> Captured {
        Captured::Changes(
            items
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect(),
        )
    }

    #[test]
    fn changes_start_a_chain_with_their_values_then_add_deltas() {
        let mut c = chains();
        let first = c
            .plan(TASK, "s", changes(&[("a", Some("1")), ("b", None)]))
            .unwrap();
        assert_eq!(first.kind, FileKind::Full);
        assert_eq!(first.entries, vec![(b"a".to_vec(), Some(b"1".to_vec()))]);
        assert!(first.chain.is_empty());
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        assert_eq!(c.plan(TASK, "s", changes(&[])), None, "nothing changed");
        let second = c.plan(TASK, "s", changes(&[("a", None)])).unwrap();
        assert_eq!(second.kind, FileKind::Delta);
        assert_eq!(second.entries, vec![(b"a".to_vec(), None)]);
    }

    #[test]
    fn a_full_file_of_changes_merges_the_chain() {
        let mut c = chains();
        c.plan(TASK, "s", changes(&[("a", Some("0"))]));
        c.written(TASK, "s", file("f0", FileKind::Full, 1000));
        for i in 1..=3 {
            let p = c.plan(TASK, "s", changes(&[("a", Some("x"))])).unwrap();
            assert_eq!(p.kind, FileKind::Delta);
            c.written(TASK, "s", file(&format!("d{i}"), FileKind::Delta, 10));
        }
        let p = c.plan(TASK, "s", changes(&[("b", Some("y"))])).unwrap();
        assert_eq!(p.kind, FileKind::Full, "3 deltas is the chain's limit");
        assert!(p.of_changes);
        assert_eq!(p.chain.len(), 4, "the whole chain is merged in");
    }

    #[test]
    fn after_a_failed_checkpoint_changes_are_merged_into_a_full_file() {
        let mut c = chains();
        c.plan(TASK, "s", changes(&[("a", Some("1"))]));
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        c.reset();
        let p = c.plan(TASK, "s", changes(&[])).unwrap();
        assert_eq!(
            p.kind,
            FileKind::Full,
            "the chain may be missing from storage"
        );
        assert_eq!(p.chain.len(), 1, "merged from the kept chain");
    }

    #[test]
    fn changes_whose_file_failed_go_into_the_next_one() {
        let mut c = chains();
        c.plan(TASK, "s", changes(&[("a", Some("1"))]));
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        let lost = c
            .plan(TASK, "s", changes(&[("a", Some("2")), ("b", Some("1"))]))
            .unwrap();
        c.not_written(TASK, "s", lost);
        let next = c
            .plan(TASK, "s", changes(&[("a", Some("3")), ("c", None)]))
            .unwrap();
        let want: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
            (b"a".to_vec(), Some(b"3".to_vec())),
            (b"b".to_vec(), Some(b"1".to_vec())),
            (b"c".to_vec(), None),
        ];
        assert_eq!(next.entries, want, "the newer value of `a` wins");
    }

    #[test]
    fn after_a_failed_checkpoint_chains_start_over_with_a_full_file() {
        let mut c = chains();
        c.plan(TASK, "s", whole(vec![e("a", "1")]));
        c.written(TASK, "s", file("f1", FileKind::Full, 1000));
        c.reset();
        let p = c.plan(TASK, "s", whole(vec![e("a", "1")])).unwrap();
        assert_eq!(p.kind, FileKind::Full);
    }
}
