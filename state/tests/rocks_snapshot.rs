//! Checkpoint, restore and rescaling primitives of the RocksDB backend, on
//! real instances in temporary directories.

#![allow(clippy::unwrap_used)]

#[path = "support/rocks.rs"]
mod rocks_support;

use rocks_support::{TempBackend, small_options};
use spate_state::rocks::{RocksBackend, RocksListTable, RocksMapTable, RocksValueTable};
use spate_state::{KeyGroup, KeyGroupRange, KeyRef, StateError, key_group_range_for_subtask};

const MP: u16 = 128;

fn kr(k: u64) -> KeyRef {
    KeyRef::of(&k, MP)
}

/// The three states every test stores.
struct Tables {
    values: RocksValueTable<u64, (), String>,
    lists: RocksListTable<u64, u32, u32>,
    maps: RocksMapTable<u64, (), u16, u64>,
}

impl Tables {
    fn open(backend: &RocksBackend) -> Self {
        Self {
            values: RocksValueTable::open(backend, "values", None).unwrap(),
            lists: RocksListTable::open(backend, "lists", None).unwrap(),
            maps: RocksMapTable::open(backend, "op 3/maps", None).unwrap(),
        }
    }

    /// Writes keys `keys`, skipping those the backend does not own.
    fn fill(&mut self, range: KeyGroupRange, keys: std::ops::Range<u64>, round: u64) {
        for k in keys.filter(|k| range.contains(kr(*k).key_group)) {
            self.values
                .put(kr(k), k, (), format!("v{k}-{round}"), 0)
                .unwrap();
            for ns in 0..2u32 {
                self.lists.add(kr(k), &k, &ns, k as u32 + ns, 0).unwrap();
            }
            self.maps
                .put_all(kr(k), &k, &(), (0..3u16).map(|uk| (uk, k * 10 + round)), 0)
                .unwrap();
        }
    }

    /// Every stored entry of the key groups `range`, as text, sorted.
    fn dump(&self, range: KeyGroupRange) -> Vec<String> {
        let mut out = Vec::new();
        for kg in range.iter() {
            for e in self.values.iter_key_group(kg).unwrap() {
                out.push(format!("{kg} value {:?}", e.unwrap()));
            }
            for e in self.lists.iter_key_group(kg).unwrap() {
                out.push(format!("{kg} list {:?}", e.unwrap()));
            }
            for e in self.maps.iter_key_group(kg).unwrap() {
                out.push(format!("{kg} map {:?}", e.unwrap()));
            }
        }
        out.sort();
        out
    }
}

/// The key group a dump line is about.
fn key_group_of(line: &str) -> KeyGroup {
    line.split(' ').next().unwrap().parse().unwrap()
}

/// Keeps the lines of `dump` whose key group lies in `range`.
fn only(dump: &[String], range: KeyGroupRange) -> Vec<String> {
    dump.iter()
        .filter(|line| range.contains(key_group_of(line)))
        .cloned()
        .collect()
}

#[test]
fn checkpoint_then_restore_gives_the_same_state() {
    let all = KeyGroupRange::all(MP);
    let db = TempBackend::new(all);
    let mut t = Tables::open(&db.backend);
    t.fill(all, 0..1_500, 1);
    db.backend.flush().unwrap();
    t.fill(all, 1_000..2_000, 2); // some in memtables only
    let before = t.dump(all);
    let checkpoint = db.backend.checkpoint(db.path("chk-1")).unwrap();
    assert!(checkpoint.ssts().count() >= 2, "{checkpoint:?}");
    assert!(checkpoint.files.iter().any(|f| f.name == "CURRENT"));

    // Writes after the checkpoint are not part of it.
    t.fill(all, 5_000..5_100, 3);

    let restored = RocksBackend::restore_from_checkpoint(
        &checkpoint.dir,
        db.path("restored"),
        all,
        small_options(),
    )
    .unwrap();
    assert_eq!(restored.states().unwrap(), db.backend.states().unwrap());
    let r = Tables::open(&restored);
    assert_eq!(r.dump(all), before);
    assert_eq!(r.values.get(kr(5_000), &5_000, &(), 0).unwrap(), None);

    // Restoring into a directory that holds anything is refused.
    let again = RocksBackend::restore_from_checkpoint(
        &checkpoint.dir,
        db.path("restored"),
        all,
        small_options(),
    );
    assert!(matches!(
        again,
        Err(StateError::Storage {
            operation: "restore",
            ..
        })
    ));
}

