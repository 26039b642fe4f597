//! `spate bench profiles`: the shipped config profiles side by side, each
//! measured on every metric, in alternating rounds: q5 throughput (the
//! `throughput` profile's metric), keyed p99 latency at a fixed rate
//! (`low-latency`'s) and recovery time with a large keyed state
//! (`large-state`'s). A profile earns its place by winning its own metric
//! among the shipped profiles on the machine it runs on; the results say
//! whether each did. The engine's defaults (no profile, checkpointing off,
//! so not a deployable exactly-once setting) run beside them as the
//! reference, and each profile's ratio to it on its own metric is reported.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use spate_bench::report::human;

use super::child::{field, median_of, run_json};
use super::results::write_stamped;

/// The reference: no profile at all, the engine's defaults.
const REFERENCE: &str = "default";

/// Every configuration run: the reference, then the shipped profiles.
const PROFILES: [&str; 4] = [REFERENCE, "low-latency", "throughput", "large-state"];

/// `spate bench profiles`.
#[derive(Args, Debug)]
pub struct ProfilesArgs {
    /// Rounds; each runs every profile on every metric, in a rotated order.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Nexmark q5 events per throughput run.
    #[arg(long, default_value_t = 20_000_000)]
    events: u64,
    /// Records per second of the latency runs (a keyed running sum); every
    /// profile must sustain it (RocksDB state, large-state's, tops out near
    /// 360 K/s on 2 cores here).
    #[arg(long, default_value_t = 200_000)]
    latency_rate: u64,
    /// Seconds per latency run (the first 20 % is not measured).
    #[arg(long, default_value_t = 8)]
    latency_seconds: u64,
    /// The share of --latency-rate a profile must achieve for its p99 to
    /// count (below it, the run fails: the profile cannot sustain the rate).
    #[arg(long, default_value_t = 0.95)]
    sustained_fraction_min: f64,
    /// Keys in state for the recovery runs.
    #[arg(long, default_value_t = 3_000_000)]
    state_keys: u64,
    /// Cores of every run (0 = all).
    #[arg(long, default_value_t = 0)]
    cores: u32,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write `<date>-<machine>-profiles.{json,md}` into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
}

/// What is measured, and which profile is tuned for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// Nexmark q5, events/s (higher wins).
    Throughput,
    /// Keyed running sum at a fixed rate, p99 in µs (lower wins).
    LatencyP99,
    /// Recovery from the last checkpoint with a large state, ms (lower wins).
    Recovery,
}

impl Metric {
    const ALL: [Metric; 3] = [Metric::Throughput, Metric::LatencyP99, Metric::Recovery];

    fn owner(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::LatencyP99 => "low-latency",
            Metric::Recovery => "large-state",
        }
    }

    fn higher_wins(self) -> bool {
        self == Metric::Throughput
    }

    fn show(self, v: f64) -> String {
        match self {
            Metric::Throughput => format!("{} events/s", human(v)),
            Metric::LatencyP99 if v >= 1000.0 => format!("{:.1} ms", v / 1000.0),
            Metric::LatencyP99 => format!("{v:.1} µs"),
            Metric::Recovery => format!("{v:.0} ms"),
        }
    }
}

#[derive(Debug, Serialize)]
struct ProfilesBench {
    rounds: u32,
    events: u64,
    latency_rate: u64,
    latency_seconds: u64,
    state_keys: u64,
    /// Per profile and metric, every round's value.
    samples: BTreeMap<String, BTreeMap<Metric, Vec<f64>>>,
    /// Per profile and metric, the median.
    medians: BTreeMap<String, BTreeMap<Metric, f64>>,
    /// Per metric, the shipped profile with the best median.
    winners: BTreeMap<Metric, String>,
    /// Per metric: did the profile tuned for it win among the shipped ones?
    owner_wins: BTreeMap<Metric, bool>,
    /// Per metric: the owner's median over the reference's (the defaults).
    owner_vs_reference: BTreeMap<Metric, f64>,
}

/// Runs the command.
pub fn run(args: ProfilesArgs) -> anyhow::Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let scratch = std::env::temp_dir().join(format!("spate-bench-profiles-{}", std::process::id()));
    let result = measure(&args, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let bench = result?;
    if args.json {
        println!("{}", serde_json::to_string(&bench)?);
    } else {
        print!("{}", table(&bench));
    }
    if let Some(dir) = &args.results_dir {
        let (json, md) = write(dir, &bench)?;
        eprintln!("results written to {} and {}", json.display(), md.display());
    }
    Ok(())
}

