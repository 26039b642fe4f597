//! Partitioned filesystem output (`PARTITIONED BY`): each partition's rows
//! go to their own directory, `k1=v1/k2=v2/`, as Flink (and Hive) lay them
//! out, without the partition columns; a partition is committed — an empty
//! `_SUCCESS` file in its directory — once the commit trigger says it is
//! complete.

use std::collections::HashMap;
use std::time::Instant;

use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::Value;

use super::connector_error;

/// Flink's name for a partition whose value is NULL or empty.
const DEFAULT_PARTITION_NAME: &str = "__DEFAULT_PARTITION__";

/// The file a committed partition gets (Flink's `success-file` policy).
pub(crate) const SUCCESS_FILE: &str = "_SUCCESS";

/// The options of a partitioned filesystem sink (Flink's names).
pub(crate) const OPTIONS: &[&str] = &[
    "partition.default-name",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.policy.kind",
    "sink.partition-commit.success-file.name",
    "partition.time-extractor.timestamp-pattern",
    // Rolling decides when Flink's in-progress part files become visible;
    // Spate's sink publishes its part files at each checkpoint, so these
    // change nothing in what is written and are accepted for scripts
    // brought over as is.
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.check-interval",
    "sink.rolling-policy.file-size",
    "sink.rolling-policy.inactivity-interval",
];

/// When a partition is complete.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Trigger {
    /// When the watermark passes the partition's time (from its values,
    /// through `pattern`) plus the delay: deterministic.
    PartitionTime {
        /// `$key` placeholders, e.g. `$dt $hm:00`; `None`: the first value.
        pattern: Option<String>,
    },
    /// When the wall clock passes the partition's creation plus the delay.
    ProcessTime,
}

/// How partitions are laid out and committed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PartitionSpec {
    /// The partition columns' indices in the row.
    keys: Vec<usize>,
    /// Their names.
    names: Vec<String>,
    /// Their directory prefixes, `name=` escaped (made once, not per row).
    prefixes: Vec<String>,
    /// The directory name of a NULL or empty value.
    default_name: String,
    /// `None` when no commit policy is set (Flink commits nothing then).
    commit: Option<(Trigger, u64)>,
    /// The commit marker's file name.
    success_file: String,
}

impl PartitionSpec {
    /// The spec of `table`, or `None` when it is not partitioned.
    pub(crate) fn of(table: &TableDef) -> Result<Option<Self>, SqlError> {
        if table.partition_keys.is_empty() {
            return match table.options.keys().find(|k| OPTIONS.contains(&k.as_str())) {
                Some(k) => Err(connector_error(
                    table,
                    format!("'{k}' needs a table PARTITIONED BY some of its columns"),
                )),
                None => Ok(None),
            };
        }
        let names: Vec<String> = table
            .partition_keys
            .iter()
            .filter_map(|&i| table.schema.fields.get(i).map(|f| f.name.clone()))
            .collect();
        let prefixes = names.iter().map(|n| format!("{}=", escape(n))).collect();
        let delay_ms = match table.option("sink.partition-commit.delay") {
            None => 0,
            Some(d) => crate::session::parse_duration_ms(d).map_err(|why| {
                connector_error(
                    table,
                    format!("'sink.partition-commit.delay' = '{d}': {why}"),
                )
            })?,
        };
        let trigger = match table.option("sink.partition-commit.trigger") {
            None | Some("process-time") => Trigger::ProcessTime,
            Some("partition-time") => Trigger::PartitionTime {
                pattern: table
                    .option("partition.time-extractor.timestamp-pattern")
                    .map(str::to_owned),
            },
            Some(other) => {
                return Err(connector_error(
                    table,
                    format!(
                        "'sink.partition-commit.trigger' = '{other}' is not a trigger; expected 'process-time' or 'partition-time'"
                    ),
                ));
            }
        };
        let commit = match table.option("sink.partition-commit.policy.kind") {
            None => None,
            Some(kinds) => {
                for kind in kinds.split(',').map(str::trim) {
                    if kind != "success-file" {
                        return Err(connector_error(
                            table,
                            format!(
                                "the partition commit policy '{kind}' is not supported; Spate writes 'success-file' (there is no metastore)"
                            ),
                        ));
                    }
                }
                Some((trigger, delay_ms))
            }
        };
        Ok(Some(PartitionSpec {
            keys: table.partition_keys.clone(),
            names,
            prefixes,
            default_name: table
                .option("partition.default-name")
                .unwrap_or(DEFAULT_PARTITION_NAME)
                .to_owned(),
            commit,
            success_file: table
                .option("sink.partition-commit.success-file.name")
                .unwrap_or(SUCCESS_FILE)
                .to_owned(),
        }))
    }

    /// Whether column `i` is a partition column (not written to files).
    pub(crate) fn is_key(&self, i: usize) -> bool {
        self.keys.contains(&i)
    }

    /// The commit marker's file name.
    pub(crate) fn success_file(&self) -> &str {
        &self.success_file
    }

    /// Whether partitions are committed (a commit policy is set).
    pub(crate) fn commits(&self) -> bool {
        self.commit.is_some()
    }

    /// The partition columns' values of `row`, in key order.
    pub(crate) fn values_of(&self, row: &Row) -> Vec<Value> {
        self.keys.iter().map(|&k| row.get(k).clone()).collect()
    }

