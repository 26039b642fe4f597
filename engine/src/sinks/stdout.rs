//! Prints records, one per line.

use std::io::Write;

use super::Sink;
use crate::error::{Result, SpateError};
use crate::sources::SplitInfo;
use crate::time::Timestamp;

/// Prints each record with its `Display` form, prefixed by the subtask
/// (`3> record`) as Flink's print sink does when parallel.
#[derive(Debug, Clone, Default)]
pub struct StdoutSink {
    prefix: String,
}

impl StdoutSink {
    /// A printing sink.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: std::fmt::Display> Sink<T> for StdoutSink {
    fn open(&mut self, split: SplitInfo) -> Result<()> {
        if split.count > 1 {
            self.prefix = format!("{}> ", split.index + 1);
        }
        Ok(())
    }

    fn write(&mut self, value: T, _ts: Timestamp) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}{}", self.prefix, value).map_err(|source| SpateError::Io {
            op: "writing to",
            path: "stdout".into(),
            source,
        })
    }
}
