//! Keyed operators in checkpoints: what they capture at a barrier, how a
//! restarted run gives their state back, and the adapter that shares an
//! operator between its chain and the task's checkpointing.
//!
//! An operator's state is captured in the canonical form of
//! [`spate_state::canonical`] (sorted stored keys and values), so the
//! files do not depend on the backend or the parallelism: a restore reads
//! every file of the operator's states whose key groups overlap its own
//! and keeps the entries of its key groups.

use std::cell::RefCell;
use std::rc::Rc;

use spate_state::checkpoint::{MergeIter, SstReader, SubtaskState, Tombstones, verify_sst_bytes};
use spate_state::{CanonicalEntry, CanonicalState, DeltaEntry, KeyGroupRange};

use super::restore::RestoredPositions;
use super::snapshot::{SnapshotParticipant, TaskSnapshot};
use crate::error::{Result, SpateError};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::time::Timestamp;

/// Largest checkpoint file a restore reads into memory.
const STATE_FILE_BYTES_MAX: u64 = 4 << 30;

/// Entries a restore decodes before handing them to the table: imported
/// while still in cache, and the restore's memory is one chunk, not a copy
/// of the whole state.
const IMPORT_CHUNK_ENTRIES: usize = 4096;

/// One state of an operator, captured at a barrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedState {
    /// `<node>/<state>`: unique in the job.
    pub name: String,
    /// The table kind (`value`, `timers`, ...).
    pub kind: String,
    /// What was captured.
    pub entries: Captured,
}

/// A state's capture: the whole state, or what changed since its previous
/// capture (for tables that note their changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// Every entry, sorted by stored key.
    Whole(Vec<CanonicalEntry>),
    /// The entries changed since the previous capture of this state in
    /// this run (all of them at the first); `None` deletes a key. Unsorted
    /// (the planner sorts them off the core) and a key may appear twice,
    /// as [`spate_state::canonical::sort_delta`] resolves.
    Changes(Vec<DeltaEntry>),
    /// A RocksDB instance's own checkpoint, holding all the states of one
    /// operator subtask.
    Rocks(super::rocks_instance::RocksCapture),
}

/// The name of state `state` of node `node` in checkpoints.
pub(crate) fn state_name(node: usize, state: &str) -> String {
    format!("{node}/{state}")
}

/// Where an operator puts its part of a snapshot.
pub(crate) struct StateSink<'a> {
    node: usize,
    /// The checkpoint being taken.
    id: u64,
    out: &'a mut TaskSnapshot,
}

