//! The checkpoint SST format: round trips, seeks by key-group range, and
//! damage (flipped bytes, truncation, garbage) always detected: an error
//! naming the file and offset, never a panic and never wrong data.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use proptest::prelude::*;
use spate_state::checkpoint::{SstEntry, SstReader, SstWriter, verify_sst_bytes};
use spate_state::{KeyGroupRange, StateError};

type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn encode(model: &Model, block_bytes: usize) -> Vec<u8> {
    let mut w = SstWriter::new(Vec::new(), "mem.sst").with_block_bytes_target(block_bytes);
    for (k, v) in model {
        w.add(k, v.as_deref()).unwrap();
    }
    w.finish().unwrap().0
}

fn decode_all(bytes: &[u8]) -> Result<Vec<SstEntry>, StateError> {
    SstReader::new(bytes, "mem.sst")?.iter().collect()
}

fn as_entries<'a>(it: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>) -> Vec<SstEntry> {
    it.map(|(k, v)| SstEntry {
        key: k.clone(),
        value: v.clone(),
    })
    .collect()
}

/// Keys in a handful of key groups, values of varied sizes, some tombstones.
fn model() -> impl Strategy<Value = Model> {
    let key = (0u16..6, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(kg, rest)| {
        let mut k = kg.to_be_bytes().to_vec();
        k.extend(rest);
        k
    });
    let value = proptest::option::weighted(0.85, proptest::collection::vec(any::<u8>(), 0..300));
    proptest::collection::btree_map(key, value, 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip(model in model(), block in 1usize..2048) {
        let bytes = encode(&model, block);
        prop_assert_eq!(decode_all(&bytes).unwrap(), as_entries(model.iter()));
        let summary = verify_sst_bytes("mem.sst", &bytes).unwrap();
        prop_assert_eq!(summary.entries, model.len() as u64);
        prop_assert_eq!(summary.size_bytes, bytes.len() as u64);
        prop_assert_eq!(summary.crc32c, crc32c::crc32c(&bytes));
    }

    #[test]
    fn key_group_ranges_and_seeks_match_the_model(
        model in model(), block in 1usize..1024, start in 0u16..7, len in 0u16..4, probe in any::<Vec<u8>>()
    ) {
        let bytes = encode(&model, block);
        let reader = SstReader::new(bytes.as_slice(), "mem.sst").unwrap();
        let range = KeyGroupRange::new(start, (start + len).min(7)).unwrap();
        let got: Vec<SstEntry> = reader.key_groups(range).collect::<Result<_, _>>().unwrap();
        let want = as_entries(model.iter().filter(|(k, _)| {
            range.contains(u16::from_be_bytes([k[0], k[1]]))
        }));
        prop_assert_eq!(got, want);
        let got: Vec<SstEntry> = reader.seek(&probe).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got, as_entries(model.range(probe..)));
    }

    /// Every byte is covered by a CRC: a full read of a file with one
    /// flipped byte is always an error, and a partial read returns only
    /// true entries before failing.
    #[test]
    fn any_flipped_byte_is_detected(model in model(), block in 1usize..1024, pos in any::<prop::sample::Index>(), bit in 0u8..8, start in 0u16..6) {
        let mut bytes = encode(&model, block);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let err = verify_sst_bytes("mem.sst", &bytes).unwrap_err();
        let is_corrupt = matches!(&err, StateError::CorruptFile { file, .. } if file == "mem.sst");
        prop_assert!(is_corrupt, "{}", err);
        if let Ok(reader) = SstReader::new(bytes.as_slice(), "mem.sst") {
            let range = KeyGroupRange::new(start, 6).unwrap();
            for entry in reader.key_groups(range) {
                match entry {
                    Ok(e) => prop_assert_eq!(model.get(&e.key), Some(&e.value)),
                    Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn any_truncation_is_detected(model in model(), block in 1usize..1024, cut in any::<prop::sample::Index>()) {
        let bytes = encode(&model, block);
        let len = cut.index(bytes.len());
        let err = verify_sst_bytes("mem.sst", &bytes[..len]).unwrap_err();
        prop_assert!(matches!(err, StateError::CorruptFile { .. }), "{}", err);
    }

    /// The fuzz entry point never panics on arbitrary bytes.
    #[test]
    fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(verify_sst_bytes("junk", &bytes).is_err());
    }

    /// Garbage behind a valid-looking footer: the index and blocks are
    /// still checked.
    #[test]
    fn valid_footer_over_garbage_is_an_error(model in model(), junk in proptest::collection::vec(any::<u8>(), 1..256)) {
        let bytes = encode(&model, 256);
        let mut forged = junk.clone();
        forged.extend_from_slice(&bytes[bytes.len() - 48..]);
        let result = verify_sst_bytes("forged", &forged);
        prop_assert!(result.is_err());
    }
}

#[test]
fn writer_rejects_out_of_order_and_short_keys() {
    let mut w = SstWriter::new(Vec::new(), "w.sst");
    w.put(&[0, 1, 5], b"a").unwrap();
    let err = w.put(&[0, 1, 5], b"b").unwrap_err();
    assert!(
        matches!(err, StateError::InvalidSstEntry { entry: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("strictly increasing"), "{err}");
    assert!(w.put(&[0, 1, 4], b"b").is_err());
    assert!(w.put(&[0], b"b").is_err());
    assert!(w.put(&[0x80, 0], b"b").is_err());
    w.delete(&[0, 2]).unwrap();
    let (bytes, summary) = w.finish().unwrap();
    assert_eq!(summary.entries, 2);
    assert_eq!((summary.key_group_start, summary.key_group_end), (1, 3));
    assert_eq!(decode_all(&bytes).unwrap().len(), 2);
}

#[test]
fn errors_name_the_file_offset_and_reason() {
    let model: Model = (0..100u32)
        .map(|i| {
            let mut k = vec![0, 1];
            k.extend(i.to_be_bytes());
            (k, Some(vec![7; 100]))
        })
        .collect();
    let mut bytes = encode(&model, 1024);
    bytes[2000] ^= 0xff;
    let err = verify_sst_bytes("chk-7/a.sst", &bytes).unwrap_err();
    let StateError::CorruptFile {
        file,
        offset,
        reason,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(file, "chk-7/a.sst");
    assert!(*offset <= 2000, "{err}");
    assert!(reason.contains("data block CRC mismatch"), "{err}");

    let err = verify_sst_bytes("x.sst", &bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.to_string().contains("x.sst"), "{err}");
    let err = verify_sst_bytes("x.sst", b"short").unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn files_stream_from_disk_and_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.sst");
    let mut w = SstWriter::create(&path).unwrap();
    // Keys sorted by (key group, n).
    for kg in 0..4u16 {
        for n in 0..10_000u32 {
            let mut k = kg.to_be_bytes().to_vec();
            k.extend(n.to_be_bytes());
            w.put(&k, &n.to_le_bytes()).unwrap();
        }
    }
    let summary = w.finish_durable().unwrap();
    assert!(summary.size_bytes > 64 * 1024 * 2, "several blocks");
    let reader = SstReader::open(&path).unwrap();
    assert_eq!(reader.footer().entry_count, 40_000);
    let kg2: Vec<_> = reader
        .key_groups(KeyGroupRange::new(2, 3).unwrap())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kg2.len(), 10_000);
    assert!(kg2.iter().all(|e| e.key_group() == 2));
    assert_eq!(reader.verify().unwrap(), summary);
    let err = SstWriter::create(&path).unwrap_err();
    assert!(err.to_string().contains("f.sst"), "{err}");
}

/// A full disk is a `Storage` error naming the file and ENOSPC: `/dev/full`
/// fails every write with ENOSPC.
#[test]
fn a_full_disk_is_reported_with_the_file() {
    if !Path::new("/dev/full").exists() {
        panic!("this test needs /dev/full (Linux)");
    }
    let dev = OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut w = SstWriter::new(dev, "/dev/full");
    let mut err = None;
    for n in 0..100_000u32 {
        let mut k = vec![0, 0];
        k.extend(n.to_be_bytes());
        if let Err(e) = w.put(&k, &[1; 64]) {
            err = Some(e);
            break;
        }
    }
    let err = match err {
        Some(e) => e,
        None => w.finish().unwrap_err(),
    };
    let text = err.to_string();
    assert!(matches!(err, StateError::Storage { .. }), "{text}");
    assert!(
        text.contains("ENOSPC") && text.contains("/dev/full"),
        "{text}"
    );
}
