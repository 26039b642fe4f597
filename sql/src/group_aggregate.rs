//! `GROUP BY` as a changelog: +I for a new group, -U/+U when its result
//! changes (nothing when it does not, as in Flink), -D when it empties.
//!
//! With mini-batch on (`crate::mini_batch`), a group's change is held back
//! until the input batch ends, so a group updated by many rows of one
//! batch emits one change, not one per row. Its input is then either rows
//! (`[keys..., args...]`) or, after a local phase, partial aggregates
//! (`[keys..., partial...]`, [`Accs::write_partial`]).

use std::collections::HashMap;
use std::sync::Arc;

use spate::SpateError;
use spate::keyed::{KeyedContext, OpenContext, StateTtl, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate_state::StableBuildHasher;

use crate::aggregate::Accs;
use crate::group_key::GroupKey;
use crate::logical::AggCall;
use crate::row::{Row, RowKind};
use crate::value::Value;

/// What a group aggregate reads after each row's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupInput {
    /// The aggregate calls' arguments; a row's kind adds or retracts it.
    Rows,
    /// A local phase's partial aggregate, merged whatever its kind.
    Partials,
}

/// A group's results before the batch's first change to it (`None`: the
/// group did not exist).
type Before = Option<Vec<Value>>;

#[derive(Clone)]
pub(crate) struct GroupAggregate {
    calls: Arc<Vec<AggCall>>,
    keys: usize,
    input: GroupInput,
    ttl: Option<StateTtl>,
    /// Only the accumulators: the result last emitted is theirs before the
    /// update (a result is emitted whenever it changes), so it is not kept
    /// (it made a group's state about twice the size).
    state: Option<ValueState<GroupKey, Accs>>,
    /// Mini-batch: the most groups held back at once (`None`: off).
    held_max: Option<usize>,
    /// The groups changed in this batch, with their results before it.
    held: HashMap<GroupKey, Before, StableBuildHasher>,
    /// The same groups in the order they were first changed.
    held_order: Vec<GroupKey>,
}

/// What to do with a change to the current group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Emit it now (mini-batch off, or too many groups held).
    Now,
    /// Hold it back; the group's results before the batch must be kept.
    HoldFirst,
    /// Already held back: its results before the batch are kept.
    Held,
}

impl GroupAggregate {
    pub(crate) fn new(
        calls: Arc<Vec<AggCall>>,
        keys: usize,
        input: GroupInput,
        ttl: Option<StateTtl>,
        held_max: Option<usize>,
    ) -> Self {
        GroupAggregate {
            calls,
            keys,
            input,
            ttl,
            state: None,
            held_max,
            held: HashMap::default(),
            held_order: Vec::new(),
        }
    }

    fn state(&self) -> spate::Result<ValueState<GroupKey, Accs>> {
        self.state
            .ok_or_else(|| SpateError::internal("group aggregate state not opened"))
    }

    fn emit_mode(&self, key: &GroupKey) -> Emit {
        match self.held_max {
            None => Emit::Now,
            Some(_) if self.held.contains_key(key) => Emit::Held,
            Some(max) if self.held.len() < max => Emit::HoldFirst,
            Some(_) => Emit::Now,
        }
    }

    /// Folds one input row into `accs`.
    fn apply(&self, accs: &mut Accs, row: &Row) -> Result<(), String> {
        let tail = row.values.get(self.keys..).unwrap_or(&[]);
        match self.input {
            GroupInput::Rows => {
                let sign = if row.kind.is_addition() { 1 } else { -1 };
                accs.update(&self.calls, tail, sign);
                Ok(())
            }
            GroupInput::Partials => accs.merge_partial(&self.calls, tail),
        }
    }
}

/// The changelog rows that take a group from `before` to `after`.
fn changes(
    key: &[Value],
    before: Before,
    after: Before,
    ctx: &mut KeyedContext<'_, GroupKey, Row>,
) {
    let with_key = |vals: Vec<Value>| {
        let mut v = Vec::with_capacity(key.len() + vals.len());
        v.extend(key.iter().cloned());
        v.extend(vals);
        v
    };
    match (before, after) {
        (None, None) => {}
        (None, Some(new)) => ctx.collect(Row::of(RowKind::Insert, with_key(new))),
        (Some(old), None) => ctx.collect(Row::of(RowKind::Delete, with_key(old))),
        (Some(old), Some(new)) if old == new => {}
        (Some(old), Some(new)) => {
            ctx.collect(Row::of(RowKind::UpdateBefore, with_key(old)));
            ctx.collect(Row::of(RowKind::UpdateAfter, with_key(new)));
        }
    }
}

/// A group's results, or `None` when it holds no rows.
fn results_of(accs: &Accs) -> Before {
    (accs.rows > 0).then(|| accs.results())
}

impl KeyedProcessFunction<GroupKey, Row, Row> for GroupAggregate {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(ctx.value_state("group-aggregate", self.ttl)?);
        Ok(())
    }

    /// Updates the group's state in place (one lookup, no copy of its
    /// accumulators: a COUNT(DISTINCT) holds every value it saw).
    fn process_element(
        &mut self,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let state = self.state()?;
        let mode = self.emit_mode(ctx.key());
        let (mut before, mut after, mut emptied, mut failed) = (None, None, false, None);
        state.modify_or_insert_with(
            ctx,
            || Accs::new(&self.calls),
            |accs| {
                if mode != Emit::Held {
                    before = results_of(accs);
                }
                if let Err(m) = self.apply(accs, &row) {
                    failed = Some(m);
                }
                if mode == Emit::Now {
                    after = results_of(accs);
                }
                emptied = accs.rows <= 0;
            },
        )?;
        if let Some(reason) = failed {
            return Err(SpateError::Operator {
                operator: "group aggregate".into(),
                reason,
            });
        }
        if emptied {
            state.clear(ctx)?;
        }
        match mode {
            Emit::Now => changes(&ctx.key().clone(), before, after, ctx),
            Emit::HoldFirst => {
                self.held.insert(ctx.key().clone(), before);
                self.held_order.push(ctx.key().clone());
            }
            Emit::Held => {}
        }
        Ok(())
    }

    fn take_deferred_keys(&mut self, keys: &mut Vec<GroupKey>) {
        keys.append(&mut self.held_order);
    }

    /// The held-back change of the current group: from its results before
    /// the batch to its results now.
    fn flush_key(&mut self, ctx: &mut KeyedContext<'_, GroupKey, Row>) -> spate::Result<()> {
        let Some(before) = self.held.remove(ctx.key()) else {
            return Err(SpateError::internal(
                "a group aggregate flushed a group it did not hold back",
            ));
        };
        let mut after = None;
        self.state()?.modify(ctx, |accs| {
            after = accs.and_then(|a| results_of(a));
            None
        })?;
        changes(&ctx.key().clone(), before, after, ctx);
        Ok(())
    }
}
