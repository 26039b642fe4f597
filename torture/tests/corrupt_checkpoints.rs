//! Corrupt checkpoints, in one process through the engine's real restore
//! path: the oracle job runs with checkpoints; three quarters through, the
//! fault injector damages one file of the newest checkpoint (a flipped
//! byte, a truncation or a deletion; the manifest and each state file in
//! turn) and fails the job. The restart must either fall back to an older
//! valid checkpoint and finish with exactly the output of a fault-free run,
//! or refuse with a sentence; its committed output is never wrong (no
//! duplicate, reordered or miscounted record, no wrong window).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use spate::config::Config;
use spate_torture::corrupt::{Damage, newest_checkpoint};
use spate_torture::{OracleArgs, check, oracle_job_with};

const KEYS: u64 = 60;
const RECORDS: u64 = 24_000;
const FAIL_AT: u64 = RECORDS * 3 / 4;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-corrupt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(checkpoints: &Path) -> Config {
    let mut c = Config::default();
    c.runtime.cores = 2;
    c.runtime.io_memory_kib = 256;
    c.checkpoint.interval_ms = 100;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.restart_delay_ms = 0;
    c.checkpoint.restarts_max = 3;
    c
}

/// What one damaged run did.
enum Verdict {
    /// Finished with exact output, restored from this checkpoint.
    FellBack { restored: Option<u64> },
    /// Refused to restore, with this sentence.
    Refused(String),
}

/// Runs the oracle job, damaging file `index` of the newest checkpoint
/// (0: its manifest) when the injector fires. `None` when the newest
/// checkpoint has no such file (the list is shorter).
fn damaged_run(name: &str, index: usize, how: Damage) -> Option<(u64, String, Verdict)> {
    let (out, ckpt) = (
        scratch(&format!("{name}-out")),
        scratch(&format!("{name}-ckpt")),
    );
    let args = OracleArgs {
        keys: KEYS,
        records: RECORDS,
        rate: 12_000,
        window_ms: 50,
        output: out.clone(),
    };
    let armed = Arc::new(AtomicBool::new(true));
    let damaged: Arc<Mutex<Option<(u64, String)>>> = Arc::default();
    let (dir, slot) = (ckpt.clone(), damaged.clone());
    let injector: spate_torture::Injector = Arc::new(move |n| {
        if n < FAIL_AT || !armed.swap(false, Ordering::SeqCst) {
            return None;
        }
        let newest = newest_checkpoint(&dir).unwrap()?;
        let files = newest.all_files();
        let Some(file) = files.get(index) else {
            return Some("no such file: nothing damaged".into());
        };
        spate_torture::corrupt::damage(file, how).unwrap();
        let what = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        *slot.lock().unwrap() = Some((newest.id, what.clone()));
        Some(format!("injected failure after {how} of {what}"))
    });
    let job = oracle_job_with(&args, Some(injector)).unwrap();
    let result = job.run(&config(&ckpt));
    let (id, what) = damaged.lock().unwrap().clone()?;
    let report = check(&out, &args.expected()).unwrap();
    let verdict = match result {
        Ok(r) => {
            assert!(
                report.is_clean(),
                "{how} of {what} (checkpoint {id}): the job finished with wrong output:\n{report}"
            );
            assert_eq!(r.metrics.checkpoints.restarts, 1);
            Verdict::FellBack {
                restored: r.metrics.checkpoints.restored_from,
            }
        }
        Err(e) => {
            let never_wrong = report.duplicates == 0
                && report.out_of_order == 0
                && report.wrong_counts == 0
                && report.bad_checksums == 0
                && report.foreign == 0
                && report.windows_duplicated == 0
                && report.windows_wrong == 0;
            assert!(
                never_wrong,
                "{how} of {what} (checkpoint {id}): the refused job committed wrong output:\n{report}"
            );
            let sentence = e.to_string();
            assert!(
                sentence.contains("checkpoint") && sentence.len() > 40,
                "{how} of {what}: the refusal must say what is wrong: {sentence}"
            );
            Verdict::Refused(sentence)
        }
    };
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&ckpt);
    Some((id, what, verdict))
}

/// Damages every file of the newest checkpoint in turn, one run each.
fn every_file(how: Damage, tag: &str) {
    let mut runs = 0;
    for index in 0.. {
        // A checkpoint in flight may complete between the damage and the
        // failure, and then the damaged one is not the newest: run again.
        let mut attempt = 0;
        let (id, what, verdict) = loop {
            let Some(run) = damaged_run(&format!("{tag}-{index}-{attempt}"), index, how) else {
                break None;
            };
            let overtaken = matches!(run.2, Verdict::FellBack { restored: Some(r) } if r > run.0);
            if !overtaken || attempt == 3 {
                break Some(run);
            }
            attempt += 1;
        }
        .map_or((0, String::new(), None), |(id, what, v)| {
            (id, what, Some(v))
        });
        let Some(verdict) = verdict else {
            break;
        };
        runs += 1;
        match verdict {
            Verdict::FellBack { restored } => {
                eprintln!("{how} of {what} (checkpoint {id}): restored {restored:?}, exact output");
                // A damaged manifest must never be restored.
                if index == 0 {
                    assert!(
                        restored.is_none_or(|r| r != id),
                        "restored the damaged checkpoint {id}"
                    );
                }
            }
            Verdict::Refused(s) => eprintln!("{how} of {what} (checkpoint {id}): refused: {s}"),
        }
        // Bounds the suite's time however many files a checkpoint has.
        if index >= 12 {
            break;
        }
    }
    assert!(
        runs >= 2,
        "the newest checkpoint had a manifest and at least one state file"
    );
}

#[test]
fn a_checkpoint_with_a_flipped_byte_is_never_restored_into_wrong_output() {
    every_file(Damage::FlipByte, "flip");
}

#[test]
fn a_truncated_checkpoint_file_is_never_restored_into_wrong_output() {
    every_file(Damage::Truncate, "truncate");
}

#[test]
fn a_deleted_checkpoint_file_is_never_restored_into_wrong_output() {
    every_file(Damage::Delete, "delete");
}
