//! SQL jobs take checkpoints: every table scan (datagen, nexmark,
//! filesystem) reports its position and resumes there, and Flink's
//! checkpoint and state-backend keys in `SET` configure the engine, so a
//! query brought over from Flink checkpoints as it did there. An updating
//! result's checksum is that of the rows it leaves, the same on every run,
//! core count and backend.

use spate::sources::SplitInfo;
use spate_sql::catalog::Entry;
use spate_sql::connectors::open_reader;
use spate_sql::{Row, Session};

mod common;
use common::{clicks_and_users_ddl, config, nexmark_ddl, run_insert};

const DATAGEN: &str = "CREATE TEMPORARY TABLE gen (id BIGINT, v BIGINT, s STRING) WITH (
  'connector' = 'datagen', 'number-of-rows' = '1000',
  'fields.v.min' = '1', 'fields.v.max' = '50', 'fields.s.length' = '6');\n";

/// Reads split 1 of 2 of `table` whole, and again in two parts with a
/// fresh reader seeking to where the first part stopped.
fn read_whole_and_resumed(
    session: &Session,
    table: &str,
    first_part: usize,
) -> (Vec<String>, Vec<String>) {
    let Some(Entry::Table(def)) = session.catalog().get(table) else {
        panic!("no table {table}");
    };
    let split = SplitInfo { index: 1, count: 2 };
    let read_all = |reader: &mut Box<dyn spate_sql::connectors::RowReader>, limit: usize| {
        let mut rows: Vec<Row> = Vec::new();
        while rows.len() < limit {
            let before = rows.len();
            let poll = reader.read(&mut rows, 7).expect("read");
            if poll == spate_sql::connectors::ReadPoll::Exhausted && rows.len() == before {
                break;
            }
        }
        rows.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let mut whole = open_reader(def, split).expect("open");
    let all = read_all(&mut whole, usize::MAX);
    let mut first = open_reader(def, split).expect("open");
    let mut resumed = read_all(&mut first, first_part);
    let position = first.position();
    let mut second = open_reader(def, split).expect("open");
    second.seek(position).expect("seek");
    resumed.extend(read_all(&mut second, usize::MAX));
    (all, resumed)
}

#[test]
fn every_table_scan_resumes_at_its_checkpointed_position() {
    let mut s = Session::new(config(2));
    s.execute(&format!(
        "{DATAGEN}{}{}",
        nexmark_ddl(2_000),
        clicks_and_users_ddl()
    ))
    .expect("ddl");
    for (table, first_part) in [("gen", 100), ("bid", 300), ("clicks", 2)] {
        let (all, resumed) = read_whole_and_resumed(&s, table, first_part);
        assert!(all.len() > first_part, "{table}: {} rows", all.len());
        assert_eq!(all, resumed, "table {table} resumed at its position");
    }
    // A position of another split is refused, with the table's name.
    let Some(Entry::Table(def)) = s.catalog().get("gen") else {
        panic!("no table gen");
    };
    let mut reader = open_reader(def, SplitInfo { index: 1, count: 2 }).expect("open");
    let e = reader
        .seek(4)
        .expect_err("row 4 belongs to split 0")
        .to_string();
    assert!(e.contains("gen") && e.contains("split 1 of 2"), "{e}");
}

#[test]
fn flink_checkpoint_settings_make_a_sql_job_checkpoint_with_the_same_result() {
    let dir = std::env::temp_dir().join(format!("spate-sql-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let job = "CREATE TEMPORARY TABLE slow (bidder BIGINT, price BIGINT) WITH (
      'connector' = 'datagen', 'number-of-rows' = '15000', 'rows-per-second' = '6000', 'throttle' = 'true',
      'fields.bidder.min' = '1', 'fields.bidder.max' = '300',
      'fields.price.min' = '1', 'fields.price.max' = '1000');
    CREATE TEMPORARY TABLE sink (bidder BIGINT, cnt BIGINT, total BIGINT,
      PRIMARY KEY (bidder) NOT ENFORCED) WITH ('connector' = 'blackhole');
    INSERT INTO sink SELECT bidder, COUNT(*), SUM(price) FROM slow GROUP BY bidder;";
    let plain = run_insert(&mut Session::new(config(2)), job);
    assert_eq!(plain.metrics.checkpoints.completed, 0);
    // An updating result's checksum is that of the rows it leaves: equal
    // on one core, whose changes come in another order.
    let one_core = run_insert(&mut Session::new(config(1)), job);
    assert_eq!(
        one_core.metrics.sink_checksum(),
        plain.metrics.sink_checksum()
    );
    let settings = format!(
        "SET 'state.backend.type' = 'rocksdb';
         SET 'execution.checkpointing.interval' = '100 ms';
         SET 'execution.checkpointing.incremental' = 'true';
         SET 'execution.checkpointing.dir' = 'file://{}';\n",
        dir.display()
    );
    let mut session = Session::new(config(2));
    let checkpointed = run_insert(&mut session, &format!("{settings}{job}"));
    assert_eq!(
        session.config.state.backend,
        spate::config::StateBackendKind::RocksDb
    );
    assert!(
        checkpointed.metrics.checkpoints.completed >= 3,
        "a job of 2.5 s checkpointed every 100 ms: {} checkpoints",
        checkpointed.metrics.checkpoints.completed
    );
    assert_eq!(
        checkpointed.metrics.sink_checksum(),
        plain.metrics.sink_checksum(),
        "the same changelog with and without checkpoints"
    );
    // Mini-batch holds changes back within a batch only: checkpoints (on
    // RocksDB, which the held groups are read back from) see none held.
    let mut session = Session::new(config(2));
    let batched = run_insert(
        &mut session,
        &format!("{}{settings}{job}", spate_sql::nexmark::SETTINGS),
    );
    assert!(batched.metrics.checkpoints.completed >= 3);
    assert_eq!(
        batched.metrics.sink_checksum(),
        plain.metrics.sink_checksum(),
        "the same rows left with mini-batch and checkpoints"
    );
    assert!(
        batched.metrics.sink_records() < plain.metrics.sink_records(),
        "mini-batch folds changes: {} against {}",
        batched.metrics.sink_records(),
        plain.metrics.sink_records()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_set_of_an_engine_key_is_checked_and_a_refused_flink_value_says_why() {
    let mut s = Session::new(config(1));
    s.execute("SET 'checkpoint.retained' = '4';")
        .expect("an engine key");
    assert_eq!(s.config.checkpoint.retained, 4);
    let e = s
        .execute("SET 'checkpoint.retained' = 'many';")
        .expect_err("not a number")
        .to_string();
    assert!(e.contains("checkpoint.retained"), "{e}");
    let e = s
        .execute("SET 'execution.checkpointing.incremental' = 'false';")
        .expect_err("full checkpoints are not offered")
        .to_string();
    assert!(e.contains("always incremental"), "{e}");
}
