//! The short overload suite CI runs: the oracle job on a real local
//! cluster (a coordinator and three worker processes on loopback), its
//! capacity measured unthrottled first, then offered twice that for 8 s of
//! input. Backpressure must hold the workers' memory flat, checkpoints must
//! keep completing, and the committed output must be exactly that of an
//! unloaded run.

#![allow(clippy::unwrap_used)]

use spate_torture::cluster::find_spate_binary;
use spate_torture::overload::{OverloadConfig, run_overload};

#[test]
fn twice_the_capacity_keeps_memory_flat_and_loses_nothing() {
    let dir =
        std::env::temp_dir().join(format!("spate-torture-ci-overload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = OverloadConfig::short(dir.clone(), find_spate_binary().unwrap());
    let outcome = run_overload(&cfg, &mut |line| eprintln!("{line}")).unwrap();
    eprint!("{outcome}");
    assert!(
        outcome.job_succeeded,
        "the overloaded job failed; files in {}",
        dir.display()
    );
    assert!(outcome.report.is_clean(), "{}", outcome.report);
    assert!(
        outcome.achieved_per_s() < outcome.offered_per_s,
        "the job took all it was offered: it was not overloaded\n{outcome}"
    );
    assert!(
        outcome.memory_flat(),
        "memory grew under overload\n{outcome}"
    );
    assert!(
        outcome.checkpoints_kept_up(),
        "checkpoints fell behind\n{outcome}"
    );
    assert!(outcome.samples.len() >= 8, "{outcome}");
    let _ = std::fs::remove_dir_all(&dir);
}
