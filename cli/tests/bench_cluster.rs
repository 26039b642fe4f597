//! `spate bench cluster`: a query on a local cluster beside one process,
//! in alternating rounds, with the same checksum from every run.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Cluster, ok, spate};

#[test]
fn bench_cluster_alternates_one_process_and_cluster_runs_with_one_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let results = tmp.path().join("results");
    // Stops the cluster should the command leave it running.
    let _cluster = Cluster(&dir);
    let out = ok(spate(&[
        "bench",
        "cluster",
        "--query",
        "q5",
        "--events",
        "300000",
        "--rounds",
        "2",
        "--workers",
        "2",
        "--json",
        "--dir",
        dir.to_str().unwrap(),
        "--results-dir",
        results.to_str().unwrap(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for side in ["one_process", "cluster"] {
        let runs = v[side].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{v}");
        for run in runs {
            assert_eq!(run["checksum"], v["one_process"][0]["checksum"]);
            assert!(run["events_per_s"].as_f64().unwrap() > 0.0);
            assert!(run["output_records"].as_u64().unwrap() > 0);
        }
    }
    // Two rounds: the median of their ratios is their mean.
    let round = |i: usize| {
        v["cluster"][i]["events_per_s"].as_f64().unwrap()
            / v["one_process"][i]["events_per_s"].as_f64().unwrap()
    };
    let ratio = v["ratio"].as_f64().unwrap();
    assert!((ratio - (round(0) + round(1)) / 2.0).abs() < 1e-9, "{v}");
    let of_medians =
        v["cluster_median"].as_f64().unwrap() / v["one_process_median"].as_f64().unwrap();
    assert!(
        (v["ratio_of_medians"].as_f64().unwrap() - of_medians).abs() < 1e-9,
        "{v}"
    );
    let written: Vec<_> = std::fs::read_dir(&results).unwrap().collect();
    assert_eq!(written.len(), 2, "a JSON and a Markdown file");
    // The cluster is stopped afterwards.
    let status = spate(&["cluster", "status", "--dir", dir.to_str().unwrap()]);
    assert!(!status.status.success());
}
