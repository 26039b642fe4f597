//! The `spate` binary as a user runs it: real processes, exit codes, and
//! the same checksum from 1 and 2 cores.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn spate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn bench_json(query: &str, cores: &str) -> serde_json::Value {
    let out = spate(&[
        "bench",
        "nexmark",
        "--query",
        query,
        "--events",
        "300000",
        "--cores",
        cores,
        "--json",
        "--set",
        "runtime.io_memory_kib=256",
    ]);
    json_of(&out)
}

/// The JSON a successful run printed.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_reports_the_same_checksum_on_one_and_two_cores() {
    for q in ["q3", "q5"] {
        let one = bench_json(q, "1");
        let two = bench_json(q, "2");
        assert_eq!(one["events"], 300000);
        assert_eq!(one["checksum"], two["checksum"], "{q}");
        assert_eq!(one["output_records"], two["output_records"], "{q}");
        assert!(one["events_per_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_runs_the_sql_versions_beside_the_datastream_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = spate(&[
        "bench",
        "nexmark",
        "--query",
        "q1,q6",
        "--events",
        "50000",
        "--sql",
        "--no-progress",
        "--results-dir",
        dir.path().to_str().unwrap(),
        "--set",
        "runtime.io_memory_kib=256",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("q1 SQL: "), "{stdout}");
    assert!(stdout.contains("% of the DataStream version's"), "{stdout}");
    assert!(!stdout.contains("they differ"), "{stdout}");
    assert!(
        stderr.contains("q6 SQL: not written in SQL yet"),
        "{stderr}"
    );
    let json = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-nexmark-sql.json"))
        .expect("the SQL results file");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let runs = v["result"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["query"], "q1");
    assert_eq!(
        runs[0]["sql_output_records"],
        runs[0]["datastream_output_records"]
    );
    assert!(runs[0]["sql_output_records"].as_u64().unwrap() > 40_000);
    assert!(runs[0]["ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_config_is_a_sentence_not_a_panic() {
    let out = spate(&["config", "explain", "--set", "runtime.corse=2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown config key `runtime.corse`"), "{err}");
    assert!(err.contains("did you mean `runtime.cores`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_query_and_missing_input_are_clear_errors() {
    let out = spate(&["bench", "nexmark", "--query", "q42"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown query `q42`"));
    let out = spate(&["bench", "nexmark", "--input", "/nonexistent/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/events.jsonl"));
}

#[test]
fn config_explain_names_the_layer_of_each_value() {
    let out = spate(&[
        "config",
        "explain",
        "--profile",
        "low-latency",
        "--set",
        "runtime.cores=1",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("runtime.cores") && l.contains("cli")),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("runtime.batch_records_max") && l.contains("profile low-latency")
        ),
        "{text}"
    );
}

#[test]
fn example_jobs_run() {
    for job in ["word-count", "windowed-csv", "session-window"] {
        let out = spate(&[
            "run",
            job,
            "--cores",
            "2",
            "--set",
            "runtime.io_memory_kib=256",
        ]);
        assert!(
            out.status.success(),
            "{job}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{job} printed nothing");
    }
}

#[test]
fn checkpoint_bench_captures_the_churn_in_small_deltas() {
    let dir = std::env::temp_dir().join(format!("spate-ckpt-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_setting = format!("checkpoint.dir={}", dir.join("ckpt").display());
    let results = dir.join("results");
    let out = spate(&[
        "bench",
        "checkpoint",
        "--keys",
        "50000",
        "--churn-percent",
        "1",
        "--intervals",
        "6",
        "--json",
        "--set",
        "checkpoint.interval_ms=300",
        "--set",
        &dir_setting,
        "--set",
        "runtime.io_memory_kib=256",
        "--results-dir",
        &results.to_string_lossy(),
    ]);
    let m = json_of(&out);
    let written: Vec<String> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let md = written
        .iter()
        .find(|n| n.ends_with("-checkpoint-heap-changes.md"));
    let md = std::fs::read_to_string(results.join(md.expect("a Markdown result"))).unwrap();
    assert!(
        md.contains("- Commit: ") && md.contains("| 50000 | 500 | heap | changes |"),
        "{md}"
    );
    assert!(
        written
            .iter()
            .any(|n| n.ends_with("-checkpoint-heap-changes.json")),
        "{written:?}"
    );
    let completed = m["completed"].as_u64().unwrap();
    assert!(completed >= 4, "{m}");
    // The first file holds 50 000 counts; each churn interval changes 500
    // keys, so the whole run uploads far less than a full file per
    // checkpoint would.
    let uploaded = m["uploaded_bytes"].as_u64().unwrap();
    let retained = m["retained_bytes"].as_u64().unwrap();
    assert!(retained > 0, "{m}");
    assert!(
        uploaded < retained * 2,
        "uploaded {uploaded} bytes over {completed} checkpoints, retained {retained}: not incremental"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoint_bench_on_rocksdb_uploads_a_small_share_of_the_state_per_checkpoint() {
    let dir = std::env::temp_dir().join(format!("spate-ckpt-bench-rocks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_setting = format!("checkpoint.dir={}", dir.join("ckpt").display());
    let out = spate(&[
        "bench",
        "checkpoint",
        "--keys",
        "100000",
        "--churn-percent",
        "1",
        "--intervals",
        "16",
        "--json",
        "--set",
        "state.backend=rocksdb",
        "--set",
        "checkpoint.interval_ms=300",
        "--set",
        "checkpoint.retained=8",
        "--set",
        &dir_setting,
        "--set",
        "runtime.io_memory_kib=256",
    ]);
    let m = json_of(&out);
    assert_eq!(m["backend"], "rocksdb", "{m}");
    let state = m["state_bytes"].as_u64().unwrap();
    assert!(state > 0, "{m}");
    // 1 % of the keys change per interval: a checkpoint adds its flushed
    // table file and metadata, a small share of the state, not a copy of
    // it. A compaction's output is new too, so on a state this small some
    // checkpoints add half of it; the cheapest retained one must be small,
    // and over the run the uploads must stay well under a copy of the
    // state per checkpoint.
    let added: Vec<f64> = m["added_percent_retained"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(added.len() >= 2, "{m}");
    assert!(added.iter().any(|&p| p < 10.0), "{m}");
    let uploaded = m["uploaded_bytes"].as_u64().unwrap();
    let completed = m["completed"].as_u64().unwrap();
    assert!(uploaded < completed * state / 2, "{m}");
    // The per-checkpoint series: one entry per completed checkpoint,
    // adding up to the total; on a state this small, the checkpoints
    // alternate between ~4% (a flushed file) and ~50% (a compaction's
    // output), so only the cheapest is asserted small.
    let series: Vec<u64> = m["uploaded_bytes_by_checkpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(series.len() as u64, completed, "{m}");
    assert_eq!(series.iter().sum::<u64>(), uploaded, "{m}");
    let cheapest = series.iter().skip(1).min().copied().unwrap_or(u64::MAX);
    assert!(cheapest < state / 10, "{m}");
    let p50 = m["uploaded_percent_p50_churn"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 < 100.0, "{m}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoint_bench_times_the_recovery_from_a_failure_at_the_end_of_the_churn() {
    for backend in ["heap", "rocksdb"] {
        let dir = std::env::temp_dir().join(format!(
            "spate-ckpt-bench-recovery-{backend}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let dir_setting = format!("checkpoint.dir={}", dir.join("ckpt").display());
        let backend_setting = format!("state.backend={backend}");
        let out = spate(&[
            "bench",
            "checkpoint",
            "--keys",
            "50000",
            "--intervals",
            "4",
            "--fail-at-end",
            "--json",
            "--set",
            &backend_setting,
            "--set",
            "checkpoint.interval_ms=300",
            "--set",
            "checkpoint.retained=20",
            "--set",
            &dir_setting,
            "--set",
            "runtime.io_memory_kib=256",
        ]);
        let m = json_of(&out);
        // The failure came after checkpoints holding the whole state had
        // completed, so the recovery restored one of them, all of it.
        assert!(m["recovery_ms"].as_u64().is_some(), "{backend}: {m}");
        let restored = m["restored_bytes"].as_u64().unwrap_or(0);
        let state = m["state_bytes"].as_u64().unwrap_or(0);
        assert!(restored > 0 && state > 0, "{backend}: {m}");
        assert!(
            restored * 2 > state,
            "{backend}: restored {restored} of {state} bytes: {m}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bench_net_moves_every_record_between_two_processes() {
    let report = json_of(&spate(&[
        "bench", "net", "--gib", "0.01", "--pings", "200", "--json", "--no-pin",
    ]));
    assert_eq!(report["processes"], 2);
    let records = report["records"].as_u64().unwrap();
    let payload = report["link"]["payload_bytes"].as_u64().unwrap();
    assert_eq!(payload, records * 32);
    assert!(payload >= 10 << 20, "{report}");
    assert_eq!(report["tcp"]["payload_bytes"].as_u64().unwrap(), payload);
    assert_eq!(report["ping"]["pings"], 200);
}

/// `spate bench profiles` measures every shipped profile on every metric.
/// The recovery runs take checkpoints under each profile and restore from
/// them, so a profile whose checkpoint settings cannot run (large-state
/// asked for unaligned checkpoints, which are refused) fails this test.
#[test]
fn bench_profiles_measures_every_profile_on_every_metric() {
    let out = spate(&[
        "bench",
        "profiles",
        "--rounds",
        "1",
        "--events",
        "200000",
        "--latency-rate",
        "5000",
        "--latency-seconds",
        "2",
        // This test checks the plumbing, not whether a debug build under a
        // parallel test load keeps its pace.
        "--sustained-fraction-min",
        "0.2",
        "--state-keys",
        "20000",
        "--cores",
        "1",
        "--json",
    ]);
    let v = json_of(&out);
    let medians = v["medians"].as_object().unwrap();
    let profiles: Vec<&str> = medians.keys().map(String::as_str).collect();
    assert_eq!(
        profiles,
        ["default", "large-state", "low-latency", "throughput"]
    );
    for (profile, m) in medians {
        for metric in ["throughput", "latency_p99", "recovery"] {
            let value = m[metric].as_f64().unwrap_or(-1.0);
            assert!(value >= 0.0, "{profile} {metric}: {m}");
        }
        assert!(m["throughput"].as_f64().unwrap() > 0.0, "{profile}: {m}");
    }
    let winners = v["winners"].as_object().unwrap();
    assert_eq!(winners.len(), 3, "{v}");
    // The defaults are the reference, never a winner.
    assert!(winners.values().all(|w| w != "default"), "{v}");
    assert_eq!(v["owner_wins"].as_object().unwrap().len(), 3, "{v}");
    let ratios = v["owner_vs_reference"].as_object().unwrap();
    assert_eq!(ratios.len(), 3, "{v}");
    assert!(ratios.values().all(|r| r.as_f64().unwrap() > 0.0), "{v}");
}
