//! Writes records to part files in a directory, one per core.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::Sink;
use crate::error::{Result, SpateError};
use crate::sources::SplitInfo;
use crate::time::Timestamp;

/// The encoding of a [`FileSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated values, no header.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// Appends one record in `format` (a line) to `out`.
pub(crate) fn encode_record<T: Serialize>(
    format: FileFormat,
    out: &mut impl Write,
    value: &T,
) -> std::io::Result<()> {
    match format {
        FileFormat::JsonLines => serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n")),
        FileFormat::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut *out);
            w.serialize(value)
                .map_err(std::io::Error::other)
                .and_then(|()| w.flush())
        }
    }
}

impl FileFormat {
    /// The file name extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::JsonLines => "jsonl",
        }
    }
}

/// Writes `dir/part-<subtask>.<csv|jsonl>` on every core.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    format: FileFormat,
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Clone for FileSink {
    fn clone(&self) -> Self {
        Self::new(self.dir.clone(), self.format)
    }
}

impl FileSink {
    /// A sink writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, format: FileFormat) -> Self {
        Self {
            dir: dir.into(),
            format,
            path: PathBuf::new(),
            out: None,
        }
    }

    fn io_error(&self, op: &'static str, source: std::io::Error) -> SpateError {
        SpateError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }
}

impl<T: Serialize> Sink<T> for FileSink {
    fn open(&mut self, split: SplitInfo) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|source| SpateError::Io {
            op: "creating",
            path: self.dir.clone(),
            source,
        })?;
        let ext = self.format.extension();
        self.path = self.dir.join(format!("part-{}.{ext}", split.index));
        let file = File::create(&self.path).map_err(|e| self.io_error("creating", e))?;
        self.out = Some(BufWriter::with_capacity(1 << 16, file));
        Ok(())
    }

    fn write(&mut self, value: T, _ts: Timestamp) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(SpateError::internal("file sink written before open"));
        };
        encode_record(self.format, out, &value).map_err(|e| self.io_error("writing", e))
    }

    fn finish(&mut self) -> Result<()> {
        match self.out.take() {
            Some(mut out) => out
                .flush()
                .and_then(|()| out.get_ref().sync_all())
                .map_err(|e| self.io_error("flushing", e)),
            None => Ok(()),
        }
    }
}
