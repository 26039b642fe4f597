//! The keyed state tables of one operator subtask.

use std::any::Any;

use crate::error::{Result, SpateError};

/// Owns the state tables of one operator subtask. Handles given to user
/// functions are indices into it, so user functions stay `Send + Sync` and
/// can be copied to every core before they open.
#[derive(Default)]
pub struct StateRegistry {
    tables: Vec<(String, Box<dyn Any>)>,
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
    pub(crate) fn register<T: 'static>(&mut self, name: &str, table: T) -> Result<usize> {
        if self.tables.iter().any(|(n, _)| n == name) {
            return Err(SpateError::invalid_job(format!(
                "the state name `{name}` is used twice in one operator; give each state its own name"
            )));
        }
        self.tables.push((name.to_string(), Box::new(table)));
        Ok(self.tables.len() - 1)
    }

    #[inline]
    pub(crate) fn get_mut<T: 'static>(&mut self, id: usize) -> Result<&mut T> {
        self.tables
            .get_mut(id)
            .and_then(|(_, t)| t.downcast_mut::<T>())
            .ok_or_else(|| {
                SpateError::internal(format!(
                    "state handle {id} used with an operator that did not create it"
                ))
            })
    }

    /// The registered state names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.tables.iter().map(|(n, _)| n.as_str()).collect()
    }
}
