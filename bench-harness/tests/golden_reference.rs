//! Golden outputs: the reference queries' row counts and checksums over fixed
//! generated streams, pinned in `tests/golden/expected.json`. A change in the
//! generator or in a reference query shows up here.
//!
//! After an intended change, re-bless with
//! `NEXMARK_BLESS=1 cargo test -p spate-bench --test golden_reference`
//! and review the diff of expected.json.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use spate_bench::nexmark::reference::{QUERIES, query_checksum};
use spate_bench::nexmark::{Event, Generator, GeneratorConfig, rows_checksum};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sum {
    count: u64,
    /// Hex, so that no JSON reader rounds it.
    checksum: String,
}

impl From<(u64, u64)> for Sum {
    fn from((count, checksum): (u64, u64)) -> Self {
        Sum {
            count,
            checksum: format!("{checksum:#018x}"),
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Case {
    name: String,
    config: GeneratorConfig,
    events: Sum,
    queries: BTreeMap<String, Sum>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Expected {
    about: String,
    cases: Vec<Case>,
}

fn configs() -> Vec<(&'static str, GeneratorConfig)> {
    let base = GeneratorConfig::default();
    vec![
        // The benchmark's own settings: 10 M events/s, so 20 ms of event time.
        (
            "default-200k",
            GeneratorConfig {
                events_max: Some(200_000),
                ..base.clone()
            },
        ),
        // Slow enough that windows close and auctions run for about a second.
        (
            "2k-per-s-100k",
            GeneratorConfig {
                seed: 1,
                rate_events_per_s: 2_000,
                events_max: Some(100_000),
                ..base.clone()
            },
        ),
        // Shuffled groups and delayed bids: out-of-order input within the 4 s bound.
        (
            "disordered-100k",
            GeneratorConfig {
                seed: 7,
                rate_events_per_s: 5_000,
                events_max: Some(100_000),
                out_of_order_group_size: 100,
                prob_delayed_event: 0.1,
                occasional_delay_ms: 3_000,
                ..base
            },
        ),
    ]
}

fn compute(name: &str, config: GeneratorConfig) -> Case {
    let events: Vec<Event> = Generator::new(config.clone(), 0, 1)
        .expect("generator")
        .collect();
    // The checksum is order-independent, so three splits must give the same one.
    let split: Vec<Event> = (0..3)
        .flat_map(|i| Generator::new(config.clone(), i, 3).expect("split"))
        .collect();
    assert_eq!(
        rows_checksum(&split),
        rows_checksum(&events),
        "{name}: splits differ"
    );
    let queries = QUERIES
        .iter()
        .map(|q| {
            let sum = query_checksum(q, &events)
                .expect("known query")
                .unwrap_or_else(|e| panic!("{name} {q}: {e}"));
            (q.to_string(), Sum::from(sum))
        })
        .collect();
    Case {
        name: name.to_owned(),
        config,
        events: rows_checksum(&events).into(),
        queries,
    }
}

#[test]
fn reference_outputs_match_the_pinned_checksums() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/expected.json");
    let actual = Expected {
        about: "Row counts and rows_checksum of the nexmark reference queries over generated \
                streams; see tests/golden_reference.rs"
            .to_owned(),
        cases: configs().into_iter().map(|(n, c)| compute(n, c)).collect(),
    };
    if std::env::var_os("NEXMARK_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
        std::fs::write(&path, text).expect("write expected.json");
        return;
    }
    let text = std::fs::read_to_string(&path).expect("tests/golden/expected.json");
    let expected: Expected = serde_json::from_str(&text).expect("expected.json parses");
    for (a, e) in actual.cases.iter().zip(&expected.cases) {
        assert_eq!(a.config, e.config, "{}: config changed", a.name);
        assert_eq!(a.events, e.events, "{}: generated events changed", a.name);
        for (q, sum) in &a.queries {
            assert_eq!(
                Some(sum),
                e.queries.get(q),
                "{}: {q} output changed",
                a.name
            );
        }
    }
    assert_eq!(actual, expected);
}

#[test]
fn golden_streams_exercise_every_query() {
    // Guard against vacuous goldens: each query has output on some stream.
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/expected.json"),
    )
    .expect("expected.json");
    let expected: Expected = serde_json::from_str(&text).expect("parses");
    for q in QUERIES {
        let most = expected
            .cases
            .iter()
            .filter_map(|c| c.queries.get(q))
            .map(|s| s.count)
            .max();
        assert!(most.unwrap_or(0) > 0, "{q} has no rows in any golden case");
    }
}
