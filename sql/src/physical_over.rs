//! OVER aggregates in event time, as Flink runs them: a partition's rows
//! wait until the watermark reaches their time, then go out in time order,
//! each with the aggregates over its frame (the rows before it, bounded by
//! a count or a time range, or all of them). Rows already behind the
//! watermark when they come are late and dropped. Rows at the same time
//! go in the order of their values, so every core count gives the same
//! output (Flink takes them in arrival order).

use std::collections::BTreeMap;
use std::sync::Arc;

use spate::keyed::{KeyedContext, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::{DataStream, SpateError};

use crate::aggregate::Accs;
use crate::error::{Result, SqlError};
use crate::expr::ScalarExpr;
use crate::group_key::GroupKey;
use crate::logical::{AggCall, OverFrame};
use crate::physical_join::keyed_side;
use crate::row::Row;
use crate::value::Value;

/// What the OVER operator computes.
#[derive(Clone, Debug)]
pub(crate) struct OverSpec {
    pub partition: Vec<ScalarExpr>,
    pub time_col: usize,
    pub frame: OverFrame,
    pub aggs: Vec<AggCall>,
    /// The input's columns.
    pub width: usize,
}

/// Builds the OVER aggregate of an append-only `input`.
pub(crate) fn build_over(
    input: DataStream<Row>,
    spec: OverSpec,
    insert_only: bool,
) -> Result<DataStream<Row>> {
    if !insert_only {
        return Err(SqlError::Unsupported {
            pos: Default::default(),
            feature: "an OVER aggregation over an updating (changelog) input".into(),
            snippet: String::new(),
        });
    }
    let keyed = keyed_side(input, &spec.partition, spec.width);
    Ok(keyed.process(OverAggregate {
        time_col: spec.time_col,
        frame: spec.frame,
        calls: Arc::new(spec.aggs),
        width: spec.width,
        state: None,
    }))
}

/// A partition's rows waiting for the watermark, and its frame so far.
#[derive(Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Partition {
    /// Rows by time, not yet emitted.
    #[rkyv(with = rkyv::with::AsVec)]
    pending: BTreeMap<i64, Vec<Vec<Value>>>,
    /// A bounded frame's rows, oldest first: (time, aggregate arguments).
    frame: Vec<(i64, Vec<Value>)>,
    /// An unbounded frame's accumulators.
    total: Option<Accs>,
}

#[derive(Clone)]
struct OverAggregate {
    time_col: usize,
    frame: OverFrame,
    calls: Arc<Vec<AggCall>>,
    width: usize,
    state: Option<ValueState<GroupKey, Partition>>,
}

impl OverAggregate {
    fn state(&self) -> spate::Result<ValueState<GroupKey, Partition>> {
        self.state
            .ok_or_else(|| SpateError::internal("over aggregate state not opened"))
    }

    /// The aggregate arguments of `row` (NULL for `COUNT(*)`).
    fn args(&self, row: &Row) -> spate::Result<Vec<Value>> {
        self.calls
            .iter()
            .map(|c| match &c.arg {
                Some(e) => e.eval(row).map_err(|m| SpateError::Operator {
                    operator: "over aggregate".into(),
                    reason: m,
                }),
                None => Ok(Value::Null),
            })
            .collect()
    }

    /// The aggregates over the rows of `frame`.
    fn over(&self, frame: &[(i64, Vec<Value>)]) -> Vec<Value> {
        let mut accs = Accs::new(&self.calls);
        for (_, args) in frame {
            accs.update(&self.calls, args, 1);
        }
        accs.results()
    }

    /// Emits the rows at time `ts` (sorted) with their aggregates.
    fn emit_at(
        &self,
        p: &mut Partition,
        ts: i64,
        rows: Vec<Vec<Value>>,
        out: &mut Vec<Row>,
    ) -> spate::Result<()> {
        let mut with_args = Vec::with_capacity(rows.len());
        for values in rows {
            let row = Row::insert(values);
            let args = self.args(&row)?;
            with_args.push((row.values, args));
        }
        let mut push = |values: Vec<Value>, results: &[Value]| {
            let mut v = values;
            v.extend_from_slice(results);
            out.push(Row::insert(v));
        };
        let calls = &self.calls;
        match self.frame {
            OverFrame::Rows(None) => {
                let total = p.total.get_or_insert_with(|| Accs::new(calls));
                for (values, args) in with_args {
                    total.update(calls, &args, 1);
                    push(values, &total.results());
                }
            }
            OverFrame::Range(None) => {
                let total = p.total.get_or_insert_with(|| Accs::new(calls));
                for (_, args) in &with_args {
                    total.update(calls, args, 1);
                }
                let results = total.results();
                for (values, _) in with_args {
                    push(values, &results);
                }
            }
            OverFrame::Rows(Some(n)) => {
                for (values, args) in with_args {
                    p.frame.push((ts, args));
                    let keep = usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1);
                    if p.frame.len() > keep {
                        let extra = p.frame.len() - keep;
                        p.frame.drain(..extra);
                    }
                    push(values, &self.over(&p.frame));
                }
            }
            OverFrame::Range(Some(ms)) => {
                let mut peers = Vec::with_capacity(with_args.len());
                for (values, args) in with_args {
                    p.frame.push((ts, args));
                    peers.push(values);
                }
                let from = ts.saturating_sub(ms);
                p.frame.retain(|(t, _)| *t >= from);
                let results = self.over(&p.frame);
                for values in peers {
                    push(values, &results);
                }
            }
        }
        Ok(())
    }
}

impl KeyedProcessFunction<GroupKey, Row, Row> for OverAggregate {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(ctx.value_state("over-aggregate", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        mut row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let ts = row.get(self.time_col).as_i64().unwrap_or(i64::MIN);
        if ts <= ctx.current_watermark() {
            ctx.count_late_record();
            return Ok(());
        }
        row.values.truncate(self.width);
        let values = row.values;
        self.state()?
            .modify_or_insert_with(ctx, Partition::default, |p| {
                p.pending.entry(ts).or_default().push(values)
            })?;
        ctx.register_event_time_timer(ts);
        Ok(())
    }

    /// The watermark reached `timestamp`: the rows up to it go out.
    fn on_timer(
        &mut self,
        timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let mut out = Vec::new();
        let mut failed = None;
        self.state()?.modify(ctx, |cur| {
            let p = cur?;
            let later = p.pending.split_off(&timestamp.saturating_add(1));
            let due = std::mem::replace(&mut p.pending, later);
            for (ts, mut rows) in due {
                rows.sort();
                if let Err(e) = self.emit_at(p, ts, rows, &mut out) {
                    failed = Some(e);
                    break;
                }
            }
            None
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        for r in out {
            ctx.collect(r);
        }
        Ok(())
    }
}