#[test]
fn incremental_checkpoints_name_only_new_ssts() {
    let all = KeyGroupRange::all(MP);
    let db = TempBackend::new(all);
    let mut t = Tables::open(&db.backend);
    t.fill(all, 0..1_000, 1);
    let first = db.backend.checkpoint(db.path("chk-1")).unwrap();
    assert_eq!(first.new_since(&first), Vec::<&_>::new());
    t.fill(all, 1_000..1_200, 2);
    let second = db.backend.checkpoint(db.path("chk-2")).unwrap();
    let new = second.new_since(&first);
    assert!(!new.is_empty(), "the second checkpoint flushed new data");
    for file in &new {
        assert!(first.files.iter().all(|f| f.name != file.name));
        assert!(file.size_bytes > 0);
    }
    // Unchanged SSTs are the same files (hard links), not copies.
    let shared: Vec<_> = second
        .ssts()
        .filter(|f| first.files.iter().any(|g| g.name == f.name))
        .collect();
    assert_eq!(shared.len() + new.len(), second.ssts().count());
}

#[test]
fn export_then_ingest_moves_exactly_one_key_group_range() {
    let all = KeyGroupRange::all(MP);
    let source = TempBackend::new(all);
    let mut t = Tables::open(&source.backend);
    t.fill(all, 0..2_000, 1);
    let everything = t.dump(all);

    let part = key_group_range_for_subtask(MP, 4, 1);
    let files = source
        .backend
        .export_key_groups(part, source.path("export"))
        .unwrap();
    assert_eq!(files.len(), 3, "one file per state: {files:?}");
    assert!(files.iter().all(|f| f.range == part && f.entries > 0));

    // An instance that does not own the range refuses the files.
    let wrong = TempBackend::new(key_group_range_for_subtask(MP, 4, 0));
    assert!(matches!(
        wrong.backend.ingest(&files),
        Err(StateError::KeyGroupOutOfRange { .. })
    ));

    let target = TempBackend::new(part);
    target.backend.ingest(&files).unwrap();
    let mut states = target.backend.states().unwrap();
    states.sort();
    assert_eq!(states, vec!["lists", "op 3/maps", "values"]);
    let ingested = Tables::open(&target.backend);
    assert_eq!(ingested.dump(part), only(&everything, part));
    assert!(!ingested.dump(part).is_empty());
}

#[test]
fn drop_key_groups_removes_exactly_the_range() {
    let all = KeyGroupRange::all(MP);
    let db = TempBackend::new(all);
    let mut t = Tables::open(&db.backend);
    t.fill(all, 0..1_000, 1);
    db.backend.flush().unwrap();
    t.fill(all, 1_000..2_000, 1);
    let everything = t.dump(all);
    let dropped = KeyGroupRange::new(10, 77).unwrap();
    db.backend.drop_key_groups(dropped).unwrap();
    let kept: Vec<_> = everything
        .iter()
        .filter(|line| !dropped.contains(key_group_of(line)))
        .cloned()
        .collect();
    assert_eq!(t.dump(all), kept);
    assert!(t.dump(dropped).is_empty());
    assert!(kept.len() < everything.len());
}

#[test]
fn restore_keeps_only_the_owned_key_groups() {
    let all = KeyGroupRange::all(MP);
    let db = TempBackend::new(all);
    let mut t = Tables::open(&db.backend);
    t.fill(all, 0..1_000, 1);
    let everything = t.dump(all);
    let checkpoint = db.backend.checkpoint(db.path("chk")).unwrap();

    let part = key_group_range_for_subtask(MP, 3, 2);
    let restored = RocksBackend::restore_from_checkpoint(
        &checkpoint.dir,
        db.path("part"),
        part,
        small_options(),
    )
    .unwrap();
    let r = Tables::open(&restored);
    assert_eq!(r.dump(part), only(&everything, part));
    // Nothing outside the range is left, even though the checkpoint had it:
    // read it through an instance owning everything on the same files.
    drop(r);
    drop(restored);
    let reopened = RocksBackend::open(db.path("part"), all, small_options()).unwrap();
    assert_eq!(Tables::open(&reopened).dump(all), only(&everything, part));
}

/// The compaction style named in the newest OPTIONS file of an instance.
fn compaction_styles(db: &std::path::Path) -> Vec<String> {
    let mut options: Vec<_> = std::fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("OPTIONS-")
        })
        .collect();
    options.sort();
    let text = std::fs::read_to_string(options.last().unwrap()).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("compaction_style="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_compaction_style_reaches_every_column_family() {
    use spate_state::rocks::RocksCompaction;
    let range = KeyGroupRange::all(MP);
    for (style, name) in [
        (RocksCompaction::Leveled, "kCompactionStyleLevel"),
        (RocksCompaction::Universal, "kCompactionStyleUniversal"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = spate_state::rocks::RocksOptions {
            compaction: style,
            ..small_options()
        };
        let backend = RocksBackend::open(dir.path().join("db"), range, options).unwrap();
        let mut tables = Tables::open(&backend);
        tables.fill(range, 0..100, 1);
        let styles = compaction_styles(backend.dir());
        // The default column family and the three tables' families.
        assert!(styles.len() >= 4, "{styles:?}");
        assert!(styles.iter().all(|s| s == name), "{style:?}: {styles:?}");
        // Per key: a value, two lists and three map entries.
        assert_eq!(tables.dump(range).len(), 100 * 6);
    }
}
