//! `spate bench latency`: end-to-end latency per record, mirroring the
//! Flink latency peer (`shared/peers/flink/latency`) so the numbers compare
//! side by side.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use spate::config::Config;
use spate_bench::latency::{self, FindMaxSpec, LatencyQuery, LatencyReport, LatencySpec};
use spate_bench::report::human;

use super::latency_rounds;
use crate::config_args::ConfigArgs;

/// The latency jobs.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Query {
    /// source → rebalance → map value*0.908 → sink.
    Q1,
    /// source → key_by(key) → running sum in ValueState → sink.
    Keyed,
}

impl From<Query> for LatencyQuery {
    fn from(q: Query) -> Self {
        match q {
            Query::Q1 => LatencyQuery::Q1,
            Query::Keyed => LatencyQuery::Keyed,
        }
    }
}

/// `spate bench latency`.
#[derive(Args, Debug)]
pub struct LatencyArgs {
    /// Which job to measure.
    #[arg(long, value_enum, default_value = "q1")]
    query: Query,
    /// Target records per second over all cores.
    #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 100_000)]
    rate: u64,
    /// Run length in seconds (the first 20 % is discarded as warm-up).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Fraction of the run discarded as warm-up.
    #[arg(long, default_value_t = latency::WARMUP_FRAC)]
    warmup_frac: f64,
    /// Search the highest sustainable rate (source lag < 20 ms) with short
    /// probes, then measure at 50 % of it for --seconds; --rate is ignored.
    #[arg(long)]
    find_max: bool,
    /// The first rate --find-max tries (doubled until the source falls behind).
    #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 1_000_000)]
    find_max_start: u64,
    /// Seconds per --find-max probe.
    #[arg(long, default_value_t = 3.0)]
    probe_seconds: f64,
    /// Measure what checkpoints cost: ROUNDS rounds, each running the job
    /// without checkpoints and with the configured checkpoint.interval_ms
    /// (order alternating), then the medians and their ratios.
    #[arg(long, value_name = "ROUNDS", conflicts_with = "find_max")]
    checkpoint_rounds: Option<u32>,
    /// Write the --checkpoint-rounds result as JSON and Markdown here.
    #[arg(long, value_name = "DIR", requires = "checkpoint_rounds")]
    results_dir: Option<PathBuf>,
    /// Print one JSON line per result instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// What --find-max prints in JSON.
#[derive(Serialize)]
struct FindMaxLine<'a> {
    find_max: bool,
    query: LatencyQuery,
    max_sustainable_rate: u64,
    lag_limit_ms: f64,
    probes: Vec<Probe>,
    at_half_max: Option<&'a LatencyReport>,
}

#[derive(Serialize)]
struct Probe {
    target_rate: u64,
    achieved_rate: f64,
    source_max_lag_ms: f64,
    p99_us: f64,
    sustained: bool,
}

/// Runs the command.
pub fn run(args: LatencyArgs) -> anyhow::Result<()> {
    let config = args.config.load()?.into_config();
    let query = LatencyQuery::from(args.query);
    if let Some(rounds) = args.checkpoint_rounds {
        let spec = LatencySpec {
            warmup_frac: args.warmup_frac,
            ..LatencySpec::new(query, args.rate, args.seconds)
        };
        let result = latency_rounds::run(&spec, &config, rounds)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print!("{}", latency_rounds::summary(&result));
        }
        if let Some(dir) = &args.results_dir {
            latency_rounds::write(dir, &result)?;
        }
        return Ok(());
    }
    if !args.find_max {
        let spec = LatencySpec {
            warmup_frac: args.warmup_frac,
            ..LatencySpec::new(query, args.rate, args.seconds)
        };
        let report = latency::run(&spec, &config)?;
        return print(&report, args.json);
    }
    find_max(&args, query, &config)
}

fn find_max(args: &LatencyArgs, query: LatencyQuery, config: &Config) -> anyhow::Result<()> {
    let spec = FindMaxSpec {
        start_rate: args.find_max_start,
        probe_seconds: args.probe_seconds,
        ..FindMaxSpec::new(query)
    };
    let lag_limit_ms = spec.lag_limit_ms;
    let found = latency::find_max(&spec, |s| {
        let spec = LatencySpec {
            warmup_frac: args.warmup_frac,
            ..*s
        };
        let r = latency::run(&spec, config)?;
        if !args.json {
            eprintln!(
                "probe {:>9} events/s: achieved {:>9}, lag {:>8.2} ms, p99 {} → {}",
                human(r.target_rate as f64),
                human(r.achieved_rate),
                r.source_max_lag_ms,
                latency::micros(r.p99_us),
                if r.sustained(lag_limit_ms) {
                    "sustained"
                } else {
                    "behind"
                }
            );
        }
        Ok(r)
    })?;
    let half = found.max_rate / 2;
    let report = if half > 0 {
        let spec = LatencySpec {
            warmup_frac: args.warmup_frac,
            ..LatencySpec::new(query, half, args.seconds)
        };
        Some(latency::run(&spec, config)?)
    } else {
        None
    };
    if args.json {
        let line = FindMaxLine {
            find_max: true,
            query,
            max_sustainable_rate: found.max_rate,
            lag_limit_ms: spec.lag_limit_ms,
            probes: found
                .probes
                .iter()
                .map(|r| Probe {
                    target_rate: r.target_rate,
                    achieved_rate: r.achieved_rate,
                    source_max_lag_ms: r.source_max_lag_ms,
                    p99_us: r.p99_us,
                    sustained: r.sustained(spec.lag_limit_ms),
                })
                .collect(),
            at_half_max: report.as_ref(),
        };
        println!("{}", serde_json::to_string(&line)?);
        return Ok(());
    }
    println!(
        "max sustainable {} events/s (source lag < {:.0} ms over {:.0} s probes)",
        human(found.max_rate as f64),
        spec.lag_limit_ms,
        spec.probe_seconds
    );
    match &report {
        Some(r) => {
            println!("at 50 % of max:");
            print(r, false)
        }
        None => {
            println!("no rate was sustained; nothing to measure at 50 %");
            Ok(())
        }
    }
}

fn print(report: &LatencyReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}
