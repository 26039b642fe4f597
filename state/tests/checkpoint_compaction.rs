//! Merging delta chains (restore) and compacting them: the merged view
//! equals the state it was written from, and retained storage stays
//! bounded by the live state over many checkpoints.

#![allow(clippy::unwrap_used)]

mod checkpoint_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use checkpoint_support::{key, manifest, write_sst};
use proptest::prelude::*;
use spate_state::KeyGroupRange;
use spate_state::checkpoint::{
    ChainStats, CheckpointOutcome, CheckpointRegistry, CheckpointStorage, CheckpointUploader,
    CompactionPolicy, FileKind, FileRef, LocalDirStorage, MergeIter, NextFile, SstEntry, SstReader,
    SstWriter, Tombstones, UploadRequest, VerifyLevel, compact_into, select_recovery,
};

type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn sst(changes: &Changes) -> Vec<u8> {
    let mut w = SstWriter::new(Vec::new(), "mem").with_block_bytes_target(512);
    for (k, v) in changes {
        w.add(k, v.as_deref()).unwrap();
    }
    w.finish().unwrap().0
}

fn apply(live: &mut BTreeMap<Vec<u8>, Vec<u8>>, changes: &Changes) {
    for (k, v) in changes {
        match v {
            Some(v) => live.insert(k.clone(), v.clone()),
            None => live.remove(k),
        };
    }
}

