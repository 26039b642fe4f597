//! The local phase of a window aggregate (Flink's two-phase window
//! aggregation, which it applies unless `table.optimizer.agg-phase-strategy`
//! is `ONE_PHASE`): before the keyed exchange, the rows of one input batch
//! are combined per group and window slice into one partial aggregate.
//!
//! Every row of a slice (the widest span no window boundary cuts: the size
//! of a tumbling window, the greatest common divisor of a hopping or
//! cumulating window's size and step) falls in the same windows. So the
//! partial, stamped with the latest time of its rows, lands in exactly the
//! windows its rows would have, and is late exactly when they would be; the
//! global phase then counts it as the rows it holds
//! ([`spate_state::AggregateFunction::input_records`]). q5's hot auction
//! costs one row per batch through the exchange instead of half the bids.

use std::collections::HashMap;
use std::sync::Arc;

use spate::operators::process::{Context, ProcessFunction};
use spate_state::StableBuildHasher;

use crate::aggregate::Accs;
use crate::group_key::GroupKey;
use crate::logical::{AggCall, WindowKind};
use crate::row::Row;

/// The slice width of window kind `kind`, ms: rows whose times fall in the
/// same slice are in the same windows. `None` for kinds whose windows do
/// not come from the row's time alone (sessions merge; attached windows
/// are read from the row).
pub(crate) fn slice_ms(kind: WindowKind) -> Option<i64> {
    let width = match kind {
        WindowKind::Tumble { size_ms } => size_ms,
        WindowKind::Hop { slide_ms, size_ms } => gcd(slide_ms, size_ms),
        WindowKind::Cumulate { step_ms, size_ms } => gcd(step_ms, size_ms),
        WindowKind::Session { .. } | WindowKind::Attached { .. } => return None,
    };
    (width > 0).then_some(width)
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One group's partial aggregate within one slice.
#[derive(Clone)]
struct Partial {
    key: GroupKey,
    slice: i64,
    /// The latest time of the rows folded in: the partial's timestamp.
    ts: i64,
    accs: Accs,
    /// The same group's partial of another slice, if any.
    next: Option<usize>,
}

/// Reads `[keys..., args...]` insert rows and writes `[keys...,
/// partial...]` rows ([`Accs::write_partial`]), one per group, slice and
/// batch, each stamped with its rows' latest time.
#[derive(Clone)]
pub(crate) struct LocalWindowAggregate {
    calls: Arc<Vec<AggCall>>,
    keys: usize,
    slice_ms: i64,
    /// The most partials held at once: more in one batch flushes early.
    partials_max: usize,
    /// Each group's most recent partial in `partials` (stable hashing: the
    /// order rows leave in never depends on the process).
    index: HashMap<GroupKey, usize, StableBuildHasher>,
    /// The batch's partials in the order they first came.
    partials: Vec<Partial>,
}

impl LocalWindowAggregate {
    pub(crate) fn new(
        calls: Arc<Vec<AggCall>>,
        keys: usize,
        slice_ms: i64,
        partials_max: usize,
    ) -> Self {
        LocalWindowAggregate {
            calls,
            keys,
            slice_ms: slice_ms.max(1),
            partials_max: partials_max.max(1),
            index: HashMap::default(),
            partials: Vec::new(),
        }
    }

    /// The partial of `key` in `slice`, if the batch has one.
    fn find(&self, key: &[crate::value::Value], slice: i64) -> Option<usize> {
        let mut at = self.index.get(key).copied();
        while let Some(i) = at {
            let p = self.partials.get(i)?;
            if p.slice == slice {
                return Some(i);
            }
            at = p.next;
        }
        None
    }

    fn flush(&mut self, ctx: &mut Context<'_, Row>) {
        for p in self.partials.drain(..) {
            ctx.collect_with_timestamp(p.accs.partial_row(&p.key), p.ts);
        }
        self.index.clear();
    }
}

impl ProcessFunction<Row, Row> for LocalWindowAggregate {
    fn process_element(&mut self, row: Row, ctx: &mut Context<'_, Row>) {
        let (key, args) = row.values.split_at(self.keys.min(row.values.len()));
        let Some(ts) = ctx.timestamp() else {
            // No event time: nothing to slice by, so the row goes on alone.
            let mut accs = Accs::new(&self.calls);
            accs.update(&self.calls, args, 1);
            return ctx.collect(accs.partial_row(key));
        };
        let slice = ts.div_euclid(self.slice_ms);
        let at = match self.find(key, slice) {
            Some(i) => i,
            None => {
                if self.partials.len() >= self.partials_max {
                    self.flush(ctx);
                }
                let key: GroupKey = key.iter().cloned().collect();
                let at = self.partials.len();
                let next = self.index.insert(key.clone(), at);
                self.partials.push(Partial {
                    key,
                    slice,
                    ts,
                    accs: Accs::new(&self.calls),
                    next,
                });
                at
            }
        };
        if let Some(p) = self.partials.get_mut(at) {
            p.ts = p.ts.max(ts);
            p.accs.update(&self.calls, args, 1);
        }
    }

    fn on_batch_end(&mut self, ctx: &mut Context<'_, Row>) {
        if !self.partials.is_empty() {
            self.flush(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_the_spans_no_window_boundary_cuts() {
        assert_eq!(slice_ms(WindowKind::Tumble { size_ms: 5000 }), Some(5000));
        let hop = WindowKind::Hop {
            slide_ms: 2000,
            size_ms: 10_000,
        };
        assert_eq!(slice_ms(hop), Some(2000));
        let uneven = WindowKind::Hop {
            slide_ms: 4000,
            size_ms: 6000,
        };
        assert_eq!(slice_ms(uneven), Some(2000));
        let cumulate = WindowKind::Cumulate {
            step_ms: 1000,
            size_ms: 3000,
        };
        assert_eq!(slice_ms(cumulate), Some(1000));
        assert_eq!(slice_ms(WindowKind::Session { gap_ms: 10 }), None);
    }
}
