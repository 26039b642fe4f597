//! Nexmark q18 (last bid per bidder and auction) and q19 (ten highest bids
//! per auction) in SQL, on generated events: the rows their changelogs
//! leave equal what is computed here from the bids themselves, sorted the
//! way the queries say (ties by the row's values), on one and two cores.

use std::collections::BTreeMap;

use spate_sql::{Row, Session, Value};

mod common;
use common::{config, nexmark_ddl, query_file, run_select};

const EVENTS: u64 = 20_000;

/// The SELECT of a query file (what follows its INSERT INTO line).
fn select_of(query: &str) -> String {
    let text = query_file(&format!("{query}.sql"));
    let (_, select) = text
        .split_once(&format!("INSERT INTO nexmark_{query}\n"))
        .expect("the query inserts into its sink table");
    select.to_string()
}

fn rows(cores: u32, select: &str) -> Vec<Row> {
    let mut s = Session::new(config(cores));
    run_select(&mut s, &format!("{}\n{select}", nexmark_ddl(EVENTS))).0
}

/// The rows a changelog leaves; each must be left once.
fn materialize(rows: &[Row]) -> Vec<Vec<Value>> {
    let mut table: BTreeMap<Vec<Value>, i64> = BTreeMap::new();
    for r in rows {
        *table.entry(r.values.clone()).or_insert(0) += if r.kind.is_addition() { 1 } else { -1 };
    }
    table.retain(|_, n| *n != 0);
    assert!(
        table.values().all(|n| *n == 1),
        "a row left other than once"
    );
    table.into_keys().collect()
}

/// Every bid, as the `bid` table's rows.
fn bids() -> Vec<Vec<Value>> {
    let all = rows(1, "SELECT * FROM bid;");
    assert!(all.len() as u64 > EVENTS / 2, "bids are most events");
    all.into_iter().map(|r| r.values).collect()
}

/// `order` first (descending), then the row's values ascending.
fn ranked(mut group: Vec<Vec<Value>>, order: usize, keep: usize) -> Vec<Vec<Value>> {
    group.sort_by(|a, b| b[order].cmp(&a[order]).then_with(|| a.cmp(b)));
    group.truncate(keep);
    group
}

fn grouped(bids: Vec<Vec<Value>>, key: &[usize]) -> BTreeMap<Vec<Value>, Vec<Vec<Value>>> {
    let mut m: BTreeMap<Vec<Value>, Vec<Vec<Value>>> = BTreeMap::new();
    for b in bids {
        m.entry(key.iter().map(|&i| b[i].clone()).collect())
            .or_default()
            .push(b);
    }
    m
}

#[test]
fn nexmark_q19_sql_keeps_the_ten_highest_bids_of_each_auction() {
    // Columns: auction, bidder, price, channel, url, dateTime, extra.
    let mut want: Vec<Vec<Value>> = grouped(bids(), &[0])
        .into_values()
        .flat_map(|g| {
            ranked(g, 2, 10).into_iter().enumerate().map(|(i, mut r)| {
                r.push(Value::Int(i as i64 + 1));
                r
            })
        })
        .collect();
    want.sort();
    assert!(want.len() > 100, "{} rows", want.len());
    for cores in [1, 2] {
        assert_eq!(
            materialize(&rows(cores, &select_of("q19"))),
            want,
            "{cores} cores"
        );
    }
}

#[test]
fn nexmark_q18_sql_keeps_the_last_bid_of_each_bidder_on_each_auction() {
    let mut want: Vec<Vec<Value>> = grouped(bids(), &[1, 0])
        .into_values()
        .flat_map(|g| ranked(g, 5, 1))
        .collect();
    want.sort();
    assert!(want.len() > 100, "{} rows", want.len());
    for cores in [1, 2] {
        assert_eq!(
            materialize(&rows(cores, &select_of("q18"))),
            want,
            "{cores} cores"
        );
    }
}
