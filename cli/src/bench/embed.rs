//! `spate bench embed`: latency of the embedding API, from `Ingest::send`
//! to the output callback, at 50 % of the maximum sustainable rate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use spate::config::LoadedConfig;
use spate_bench::embed_bench::{self, EmbedBenchSpec, EmbedReport};
use spate_bench::report::{commit_of, machine, today_utc};

use crate::config_args::ConfigArgs;

/// `spate bench embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Distinct keys of the running sums.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Seconds of the saturation run that measures the maximum rate.
    #[arg(long, default_value_t = 3.0)]
    max_seconds: f64,
    /// Seconds of the paced run (the first 20 % is not measured).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Fraction of the maximum rate the paced run sends at.
    #[arg(long, default_value_t = 0.5)]
    rate_fraction: f64,
    /// Capacity of the ingest queue, records.
    #[arg(long, default_value_t = spate::embed::INGEST_RECORDS_MAX_DEFAULT)]
    ingest_records_max: usize,
    /// Also write the result as JSON to FILE, and as a Markdown table
    /// beside it (FILE with the extension `.md`), with machine, commit and date.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Config layers. Without --profile, the low-latency profile; without
    /// --cores, one engine core (the sender thread needs one too).
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs the command.
pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let mut layers = args.config.clone();
    if layers.profile.is_none() {
        layers.profile = Some("low-latency".into());
    }
    if layers.cores.is_none() {
        // First, so a `--set runtime.cores=N` still wins.
        layers.overrides.insert(0, "runtime.cores=1".into());
    }
    let loaded = layers.load()?;
    let spec = EmbedBenchSpec {
        keys: args.keys,
        max_seconds: args.max_seconds,
        seconds: args.seconds,
        rate_fraction: args.rate_fraction,
        ingest_records_max: args.ingest_records_max,
        ..EmbedBenchSpec::default()
    };
    let report = embed_bench::run(&spec, &loaded.config)?;
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        let md = write(path, &report, &loaded)?;
        println!("wrote {} and {}", path.display(), md.display());
    }
    Ok(())
}

/// Writes the JSON file and the Markdown table beside it; returns the latter's path.
fn write(path: &Path, r: &EmbedReport, config: &LoadedConfig) -> anyhow::Result<PathBuf> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let (date, machine, commit) = (today_utc(), machine(), commit_of(dir));
    let json = serde_json::json!({
        "bench": "embed",
        "date": date,
        "machine": machine,
        "commit": commit,
        "config": config.explain().iter().map(|row| (row.key, row.value.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        "result": r,
    });
    std::fs::write(path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut md = format!("# Embedded engine latency\n\n{date} · {machine} · commit {commit}\n\n");
    let _ = writeln!(md, "Job: {}. {} keys.\n", r.job, r.keys);
    md.push_str("| cores | max rate/s | paced rate/s | achieved/s | sender lag | p50 | p99 | p99.9 | max | measured |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    let _ = writeln!(
        md,
        "| {} | {:.0} | {} | {:.0} | {:.2} ms{} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {} |",
        r.cores,
        r.max_rate_per_s,
        r.target_rate,
        r.achieved_rate,
        r.sender_max_lag_ms,
        if r.sustained { "" } else { " (behind)" },
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.max_us,
        r.count
    );
    let md_path = path.with_extension("md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    Ok(md_path)
}
