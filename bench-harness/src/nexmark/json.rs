//! JSON-lines event files: one event per line, `{"person":{..}}`,
//! `{"auction":{..}}` or `{"bid":{..}}` (see `README.md`).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::NexmarkError;
use super::model::Event;

/// Reads a whole event file. Fails on the first unreadable or bad line.
pub fn read_events_jsonl(path: impl AsRef<Path>) -> Result<Vec<Event>, NexmarkError> {
    EventFileReader::open(path)?.collect()
}

/// Writes `events` to a new file (replacing it), one JSON object per line.
pub fn write_events_jsonl(path: impl AsRef<Path>, events: &[Event]) -> Result<(), NexmarkError> {
    let path = path.as_ref();
    let io_err = |source| NexmarkError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    write_events_jsonl_to(&mut out, events).map_err(io_err)?;
    out.flush().map_err(io_err)
}

/// Writes `events` to `out`, one JSON object per line.
pub fn write_events_jsonl_to<W: Write>(mut out: W, events: &[Event]) -> std::io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Streams events from a JSON-lines source. Blank lines are skipped. A bad line
/// yields [`NexmarkError::BadLine`] and reading goes on with the next line; an
/// I/O error yields [`NexmarkError::Io`] and ends the stream.
#[derive(Debug)]
pub struct EventFileReader<R> {
    reader: R,
    path: PathBuf,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl EventFileReader<BufReader<File>> {
    /// Opens an event file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NexmarkError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| NexmarkError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(EventFileReader::new(
            BufReader::with_capacity(1 << 16, file),
            path,
        ))
    }
}

impl<R: BufRead> EventFileReader<R> {
    /// Reads from `reader`; `path` names the source in errors.
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        EventFileReader {
            reader,
            path: path.into(),
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The 1-based number of the line read last (0 before the first).
    pub fn line_number(&self) -> u64 {
        self.line
    }
}

impl<R: BufRead> Iterator for EventFileReader<R> {
    type Item = Result<Event, NexmarkError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            // Raw bytes (not `read_line`) so that invalid UTF-8 is a bad line, not an I/O error.
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    if self.buf.trim_ascii().is_empty() {
                        continue;
                    }
                    return Some(serde_json::from_slice(&self.buf).map_err(|e| {
                        NexmarkError::BadLine {
                            path: self.path.clone(),
                            line: self.line,
                            reason: e.to_string(),
                        }
                    }));
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(NexmarkError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
        }
        None
    }
}