fn changes() -> impl Strategy<Value = Changes> {
    let key = (0u16..4, 0u32..64).prop_map(|(kg, n)| key(kg, n));
    let value = proptest::option::weighted(0.7, proptest::collection::vec(any::<u8>(), 0..16));
    proptest::collection::btree_map(key, value, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Restoring full + deltas gives exactly the state after the last
    /// delta, also per key-group range; compaction gives the same.
    #[test]
    fn merged_chain_equals_the_state(chain in proptest::collection::vec(changes(), 1..6), kg_start in 0u16..4) {
        let mut live = BTreeMap::new();
        // The full file holds no tombstones.
        let full: Changes = chain[0].iter().filter(|(_, v)| v.is_some()).map(|(k, v)| (k.clone(), v.clone())).collect();
        apply(&mut live, &full);
        let mut files = vec![sst(&full)];
        for delta in &chain[1..] {
            apply(&mut live, delta);
            files.push(sst(delta));
        }
        let readers: Vec<SstReader<&[u8]>> = files.iter().map(|f| SstReader::new(f.as_slice(), "mem").unwrap()).collect();
        let merged: BTreeMap<Vec<u8>, Vec<u8>> = MergeIter::new(readers.iter().map(|r| r.iter()).collect(), Tombstones::Drop)
            .map(|e| { let e = e.unwrap(); (e.key, e.value.unwrap()) })
            .collect();
        prop_assert_eq!(&merged, &live);

        let range = KeyGroupRange::new(kg_start, 4).unwrap();
        let part: Vec<SstEntry> = MergeIter::new(readers.iter().map(|r| r.key_groups(range)).collect(), Tombstones::Drop)
            .collect::<Result<_, _>>().unwrap();
        let want: Vec<&Vec<u8>> = live.keys().filter(|k| u16::from_be_bytes([k[0], k[1]]) >= kg_start).collect();
        prop_assert_eq!(part.iter().map(|e| &e.key).collect::<Vec<_>>(), want);

        let (compacted, summary) = compact_into(readers.iter().map(|r| r.iter()).collect(), SstWriter::new(Vec::new(), "c")).unwrap();
        prop_assert_eq!(summary.entries, live.len() as u64);
        let back: BTreeMap<Vec<u8>, Vec<u8>> = SstReader::new(compacted.as_slice(), "c").unwrap().iter()
            .map(|e| { let e = e.unwrap(); (e.key, e.value.unwrap()) }).collect();
        prop_assert_eq!(back, live);
    }
}

/// A job-like run: 60 checkpoints of 20 000 keys with 2% of them changed
/// (updates, deletes, inserts) between checkpoints, 3 retained, the
/// default policy (ratio 0.5). Retained storage stays within
/// `(2 + ratio)` × the full file at every checkpoint (the old chain may
/// still be retained beside a new full file); deltas are a few percent of the full file; the restore equals the state.
#[test]
fn retained_storage_stays_bounded_by_live_state() {
    const KEYS: u32 = 20_000;
    const CHECKPOINTS: u64 = 60;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let storage: Arc<dyn CheckpointStorage> =
        Arc::new(LocalDirStorage::new(remote.path()).unwrap());
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(3), 4).unwrap();
    let policy = CompactionPolicy::default();

    let mut live: BTreeMap<Vec<u8>, Vec<u8>> = (0..KEYS)
        .map(|n| (key((n % 128) as u16, n), vec![1; 48]))
        .collect();
    let mut dirty: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut chain: Vec<FileRef> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let (mut max_ratio, mut last_ratio, mut delta_ratio_sum) = (0f64, 0f64, 0f64);
    let (mut deltas, mut fulls, mut largest_full) = (0u32, 0u32, 0u64);
    for id in 1..=CHECKPOINTS {
        if id > 1 {
            for _ in 0..KEYS / 50 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let n = (rng % u64::from(KEYS + KEYS / 10)) as u32;
                let k = key((n % 128) as u16, n);
                if rng.is_multiple_of(7) {
                    live.remove(&k);
                } else {
                    live.insert(k.clone(), vec![(id % 250) as u8; 48]);
                }
                dirty.insert(k);
            }
        }
        let full_bytes = chain.first().map_or(0, |f| f.size_bytes);
        let delta_estimate = (dirty.len() as u64) * 60;
        let next = policy.next_file(ChainStats::of(&chain), full_bytes, delta_estimate);
        let name = format!("{id}.sst");
        let (file, local_file) = match next {
            NextFile::Full => {
                let all: Changes = live
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                chain.clear();
                fulls += 1;
                write_sst(local.path(), &name, &all, FileKind::Full, id)
            }
            NextFile::Delta => {
                let changes: Changes = dirty
                    .iter()
                    .map(|k| (k.clone(), live.get(k).cloned()))
                    .collect();
                deltas += 1;
                write_sst(local.path(), &name, &changes, FileKind::Delta, id)
            }
        };
        dirty.clear();
        if next == NextFile::Delta {
            delta_ratio_sum += file.size_bytes as f64 / full_bytes as f64;
        }
        chain.push(file);
        uploader
            .try_submit(UploadRequest {
                manifest: manifest(id, chain.clone()),
                local_files: vec![local_file],
                savepoint_to: Vec::new(),
            })
            .unwrap();
        match uploader.outcome_timeout(Duration::from_secs(30)) {
            Some(CheckpointOutcome::Completed(_)) => {}
            other => panic!("checkpoint {id}: {other:?}"),
        }
        let stored: u64 = storage
            .list("shared/")
            .unwrap()
            .iter()
            .map(|o| o.size_bytes)
            .sum();
        let live_full = chain.first().unwrap().size_bytes as f64;
        last_ratio = stored as f64 / live_full;
        max_ratio = max_ratio.max(last_ratio);
        // The old chain (at most 1 + ratio of its full file) may still be
        // retained beside the new full file.
        largest_full = largest_full.max(chain[0].size_bytes);
        let bound = (2.0 + policy.delta_chain_bytes_ratio_max) * largest_full as f64 * 1.05;
        assert!(
            (stored as f64) <= bound,
            "checkpoint {id}: {stored} bytes retained, bound {bound}"
        );
    }
    drop(uploader);
    let mean_delta = delta_ratio_sum / f64::from(deltas);
    eprintln!(
        "{CHECKPOINTS} checkpoints: {fulls} full, {deltas} delta; mean delta = {:.1}% of the full file; retained = {max_ratio:.2}x the live full file at peak, {last_ratio:.2}x at the end",
        mean_delta * 100.0
    );
    assert!(fulls >= 2, "the chain was compacted");
    assert!(mean_delta < 0.05, "deltas are small: {mean_delta}");

    let selected = select_recovery(&*storage, VerifyLevel::Checksum)
        .unwrap()
        .unwrap();
    assert_eq!(selected.manifest.checkpoint_id, CHECKPOINTS);
    let readers: Vec<_> = selected.manifest.subtasks[0]
        .files
        .iter()
        .map(|f| SstReader::open(&remote.path().join(f.object_name())).unwrap())
        .collect();
    let restored: BTreeMap<Vec<u8>, Vec<u8>> =
        MergeIter::new(readers.iter().map(|r| r.iter()).collect(), Tombstones::Drop)
            .map(|e| {
                let e = e.unwrap();
                (e.key, e.value.unwrap())
            })
            .collect();
    assert_eq!(restored, live);
}
