//! The Nexmark queries written in SQL that are not compared with a
//! hand-written DataStream version (q4, q9, q11, q14–q17, q20–q22, in
//! nexmark-flink's text): the rows each query's changelog leaves equal what
//! is computed here from the generated events themselves, on one and two
//! cores. Events are 2 ms apart in event time (40 s in all), so sessions
//! and auction lifetimes hold several bids.

use std::collections::{BTreeMap, BTreeSet};

use spate_sql::value::format_timestamp_ms;
use spate_sql::{Session, Value};

mod common;
use common::{
    config, grouped, materialize_counts, nexmark_ddl_at, nexmark_rows, query_as_select, run_select,
};

const EVENTS: u64 = 20_000;
const RATE: u64 = 500;

/// Bid columns.
const B_AUCTION: usize = 0;
const B_BIDDER: usize = 1;
const B_PRICE: usize = 2;
const B_CHANNEL: usize = 3;
const B_URL: usize = 4;
const B_TIME: usize = 5;
const B_EXTRA: usize = 6;
/// Auction columns.
const A_ID: usize = 0;
const A_TIME: usize = 5;
const A_EXPIRES: usize = 6;
const A_CATEGORY: usize = 8;

/// The rows `query` leaves on `cores` cores, with how often each is left.
fn run(query: &str, cores: u32) -> BTreeMap<Vec<Value>, i64> {
    let mut s = Session::new(config(cores));
    let sql = format!(
        "{}\n{}",
        nexmark_ddl_at(EVENTS, RATE),
        query_as_select(query)
    );
    materialize_counts(&run_select(&mut s, &sql).0)
}

/// Checks `query` against `want` (a multiset: a projection of bids may
/// repeat a row) on one and two cores.
fn check(query: &str, want: Vec<Vec<Value>>, rows_min: usize) {
    assert!(
        want.len() >= rows_min,
        "{query}: only {} expected rows",
        want.len()
    );
    let mut counts: BTreeMap<Vec<Value>, i64> = BTreeMap::new();
    for row in want {
        *counts.entry(row).or_insert(0) += 1;
    }
    for cores in [1, 2] {
        let got = run(query, cores);
        assert_eq!(
            got.len(),
            counts.len(),
            "{query} on {cores} cores: distinct rows"
        );
        assert!(got == counts, "{query} on {cores} cores: rows differ");
    }
}

fn bids() -> Vec<Vec<Value>> {
    nexmark_rows(&nexmark_ddl_at(EVENTS, RATE), "bid")
}

fn auctions() -> Vec<Vec<Value>> {
    nexmark_rows(&nexmark_ddl_at(EVENTS, RATE), "auction")
}

