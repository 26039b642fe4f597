//! Nexmark q18 (last bid per bidder and auction) and q19 (ten highest bids
//! per auction) in SQL, on generated events: the rows their changelogs
//! leave equal what is computed here from the bids themselves, sorted the
//! way the queries say (ties by event time, then by the row's values), on
//! one and two cores.

use spate_sql::{Row, Session, Value};

mod common;
use common::{config, grouped, materialize, nexmark_ddl, nexmark_rows, query_file, run_select};

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

/// Every bid, as the `bid` table's rows.
fn bids() -> Vec<Vec<Value>> {
    let all = nexmark_rows(&nexmark_ddl(EVENTS), "bid");
    assert!(all.len() as u64 > EVENTS / 2, "bids are most events");
    all
}

/// The bid's event time.
const DATE_TIME: usize = 5;

/// `order` first (descending), then event time, then the row's values
/// (ascending): the Top-N's order for rows equal in `order`.
fn ranked(mut group: Vec<Vec<Value>>, order: usize, keep: usize) -> Vec<Vec<Value>> {
    group.sort_by(|a, b| {
        b[order]
            .cmp(&a[order])
            .then_with(|| a[DATE_TIME].cmp(&b[DATE_TIME]))
            .then_with(|| a.cmp(b))
    });
    group.truncate(keep);
    group
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
        .flat_map(|g| ranked(g, DATE_TIME, 1))
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
