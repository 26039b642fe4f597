//! `spate bench scaling`: each query on 1 core and on 2 in alternating
//! rounds, with the pinned-processes ceiling, and one checksum per query.

#![allow(clippy::unwrap_used)]

mod support;

use support::{ok, spate};

#[test]
fn bench_scaling_pairs_one_and_two_cores_and_measures_the_ceiling() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let out = ok(spate(&[
        "bench",
        "scaling",
        "--query",
        "q1,q5",
        "--events",
        "200000",
        "--rounds",
        "2",
        "--cores",
        "2",
        "--json",
        "--results-dir",
        results.to_str().unwrap(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let queries = v["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 2, "{v}");
    for q in queries {
        let (one, many) = (
            q["one_core"].as_array().unwrap(),
            q["many_cores"].as_array().unwrap(),
        );
        assert_eq!((one.len(), many.len()), (2, 2), "{q}");
        for run in one.iter().chain(many) {
            assert_eq!(run["checksum"], one[0]["checksum"], "{q}");
            assert!(run["output_records"].as_u64().unwrap() > 0);
        }
        // Each ratio is its round's own; two rounds: the median is the mean.
        let ratios: Vec<f64> = (0..2)
            .map(|i| {
                many[i]["events_per_s"].as_f64().unwrap() / one[i]["events_per_s"].as_f64().unwrap()
            })
            .collect();
        let ratio = q["ratio"].as_f64().unwrap();
        assert!((ratio - (ratios[0] + ratios[1]) / 2.0).abs() < 1e-9, "{q}");
        // taskset is part of util-linux, present wherever the tests run.
        let ceilings = q["ceilings"].as_array().unwrap();
        assert_eq!(ceilings.len(), 2, "{q}");
        assert!(ceilings.iter().all(|c| c.as_f64().unwrap() > 0.0), "{q}");
    }
    let written: Vec<_> = std::fs::read_dir(&results).unwrap().collect();
    assert_eq!(written.len(), 2, "a JSON and a Markdown file");
}

#[test]
fn bench_scaling_refuses_a_single_core() {
    let out = spate(&["bench", "scaling", "--cores", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cores of at least 2"), "{err}");
}
