//! Benchmarks that run other `spate bench` commands as child processes:
//! each run is a fresh process, so runs compare side by side.

use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;

/// This executable, with logs quiet.
pub(super) fn spate_cmd() -> anyhow::Result<Command> {
    let mut c = Command::new(std::env::current_exe().context("cannot find the spate executable")?);
    c.env("RUST_LOG", "warn");
    Ok(c)
}

/// Runs `spate <args>` and reads the JSON it prints last.
pub(super) fn run_json(args: &[String]) -> anyhow::Result<serde_json::Value> {
    let out = spate_cmd()?.args(args).output()?;
    json_of(out, args)
}

/// The JSON a finished `spate <args>` printed last.
pub(super) fn json_of(
    out: std::process::Output,
    args: &[String],
) -> anyhow::Result<serde_json::Value> {
    if !out.status.success() {
        bail!(
            "`spate {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| l.starts_with('{'));
    serde_json::from_str(last.unwrap_or_default())
        .with_context(|| format!("`spate {}` printed no JSON", args.join(" ")))
}

/// A number field of a JSON result.
pub(super) fn field(v: &serde_json::Value, name: &str) -> anyhow::Result<f64> {
    v.get(name)
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("the JSON result has no number `{name}`"))
}

/// The median (the mean of the middle two for an even count).
pub(super) fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One run's figures, from `spate bench nexmark --json`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct NexmarkRun {
    pub(super) events_per_s: f64,
    pub(super) checksum: String,
    pub(super) output_records: u64,
}

/// The arguments of `spate bench nexmark --query QUERY --events EVENTS`
/// with `extra` ones.
pub(super) fn nexmark_args(query: &str, events: u64, extra: &[String]) -> Vec<String> {
    let mut cmd: Vec<String> = ["bench", "nexmark", "--json", "--no-progress", "--query"]
        .map(String::from)
        .into();
    cmd.extend([query.to_string(), "--events".into(), events.to_string()]);
    cmd.extend(extra.iter().cloned());
    cmd
}

/// Runs `spate bench nexmark --query QUERY --events EVENTS` with `extra`
/// arguments in a fresh process and reads its JSON.
pub(super) fn nexmark_run(
    query: &str,
    events: u64,
    extra: &[String],
) -> anyhow::Result<NexmarkRun> {
    nexmark_of(&run_json(&nexmark_args(query, events, extra))?)
}

/// A run's figures from its JSON.
pub(super) fn nexmark_of(v: &serde_json::Value) -> anyhow::Result<NexmarkRun> {
    Ok(NexmarkRun {
        events_per_s: field(v, "events_per_s")?,
        checksum: v["checksum"]
            .as_str()
            .context("its JSON has no `checksum`")?
            .to_string(),
        output_records: v["output_records"]
            .as_u64()
            .context("its JSON has no `output_records`")?,
    })
}
