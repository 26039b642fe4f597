//! `SET 'table.exec.mini-batch.enabled' = 'true'` folds a group
//! aggregate's changes per input batch (and, unless
//! `table.optimizer.agg-phase-strategy` is `ONE_PHASE`, adds a local phase
//! before the exchange). The rows the changelog leaves, and the sink's
//! checksum, are those of the same query without mini-batch, on one and
//! two cores; the changelog itself is shorter.

use std::collections::BTreeMap;

use spate_sql::{Row, Session, Value};

mod common;
use common::{
    clicks_and_users_ddl, config, error_after, materialize_counts, nexmark_ddl_at, query_as_select,
    run_select,
};

/// The settings of each mode, `SET` statements to put before a query.
const MODES: &[(&str, &str)] = &[
    ("off", ""),
    (
        "two phases",
        "SET 'table.exec.mini-batch.enabled' = 'true';\n\
         SET 'table.exec.mini-batch.allow-latency' = '2s';\n\
         SET 'table.exec.mini-batch.size' = '50000';\n",
    ),
    (
        "one phase",
        "SET 'table.exec.mini-batch.enabled' = 'true';\n\
         SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';\n",
    ),
    (
        "one group held at a time",
        "SET 'table.exec.mini-batch.enabled' = 'true';\n\
         SET 'table.exec.mini-batch.size' = '1';\n",
    ),
];

/// What one run of a query gave: the rows its changelog leaves, how many
/// changes it emitted, and the sink's checksum.
struct Run {
    rows: BTreeMap<Vec<Value>, i64>,
    changes: u64,
    checksum: u64,
}

fn run(settings: &str, ddl: &str, query: &str, cores: u32) -> Run {
    let mut s = Session::new(config(cores));
    let (rows, result): (Vec<Row>, _) = run_select(&mut s, &format!("{settings}{ddl}\n{query}"));
    Run {
        rows: materialize_counts(&rows),
        changes: rows.len() as u64,
        checksum: result.metrics.sink_checksum(),
    }
}

/// Runs `query` in every mode on one and two cores; each leaves the rows
/// of mini-batch off on one core. Returns the changes emitted with
/// mini-batch off and with two phases, on two cores.
fn check(name: &str, ddl: &str, query: &str, rows_min: usize) -> (u64, u64) {
    let want = run("", ddl, query, 1);
    assert!(
        want.rows.len() >= rows_min,
        "{name}: only {} rows",
        want.rows.len()
    );
    let mut changes = BTreeMap::new();
    for cores in [1, 2] {
        for (mode, settings) in MODES {
            let got = run(settings, ddl, query, cores);
            assert!(
                got.rows == want.rows,
                "{name}, {mode}, {cores} cores: rows differ"
            );
            assert_eq!(
                got.checksum, want.checksum,
                "{name}, {mode}, {cores} cores: checksum"
            );
            changes.insert((*mode, cores), got.changes);
        }
    }
    (changes[&("off", 2)], changes[&("two phases", 2)])
}

#[test]
fn nexmark_q4_leaves_the_same_averages_with_far_fewer_changes() {
    let ddl = nexmark_ddl_at(20_000, 500);
    let (off, on) = check("q4", &ddl, &query_as_select("q4"), 3);
    // Each new best bid changed its category's average once per row
    // without mini-batch; now once per category and batch at most.
    assert!(
        on * 2 < off,
        "q4: {on} changes with mini-batch, {off} without"
    );
}

#[test]
fn aggregates_that_cannot_be_split_still_fold_their_changes() {
    // COUNT(DISTINCT) has no partial aggregate: one phase, held back.
    let ddl = nexmark_ddl_at(20_000, 500);
    let query = "SELECT channel, COUNT(*) AS bids, COUNT(DISTINCT bidder) AS bidders, \
                 SUM(price) AS total, MIN(price) AS low, MAX(price) AS high \
                 FROM bid GROUP BY channel;";
    let (off, on) = check("distinct", &ddl, query, 4);
    assert!(
        on * 2 < off,
        "distinct: {on} changes with mini-batch, {off} without"
    );
}

#[test]
fn retractions_and_emptied_groups_cross_both_phases() {
    // The outer count reads the inner one's changelog: every update
    // retracts a row from one group and adds it to another, and groups
    // empty (deletes) as users move from one count to the next.
    let query = "SELECT cnt, COUNT(*) AS users, SUM(total) AS spent, AVG(total) AS mean \
                 FROM (SELECT user_name, COUNT(*) AS cnt, SUM(amount) AS total \
                       FROM clicks GROUP BY user_name) GROUP BY cnt;";
    check("count of counts", &clicks_and_users_ddl(), query, 2);
}

#[test]
fn bad_mini_batch_settings_are_refused_with_what_is_expected() {
    let ddl = clicks_and_users_ddl();
    for (sql, expected) in [
        (
            "SET 'table.exec.mini-batch.enabled' = 'yes';",
            "'table.exec.mini-batch.enabled' is 'true' or 'false', not 'yes'",
        ),
        (
            "SET 'table.exec.mini-batch.size' = 'lots';",
            "is a number of rows greater than 0",
        ),
        (
            "SET 'table.exec.mini-batch.allow-latency' = '2 weeks';",
            "unknown time unit",
        ),
        (
            "SET 'table.optimizer.agg-phase-strategy' = 'THREE_PHASE';",
            "'AUTO', 'ONE_PHASE' or 'TWO_PHASE'",
        ),
    ] {
        let message = error_after(&ddl, sql).to_string();
        assert!(message.contains(expected), "{sql}: {message}");
    }
}