impl StateSink<'_> {
    /// Captures every entry of `table` as state `state`.
    pub(crate) fn table(&mut self, state: &str, table: &dyn CanonicalState) -> Result<()> {
        let name = state_name(self.node, state);
        let entries = spate_state::canonical::export_all(table, &name)?;
        self.entries(state, table.kind(), entries);
        Ok(())
    }

    /// Starts capturing `table` as state `state`: a copy-on-write capture
    /// of what changed when the table notes its changes (O(1) here; the
    /// entries follow in [`continue_state`](Self::continue_state)), else
    /// every entry at once. This is the synchronous part of a checkpoint.
    pub(crate) fn start_state(
        &mut self,
        state: &str,
        table: &mut dyn CanonicalState,
    ) -> Result<()> {
        if !table.tracks_changes() {
            return self.table(state, table);
        }
        let name = state_name(self.node, state);
        table.start_capture(&name)?;
        self.out.states.push(CapturedState {
            name,
            kind: table.kind().to_owned(),
            entries: Captured::Changes(Vec::new()),
        });
        Ok(())
    }

    /// Encodes more of the capture of state `state` that
    /// [`start_state`](Self::start_state) started, spending at most
    /// `budget`; true once it is complete.
    pub(crate) fn continue_state(
        &mut self,
        state: &str,
        table: &mut dyn CanonicalState,
        budget: &mut usize,
    ) -> Result<bool> {
        if !table.capturing() {
            return Ok(true);
        }
        let name = state_name(self.node, state);
        let captured = self.out.states.iter_mut().find(|c| c.name == name);
        let Some(CapturedState {
            entries: Captured::Changes(out),
            ..
        }) = captured
        else {
            return Err(SpateError::internal(format!(
                "state `{name}` is being captured but its checkpoint holds no capture for it"
            )));
        };
        Ok(table.continue_capture(&name, budget, out)?)
    }

    /// Captures the operator's RocksDB instance, which holds its states
    /// `states` (name, kind): RocksDB's own checkpoint, a flush and hard
    /// links. The files are read off the core.
    pub(crate) fn instance(
        &mut self,
        instance: &mut super::rocks_instance::RocksInstance,
        states: Vec<(&str, &str)>,
    ) -> Result<()> {
        let checkpoint = super::rocks_instance::capture_instance(instance, self.id)?;
        self.out.states.push(CapturedState {
            name: super::rocks_instance::instance_state_name(self.node),
            kind: super::rocks_instance::INSTANCE_KIND.to_owned(),
            entries: Captured::Rocks(super::rocks_instance::RocksCapture {
                checkpoint,
                restored: std::mem::take(&mut instance.restored_files),
                states: states
                    .into_iter()
                    .map(|(name, kind)| (state_name(self.node, name), kind.to_owned()))
                    .collect(),
            }),
        });
        Ok(())
    }

    /// Adds entries the operator encoded itself.
    pub(crate) fn entries(&mut self, state: &str, kind: &str, entries: Vec<CanonicalEntry>) {
        self.out.states.push(CapturedState {
            name: state_name(self.node, state),
            kind: kind.to_owned(),
            entries: Captured::Whole(entries),
        });
    }

    /// Records the operator's current watermark: a restored operator
    /// treats the records it sees again exactly as it did (late or not).
    pub(crate) fn watermark(&mut self, wm: Timestamp) {
        self.out
            .operator_values
            .insert(format!("{}/watermark", self.node), wm);
    }
}

/// A keyed operator whose state goes into checkpoints.
pub(crate) trait StatefulOperator: 'static {
    /// Captures the operator's state; called on its core when the task is
    /// aligned on a barrier. Mutable: tables that note their changes start
    /// a new period, and a copy-on-write capture of the changes.
    fn capture(&mut self, sink: &mut StateSink<'_>) -> Result<()>;
    /// Encodes more of the copy-on-write captures that
    /// [`capture`](Self::capture) started, spending at most `budget`;
    /// true once they are complete. Called between record batches.
    fn continue_capture(&mut self, sink: &mut StateSink<'_>, budget: &mut usize) -> Result<bool> {
        let _ = (sink, budget);
        Ok(true)
    }
    /// Takes back the state of a checkpoint, before the first record.
    fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<()>;
}

/// Builds the chain entry of stateful operator `op` of node `node` that
/// owns key groups `range`: restores its state when the run restarts from
/// a checkpoint, and shares it with the task's checkpointing when the run
/// takes checkpoints (otherwise the chain owns it directly).
pub(crate) fn stateful_op<T, Op>(
    inst: &mut Instantiator<'_>,
    node: usize,
    range: KeyGroupRange,
    mut op: Op,
) -> Result<BoxOutput<T>>
where
    Op: Output<T> + StatefulOperator,
{
    restore_operator(inst, node, range, &mut op)?;
    if !inst.checkpointed() {
        return Ok(Box::new(op));
    }
    let shared = Rc::new(RefCell::new(op));
    take_part(inst, node, &shared);
    Ok(Box::new(SharedOp(shared)))
}

/// Gives stateful operator `op` of node `node`, owning key groups `range`,
/// its state back when the run restarts from a checkpoint.
pub(crate) fn restore_operator(
    inst: &Instantiator<'_>,
    node: usize,
    range: KeyGroupRange,
    op: &mut dyn StatefulOperator,
) -> Result<()> {
    match RestoredOperator::of(inst.settings.restore.as_deref(), node, range) {
        Some(from) => op.restore(&from, inst.now_ms()),
        None => Ok(()),
    }
}

/// Registers a shared stateful operator with the checkpoints of the task
/// being built, when the run takes them.
pub(crate) fn take_part<Op: StatefulOperator>(
    inst: &mut Instantiator<'_>,
    node: usize,
    op: &Rc<RefCell<Op>>,
) {
    if inst.checkpointed() {
        inst.add_participant(Rc::new(OperatorParticipant {
            node,
            op: op.clone(),
        }));
    }
}

