//! Hand-checked inputs (tests/golden/hand/*.jsonl) with hand-written expected
//! rows for every reference query: they are what proves the reference right.
//! The same inputs can feed the engine's queries.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::path::PathBuf;

use spate_bench::nexmark::reference::{check_lateness, q0, q1, q2, q3, q4, q5, q6, q7, q8};
use spate_bench::nexmark::rows::{Q1Row, Q2Row, Q3Row, Q4Row, Q5Row, Q6Row, Q7Row, Q8Row};
use spate_bench::nexmark::{Event, NexmarkError, Str, read_events_jsonl};

fn hand(name: &str) -> Vec<Event> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/hand")
        .join(name);
    read_events_jsonl(&path).expect("hand fixture")
}

#[test]
fn q0_passes_bids_q1_converts_q2_filters() {
    let events = hand("q0_q1_q2.jsonl");
    let bids = q0(&events).unwrap();
    assert_eq!(
        bids.iter()
            .map(|b| (b.auction, b.price, b.date_time))
            .collect::<Vec<_>>(),
        [
            (1000, 1000, 2),
            (1230, 250, 3),
            (1107, 12345, 5),
            (1231, 7, 4)
        ]
    );
    assert_eq!(bids[1].channel, "channel-7");
    assert_eq!(bids[2].extra, "pad");

    let euros = q1(&events).unwrap();
    let expect = [
        (1000, 908.0),
        (1230, 227.0),
        (1107, 11_209.26),
        (1231, 6.356),
    ];
    assert_eq!(euros.len(), 4);
    for (row, (auction, price)) in euros.iter().zip(expect) {
        assert_eq!(row.auction, auction);
        assert!((row.price - price).abs() < 1e-9, "{} vs {price}", row.price);
    }
    // The exact expression, so engines can match bits.
    assert_eq!(
        euros[0],
        Q1Row {
            auction: 1000,
            bidder: 1001,
            price: 1000.0 * 0.908,
            date_time: 2,
            extra: Str::from("x"),
        }
    );

    assert_eq!(
        q2(&events).unwrap(),
        [
            Q2Row {
                auction: 1230,
                price: 250
            },
            Q2Row {
                auction: 1107,
                price: 12345
            }
        ]
    );
}

#[test]
fn q3_joins_category_10_auctions_with_western_sellers_in_emit_order() {
    let row = |name: &str, city: &str, state: &str, auction| Q3Row {
        name: name.into(),
        city: city.into(),
        state: state.into(),
        auction,
    };
    assert_eq!(
        q3(&hand("q3.jsonl")).unwrap(),
        [
            // Auction 1000 came before its seller: emitted when the seller arrived.
            row("Paul Abrams", "Portland", "OR", 1000),
            row("Kate Smith", "Boise", "ID", 1003),
            row("Paul Abrams", "Portland", "OR", 1004),
        ]
    );
}

#[test]
fn q4_averages_winning_prices_per_category_in_closing_order() {
    let row = |category, avg_price| Q4Row {
        category,
        avg_price,
    };
    // Winners: 1001 → 500 (bids at exactly date_time and expires count, after
    // expires not), 1002 → 80, 1003 → 700, 1000 → 260 (an out-of-order bid);
    // 1004 has no bid inside its interval. Closing order (expires, id):
    // 1001 (3000), 1002 and 1003 (4000), 1000 (5000).
    assert_eq!(
        q4(&hand("q4_q6.jsonl")).unwrap(),
        [
            row(10, 500.0),
            row(11, 80.0),
            row(11, 390.0),
            row(10, 380.0)
        ]
    );
}

#[test]
fn q6_averages_a_sellers_last_closed_auctions() {
    let row = |seller, avg_price| Q6Row { seller, avg_price };
    assert_eq!(
        q6(&hand("q4_q6.jsonl")).unwrap(),
        [
            row(1000, 500.0),
            row(1001, 80.0),
            row(1000, 600.0),
            row(1000, 1460.0 / 3.0)
        ]
    );
    // Twelve auctions of one seller won at 100, 200, ..., 1200: the average
    // covers at most the last 10.
    let averages: Vec<f64> = q6(&hand("q6_last10.jsonl"))
        .unwrap()
        .iter()
        .map(|r| r.avg_price)
        .collect();
    assert_eq!(
        averages,
        [
            100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0, 500.0, 550.0, 650.0, 750.0
        ]
    );
}

#[test]
fn q5_finds_the_hottest_auctions_per_hopping_window() {
    let row = |window_start, auction, num| Q5Row {
        auction,
        num,
        window_start,
        window_end: window_start + 10_000,
    };
    assert_eq!(
        q5(&hand("q5.jsonl")).unwrap(),
        [
            row(92_000, 1000, 1),
            row(94_000, 1000, 2),
            row(96_000, 1000, 2),
            row(98_000, 1000, 2),
            row(100_000, 1000, 2),
            row(100_000, 1001, 2),
            row(102_000, 1001, 2),
            row(104_000, 1001, 1),
            row(104_000, 1002, 1),
            row(106_000, 1001, 1),
            row(106_000, 1002, 1),
            row(108_000, 1001, 1),
            row(108_000, 1002, 1),
            row(110_000, 1002, 1),
        ]
    );
}

#[test]
fn q7_keeps_the_top_priced_bids_of_each_tumbling_window() {
    let rows: Vec<(u64, u64, i64, String)> = q7(&hand("q7.jsonl"))
        .unwrap()
        .into_iter()
        .map(|r: Q7Row| (r.auction, r.price, r.date_time, r.extra.to_string()))
        .collect();
    let s = String::from;
    assert_eq!(
        rows,
        [
            (1001, 90, 2_000, s("b")),
            (1002, 90, 9_999, s("c")),
            // 10 000 starts the second window.
            (1003, 95, 10_000, s("d")),
            (1005, 95, 13_000, s("f")),
            (1007, 1000, 25_000, s("h")),
        ]
    );
}

#[test]
fn q8_finds_people_selling_in_their_registration_window() {
    let row = |id, name: &str, window_start| Q8Row {
        id,
        name: name.into(),
        window_start,
    };
    assert_eq!(
        q8(&hand("q8.jsonl")).unwrap(),
        [
            row(1000, "Peter Shultz", 0),
            row(1002, "Kate Smith", 10_000),
            row(1004, "Sarah Walton", 20_000),
        ]
    );
}

#[test]
fn events_beyond_the_watermark_delay_are_an_error() {
    // q7.jsonl has an event exactly 4 s behind: allowed.
    check_lateness(&hand("q7.jsonl")).unwrap();
    let late = hand("late.jsonl");
    match q0(&late) {
        Err(NexmarkError::LateEvent {
            index,
            date_time,
            max_seen,
            bound_ms,
        }) => assert_eq!(
            (index, date_time, max_seen, bound_ms),
            (1, 5_999, 10_000, 4_000)
        ),
        other => panic!("expected LateEvent, got {other:?}"),
    }
    assert!(q5(&late).is_err() && q8(&late).is_err());
}
