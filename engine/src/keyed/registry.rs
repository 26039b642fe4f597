//! The keyed state tables of one operator subtask.

use std::any::Any;

use spate_state::CanonicalState;

use crate::error::{Result, SpateError};

/// A state table the registry can hand out typed and snapshot untyped.
pub(crate) trait RegisteredTable: CanonicalState + Any {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: CanonicalState + Any> RegisteredTable for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A state's table in the backend the job chose.
pub(crate) enum Table<'a, H, R> {
    Heap(&'a mut H),
    Rocks(&'a mut R),
}

/// Owns the state tables of one operator subtask. Handles given to user
/// functions are indices into it, so user functions stay `Send + Sync` and
/// can be copied to every core before they open.
#[derive(Default)]
pub struct StateRegistry {
    tables: Vec<(String, Box<dyn RegisteredTable>)>,
    /// Whether tables note their changes as they register (the run takes
    /// checkpoints, which then capture only what changed).
    track_changes: bool,
    /// With the RocksDB backend: the operator subtask's own instance,
    /// which holds every table of the registry.
    rocks: Option<crate::checkpoint::RocksInstance>,
}

impl std::fmt::Debug for StateRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tables.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("StateRegistry")
            .field("states", &names)
            .finish()
    }
}

impl StateRegistry {
    /// Registers a table and returns its id; names must be unique.
    pub(crate) fn register<T: RegisteredTable>(&mut self, name: &str, table: T) -> Result<usize> {
        if self.tables.iter().any(|(n, _)| n == name) {
            return Err(SpateError::invalid_job(format!(
                "the state name `{name}` is used twice in one operator; give each state its own name"
            )));
        }
        let mut table: Box<dyn RegisteredTable> = Box::new(table);
        if self.track_changes {
            // Tables that cannot (RocksDB, TTL restarted by reads) are
            // captured whole instead.
            table.track_changes();
        }
        self.tables.push((name.to_string(), table));
        Ok(self.tables.len() - 1)
    }

    /// Table `id`, which is a heap table `H` or a RocksDB table `R`,
    /// depending on the job's state backend.
    #[inline]
    pub(crate) fn table<H: 'static, R: 'static>(&mut self, id: usize) -> Result<Table<'_, H, R>> {
        let unknown = || {
            SpateError::internal(format!(
                "state handle {id} used with an operator that did not create it"
            ))
        };
        let any = self.tables.get_mut(id).ok_or_else(unknown)?.1.as_any_mut();
        if any.is::<H>() {
            return any.downcast_mut::<H>().map(Table::Heap).ok_or_else(unknown);
        }
        any.downcast_mut::<R>()
            .map(Table::Rocks)
            .ok_or_else(unknown)
    }

    /// Tables registered from now on note their changes.
    pub(crate) fn track_changes(&mut self) {
        self.track_changes = true;
    }

    /// The tables live in `instance` from now on.
    pub(crate) fn use_rocks(&mut self, instance: crate::checkpoint::RocksInstance) {
        self.rocks = Some(instance);
    }

    /// Captures every table for a checkpoint: the RocksDB instance's own
    /// checkpoint, or each heap table (only what changed, where tables
    /// note their changes: a copy-on-write capture that
    /// [`continue_capture`](Self::continue_capture) encodes).
    pub(crate) fn capture(&mut self, sink: &mut crate::checkpoint::StateSink<'_>) -> Result<()> {
        if let Some(instance) = &mut self.rocks {
            let states = self
                .tables
                .iter()
                .map(|(n, t)| (n.as_str(), t.kind()))
                .collect();
            return sink.instance(instance, states);
        }
        for (name, table) in self.tables_mut() {
            sink.start_state(name, table)?;
        }
        Ok(())
    }

    /// Encodes more of the captures [`capture`](Self::capture) started,
    /// spending at most `budget`; true once all are complete.
    pub(crate) fn continue_capture(
        &mut self,
        sink: &mut crate::checkpoint::StateSink<'_>,
        budget: &mut usize,
    ) -> Result<bool> {
        for (name, table) in self.tables_mut() {
            if !sink.continue_state(name, table, budget)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Gives every table its state back from a checkpoint; when the
    /// RocksDB instance holds it already (reopened as it was, or table
    /// files ingested), only checks that each state kept its kind.
    pub(crate) fn restore(
        &mut self,
        from: &crate::checkpoint::RestoredOperator<'_>,
        now_ms: i64,
    ) -> Result<()> {
        let held = self
            .rocks
            .as_ref()
            .is_some_and(crate::checkpoint::RocksInstance::holds_restored_state);
        for (name, table) in self.tables_mut() {
            if held {
                from.check_state(name, table.kind())?;
            } else {
                from.table(name, table, now_ms)?;
            }
        }
        Ok(())
    }

    /// Every table with its state name, for restores.
    pub(crate) fn tables_mut(&mut self) -> impl Iterator<Item = (&str, &mut dyn CanonicalState)> {
        self.tables
            .iter_mut()
            .map(|(n, t)| (n.as_str(), &mut **t as &mut dyn CanonicalState))
    }

    /// The registered state names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.tables.iter().map(|(n, _)| n.as_str()).collect()
    }
}
