//! Session windows over a partition with the groups aggregated inside.
//!
//! A `SESSION` TVF without `PARTITION BY` makes sessions of all rows, and
//! one with `PARTITION BY p` sessions per `p`; a window aggregate grouped by
//! other keys then aggregates each group within those sessions (Flink
//! 2.3: rows of different users one second apart share one session, and
//! each user gets a row for it). When the partition is exactly the group
//! keys, sessions are per group and the ordinary window aggregate serves;
//! otherwise the stream is keyed by the partition (one key without it) and
//! each session's accumulator holds every group's accumulators, in key
//! order, merged when sessions merge. Without an aggregate, the TVF's rows
//! wait in their session and go out with its bounds when it closes.

use std::sync::Arc;

use spate::DataStream;
use spate::window::{EventTimeSessionWindows, TimeWindow, WindowCollector};
use spate_state::AggregateFunction;

use crate::aggregate::Accs;
use crate::error::{Result, SqlError};
use crate::expr::ScalarExpr;
use crate::group_key::GroupKey;
use crate::logical::{AggCall, WindowGroup, WindowKind};
use crate::physical::{WindowsOfKind, agg_args, by_key_prefix, keys_and_args, window_row};
use crate::row::Row;
use crate::value::{DataType, Value};

/// Each group's key and accumulators, in key order.
type Groups = Vec<(Vec<Value>, Accs)>;

/// Aggregates `[partition..., keys..., args...]` rows per group key.
#[derive(Clone)]
struct GroupsInSession {
    calls: Arc<Vec<AggCall>>,
    /// Values before the group key.
    partition: usize,
    /// Values of the group key.
    keys: usize,
}

impl AggregateFunction for GroupsInSession {
    type In = Row;
    type Acc = Groups;
    /// Each group's key and results, in key order.
    type Out = Vec<(Vec<Value>, Vec<Value>)>;

    fn create_accumulator(&self) -> Groups {
        Vec::new()
    }
    fn add(&self, row: Row, acc: &mut Groups) {
        let values = row.values.get(self.partition..).unwrap_or_default();
        let (key, args) = values.split_at(self.keys.min(values.len()));
        let at = match acc.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
            Ok(i) => i,
            Err(i) => {
                acc.insert(i, (key.to_vec(), Accs::new(&self.calls)));
                i
            }
        };
        if let Some((_, accs)) = acc.get_mut(at) {
            accs.update(&self.calls, args, 1);
        }
    }
    fn get_result(&self, acc: &Groups) -> Self::Out {
        acc.iter().map(|(k, a)| (k.clone(), a.results())).collect()
    }
    fn merge(&self, mut a: Groups, b: Groups) -> Groups {
        for (key, accs) in b {
            match a.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => {
                    if let Some((_, into)) = a.get_mut(i) {
                        into.merge_from(&accs, &self.calls);
                    }
                }
                Err(i) => a.insert(i, (key, accs)),
            }
        }
        a
    }
}

/// What [`build_session_groups`] aggregates.
pub(crate) struct SessionGroups<'a> {
    /// A `Session` window kind.
    pub kind: WindowKind,
    /// Sessions of processing time.
    pub proctime: bool,
    /// What rows of one session share (empty: all rows).
    pub partition: &'a [ScalarExpr],
    /// The group items in order.
    pub group: &'a [WindowGroup],
    /// The aggregates.
    pub aggs: &'a [AggCall],
}

/// `[group items..., aggs...]` rows, one per group and session, each
/// session's groups in key order.
pub(crate) fn build_session_groups(
    input: &DataStream<Row>,
    types: &[DataType],
    spec: SessionGroups<'_>,
) -> Result<DataStream<Row>> {
    let WindowKind::Session { gap_ms } = spec.kind else {
        return Err(SqlError::Internal(
            "sessions over a partition for a window that is not a session".into(),
        ));
    };
    let keys: Vec<ScalarExpr> = spec
        .group
        .iter()
        .filter_map(|g| match g {
            WindowGroup::Key(e) => Some(e.clone()),
            WindowGroup::Window(_) => None,
        })
        .collect();
    let agg = GroupsInSession {
        calls: Arc::new(spec.aggs.to_vec()),
        partition: spec.partition.len(),
        keys: keys.len(),
    };
    let mut prefix = spec.partition.to_vec();
    prefix.extend(keys);
    let rows = keys_and_args(input, prefix, agg_args(spec.aggs), types);
    let keyed = by_key_prefix(&rows, spec.partition.len());
    let group = Arc::new(spec.group.to_vec());
    let finish = move |_: &_, w: &TimeWindow, groups: Vec<(Vec<Value>, Vec<Value>)>| {
        groups
            .into_iter()
            .map(|(key, results)| window_row(&group, key.into_iter(), w, results))
            .collect::<Vec<Row>>()
    };
    let sessions = if spec.proctime {
        keyed
            .window(WindowsOfKind {
                kind: spec.kind,
                event_time: false,
            })
            .aggregate_with(agg, finish)
    } else {
        keyed
            .window(EventTimeSessionWindows::with_gap(gap_ms as u64))
            .aggregate_with(agg, finish)
    };
    Ok(sessions.flat_map(|rows: Vec<Row>| rows))
}

/// A `SESSION` TVF's rows without an aggregate after it: each row, with
/// its session's `window_start`, `window_end` and `window_time`, once the
/// session closes (rows of a session in the order they came).
pub(crate) fn build_session_tvf(
    input: &DataStream<Row>,
    kind: WindowKind,
    proctime: bool,
    partition: &[ScalarExpr],
) -> Result<DataStream<Row>> {
    let WindowKind::Session { gap_ms } = kind else {
        return Err(SqlError::Internal(
            "a session table function for a window that is not a session".into(),
        ));
    };
    let columns: Vec<usize> = partition
        .iter()
        .map(|p| match p {
            ScalarExpr::Column(c) => Ok(*c),
            _ => Err(SqlError::Internal("PARTITION BY of an expression".into())),
        })
        .collect::<Result<_>>()?;
    let keyed = input.key_by(move |r: &Row| {
        columns
            .iter()
            .map(|c| r.get(*c).clone())
            .collect::<GroupKey>()
    });
    let emit = |_: &GroupKey, w: &TimeWindow, rows: &[Row], out: &mut WindowCollector<'_, Row>| {
        for r in rows {
            let mut values = Vec::with_capacity(r.values.len() + 3);
            values.extend(r.values.iter().cloned());
            values.extend([
                Value::Timestamp(w.start),
                Value::Timestamp(w.end),
                Value::Timestamp(w.end - 1),
            ]);
            out.collect(Row::insert(values));
        }
        Ok(())
    };
    Ok(if proctime {
        keyed
            .window(WindowsOfKind {
                kind,
                event_time: false,
            })
            .process(emit)
    } else {
        keyed
            .window(EventTimeSessionWindows::with_gap(gap_ms as u64))
            .process(emit)
    })
}
