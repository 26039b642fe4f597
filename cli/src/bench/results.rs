//! Writes benchmark results as JSON and a Markdown table, with the
//! machine, commit and date.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use spate::config::LoadedConfig;
use spate_bench::latency::micros;
use spate_bench::report::{BenchReport, commit_of, human, machine, machine_slug, today_utc};

use super::flink::FlinkRun;

/// Writes `<dir>/<date>-<machine>-<name>.json` (`result` beside the date,
/// machine and commit) and `.md` (`title`, those three, then `body`);
/// returns both paths.
pub(crate) fn write_stamped(
    dir: &Path,
    name: &str,
    title: &str,
    result: &impl serde::Serialize,
    body: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    write_stamped_with(dir, name, title, &[], result, body)
}

/// [`write_stamped`], with `extra` fields at the top of the JSON too.
fn write_stamped_with(
    dir: &Path,
    name: &str,
    title: &str,
    extra: &[(&str, serde_json::Value)],
    result: &impl serde::Serialize,
    body: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (date, machine, commit) = (today_utc(), machine(), commit_of(dir));
    let stem = format!("{date}-{}-{name}", machine_slug());
    let json_path = dir.join(format!("{stem}.json"));
    let mut json = serde_json::json!({
        "date": date, "machine": machine, "commit": commit, "result": result,
    });
    if let Some(fields) = json.as_object_mut() {
        fields.extend(extra.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")?;
    let md =
        format!("# {title}\n\n- Date: {date}\n- Machine: {machine}\n- Commit: {commit}\n\n{body}");
    let md_path = dir.join(format!("{stem}.md"));
    std::fs::write(&md_path, md)?;
    Ok((json_path, md_path))
}

/// Writes the checkpoint benchmark's result as
/// `<dir>/<date>-<machine>-checkpoint-<capture>.{json,md}`; returns both
/// paths.
pub(crate) fn write_checkpoint(
    dir: &Path,
    m: &spate_bench::checkpoint_bench::CheckpointCost,
    capture_changes: bool,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let capture = if capture_changes { "changes" } else { "whole" };
    let mut md = String::new();
    md.push_str("| keys | updates per interval | backend | capture | checkpoints | sync max | sync p50 / max, last half of the churn | longest to durable | uploaded | uploaded per checkpoint p50 / max, last half of the churn | retained | state as stored | added per checkpoint (retained) | recovery |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let added: Vec<String> = m
        .added_percent_retained
        .iter()
        .map(|p| format!("{p:.1}%"))
        .collect();
    writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} / {} | {} ms | {:.1} MiB | {:.1}% / {:.1}% of the state | {:.1} MiB | {:.1} MiB | {} | {} |",
        m.keys,
        m.updates_per_interval,
        m.backend,
        capture,
        m.completed,
        micros(m.sync_us_max),
        micros(m.sync_us_p50_churn),
        micros(m.sync_us_max_churn),
        m.duration_ms_max,
        mib(m.uploaded_bytes),
        m.uploaded_percent_p50_churn,
        m.uploaded_percent_max_churn,
        mib(m.retained_bytes),
        mib(m.state_bytes),
        added.join(" "),
        recovery_cell(m),
    )?;
    write_stamped_with(
        dir,
        &format!("checkpoint-{}-{capture}", m.backend),
        "Checkpoint cost",
        &[("capture_changes", serde_json::json!(capture_changes))],
        m,
        &md,
    )
}

/// Bytes in MiB, for the summaries and tables.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// "1.9 s for 143.0 MiB" when the run failed at the end and recovered.
pub(crate) fn recovery_cell(m: &spate_bench::checkpoint_bench::CheckpointCost) -> String {
    match (m.recovery_ms, m.restored_bytes) {
        (Some(ms), Some(bytes)) => format!("{:.2} s for {:.1} MiB", ms as f64 / 1000.0, mib(bytes)),
        (Some(ms), None) => format!("{:.2} s", ms as f64 / 1000.0),
        _ => "not run".to_owned(),
    }
}

/// Writes `<dir>/<date>-<machine>.{json,md}`; returns both paths.
pub fn write(
    dir: &Path,
    rows: &[(BenchReport, Option<FlinkRun>)],
    config: &LoadedConfig,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let date = today_utc();
    let stem = format!("{date}-{}", machine_slug());
    let json_path = dir.join(format!("{stem}.json"));
    let md_path = dir.join(format!("{stem}.md"));
    let (machine, commit) = (machine(), commit_of(dir));
    let json = serde_json::json!({
        "date": date,
        "machine": machine,
        "commit": commit,
        "config": config.explain().iter().map(|r| (r.key, r.value.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        "results": rows.iter().map(|(r, f)| serde_json::json!({"spate": r, "flink": f})).collect::<Vec<_>>(),
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)?;
    let mut md = format!("# Nexmark on Spate\n\n{date} · {machine} · commit {commit}\n\n");
    md.push_str("| query | cores | events | events/s | per core | p50 | p99 | p99.9 | peak MiB | output | checksum | Flink per core | ratio |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (r, f) in rows {
        let (fl, ratio) = match f {
            Some(f) => (
                human(f.per_core),
                format!("{:.1}×", r.events_per_s_per_core / f.per_core.max(1e-9)),
            ),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} | {} | `{}` | {} | {} |",
            r.query,
            r.cores,
            r.events,
            human(r.events_per_s),
            human(r.events_per_s_per_core),
            r.latency_us.p50,
            r.latency_us.p99,
            r.latency_us.p999,
            r.peak_rss_mib,
            r.output_records,
            r.checksum,
            fl,
            ratio
        );
    }
    std::fs::write(&md_path, md)?;
    Ok((json_path, md_path))
}
