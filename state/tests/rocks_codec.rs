//! The stored-key layout (proptest) and what corrupt stored bytes give: a
//! `Codec` error naming the state, never a panic.

#![allow(clippy::unwrap_used)]

#[path = "support/rocks.rs"]
mod rocks_support;

use proptest::prelude::*;
use rocks_support::{TempBackend, small_options};
use spate_state::codec::{
    DataPart, StateKeyParts, decode, encode_state_key, encode_to_vec, key_group_prefix,
    key_group_range_bounds,
};
use spate_state::rocks::{RocksBackend, RocksListTable, RocksValueTable};
use spate_state::{KeyGroupRange, KeyRef, MAX_PARALLELISM_LIMIT, StateError};

fn kg() -> impl Strategy<Value = u16> {
    0..MAX_PARALLELISM_LIMIT
}

/// A key type with a variable-length encoding.
type Key = (u64, String);

fn key() -> impl Strategy<Value = Key> {
    (any::<u64>(), ".{0,20}")
}

proptest! {
    #[test]
    fn stored_keys_round_trip(kg in kg(), key in key(), ns in any::<Option<u32>>()) {
        let stored = encode_state_key(kg, &key, &ns).unwrap();
        let parts = StateKeyParts::parse(&stored).unwrap();
        prop_assert_eq!(parts.key_group, kg);
        prop_assert_eq!(parts.decode_key::<Key>().unwrap(), key.clone());
        prop_assert_eq!(parts.decode_namespace::<Option<u32>>().unwrap(), ns);
        prop_assert!(parts.rest.is_empty());
        // Deterministic: the same key encodes to the same bytes.
        prop_assert_eq!(encode_state_key(kg, &key, &ns).unwrap(), stored);
    }

    #[test]
    fn key_group_key_and_namespace_are_byte_prefixes(
        kg in kg(), key in key(), ns1 in any::<u32>(), ns2 in any::<u32>(), uk in ".{0,8}",
    ) {
        let a = encode_state_key(kg, &key, &ns1).unwrap();
        let b = encode_state_key(kg, &key, &ns2).unwrap();
        prop_assert!(a.starts_with(&key_group_prefix(kg)));
        // (key group, key) is the common prefix up to the namespace.
        let pa = StateKeyParts::parse(&a).unwrap();
        let pb = StateKeyParts::parse(&b).unwrap();
        let key_prefix_len = pa.key_offset + pa.key.len();
        prop_assert_eq!(&a[..key_prefix_len], &b[..key_prefix_len]);
        prop_assert_eq!(pa.namespace_offset, pb.namespace_offset);
        // A map entry starts with its (key group, key, namespace) key.
        let mut entry = a.clone();
        entry.extend(encode_to_vec(&uk, DataPart::UserKey).unwrap());
        prop_assert!(entry.starts_with(&a));
        let pe = StateKeyParts::parse(&entry).unwrap();
        prop_assert_eq!(pe.decode_user_key::<String>().unwrap(), uk);
        prop_assert_eq!(pe.decode_namespace::<u32>().unwrap(), ns1);
    }

    #[test]
    fn distinct_keys_never_share_the_key_prefix(
        kg in kg(), k1 in key(), k2 in key(), ns in any::<u32>(),
    ) {
        prop_assume!(k1 != k2);
        let a = encode_state_key(kg, &k1, &ns).unwrap();
        let b = encode_state_key(kg, &k2, &ns).unwrap();
        let pa = StateKeyParts::parse(&a).unwrap();
        let key_prefix = &a[..pa.key_offset + pa.key.len()];
        prop_assert!(!b.starts_with(key_prefix));
    }

    #[test]
    fn keys_sort_by_key_group_and_ranges_are_contiguous(
        kg1 in kg(), kg2 in kg(), k1 in key(), k2 in key(), start in kg(), len in 0u16..200,
    ) {
        let a = encode_state_key(kg1, &k1, &()).unwrap();
        let b = encode_state_key(kg2, &k2, &()).unwrap();
        if kg1 < kg2 {
            prop_assert!(a < b);
        }
        let end = start.saturating_add(len).min(MAX_PARALLELISM_LIMIT);
        let range = KeyGroupRange::new(start, end).unwrap();
        let (from, to) = key_group_range_bounds(range);
        let inside = a.as_slice() >= from.as_slice() && a.as_slice() < to.as_slice();
        prop_assert_eq!(inside, range.contains(kg1));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(parts) = StateKeyParts::parse(&bytes) {
            let _ = parts.decode_key::<Key>();
            let _ = parts.decode_namespace::<Vec<String>>();
        }
        let _ = decode::<Vec<String>>(&bytes, DataPart::Value);
        let _ = decode::<(u64, String)>(&bytes, DataPart::Value);
    }
}

