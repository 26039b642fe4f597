//! Benchmarks that run other `spate bench` commands as child processes:
//! each run is a fresh process, so runs compare side by side.

use std::process::Command;

use anyhow::{Context, bail};

/// This executable, with logs quiet.
pub(super) fn spate_cmd() -> anyhow::Result<Command> {
    let mut c = Command::new(std::env::current_exe().context("cannot find the spate executable")?);
    c.env("RUST_LOG", "warn");
    Ok(c)
}

/// Runs `spate <args>` and reads the JSON it prints last.
pub(super) fn run_json(args: &[String]) -> anyhow::Result<serde_json::Value> {
    let out = spate_cmd()?.args(args).output()?;
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
