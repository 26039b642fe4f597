//! The local phase of a split group aggregate (Flink's local-global
//! aggregation, on with mini-batch): before the keyed exchange, the rows
//! of one input batch are combined per group into one partial aggregate,
//! so the exchange and the global aggregate see one row per group and
//! batch instead of every row. A hot group (q4's current auction) then
//! costs one partial per batch.

use std::collections::HashMap;
use std::sync::Arc;

use spate::operators::process::{Context, ProcessFunction};
use spate_state::StableBuildHasher;

use crate::aggregate::Accs;
use crate::group_key::GroupKey;
use crate::logical::AggCall;
use crate::row::Row;

/// Reads `[keys..., args...]` rows and writes `[keys..., partial...]`
/// rows ([`Accs::write_partial`]), one per group and batch, all inserts.
#[derive(Clone)]
pub(crate) struct LocalAggregate {
    calls: Arc<Vec<AggCall>>,
    keys: usize,
    /// The most groups held at once: more in one batch flushes early.
    groups_max: usize,
    /// Where each group of the batch is in `partials` (stable hashing:
    /// the order rows leave in never depends on the process).
    index: HashMap<GroupKey, usize, StableBuildHasher>,
    /// The batch's groups in the order they first came.
    partials: Vec<(GroupKey, Accs)>,
}

impl LocalAggregate {
    pub(crate) fn new(calls: Arc<Vec<AggCall>>, keys: usize, groups_max: usize) -> Self {
        LocalAggregate {
            calls,
            keys,
            groups_max: groups_max.max(1),
            index: HashMap::default(),
            partials: Vec::new(),
        }
    }

    fn flush(&mut self, ctx: &mut Context<'_, Row>) {
        let calls = &self.calls;
        for (key, accs) in self.partials.drain(..) {
            if accs.is_empty(calls) {
                continue;
            }
            ctx.collect(accs.partial_row(&key));
        }
        self.index.clear();
    }
}

impl ProcessFunction<Row, Row> for LocalAggregate {
    fn process_element(&mut self, row: Row, ctx: &mut Context<'_, Row>) {
        let sign = if row.kind.is_addition() { 1 } else { -1 };
        let (key, args) = row.values.split_at(self.keys.min(row.values.len()));
        let at = match self.index.get(key) {
            Some(&i) => i,
            None => {
                if self.partials.len() >= self.groups_max {
                    self.flush(ctx);
                }
                let key: GroupKey = key.iter().cloned().collect();
                self.partials.push((key.clone(), Accs::new(&self.calls)));
                self.index.insert(key, self.partials.len() - 1);
                self.partials.len() - 1
            }
        };
        if let Some((_, accs)) = self.partials.get_mut(at) {
            accs.update(&self.calls, args, sign);
        }
    }

    fn on_batch_end(&mut self, ctx: &mut Context<'_, Row>) {
        if !self.partials.is_empty() {
            self.flush(ctx);
        }
    }
}
