//! Sinks for tests and benchmarks.

use std::sync::{Arc, Mutex};

use super::Sink;
use crate::error::Result;
use crate::time::Timestamp;

/// Collects every record into a shared vector; for tests. The order across
/// cores is unspecified.
pub struct CollectSink<T> {
    items: Arc<Mutex<Vec<T>>>,
    local: Vec<T>,
}

impl<T> Clone for CollectSink<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            local: Vec::new(),
        }
    }
}

impl<T> Default for CollectSink<T> {
    fn default() -> Self {
        Self {
            items: Arc::new(Mutex::new(Vec::new())),
            local: Vec::new(),
        }
    }
}

impl<T> CollectSink<T> {
    /// An empty collecting sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the records collected so far.
    pub fn take(&self) -> Vec<T> {
        match self.items.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl<T: Send + 'static> Sink<T> for CollectSink<T> {
    fn write(&mut self, value: T, _ts: Timestamp) -> Result<()> {
        // Collected per core and published at the end: no lock per record.
        self.local.push(value);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let mut items = match self.items.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        items.append(&mut self.local);
        Ok(())
    }
}

/// Drops every record (Flink's `blackhole` connector); the sink operator
/// still counts, checksums and measures latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlackholeSink;

impl<T> Sink<T> for BlackholeSink {
    #[inline]
    fn write(&mut self, _value: T, _ts: Timestamp) -> Result<()> {
        Ok(())
    }
}
