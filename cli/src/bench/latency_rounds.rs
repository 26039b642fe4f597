//! `spate bench latency --checkpoint-rounds N`: what checkpoints cost the
//! records' latency, measured as alternating runs of the same job without
//! and with checkpoints in one invocation, so the machine's drift over the
//! minutes (other tenants, kernel threads) falls on both sides alike.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use spate::config::Config;
use spate_bench::latency::{self, LatencyReport, LatencySpec, micros};

use super::results::write_stamped;

/// Both sides of every round, and the medians over the rounds.
#[derive(Debug, Serialize)]
pub(crate) struct CheckpointRounds {
    pub(crate) checkpoint_interval_ms: u64,
    pub(crate) rounds: u32,
    pub(crate) off: Vec<LatencyReport>,
    pub(crate) on: Vec<LatencyReport>,
    pub(crate) median_off: Quantiles,
    pub(crate) median_on: Quantiles,
    /// Median with checkpoints over median without, per quantile.
    pub(crate) ratio: Quantiles,
}

/// Latency quantiles in µs (or their ratios).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Quantiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) mean: f64,
}

impl Quantiles {
    fn median_of(runs: &[LatencyReport]) -> Self {
        Self {
            p50: median(runs.iter().map(|r| r.p50_us)),
            p99: median(runs.iter().map(|r| r.p99_us)),
            p999: median(runs.iter().map(|r| r.p999_us)),
            mean: median(runs.iter().map(|r| r.mean_us)),
        }
    }

    fn ratio(on: Self, off: Self) -> Self {
        Self {
            p50: on.p50 / off.p50,
            p99: on.p99 / off.p99,
            p999: on.p999 / off.p999,
            mean: on.mean / off.mean,
        }
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `rounds` rounds; each runs the job without checkpoints and with
/// `config`'s, the order alternating so neither side always goes first.
pub(crate) fn run(
    spec: &LatencySpec,
    config: &Config,
    rounds: u32,
) -> anyhow::Result<CheckpointRounds> {
    let interval_ms = config.checkpoint.interval_ms;
    anyhow::ensure!(
        interval_ms > 0,
        "--checkpoint-rounds compares runs without checkpoints against runs with them: \
         set the interval, e.g. --set checkpoint.interval_ms=1000"
    );
    anyhow::ensure!(rounds > 0, "--checkpoint-rounds needs at least one round");
    let mut off_config = config.clone();
    off_config.checkpoint.interval_ms = 0;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let order = if round % 2 == 1 {
            [false, true]
        } else {
            [true, false]
        };
        for checkpoints in order {
            let c = if checkpoints { config } else { &off_config };
            let report = latency::run(spec, c)?;
            if checkpoints {
                anyhow::ensure!(
                    report.checkpoints_completed > 0,
                    "round {round}: no checkpoint completed in a {} s run with \
                     checkpoint.interval_ms = {interval_ms}; the comparison would be empty",
                    spec.seconds
                );
            }
            eprintln!(
                "round {round}/{rounds} checkpoints {:<3} p50 {} · p99 {} · p99.9 {} · max {} ({} checkpoints)",
                if checkpoints { "on" } else { "off" },
                micros(report.p50_us),
                micros(report.p99_us),
                micros(report.p999_us),
                micros(report.max_us),
                report.checkpoints_completed
            );
            if checkpoints {
                on.push(report);
            } else {
                off.push(report);
            }
        }
    }
    let (median_off, median_on) = (Quantiles::median_of(&off), Quantiles::median_of(&on));
    Ok(CheckpointRounds {
        checkpoint_interval_ms: interval_ms,
        rounds,
        off,
        on,
        median_off,
        median_on,
        ratio: Quantiles::ratio(median_on, median_off),
    })
}

/// The readable summary.
pub(crate) fn summary(r: &CheckpointRounds) -> String {
    let row = |name: &str, q: &Quantiles| {
        format!(
            "{name:<16}p50 {} · p99 {} · p99.9 {} · mean {}\n",
            micros(q.p50),
            micros(q.p99),
            micros(q.p999),
            micros(q.mean)
        )
    };
    let mut s = format!(
        "checkpoints every {} ms against none, median of {} alternating rounds\n",
        r.checkpoint_interval_ms, r.rounds
    );
    s.push_str(&row("without", &r.median_off));
    s.push_str(&row("with", &r.median_on));
    let q = &r.ratio;
    let _ = writeln!(
        s,
        "{:<16}p50 {:.2}× · p99 {:.2}× · p99.9 {:.2}× · mean {:.2}×",
        "ratio", q.p50, q.p99, q.p999, q.mean
    );
    s
}

/// Writes `<dir>/<date>-<machine>-latency-checkpoints.{json,md}`.
pub(crate) fn write(dir: &Path, r: &CheckpointRounds) -> anyhow::Result<()> {
    let Some(first) = r.on.first() else {
        anyhow::bail!("no rounds ran");
    };
    let mut md = format!(
        "`spate bench latency --query {} --rate {} --seconds {} --checkpoint-rounds {}` with \
         `checkpoint.interval_ms = {}` on {} cores, {} state: each round runs the job once \
         without checkpoints and once with them, the order alternating; the first {:.0} % of each \
         run is warm-up. The medians are over the rounds; the ratio is with over without.\n\n",
        first.query.name(),
        first.target_rate,
        first.seconds,
        r.rounds,
        r.checkpoint_interval_ms,
        first.parallelism,
        first.state,
        100.0 * first.warmup_s / first.seconds,
    );
    md.push_str("| | p50 | p99 | p99.9 | mean |\n|---|---|---|---|---|\n");
    for (name, q) in [("without", &r.median_off), ("with", &r.median_on)] {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            micros(q.p50),
            micros(q.p99),
            micros(q.p999),
            micros(q.mean)
        );
    }
    let q = &r.ratio;
    let _ = writeln!(
        md,
        "| ratio | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
        q.p50, q.p99, q.p999, q.mean
    );
    md.push_str("\nEvery run:\n\n| round | checkpoints | p50 | p99 | p99.9 | max | completed | source lag |\n|---|---|---|---|---|---|---|---|\n");
    for (i, (off, on)) in r.off.iter().zip(&r.on).enumerate() {
        for (side, run) in [("off", off), ("on", on)] {
            let _ = writeln!(
                md,
                "| {} | {side} | {} | {} | {} | {} | {} | {:.2} ms |",
                i + 1,
                micros(run.p50_us),
                micros(run.p99_us),
                micros(run.p999_us),
                micros(run.max_us),
                run.checkpoints_completed,
                run.source_max_lag_ms
            );
        }
    }
    let (json, md_path) = write_stamped(
        dir,
        "latency-checkpoints",
        "Record latency with and without checkpoints",
        r,
        &md,
    )?;
    eprintln!(
        "results written to {} and {}",
        json.display(),
        md_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert!(median(std::iter::empty()).is_nan());
    }
}
