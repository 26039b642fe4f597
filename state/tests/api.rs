//! Properties of the public API that the engine relies on.

use spate_state::{
    AggregateFunction, AggregatingTable, KeyGroupRange, KeyRef, ListTable, MapTable, ReducingTable,
    StateError, TimerQueue, ValueTable,
};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

struct Sum;

impl AggregateFunction for Sum {
    type In = u64;
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, value: u64, acc: &mut u64) {
        *acc += value;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

#[test]
fn tables_can_move_between_threads() {
    // Tables are built on one thread and may be handed to a core's thread.
    assert_send_sync::<ValueTable<String, u64, Vec<u8>>>();
    assert_send_sync::<ListTable<u64, (), String>>();
    assert_send_sync::<MapTable<u64, (), String, u64>>();
    assert_send_sync::<AggregatingTable<u64, (), Sum>>();
    assert_send_sync::<TimerQueue<u64, u64>>();
    assert_send::<StateError>();
}

#[test]
fn every_table_rejects_foreign_key_groups_without_panicking() {
    let range = KeyGroupRange::new(0, 1).expect("valid range");
    let key = (0u64..)
        .find(|k| KeyRef::of(k, 128).key_group != 0)
        .expect("some key lands elsewhere");
    let kr = KeyRef::of(&key, 128);
    let is_out_of_range = |e: StateError| matches!(e, StateError::KeyGroupOutOfRange { key_group, .. } if key_group == kr.key_group);

    let mut value: ValueTable<u64, (), u64> = ValueTable::new(range, None);
    assert!(value.put(kr, key, (), 1, 0).is_err_and(is_out_of_range));
    let mut list: ListTable<u64, (), u64> = ListTable::new(range, None);
    assert!(list.add(kr, &key, &(), 1, 0).is_err_and(is_out_of_range));
    assert!(list.get(kr, &key, &(), 0).is_err());
    let mut map: MapTable<u64, (), u64, u64> = MapTable::new(range, None);
    assert!(map.put(kr, &key, &(), 1, 1, 0).is_err_and(is_out_of_range));
    let mut reducing: ReducingTable<u64, (), u64> = ReducingTable::new(range, None, |a, b| a + b);
    assert!(
        reducing
            .add(kr, &key, &(), 1, 0)
            .is_err_and(is_out_of_range)
    );
    let mut aggregating: AggregatingTable<u64, (), Sum> = AggregatingTable::new(range, None, Sum);
    assert!(
        aggregating
            .add(kr, &key, &(), 1, 0)
            .is_err_and(is_out_of_range)
    );
    let mut timers: TimerQueue<u64, ()> = TimerQueue::new(range);
    assert!(
        timers
            .register(kr, &key, &(), 1)
            .is_err_and(is_out_of_range)
    );
    assert!(value.is_empty() && list.is_empty() && map.is_table_empty());
    assert!(reducing.is_empty() && aggregating.is_empty() && timers.is_empty());
}