    /// The partition's directory, relative to the table's path.
    pub(crate) fn path_of(&self, row: &Row) -> String {
        let mut path = String::new();
        for (prefix, &k) in self.prefixes.iter().zip(&self.keys) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(prefix);
            match row.get(k) {
                Value::Null => path.push_str(&escape(&self.default_name)),
                v => {
                    let text = v.to_string();
                    if text.is_empty() {
                        path.push_str(&escape(&self.default_name));
                    } else {
                        path.push_str(&escape(&text));
                    }
                }
            }
        }
        path
    }

    /// The partition's time for the `partition-time` trigger (UTC ms),
    /// from its values in `row`; `None` when they do not make a timestamp.
    fn time_of(&self, row: &Row, pattern: Option<&str>) -> Option<i64> {
        let text = match pattern {
            None => row.get(*self.keys.first()?).to_string(),
            Some(p) => {
                let mut text = p.to_owned();
                // Longer names first: `$dt` must not eat `$dth`'s prefix.
                let mut order: Vec<usize> = (0..self.names.len()).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(self.names.get(i).map_or(0, String::len)));
                for i in order {
                    if let (Some(name), Some(&k)) = (self.names.get(i), self.keys.get(i)) {
                        text = text.replace(&format!("${name}"), &row.get(k).to_string());
                    }
                }
                text
            }
        };
        crate::value::parse_timestamp_ms(&text)
    }
}

/// Escapes what cannot stand in a path segment as `%XX` (the characters
/// Flink's and Hive's partition paths escape).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let escaped = c.is_ascii_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | '^'
            );
        if escaped {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The partitions one sink subtask has written and not yet committed.
#[derive(Debug, Default)]
pub(crate) struct PendingCommits {
    /// Partition path → (partition time for `partition-time`, first write).
    pending: HashMap<String, (Option<i64>, Instant)>,
}

impl PendingCommits {
    /// Notes that `row` was written to partition `path`.
    pub(crate) fn wrote(&mut self, spec: &PartitionSpec, path: &str, row: &Row) {
        let Some((trigger, _)) = &spec.commit else {
            return;
        };
        if self.pending.contains_key(path) {
            return;
        }
        let time = match trigger {
            Trigger::PartitionTime { pattern } => spec.time_of(row, pattern.as_deref()),
            Trigger::ProcessTime => None,
        };
        self.pending.insert(path.to_owned(), (time, Instant::now()));
    }

    /// The partitions complete at watermark `watermark` (or at the end of
    /// input with `i64::MAX`), removed from the pending ones, in path order.
    pub(crate) fn due(&mut self, spec: &PartitionSpec, watermark: i64) -> Vec<String> {
        let Some((trigger, delay_ms)) = &spec.commit else {
            return Vec::new();
        };
        let delay = *delay_ms as i64;
        let now = Instant::now();
        let mut due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (time, created))| match trigger {
                _ if watermark == i64::MAX => true,
                // A partition whose values make no time commits at the end.
                Trigger::PartitionTime { .. } => {
                    time.is_some_and(|t| watermark > t.saturating_add(delay))
                }
                Trigger::ProcessTime => now.duration_since(*created).as_millis() as i64 >= delay,
            })
            .map(|(p, _)| p.clone())
            .collect();
        due.sort();
        for p in &due {
            self.pending.remove(p);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(trigger: Trigger, delay_ms: u64) -> PartitionSpec {
        PartitionSpec {
            keys: vec![1, 2],
            names: vec!["dt".into(), "hm".into()],
            prefixes: vec!["dt=".into(), "hm=".into()],
            default_name: DEFAULT_PARTITION_NAME.into(),
            commit: Some((trigger, delay_ms)),
            success_file: SUCCESS_FILE.into(),
        }
    }

    fn row(dt: &str, hm: &str) -> Row {
        Row::insert(vec![
            Value::Int(1),
            Value::Str(dt.into()),
            Value::Str(hm.into()),
        ])
    }

    fn ms(text: &str) -> i64 {
        crate::value::parse_timestamp_ms(text).expect("a timestamp")
    }

    #[test]
    fn a_partition_commits_once_the_watermark_passes_its_time_and_the_delay() {
        let spec = spec(
            Trigger::PartitionTime {
                pattern: Some("$dt $hm:00".into()),
            },
            60_000,
        );
        let mut pending = PendingCommits::default();
        for (dt, hm) in [("2026-12-06", "10:00"), ("2026-12-06", "10:01")] {
            let r = row(dt, hm);
            pending.wrote(&spec, &spec.path_of(&r), &r);
        }
        assert!(pending.due(&spec, ms("2026-12-06 10:01:00")).is_empty());
        assert_eq!(
            pending.due(&spec, ms("2026-12-06 10:01:00.001")),
            ["dt=2026-12-06/hm=10%3A00"]
        );
        assert!(pending.due(&spec, ms("2026-12-06 10:02:00")).is_empty());
        assert_eq!(pending.due(&spec, i64::MAX), ["dt=2026-12-06/hm=10%3A01"]);
        assert!(pending.due(&spec, i64::MAX).is_empty(), "committed once");
    }

    #[test]
    fn a_null_or_empty_value_goes_to_the_default_partition() {
        let spec = spec(Trigger::ProcessTime, 0);
        let r = Row::insert(vec![Value::Int(1), Value::Null, Value::Str("".into())]);
        assert_eq!(
            spec.path_of(&r),
            "dt=__DEFAULT_PARTITION__/hm=__DEFAULT_PARTITION__"
        );
    }

    #[test]
    fn values_are_escaped_as_flink_writes_them() {
        assert_eq!(escape("00:00"), "00%3A00");
        assert_eq!(escape("a/b=c d"), "a%2Fb%3Dc d");
        assert_eq!(escape("2015-07-15"), "2015-07-15");
    }
}