/// What a restarted run gives back to one operator subtask.
pub(crate) struct RestoredOperator<'a> {
    node: usize,
    range: KeyGroupRange,
    restored: &'a RestoredPositions,
}

impl RestoredOperator<'_> {
    /// The operator's state for the key groups `range` of node `node`, if
    /// the run restores a checkpoint.
    pub(crate) fn of(
        restored: Option<&RestoredPositions>,
        node: usize,
        range: KeyGroupRange,
    ) -> Option<RestoredOperator<'_>> {
        restored.map(|restored| RestoredOperator {
            node,
            range,
            restored,
        })
    }

    /// Restores state `state` into `table`.
    pub(crate) fn table(
        &self,
        state: &str,
        table: &mut dyn CanonicalState,
        now_ms: i64,
    ) -> Result<()> {
        let name = state_name(self.node, state);
        self.check_kind(&name, table.kind())?;
        // Timers due together fire in registration order, which the table
        // restores by sorting all of them at once.
        if table.kind() == "timers" {
            let entries = self.entries(state)?;
            table.import(&name, &entries, now_ms)?;
            return Ok(());
        }
        let mut import = |chunk: &[CanonicalEntry]| Ok(table.import(&name, chunk, now_ms)?);
        match self.only_file_chain(&name) {
            Some(st) => {
                let mut chunk = Vec::with_capacity(IMPORT_CHUNK_ENTRIES);
                read_state_files(self.restored, st, &name, self.range, &mut |entry| {
                    chunk.push(entry);
                    if chunk.len() == IMPORT_CHUNK_ENTRIES {
                        import(&chunk)?;
                        chunk.clear();
                    }
                    Ok(())
                })?;
                import(&chunk)
            }
            None => self
                .entries(state)?
                .chunks(IMPORT_CHUNK_ENTRIES)
                .try_for_each(import),
        }
    }

    /// The one subtask whose state files hold state `name` for this
    /// subtask's key groups, when exactly one does and keeps them as files
    /// (not in a RocksDB instance): its merged chain is already sorted, so
    /// it can stream into the table.
    fn only_file_chain(&self, name: &str) -> Option<&SubtaskState> {
        let mut holders = self
            .restored
            .manifest
            .subtasks
            .iter()
            .filter(|st| overlaps(st, self.range) && st.states.iter().any(|d| d.name == name));
        let st = holders.next()?;
        let in_instance = st
            .states
            .iter()
            .any(|d| d.name == name && d.stored_in.is_some());
        (holders.next().is_none() && !in_instance).then_some(st)
    }

    /// Fails, saying what differs, when the checkpoint stored state
    /// `state` as another kind of state than `declared`, the job's now.
    pub(crate) fn check_state(&self, state: &str, declared: &str) -> Result<()> {
        self.check_kind(&state_name(self.node, state), declared)
    }

    fn check_kind(&self, name: &str, declared: &str) -> Result<()> {
        let stored = self
            .restored
            .manifest
            .subtasks
            .iter()
            .flat_map(|st| &st.states)
            .find(|d| d.name == name);
        match stored {
            Some(d) if d.kind != declared => Err(SpateError::Checkpoint {
                reason: format!(
                    "state `{name}` is a `{}` state in the checkpoint or savepoint, but the \
                     job declares a `{declared}` state under that name; a state's type cannot \
                     change across a restore (give the new state another name)",
                    d.kind
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Every entry of state `state` in this subtask's key groups, sorted
    /// by stored key; none if the checkpoint has no such state.
    pub(crate) fn entries(&self, state: &str) -> Result<Vec<CanonicalEntry>> {
        let name = state_name(self.node, state);
        let mut out = Vec::new();
        for st in &self.restored.manifest.subtasks {
            let in_instance = st
                .states
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.stored_in.as_deref());
            match in_instance {
                Some(instance) if overlaps(st, self.range) => {
                    out.extend(self.restored.scratch.entries(
                        self.restored,
                        st,
                        instance,
                        &name,
                        self.range,
                    )?)
                }
                Some(_) => {}
                None => read_state_files(self.restored, st, &name, self.range, &mut |e| {
                    out.push(e);
                    Ok(())
                })?,
            }
        }
        // Files of several old subtasks interleave when the job rescaled.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The operator's watermark at the checkpoint: the lowest over the
    /// subtasks whose key groups it takes over.
    pub(crate) fn watermark(&self) -> Option<Timestamp> {
        let key = format!("{}/watermark", self.node);
        self.restored
            .manifest
            .subtasks
            .iter()
            .filter(|st| overlaps(st, self.range))
            .filter_map(|st| st.operator_values.get(&key).copied())
            .min()
    }
}

/// Whether subtask `st` owned any of the key groups `range`.
fn overlaps(st: &SubtaskState, range: KeyGroupRange) -> bool {
    st.key_groups
        .range()
        .is_ok_and(|r| r.start < range.end && range.start < r.end)
}

/// Reads the chain of state `name` in `st` (a full file, then deltas,
/// oldest first), merged, and gives `out` the entries of key groups
/// `range`, sorted by stored key.
fn read_state_files(
    restored: &RestoredPositions,
    st: &SubtaskState,
    name: &str,
    range: KeyGroupRange,
    out: &mut dyn FnMut(CanonicalEntry) -> Result<()>,
) -> Result<()> {
    let mut readers = Vec::new();
    for file in st.files.iter().filter(|f| f.state == name) {
        let Ok(span) = file.key_groups.range() else {
            continue;
        };
        if span.end <= range.start || range.end <= span.start {
            continue;
        }
        let object = file.object_name();
        let bytes = restored.storage.read(&object, STATE_FILE_BYTES_MAX)?;
        // Every block's CRC and the whole file's against the manifest.
        let summary = verify_sst_bytes(&object, &bytes)?;
        if summary.crc32c != file.crc32c || summary.size_bytes != file.size_bytes {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "checkpoint file {object} of state `{name}` does not match its manifest \
                     entry (size or CRC32C differs); it is damaged"
                ),
            });
        }
        readers.push(SstReader::new(bytes, object)?);
    }
    let chain = readers.iter().map(|r| r.key_groups(range)).collect();
    for entry in MergeIter::new(chain, Tombstones::Drop) {
        let entry = entry?;
        if let Some(value) = entry.value {
            out((entry.key, value))?;
        }
    }
    Ok(())
}

/// An operator shared between its place in the chain and the task's
/// checkpointing; the chain calls it through this adapter.
pub(crate) struct SharedOp<Op>(pub(crate) Rc<RefCell<Op>>);

impl<T, Op: Output<T>> Output<T> for SharedOp<Op> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        self.0.borrow_mut().record(cx, value, ts);
    }
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.0.borrow_mut().watermark(cx, wm);
    }
    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.0.borrow_mut().idle(cx, idle);
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.0.borrow_mut().batch_end(cx);
    }
    fn tick(&mut self, cx: &mut TaskCx) {
        self.0.borrow_mut().tick(cx);
    }
    fn end(&mut self, cx: &mut TaskCx) {
        self.0.borrow_mut().end(cx);
    }
}

/// The checkpointing side of a [`SharedOp`].
pub(crate) struct OperatorParticipant<Op> {
    pub(crate) node: usize,
    pub(crate) op: Rc<RefCell<Op>>,
}

impl<Op: StatefulOperator> SnapshotParticipant for OperatorParticipant<Op> {
    fn snapshot(&self, id: u64, _completed_id: u64, out: &mut TaskSnapshot) -> Result<()> {
        let mut op = self.op.try_borrow_mut().map_err(|_| {
            SpateError::internal("an operator was snapshotted while it was processing")
        })?;
        op.capture(&mut StateSink {
            node: self.node,
            id,
            out,
        })
    }

    fn continue_snapshot(
        &self,
        id: u64,
        budget: &mut usize,
        out: &mut TaskSnapshot,
    ) -> Result<bool> {
        let mut op = self.op.try_borrow_mut().map_err(|_| {
            SpateError::internal("an operator's capture went on while it was processing")
        })?;
        op.continue_capture(
            &mut StateSink {
                node: self.node,
                id,
                out,
            },
            budget,
        )
    }

    fn finish(&self, _out: &mut TaskSnapshot) -> Result<()> {
        Ok(())
    }
}
