//! TTL semantics of the RocksDB tables, case by case (the model test checks
//! them against the heap tables at random), and key-group range rejection.

#![allow(clippy::unwrap_used)]

#[path = "support/rocks.rs"]
mod rocks_support;

use rocks_support::TempBackend;
use spate_state::rocks::{RocksListTable, RocksMapTable, RocksValueTable};
use spate_state::{
    KeyGroupRange, KeyRef, StateError, StateTtl, TtlUpdate, TtlVisibility,
    key_group_range_for_subtask,
};

const MP: u16 = 128;

fn kr(k: u64) -> KeyRef {
    KeyRef::of(&k, MP)
}

#[test]
fn value_expires_at_the_boundary_and_writes_restart_it() {
    let db = TempBackend::new(KeyGroupRange::all(MP));
    let mut t: RocksValueTable<u64, (), String> =
        RocksValueTable::open(&db.backend, "v", Some(StateTtl::new(100))).unwrap();
    t.put(kr(1), 1, (), "a".into(), 1_000).unwrap();
    assert_eq!(t.get(kr(1), &1, &(), 1_099).unwrap().as_deref(), Some("a"));
    // Reads do not restart OnCreateAndWrite.
    assert_eq!(t.get(kr(1), &1, &(), 1_100).unwrap(), None);
    t.put(kr(2), 2, (), "b".into(), 1_000).unwrap();
    t.update(kr(2), &2, &(), 1_050, |v| {
        if let Some(v) = v {
            v.push('!');
        }
        None
    })
    .unwrap();
    assert_eq!(t.get(kr(2), &2, &(), 1_149).unwrap().as_deref(), Some("b!"));
    assert_eq!(t.get(kr(2), &2, &(), 1_150).unwrap(), None);
    let entries: Vec<_> = t
        .iter_key_group_with_expiry(kr(2).key_group)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(entries.contains(&(2, (), "b!".to_owned(), Some(1_150))));
}

#[test]
fn on_read_and_write_restarts_on_get_but_never_revives() {
    let db = TempBackend::new(KeyGroupRange::all(MP));
    let ttl = StateTtl::new(100)
        .with_update(TtlUpdate::OnReadAndWrite)
        .with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
    let mut t: RocksValueTable<u64, (), u32> =
        RocksValueTable::open(&db.backend, "v", Some(ttl)).unwrap();
    t.put(kr(1), 1, (), 7, 0).unwrap();
    assert_eq!(t.get(kr(1), &1, &(), 90).unwrap(), Some(7));
    // The read at 90 moved the expiry to 190.
    assert_eq!(t.get(kr(1), &1, &(), 180).unwrap(), Some(7));
    // Expired at 280 but shown until cleaned up, and not revived by reads.
    assert_eq!(t.get(kr(1), &1, &(), 300).unwrap(), Some(7));
    let expiry = |t: &RocksValueTable<u64, (), u32>| {
        t.iter_key_group_with_expiry(kr(1).key_group)
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.0 == 1)
            .and_then(|e| e.3)
    };
    assert_eq!(expiry(&t), Some(280));
    assert_eq!(t.cleanup_expired(300, 100).unwrap(), 1);
    assert_eq!(t.get(kr(1), &1, &(), 300).unwrap(), None);
}

#[test]
fn list_elements_and_map_entries_expire_on_their_own() {
    let db = TempBackend::new(KeyGroupRange::all(MP));
    let ttl = Some(StateTtl::new(100));
    let mut list: RocksListTable<u64, (), u32> =
        RocksListTable::open(&db.backend, "l", ttl).unwrap();
    list.add(kr(1), &1, &(), 1, 0).unwrap();
    list.add_all(kr(1), &1, &(), [2, 3], 50).unwrap();
    assert_eq!(list.get(kr(1), &1, &(), 99).unwrap(), vec![1, 2, 3]);
    assert_eq!(list.get(kr(1), &1, &(), 100).unwrap(), vec![2, 3]);
    assert_eq!(list.cleanup_expired(120, 10).unwrap(), 1);
    assert_eq!(list.take(kr(1), &1, &(), 120).unwrap(), vec![2, 3]);
    assert!(list.get(kr(1), &1, &(), 120).unwrap().is_empty());

    let mut map: RocksMapTable<u64, (), String, u32> =
        RocksMapTable::open(&db.backend, "m", ttl).unwrap();
    map.put(kr(1), &1, &(), "old".into(), 1, 0).unwrap();
    map.put(kr(1), &1, &(), "new".into(), 2, 60).unwrap();
    let entries = |now| {
        let mut e = map.iter(kr(1), &1, &(), now).unwrap().collect::<Vec<_>>();
        e.sort();
        e
    };
    assert_eq!(
        entries(99),
        vec![("new".to_owned(), 2), ("old".to_owned(), 1)]
    );
    assert_eq!(entries(100), vec![("new".to_owned(), 2)]);
    assert!(!map.is_empty(kr(1), &1, &(), 159).unwrap());
    assert!(map.is_empty(kr(1), &1, &(), 160).unwrap());
    assert_eq!(map.cleanup_expired(200, 10).unwrap(), 2);
    assert!(!map.remove_namespace_for_key(kr(1), &1, &()).unwrap());
}

#[test]
fn cleanup_resumes_where_it_stopped() {
    let db = TempBackend::new(KeyGroupRange::all(MP));
    let mut t: RocksValueTable<u64, (), u32> =
        RocksValueTable::open(&db.backend, "v", Some(StateTtl::new(10))).unwrap();
    for k in 0..50u64 {
        t.put(kr(k), k, (), 0, 0).unwrap();
    }
    let mut removed = 0;
    for _ in 0..5 {
        let n = t.cleanup_expired(10, 10).unwrap();
        assert!(n <= 10);
        removed += n;
    }
    assert_eq!(removed, 50, "five calls of 10 cover 50 entries");
    assert_eq!(t.cleanup_expired(10, 10).unwrap(), 0);
}

#[test]
fn key_groups_outside_the_range_are_rejected() {
    let range = key_group_range_for_subtask(MP, 4, 1);
    let db = TempBackend::new(range);
    let mut t: RocksValueTable<u64, (), u32> =
        RocksValueTable::open(&db.backend, "v", None).unwrap();
    let mut list: RocksListTable<u64, (), u32> =
        RocksListTable::open(&db.backend, "l", None).unwrap();
    let mut map: RocksMapTable<u64, (), u8, u8> =
        RocksMapTable::open(&db.backend, "m", None).unwrap();
    let foreign = (0u64..)
        .find(|k| !range.contains(kr(*k).key_group))
        .unwrap();
    let owned = (0u64..).find(|k| range.contains(kr(*k).key_group)).unwrap();
    let expected = Err(StateError::KeyGroupOutOfRange {
        key_group: kr(foreign).key_group,
        range,
    });
    assert_eq!(t.put(kr(foreign), foreign, (), 1, 0), expected);
    assert_eq!(
        t.get(kr(foreign), &foreign, &(), 0),
        expected.clone().map(|()| None)
    );
    assert_eq!(list.add(kr(foreign), &foreign, &(), 1, 0), expected);
    assert_eq!(map.put(kr(foreign), &foreign, &(), 1, 1, 0), expected);
    assert!(matches!(
        t.iter_key_group(kr(foreign).key_group).err(),
        Some(StateError::KeyGroupOutOfRange { .. })
    ));
    // Nothing was written; owned keys work.
    t.put(kr(owned), owned, (), 5, 0).unwrap();
    assert_eq!(t.get(kr(owned), &owned, &(), 0).unwrap(), Some(5));
}