/// Overwrites the stored value of `stored_key` in column family `cf` of the
/// (closed) instance in `dir` with `bytes`, through RocksDB directly.
fn overwrite(dir: &std::path::Path, cf: &str, stored_key: &[u8], bytes: &[u8]) {
    let opts = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&opts, dir).unwrap();
    let db = rocksdb::DB::open_cf(&opts, dir, cfs).unwrap();
    db.put_cf(db.cf_handle(cf).unwrap(), stored_key, bytes)
        .unwrap();
}

#[test]
fn corrupt_values_give_codec_errors() {
    let all = KeyGroupRange::all(128);
    let db = TempBackend::new(all);
    let dir = db.db_dir().to_path_buf();
    let key = 7u64;
    let kr = KeyRef::of(&key, 128);
    let stored_key = encode_state_key(kr.key_group, &key, &()).unwrap();
    {
        let mut t: RocksValueTable<u64, (), String> =
            RocksValueTable::open(&db.backend, "v", None).unwrap();
        t.put(kr, key, (), "a string longer than eight bytes".into(), 0)
            .unwrap();
        let mut l: RocksListTable<u64, (), String> =
            RocksListTable::open(&db.backend, "l", None).unwrap();
        l.add(kr, &key, &(), "element".into(), 0).unwrap();
    }
    drop(db.backend);

    let valid = {
        let backend = RocksBackend::open(&dir, all, small_options()).unwrap();
        let t: RocksValueTable<u64, (), String> =
            RocksValueTable::open(&backend, "v", None).unwrap();
        assert!(t.get(kr, &key, &(), 0).unwrap().is_some());
        let mut bytes = Vec::new();
        bytes.push(0u8);
        bytes.extend(
            encode_to_vec(
                &"a string longer than eight bytes".to_owned(),
                DataPart::Value,
            )
            .unwrap(),
        );
        bytes
    };
    let mut bad_archive = valid.clone();
    let n = bad_archive.len();
    bad_archive[n - 4..].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    let cases: [(&[u8], DataPart); 4] = [
        (&[], DataPart::ValueLayout),
        (&[9, 1, 2, 3], DataPart::ValueLayout),
        (&[1, 0, 0, 0], DataPart::ValueLayout),
        (&bad_archive, DataPart::Value),
    ];
    for (bytes, part) in cases {
        overwrite(&dir, "state/v", &stored_key, bytes);
        overwrite(&dir, "state/l", &stored_key, &[0x05, 0x00]);
        let backend = RocksBackend::open(&dir, all, small_options()).unwrap();
        let mut t: RocksValueTable<u64, (), String> =
            RocksValueTable::open(&backend, "v", None).unwrap();
        let err = t.get(kr, &key, &(), 0).unwrap_err();
        assert!(
            matches!(&err, StateError::Codec { state, part: p, .. } if state == "v" && *p == part),
            "{bytes:?}: {err}"
        );
        assert!(matches!(
            t.update(kr, &key, &(), 0, |_| None),
            Err(StateError::Codec { .. })
        ));
        let scanned: Vec<_> = t.iter_key_group(kr.key_group).unwrap().collect();
        assert!(
            scanned
                .iter()
                .any(|e| matches!(e, Err(StateError::Codec { .. })))
        );
        let l: RocksListTable<u64, (), String> = RocksListTable::open(&backend, "l", None).unwrap();
        let err = l.get(kr, &key, &(), 0).unwrap_err();
        assert!(
            matches!(&err, StateError::Codec { state, part: DataPart::ValueLayout, offset: 0, .. } if state == "l"),
            "{err}"
        );
    }
}