fn int(v: &Value) -> i64 {
    v.as_i64().expect("an integer")
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

/// `DATE_FORMAT(ts, 'yyyy-MM-dd')`, from the timestamp's printed form.
fn day_of(ms: i64) -> String {
    format_timestamp_ms(ms)[..10].to_string()
}

/// `DATE_FORMAT(ts, 'HH:mm')`.
fn minute_of(ms: i64) -> String {
    format_timestamp_ms(ms)[11..16].to_string()
}

/// The three price ranges of q15–q17.
fn rank_of(price: i64) -> usize {
    match price {
        p if p < 10_000 => 0,
        p if p < 1_000_000 => 1,
        _ => 2,
    }
}

/// q15/q16's eleven figures over a group's bids.
fn bid_statistics(group: &[Vec<Value>]) -> Vec<Value> {
    let mut bids = [0i64; 3];
    let mut bidders: [BTreeSet<i64>; 3] = Default::default();
    let mut auctions: [BTreeSet<i64>; 3] = Default::default();
    for b in group {
        let r = rank_of(int(&b[B_PRICE]));
        bids[r] += 1;
        bidders[r].insert(int(&b[B_BIDDER]));
        auctions[r].insert(int(&b[B_AUCTION]));
    }
    let all = |sets: &[BTreeSet<i64>; 3]| sets.iter().flatten().collect::<BTreeSet<_>>().len();
    let mut out = vec![Value::Int(group.len() as i64)];
    out.extend(bids.iter().map(|n| Value::Int(*n)));
    out.push(Value::Int(all(&bidders) as i64));
    out.extend(bidders.iter().map(|b| Value::Int(b.len() as i64)));
    out.push(Value::Int(all(&auctions) as i64));
    out.extend(auctions.iter().map(|a| Value::Int(a.len() as i64)));
    out
}

/// Each bid with its `day` (as an extra last column).
fn with_day(bids: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    bids.into_iter()
        .map(|mut b| {
            let day = day_of(int(&b[B_TIME]));
            b.push(s(&day));
            b
        })
        .collect()
}

#[test]
fn q22_splits_each_bid_url_into_directories() {
    let want = bids()
        .into_iter()
        .map(|b| {
            let url = text(&b[B_URL]);
            let part = |i: usize| url.split('/').nth(i).map_or(Value::Null, s);
            let mut row = b[..=B_CHANNEL].to_vec();
            row.extend([part(3), part(4), part(5)]);
            row
        })
        .collect();
    check("q22", want, 1000);
}

/// What `REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)` finds, read
/// by hand: the value of a `channel_id=` at the very start of the url or
/// right after an `&`, up to the next `&`.
fn channel_id_param(url: &str) -> Option<String> {
    url.split('&')
        .find_map(|part| part.strip_prefix("channel_id="))
        .map(str::to_string)
}

#[test]
fn q21_derives_a_channel_id_from_the_channel_or_the_url() {
    let known = ["apple", "google", "facebook", "baidu"];
    let want: Vec<Vec<Value>> = bids()
        .into_iter()
        .filter_map(|b| {
            let channel = text(&b[B_CHANNEL]).to_lowercase();
            let param = channel_id_param(&text(&b[B_URL]));
            let id = match known.iter().position(|k| *k == channel) {
                Some(i) => Some(i.to_string()),
                None => Some(param.clone()?),
            };
            let mut row = b[..=B_CHANNEL].to_vec();
            row.push(id.map_or(Value::Null, |x| s(&x)));
            Some(row)
        })
        .collect();
    let from_url = want
        .iter()
        .filter(|r| r[4].as_str().is_some_and(|x| x.len() > 1))
        .count();
    assert!(from_url > 100, "{from_url} ids came from urls");
    check("q21", want, 1000);
}

#[test]
fn q14_prices_bids_in_another_currency_by_time_of_day() {
    let want = bids()
        .into_iter()
        .filter_map(|b| {
            let price = 0.908 * int(&b[B_PRICE]) as f64;
            if !(price > 1_000_000.0 && price < 50_000_000.0) {
                return None;
            }
            let hour = int(&b[B_TIME]).rem_euclid(86_400_000) / 3_600_000;
            let kind = match hour {
                8..=18 => "dayTime",
                h if h <= 6 || h >= 20 => "nightTime",
                _ => "otherTime",
            };
            let extra = text(&b[B_EXTRA]);
            Some(vec![
                b[B_AUCTION].clone(),
                b[B_BIDDER].clone(),
                Value::Double(price),
                s(kind),
                b[B_TIME].clone(),
                b[B_EXTRA].clone(),
                Value::Int(extra.chars().filter(|c| *c == 'c').count() as i64),
            ])
        })
        .collect();
    check("q14", want, 100);
}

#[test]
fn q15_counts_bids_bidders_and_auctions_per_day_and_price_range() {
    let day = B_EXTRA + 1;
    let want = grouped(with_day(bids()), &[day])
        .into_iter()
        .map(|(k, g)| {
            let mut row = k;
            row.extend(bid_statistics(&g));
            row
        })
        .collect();
    check("q15", want, 1);
}

#[test]
fn q16_counts_per_channel_and_day_with_the_last_minute() {
    let day = B_EXTRA + 1;
    let want = grouped(with_day(bids()), &[B_CHANNEL, day])
        .into_iter()
        .map(|(k, g)| {
            let minute = g
                .iter()
                .map(|b| minute_of(int(&b[B_TIME])))
                .max()
                .unwrap_or_default();
            let mut row = k;
            row.push(s(&minute));
            row.extend(bid_statistics(&g));
            row
        })
        .collect();
    check("q16", want, 4);
}

#[test]
fn q17_gives_each_auctions_daily_price_statistics() {
    let day = B_EXTRA + 1;
    let want = grouped(with_day(bids()), &[B_AUCTION, day])
        .into_iter()
        .map(|(k, g)| {
            let prices: Vec<i64> = g.iter().map(|b| int(&b[B_PRICE])).collect();
            let mut ranks = [0i64; 3];
            for p in &prices {
                ranks[rank_of(*p)] += 1;
            }
            let sum: i64 = prices.iter().sum();
            let mut row = k;
            row.push(Value::Int(prices.len() as i64));
            row.extend(ranks.iter().map(|n| Value::Int(*n)));
            row.extend([
                Value::Int(*prices.iter().min().unwrap_or(&0)),
                Value::Int(*prices.iter().max().unwrap_or(&0)),
                Value::Int(sum / prices.len() as i64),
                Value::Int(sum),
            ]);
            row
        })
        .collect();
    check("q17", want, 100);
}

#[test]
fn q20_joins_each_bid_with_its_auction_in_category_10() {
    let by_id: BTreeMap<i64, Vec<Value>> = auctions()
        .into_iter()
        .filter(|a| int(&a[A_CATEGORY]) == 10)
        .map(|a| (int(&a[A_ID]), a))
        .collect();
    assert!(!by_id.is_empty(), "some auctions are in category 10");
    let want = bids()
        .into_iter()
        .filter_map(|b| {
            let a = by_id.get(&int(&b[B_AUCTION]))?;
            let mut row = b.clone();
            row.extend(a[1..].iter().cloned());
            Some(row)
        })
        .collect();
    check("q20", want, 10);
}

/// Each auction with the bids placed within its lifetime.
fn bids_in_lifetime() -> Vec<(Vec<Value>, Vec<Vec<Value>>)> {
    let mut by_auction = grouped(bids(), &[B_AUCTION]);
    auctions()
        .into_iter()
        .filter_map(|a| {
            let (start, end) = (int(&a[A_TIME]), int(&a[A_EXPIRES]));
            let bids: Vec<Vec<Value>> = by_auction
                .remove(&vec![a[A_ID].clone()])?
                .into_iter()
                .filter(|b| (start..=end).contains(&int(&b[B_TIME])))
                .collect();
            (!bids.is_empty()).then_some((a, bids))
        })
        .collect()
}

#[test]
fn q4_averages_the_winning_bids_of_each_category() {
    let mut finals: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (a, bids) in bids_in_lifetime() {
        let best = bids.iter().map(|b| int(&b[B_PRICE])).max().unwrap_or(0);
        finals.entry(int(&a[A_CATEGORY])).or_default().push(best);
    }
    let want = finals
        .into_iter()
        .map(|(category, f)| {
            let avg = f.iter().sum::<i64>() / f.len() as i64;
            vec![Value::Int(category), Value::Int(avg)]
        })
        .collect();
    check("q4", want, 3);
}

#[test]
fn q9_keeps_each_auctions_winning_bid() {
    let want = bids_in_lifetime()
        .into_iter()
        .map(|(a, mut bids)| {
            bids.sort_by(|x, y| {
                int(&y[B_PRICE])
                    .cmp(&int(&x[B_PRICE]))
                    .then_with(|| int(&x[B_TIME]).cmp(&int(&y[B_TIME])))
                    .then_with(|| x.cmp(y))
            });
            let b = &bids[0];
            let mut row = a;
            row.extend([
                b[B_AUCTION].clone(),
                b[B_BIDDER].clone(),
                b[B_PRICE].clone(),
                b[B_TIME].clone(),
                b[B_EXTRA].clone(),
            ]);
            row
        })
        .collect();
    check("q9", want, 100);
}

#[test]
fn q11_counts_the_bids_of_each_bidder_session() {
    const GAP_MS: i64 = 10_000;
    let mut want = Vec::new();
    for (bidder, group) in grouped(bids(), &[B_BIDDER]) {
        let mut times: Vec<i64> = group.iter().map(|b| int(&b[B_TIME])).collect();
        times.sort_unstable();
        // A session grows while the next bid comes within the gap of the last.
        let mut start = times[0];
        let mut last = times[0];
        let mut count = 1;
        for &t in &times[1..] {
            if t <= last + GAP_MS {
                count += 1;
            } else {
                want.push(vec![
                    bidder[0].clone(),
                    Value::Int(count),
                    Value::Timestamp(start),
                    Value::Timestamp(last + GAP_MS),
                ]);
                (start, count) = (t, 1);
            }
            last = t;
        }
        want.push(vec![
            bidder[0].clone(),
            Value::Int(count),
            Value::Timestamp(start),
            Value::Timestamp(last + GAP_MS),
        ]);
    }
    assert!(
        want.iter().any(|r| int(&r[1]) > 1),
        "some session holds several bids"
    );
    check("q11", want, 100);
}

#[test]
fn an_interval_self_join_of_bids_pairs_each_bid_with_the_next_second_of_its_auction() {
    // State is freed by the watermark as the join goes (an interval join):
    // the pairs must still be every pair the bounds allow. Fewer events
    // than the other tests: a hot auction's bids all meet each other.
    const PAIR_EVENTS: u64 = 6_000;
    let sql = format!(
        "{}\nSELECT b1.auction, b1.bidder, b1.dateTime, b2.bidder, b2.dateTime \
         FROM bid b1 JOIN bid b2 ON b1.auction = b2.auction \
         AND b2.dateTime BETWEEN b1.dateTime AND b1.dateTime + INTERVAL '1' SECOND;",
        nexmark_ddl_at(PAIR_EVENTS, RATE)
    );
    let mut want: BTreeMap<Vec<Value>, i64> = BTreeMap::new();
    let bids = nexmark_rows(&nexmark_ddl_at(PAIR_EVENTS, RATE), "bid");
    for (_, group) in grouped(bids, &[B_AUCTION]) {
        for a in &group {
            for b in &group {
                let (ta, tb) = (int(&a[B_TIME]), int(&b[B_TIME]));
                if ta <= tb && tb <= ta + 1_000 {
                    let row = vec![
                        a[B_AUCTION].clone(),
                        a[B_BIDDER].clone(),
                        a[B_TIME].clone(),
                        b[B_BIDDER].clone(),
                        b[B_TIME].clone(),
                    ];
                    *want.entry(row).or_insert(0) += 1;
                }
            }
        }
    }
    let pairs: i64 = want.values().sum();
    assert!(pairs > 6_000, "{pairs} pairs");
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let got = materialize_counts(&run_select(&mut s, &sql).0);
        assert!(got == want, "{cores} cores: the pairs differ");
    }
}

