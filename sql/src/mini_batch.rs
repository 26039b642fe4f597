//! Flink's mini-batch settings for group aggregation, and what they mean
//! here.
//!
//! Flink buffers a group aggregate's input for up to
//! `table.exec.mini-batch.allow-latency` (or `table.exec.mini-batch.size`
//! rows) and then emits at most one change per group, instead of one per
//! row. Spate's records already travel in batches (at most
//! `runtime.batch_records_max`), so the unit is the input batch: a group
//! aggregate updates its state row by row but holds each group's change
//! back until the batch ends, and a local aggregate before the keyed
//! exchange combines a batch's rows per group. Output is never held longer
//! than one batch, so it is always well within any allowed latency; the
//! size caps how many groups one operator holds back. The rows the
//! changelog leaves are the same either way; only intermediate updates
//! are folded together.

use std::collections::BTreeMap;

use crate::session::parse_duration_ms;

/// The session's `SET` values by key.
type Settings = BTreeMap<String, String>;

/// `'true'` folds a group aggregate's changes per input batch.
pub const ENABLED: &str = "table.exec.mini-batch.enabled";
/// Accepted for compatibility: output is held for one batch at most.
pub const ALLOW_LATENCY: &str = "table.exec.mini-batch.allow-latency";
/// The most groups one operator holds back in a batch.
pub const SIZE: &str = "table.exec.mini-batch.size";
/// `AUTO` (the default) and `TWO_PHASE` split an aggregate into a local
/// and a global phase when mini-batch is on; `ONE_PHASE` never does.
pub const AGG_PHASE_STRATEGY: &str = "table.optimizer.agg-phase-strategy";

/// Groups held back per operator when `table.exec.mini-batch.size` is
/// not set (Flink's default of -1 means "not set").
pub const GROUPS_HELD_DEFAULT: usize = 50_000;

/// How group aggregates fold their changes (the session's settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniBatch {
    /// The most groups an operator holds back within one input batch.
    pub groups_held_max: usize,
    /// Whether aggregates that can be split get a local phase before the
    /// keyed exchange.
    pub two_phase: bool,
}

/// An error (a sentence) when `value` is not a valid value of the
/// mini-batch key `key`; `Ok` for any other key.
pub(crate) fn check_setting(key: &str, value: &str) -> Result<(), String> {
    match key {
        ENABLED => boolean(key, value).map(|_| ()),
        ALLOW_LATENCY => parse_duration_ms(value)
            .map(|_| ())
            .map_err(|m| format!("'{key}' = '{value}': {m}")),
        SIZE => size(value).map(|_| ()),
        AGG_PHASE_STRATEGY => phase_strategy(value).map(|_| ()),
        _ => Ok(()),
    }
}

/// The mini-batch behaviour the settings ask for; `None` when it is off.
/// Values were checked when they were set.
pub(crate) fn from_settings(settings: &Settings) -> Option<MiniBatch> {
    let enabled = settings
        .get(ENABLED)
        .and_then(|v| boolean(ENABLED, v).ok())
        .unwrap_or(false);
    if !enabled {
        return None;
    }
    let groups_held_max = settings
        .get(SIZE)
        .and_then(|v| size(v).ok().flatten())
        .unwrap_or(GROUPS_HELD_DEFAULT);
    let two_phase = settings
        .get(AGG_PHASE_STRATEGY)
        .and_then(|v| phase_strategy(v).ok())
        .unwrap_or(true);
    Some(MiniBatch {
        groups_held_max,
        two_phase,
    })
}

/// Whether `table.optimizer.agg-phase-strategy` is `ONE_PHASE` (window
/// aggregates then get no local phase; with mini-batch off, group
/// aggregates never do).
pub(crate) fn one_phase(settings: &Settings) -> bool {
    settings
        .get(AGG_PHASE_STRATEGY)
        .and_then(|v| phase_strategy(v).ok())
        .is_some_and(|two| !two)
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("'{key}' is 'true' or 'false', not '{other}'")),
    }
}

/// A positive number of rows, or -1 / 0 for "not set" (`None`).
fn size(value: &str) -> Result<Option<usize>, String> {
    match value.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Ok(-1 | 0) => Ok(None),
        _ => Err(format!(
            "'{SIZE}' is a number of rows greater than 0 (or -1 for the default), not '{value}'"
        )),
    }
}

/// Whether the strategy allows two phases.
fn phase_strategy(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_uppercase().as_str() {
        "AUTO" | "TWO_PHASE" => Ok(true),
        "ONE_PHASE" => Ok(false),
        _ => Err(format!(
            "'{AGG_PHASE_STRATEGY}' is 'AUTO', 'ONE_PHASE' or 'TWO_PHASE', not '{value}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mini_batch_is_off_unless_enabled_and_two_phase_unless_refused() {
        assert_eq!(from_settings(&settings(&[(SIZE, "10")])), None);
        assert_eq!(
            from_settings(&settings(&[(ENABLED, "true")])),
            Some(MiniBatch {
                groups_held_max: GROUPS_HELD_DEFAULT,
                two_phase: true
            })
        );
        assert_eq!(
            from_settings(&settings(&[
                (ENABLED, "TRUE"),
                (SIZE, "5000"),
                (AGG_PHASE_STRATEGY, "one_phase")
            ])),
            Some(MiniBatch {
                groups_held_max: 5000,
                two_phase: false
            })
        );
    }

    #[test]
    fn bad_values_are_refused_with_what_is_expected() {
        assert!(
            check_setting(ENABLED, "yes")
                .unwrap_err()
                .contains("'true' or 'false'")
        );
        assert!(
            check_setting(SIZE, "many")
                .unwrap_err()
                .contains("greater than 0")
        );
        assert!(check_setting(SIZE, "-5").is_err());
        assert!(check_setting(ALLOW_LATENCY, "2 fortnights").is_err());
        assert!(
            check_setting(AGG_PHASE_STRATEGY, "THREE_PHASE")
                .unwrap_err()
                .contains("ONE_PHASE")
        );
        assert_eq!(check_setting(ALLOW_LATENCY, "2s"), Ok(()));
        assert_eq!(check_setting(SIZE, "-1"), Ok(()));
        assert_eq!(check_setting("table.exec.other", "x"), Ok(()));
    }
}
