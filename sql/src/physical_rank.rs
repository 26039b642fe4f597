//! Top-N: per partition key, the first N rows in the window's order, kept
//! sorted in keyed state. A row that enters the first N renumbers the rows
//! behind it: each changed number is retracted and emitted again (`-U`,
//! `+U`), and a number reached for the first time is inserted (`+I`), as
//! Flink's append-only Top-N does. With N = 1 this is deduplication
//! (keep the first or the last row by the order). Rows equal in the order
//! are ranked by their values, so the result does not depend on which
//! core's rows arrive first.

use std::cmp::Ordering;
use std::sync::Arc;

use spate::keyed::{KeyedContext, OpenContext, StateTtl, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::{DataStream, SpateError};

use crate::bind_rank::TOP_N_MAX;
use crate::error::{Result, SqlError};
use crate::expr::ScalarExpr;
use crate::group_key::GroupKey;
use crate::logical::SortKey;
use crate::physical_join::keyed_side;
use crate::row::{Row, RowKind};
use crate::value::Value;

/// What the Top-N needs to know of its input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputShape {
    /// The number of columns.
    pub width: usize,
    /// True when the input has no updates or deletes.
    pub insert_only: bool,
    /// The time attribute's column, if any.
    pub rowtime: Option<usize>,
}

/// Builds the Top-N of `input` by `partition` and `order`, keeping `limit`.
pub(crate) fn build_top_n(
    input: DataStream<Row>,
    partition: Vec<ScalarExpr>,
    order: Vec<SortKey>,
    limit: Option<u64>,
    input_shape: InputShape,
    ttl: Option<StateTtl>,
) -> Result<DataStream<Row>> {
    let InputShape {
        width,
        insert_only,
        rowtime,
    } = input_shape;
    let unsupported = |feature: String| SqlError::Unsupported {
        pos: Default::default(),
        feature,
        snippet: String::new(),
    };
    let Some(limit) = limit else {
        return Err(unsupported(
            "ROW_NUMBER() OVER (...) without a bound on the number (such as \
             `WHERE rn <= 10` in the query around it)"
                .into(),
        ));
    };
    if limit > TOP_N_MAX {
        return Err(unsupported(format!(
            "a Top-N of {limit} rows per partition (at most {TOP_N_MAX})"
        )));
    }
    let keyed = keyed_side(input, &partition, width);
    Ok(keyed.process(TopN {
        order: Arc::new(order),
        limit: limit as usize,
        retracting: !insert_only,
        width,
        rowtime,
        ttl,
        state: None,
    }))
}

/// A kept row: its sort values and the row itself.
type Ranked = (Vec<Value>, Vec<Value>);

#[derive(Clone)]
struct TopN {
    order: Arc<Vec<SortKey>>,
    limit: usize,
    /// An updating input: every row of the partition is kept, so a row
    /// retracted from the first N is replaced by the next one (Flink's
    /// retract Top-N; its state grows with the partition, as Flink's does,
    /// unless `table.exec.state.ttl` bounds it).
    retracting: bool,
    /// The input's columns (key columns computed for the exchange follow).
    width: usize,
    /// The input's time attribute, which orders rows equal in the sort
    /// keys before their values do.
    rowtime: Option<usize>,
    ttl: Option<StateTtl>,
    state: Option<ValueState<GroupKey, Vec<Ranked>>>,
}

impl TopN {
    /// The order of two kept rows: by the sort keys (`DESC` reversed),
    /// then by event time (Flink ranks ties by arrival, which for input in
    /// event-time order is this, and unlike arrival is the same on every
    /// core count), then by the row values.
    fn compare(&self, a: &Ranked, b: &Ranked) -> Ordering {
        for (k, (x, y)) in self.order.iter().zip(a.0.iter().zip(&b.0)) {
            let o = x.cmp(y);
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let time = |r: &Ranked| self.rowtime.and_then(|i| r.1.get(i).cloned());
        time(a).cmp(&time(b)).then_with(|| a.1.cmp(&b.1))
    }

    /// A row of an updating input: added to or removed from the
    /// partition's sorted rows; the numbers 1..=N that changed are
    /// retracted and emitted again (`-U`/`+U`), a number reached for the
    /// first time inserted, a number no row holds any more deleted.
    fn retracting_row(
        &self,
        row: Ranked,
        adding: bool,
        state: ValueState<GroupKey, Vec<Ranked>>,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let mut out = Vec::new();
        state.modify_or_insert_with(ctx, Vec::new, |all| {
            let at = all.partition_point(|r| self.compare(r, &row) == Ordering::Less);
            // The row number n held before the change: the rows from `at`
            // on moved one place (down for an insert, up for a removal).
            let removed = if adding {
                all.insert(at, row);
                None
            } else if all.get(at).is_some_and(|r| *r == row) {
                Some(all.remove(at).1)
            } else {
                // Retracting a row never added changes nothing.
                return;
            };
            for n in at..self.limit {
                let old = match &removed {
                    None => all.get(n + 1).map(|r| &r.1),
                    Some(gone) if n == at => Some(gone),
                    Some(_) => all.get(n - 1).map(|r| &r.1),
                };
                match (old, all.get(n).map(|r| &r.1)) {
                    (Some(old), Some(new)) if old == new => {}
                    (Some(old), Some(new)) => {
                        out.push(Self::numbered(RowKind::UpdateBefore, old, n + 1));
                        out.push(Self::numbered(RowKind::UpdateAfter, new, n + 1));
                    }
                    (None, Some(new)) => out.push(Self::numbered(RowKind::Insert, new, n + 1)),
                    (Some(old), None) => out.push(Self::numbered(RowKind::Delete, old, n + 1)),
                    (None, None) => break,
                }
            }
        })?;
        for r in out {
            ctx.collect(r);
        }
        Ok(())
    }

    fn numbered(kind: RowKind, row: &[Value], n: usize) -> Row {
        let mut values = row.to_vec();
        values.push(Value::Int(n as i64));
        Row::of(kind, values)
    }
}

impl KeyedProcessFunction<GroupKey, Row, Row> for TopN {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(ctx.value_state("top-n", self.ttl)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        mut row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        row.values.truncate(self.width);
        let state = self
            .state
            .ok_or_else(|| SpateError::internal("top-n state not opened"))?;
        let mut sort = Vec::with_capacity(self.order.len());
        for k in self.order.iter() {
            sort.push(k.expr.eval(&row).map_err(|m| SpateError::Operator {
                operator: "top-n".into(),
                reason: m,
            })?);
        }
        let new: Ranked = (sort, row.values);
        if self.retracting {
            return self.retracting_row(new, row.kind.is_addition(), state, ctx);
        }
        let mut kept = state.value(ctx)?.unwrap_or_default();
        let at = kept.partition_point(|r| self.compare(r, &new) == Ordering::Less);
        if at >= self.limit {
            return Ok(());
        }
        let old_len = kept.len();
        kept.insert(at, new);
        let evicted = if kept.len() > self.limit {
            kept.pop()
        } else {
            None
        };
        // Numbers at..: each now holds the row that was one place ahead.
        for i in at..kept.len() {
            if i < old_len {
                if let Some(before) = kept.get(i + 1).or(evicted.as_ref()) {
                    ctx.collect(Self::numbered(RowKind::UpdateBefore, &before.1, i + 1));
                }
                ctx.collect(Self::numbered(RowKind::UpdateAfter, &kept[i].1, i + 1));
            } else {
                ctx.collect(Self::numbered(RowKind::Insert, &kept[i].1, i + 1));
            }
        }
        state.update(ctx, kept)
    }
}