#[test]
fn an_over_aggregation_gives_each_bid_the_max_of_its_auctions_last_three() {
    // Bids of an auction in event time (ties by their values), each with
    // the highest price among itself and the two before it.
    let sql = format!(
        "{}\nSELECT auction, bidder, price, dateTime, MAX(price) OVER (PARTITION BY auction \
           ORDER BY dateTime ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM bid;",
        nexmark_ddl_at(EVENTS, RATE)
    );
    let mut want = Vec::new();
    for (_, mut group) in grouped(bids(), &[B_AUCTION]) {
        group.sort_by(|a, b| int(&a[B_TIME]).cmp(&int(&b[B_TIME])).then_with(|| a.cmp(b)));
        for (i, b) in group.iter().enumerate() {
            let from = i.saturating_sub(2);
            let max = group[from..=i].iter().map(|x| int(&x[B_PRICE])).max();
            want.push(vec![
                b[B_AUCTION].clone(),
                b[B_BIDDER].clone(),
                b[B_PRICE].clone(),
                b[B_TIME].clone(),
                Value::Int(max.unwrap_or(0)),
            ]);
        }
    }
    let mut counts: BTreeMap<Vec<Value>, i64> = BTreeMap::new();
    for row in want {
        *counts.entry(row).or_insert(0) += 1;
    }
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let got = materialize_counts(&run_select(&mut s, &sql).0);
        assert!(got == counts, "{cores} cores: the rows differ");
    }
}

#[test]
fn a_top_n_over_bid_counts_leaves_the_three_most_bid_auctions() {
    // A Top-N over an updating aggregate: every count change re-ranks.
    let sql = format!(
        "{}\nSELECT auction, num, rn FROM (SELECT auction, num, \
           ROW_NUMBER() OVER (ORDER BY num DESC) AS rn \
           FROM (SELECT auction, COUNT(*) AS num FROM bid GROUP BY auction)) WHERE rn <= 3;",
        nexmark_ddl_at(EVENTS, RATE)
    );
    let mut counts: Vec<(i64, i64)> = grouped(bids(), &[B_AUCTION])
        .into_iter()
        .map(|(k, g)| (int(&k[0]), g.len() as i64))
        .collect();
    // Most bids first; equal counts by the row's values (auction, count).
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let want: BTreeMap<Vec<Value>, i64> = counts
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, (a, n))| {
            (
                vec![Value::Int(*a), Value::Int(*n), Value::Int(i as i64 + 1)],
                1,
            )
        })
        .collect();
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let got = materialize_counts(&run_select(&mut s, &sql).0);
        assert_eq!(got, want, "{cores} cores");
    }
}