fn measure(args: &ProfilesArgs, scratch: &Path) -> anyhow::Result<ProfilesBench> {
    let mut samples: BTreeMap<String, BTreeMap<Metric, Vec<f64>>> = BTreeMap::new();
    for round in 0..args.rounds as usize {
        for metric in Metric::ALL {
            // Rotate the order so no profile always runs first (or last).
            for i in 0..PROFILES.len() {
                let profile = PROFILES[(i + round) % PROFILES.len()];
                let value = once(args, metric, profile, scratch)?;
                if !args.json {
                    eprintln!(
                        "round {}/{}: {profile:<12} {:?}: {}",
                        round + 1,
                        args.rounds,
                        metric,
                        metric.show(value)
                    );
                }
                samples
                    .entry(profile.to_string())
                    .or_default()
                    .entry(metric)
                    .or_default()
                    .push(value);
            }
        }
    }
    Ok(judge(args, samples))
}

/// One run of `profile` on `metric`.
fn once(args: &ProfilesArgs, metric: Metric, profile: &str, scratch: &Path) -> anyhow::Result<f64> {
    let dir = scratch.join(format!("{profile}-{metric:?}"));
    let mut cmd: Vec<String> = match metric {
        Metric::Throughput => vec![
            "bench".into(),
            "nexmark".into(),
            "--query".into(),
            "q5".into(),
            "--events".into(),
            args.events.to_string(),
            "--no-progress".into(),
        ],
        Metric::LatencyP99 => vec![
            "bench".into(),
            "latency".into(),
            "--query".into(),
            "keyed".into(),
            "--rate".into(),
            args.latency_rate.to_string(),
            "--seconds".into(),
            args.latency_seconds.to_string(),
        ],
        // Every profile checkpoints each second here, so recovery compares
        // the backends and their restore paths, not interval settings.
        Metric::Recovery => vec![
            "bench".into(),
            "checkpoint".into(),
            "--keys".into(),
            args.state_keys.to_string(),
            "--intervals".into(),
            "4".into(),
            "--fail-at-end".into(),
            "--set".into(),
            "checkpoint.interval_ms=1000".into(),
            "--set".into(),
            "checkpoint.pause_min_ms=0".into(),
        ],
    };
    cmd.extend([
        "--json".into(),
        "--cores".into(),
        args.cores.to_string(),
        "--set".into(),
        format!("checkpoint.dir={}", dir.display()),
    ]);
    if profile != REFERENCE {
        cmd.extend(["--profile".into(), profile.into()]);
    }
    let v = run_json(&cmd)?;
    let _ = std::fs::remove_dir_all(&dir);
    match metric {
        Metric::Throughput => field(&v, "events_per_s"),
        Metric::LatencyP99 => {
            let achieved = field(&v, "achieved_rate")?;
            if achieved < args.latency_rate as f64 * args.sustained_fraction_min {
                bail!(
                    "profile {profile} sustained only {achieved:.0} of {} records/s in the \
                     latency run; lower --latency-rate",
                    args.latency_rate
                );
            }
            field(&v, "p99_us")
        }
        Metric::Recovery => field(&v, "recovery_ms"),
    }
}

fn judge(
    args: &ProfilesArgs,
    samples: BTreeMap<String, BTreeMap<Metric, Vec<f64>>>,
) -> ProfilesBench {
    let medians: BTreeMap<String, BTreeMap<Metric, f64>> = samples
        .iter()
        .map(|(p, m)| {
            let per_metric = m.iter().map(|(k, v)| (*k, median_of(v.clone()))).collect();
            (p.clone(), per_metric)
        })
        .collect();
    let mut winners = BTreeMap::new();
    let mut owner_wins = BTreeMap::new();
    let mut owner_vs_reference = BTreeMap::new();
    for metric in Metric::ALL {
        let of = |p: &str| medians.get(p).and_then(|m| m.get(&metric)).copied();
        if let (Some(owner), Some(reference)) = (of(metric.owner()), of(REFERENCE)) {
            owner_vs_reference.insert(metric, owner / reference.max(1e-9));
        }
        let best = medians
            .iter()
            .filter(|(p, _)| p.as_str() != REFERENCE)
            .filter_map(|(p, m)| m.get(&metric).map(|v| (p.clone(), *v)))
            .reduce(|a, b| {
                let b_better = if metric.higher_wins() {
                    b.1 > a.1
                } else {
                    b.1 < a.1
                };
                if b_better { b } else { a }
            });
        if let Some((profile, _)) = best {
            owner_wins.insert(metric, profile == metric.owner());
            winners.insert(metric, profile);
        }
    }
    ProfilesBench {
        rounds: args.rounds,
        events: args.events,
        latency_rate: args.latency_rate,
        latency_seconds: args.latency_seconds,
        state_keys: args.state_keys,
        samples,
        medians,
        winners,
        owner_wins,
        owner_vs_reference,
    }
}

fn table(b: &ProfilesBench) -> String {
    let mut out = format!(
        "| profile | q5 throughput ({} events) | keyed p99 at {} records/s | recovery with {} keys |\n|---|---|---|---|\n",
        human(b.events as f64),
        human(b.latency_rate as f64),
        human(b.state_keys as f64),
    );
    for profile in PROFILES {
        let Some(m) = b.medians.get(profile) else {
            continue;
        };
        let cells: Vec<String> = Metric::ALL
            .iter()
            .map(|metric| {
                let v = m.get(metric).copied().unwrap_or(f64::NAN);
                let shown = metric.show(v);
                if b.winners.get(metric).map(String::as_str) == Some(profile) {
                    format!("**{shown}**")
                } else {
                    shown
                }
            })
            .collect();
        let _ = writeln!(out, "| {profile} | {} |", cells.join(" | "));
    }
    out.push('\n');
    for metric in Metric::ALL {
        let won = b.owner_wins.get(&metric).copied().unwrap_or(false);
        let _ = writeln!(
            out,
            "{}: {} its metric ({:?}) among the profiles{}; {:.2}× the defaults' figure",
            metric.owner(),
            if won { "wins" } else { "does NOT win" },
            metric,
            b.winners
                .get(&metric)
                .filter(|_| !won)
                .map(|w| format!(" ({w} does)"))
                .unwrap_or_default(),
            b.owner_vs_reference
                .get(&metric)
                .copied()
                .unwrap_or(f64::NAN)
        );
    }
    out
}

fn write(dir: &Path, b: &ProfilesBench) -> anyhow::Result<(PathBuf, PathBuf)> {
    let body = format!(
        "Medians of {} rounds; each round runs every profile on every metric in a rotated order \
         (`spate bench profiles`). Throughput: Nexmark q5, unthrottled. Latency: a keyed running \
         sum paced at the given rate (`spate bench latency --query keyed`). Recovery: `spate bench \
         checkpoint --fail-at-end` (checkpoints every second for every profile, 1 % of the keys \
         changing per interval), from the failure to the restored job. `default` is no profile \
         (the engine's defaults, checkpointing off): the reference, not a contender. The best \
         profile of each column is bold.\n\n{}",
        b.rounds,
        table(b)
    );
    write_stamped(
        dir,
        "profiles",
        "Config profiles, each on every metric",
        b,
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ProfilesArgs {
        ProfilesArgs {
            rounds: 1,
            events: 1,
            latency_rate: 1,
            latency_seconds: 1,
            sustained_fraction_min: 0.95,
            state_keys: 1,
            cores: 1,
            json: true,
            results_dir: None,
        }
    }

    fn samples(rows: &[(&str, [f64; 3])]) -> BTreeMap<String, BTreeMap<Metric, Vec<f64>>> {
        rows.iter()
            .map(|(p, values)| {
                let m = Metric::ALL.iter().zip(values).map(|(k, v)| (*k, vec![*v]));
                (p.to_string(), m.collect())
            })
            .collect()
    }

    #[test]
    fn the_reference_is_never_a_winner_and_owners_are_compared_with_it() {
        let b = judge(
            &args(),
            samples(&[
                ("default", [12.0, 30.0, 600.0]),
                ("low-latency", [4.0, 20.0, 1000.0]),
                ("throughput", [10.0, 25.0, 800.0]),
                ("large-state", [1.0, 1000.0, 20.0]),
            ]),
        );
        assert_eq!(b.winners[&Metric::Throughput], "throughput");
        assert_eq!(b.winners[&Metric::LatencyP99], "low-latency");
        assert_eq!(b.winners[&Metric::Recovery], "large-state");
        assert!(b.owner_wins.values().all(|w| *w));
        assert!((b.owner_vs_reference[&Metric::Throughput] - 10.0 / 12.0).abs() < 1e-9);
        assert!((b.owner_vs_reference[&Metric::Recovery] - 20.0 / 600.0).abs() < 1e-9);
        let shown = table(&b);
        assert!(
            shown.contains("throughput: wins its metric (Throughput) among the profiles; 0.83×")
        );
    }

    #[test]
    fn a_profile_beaten_by_another_profile_is_reported() {
        let b = judge(
            &args(),
            samples(&[
                ("default", [12.0, 30.0, 600.0]),
                ("low-latency", [11.0, 20.0, 1000.0]),
                ("throughput", [10.0, 25.0, 800.0]),
                ("large-state", [1.0, 1000.0, 20.0]),
            ]),
        );
        assert!(!b.owner_wins[&Metric::Throughput]);
        assert!(table(&b).contains(
            "throughput: does NOT win its metric (Throughput) among the profiles (low-latency does)"
        ));
    }
}
