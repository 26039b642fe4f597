//! Bounded file sources: CSV and JSON lines.
//!
//! Split `i` of `n` parses the lines `l` with `l mod n == i`, so the records
//! are the same for any core count. A malformed line either fails the job
//! with the file and line number, or goes to a side output of
//! [`BadRecord`]s, as the per-source [`BadRecordPolicy`] says.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{Source, SourceCollector, SourcePoll, SplitInfo, StridedCursor, decode_words};
use crate::error::{Result, SpateError};

/// What to do with a line that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRecordPolicy {
    /// Stop the job with an error naming the file and line.
    #[default]
    Fail,
    /// Emit a [`BadRecord`] on the source's error side output and go on.
    SideOutput,
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct BadRecord {
    /// The input file.
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// Why it did not parse.
    pub reason: String,
    /// The line itself (truncated to 1 KiB).
    pub text: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.reason)
    }
}

/// A parsed line: the record, or why it is bad.
pub type Parsed<T> = std::result::Result<T, BadRecord>;

/// Reads lines of a file and hands each of this split's lines to a parser.
struct LineSplit {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: u64,
    /// Byte offset of the next line.
    pos: u64,
    split: SplitInfo,
    skip_lines: u64,
    buf: String,
    /// Which data lines (numbered from 0 after the skipped ones) this split
    /// parses: a stride, plus what an earlier run with another parallelism
    /// already read.
    cursor: StridedCursor,
}

impl LineSplit {
    fn open(path: &Path, split: SplitInfo, skip_lines: u64) -> Result<Self> {
        let file = File::open(path).map_err(|source| SpateError::Io {
            op: "opening",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            line_no: 0,
            pos: 0,
            split,
            skip_lines,
            buf: String::new(),
            cursor: StridedCursor::new(split),
        })
    }

    /// The position after the lines read: byte offset, line number, and
    /// the cursor of this split's data lines.
    fn offset(&self) -> Vec<u8> {
        let mut words = vec![self.pos, self.line_no];
        words.extend(self.cursor.to_words());
        super::encode_offset(&words)
    }

    /// Splits a stored position into byte offset, line number and cursor.
    fn parts(&self, offset: &[u8]) -> Result<(u64, u64, Vec<u64>)> {
        let name = self.path.display().to_string();
        let words = decode_words(&name, offset)?;
        match words.as_slice() {
            [pos, line_no, cursor @ ..] if !cursor.is_empty() => {
                Ok((*pos, *line_no, cursor.to_vec()))
            }
            _ => Err(SpateError::Checkpoint {
                reason: format!(
                    "{name}: the checkpointed position has {} integers, too few for a byte \
                     offset, a line number and a cursor",
                    words.len()
                ),
            }),
        }
    }

    /// Continues at a position [`LineSplit::offset`] returned.
    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let (pos, line_no, cursor) = self.parts(offset)?;
        let name = self.path.display().to_string();
        self.cursor = StridedCursor::from_words(&name, self.split, &cursor)?;
        self.seek_to(pos, line_no)
    }

    /// Takes over this split's share of what the splits of an earlier run
    /// with another parallelism had not read: reads on from the split that
    /// was furthest behind, skipping the lines the others had read.
    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        let name = self.path.display().to_string();
        let mut cursors = Vec::with_capacity(offsets.len());
        let mut from: Option<(u64, u64)> = None;
        for offset in offsets {
            let (pos, line_no, cursor) = self.parts(offset)?;
            if from.is_none_or(|(_, l)| line_no < l) {
                from = Some((pos, line_no));
            }
            cursors.push(cursor);
        }
        let old: Vec<&[u64]> = cursors.iter().map(Vec::as_slice).collect();
        self.cursor = StridedCursor::rescaled(&name, self.split, &old)?;
        let (pos, line_no) = from.unwrap_or((0, 0));
        self.seek_to(pos, line_no)
    }

    fn seek_to(&mut self, pos: u64, line_no: u64) -> Result<()> {
        let name = self.path.display().to_string();
        let len = self
            .reader
            .get_ref()
            .metadata()
            .map_err(|source| SpateError::Io {
                op: "inspecting",
                path: self.path.clone(),
                source,
            })?
            .len();
        if pos > len {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "{name}: the checkpointed position (byte {pos}, line {line_no}) is past \
                     the end of the file ({len} bytes); the file changed since the checkpoint"
                ),
            });
        }
        self.reader
            .seek(std::io::SeekFrom::Start(pos))
            .map_err(|source| SpateError::Io {
                op: "seeking in",
                path: self.path.clone(),
                source,
            })?;
        self.pos = pos;
        self.line_no = line_no;
        Ok(())
    }

    /// Advances to the next line of this split and returns its 1-based
    /// number (the text is in [`LineSplit::text`]); `None` at the end.
    fn next_line(&mut self) -> Result<Option<u64>> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .map_err(|e| SpateError::BadInput {
                    path: self.path.clone(),
                    line: self.line_no + 1,
                    reason: format!("cannot read the line: {e}"),
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.pos += n as u64;
            self.line_no += 1;
            if self.line_no <= self.skip_lines {
                continue;
            }
            let data_line = self.line_no - self.skip_lines - 1;
            while self.cursor.peek() < data_line {
                // Never for a consistent position; keeps the split going.
                self.cursor.advance();
            }
            if self.cursor.peek() != data_line {
                continue;
            }
            self.cursor.advance();
            if self.text().trim().is_empty() {
                continue;
            }
            return Ok(Some(self.line_no));
        }
    }

    fn text(&self) -> &str {
        self.buf.trim_end_matches(['\n', '\r'])
    }

    fn bad(&self, line: u64, reason: String) -> BadRecord {
        let text = self.text();
        let mut cut = text.len().min(1024);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        BadRecord {
            path: self.path.display().to_string(),
            line,
            reason,
            text: text.get(..cut).unwrap_or_default().to_string(),
        }
    }
}

fn poll_lines<T: crate::Data>(
    lines: &mut LineSplit,
    out: &mut SourceCollector<'_, Parsed<T>>,
    count_max: usize,
    parse: impl Fn(&str) -> std::result::Result<T, String>,
) -> Result<SourcePoll> {
    for _ in 0..count_max {
        let Some(line_no) = lines.next_line()? else {
            return Ok(SourcePoll::Exhausted);
        };
        match parse(lines.text()) {
            Ok(v) => out.collect(Ok(v)),
            Err(reason) => {
                let bad = lines.bad(line_no, reason);
                out.collect(Err(bad));
            }
        }
    }
    Ok(SourcePoll::Ready)
}

/// A CSV file, one record per line, deserialized with serde.
pub struct CsvSource<T> {
    lines: LineSplit,
    header_fields: Option<usize>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + crate::Data> CsvSource<T> {
    /// Opens `path` for `split`; `has_header` skips the first line.
    pub fn open(path: &Path, has_header: bool, split: SplitInfo) -> Result<Self> {
        let header_fields = if has_header {
            Some(header_field_count(path)?)
        } else {
            None
        };
        Ok(Self {
            lines: LineSplit::open(path, split, u64::from(has_header))?,
            header_fields,
            _t: PhantomData,
        })
    }
}

/// Parses one CSV line into `T`; with a header, the line must have as many
/// fields as the header (serde alone would ignore extra fields).
pub(crate) fn parse_csv_line<T: DeserializeOwned>(
    line: &str,
    fields: Option<usize>,
) -> std::result::Result<T, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err("empty CSV record".to_string()),
        Err(e) => return Err(format!("not a valid CSV record: {e}")),
    }
    if let Some(n) = fields
        && record.len() != n
    {
        return Err(format!("{} fields where the header has {n}", record.len()));
    }
    record
        .deserialize::<T>(None)
        .map_err(|e| format!("not a valid CSV record: {e}"))
}

impl<T: DeserializeOwned + crate::Data> Source for CsvSource<T> {
    type Item = Parsed<T>;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, Parsed<T>>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        let fields = self.header_fields;
        poll_lines(&mut self.lines, out, count_max, |line| {
            parse_csv_line::<T>(line, fields)
        })
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(self.lines.offset())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.lines.seek(offset)
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        self.lines.seek_rescaled(offsets)
    }
}

/// The number of fields in the header line of the CSV file `path`.
fn header_field_count(path: &Path) -> Result<usize> {
    let file = File::open(path).map_err(|source| SpateError::Io {
        op: "opening",
        path: path.to_path_buf(),
        source,
    })?;
    let mut first = String::new();
    BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| SpateError::BadInput {
            path: path.to_path_buf(),
            line: 1,
            reason: format!("cannot read the header: {e}"),
        })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(first.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.len()),
        _ => Err(SpateError::BadInput {
            path: path.to_path_buf(),
            line: 1,
            reason: "the header line is not a CSV record".into(),
        }),
    }
}

/// A JSON lines file: one JSON object per line, deserialized with serde.
pub struct JsonLinesSource<T> {
    lines: LineSplit,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + crate::Data> JsonLinesSource<T> {
    /// Opens `path` for `split`.
    pub fn open(path: &Path, split: SplitInfo) -> Result<Self> {
        Ok(Self {
            lines: LineSplit::open(path, split, 0)?,
            _t: PhantomData,
        })
    }
}

impl<T: DeserializeOwned + crate::Data> Source for JsonLinesSource<T> {
    type Item = Parsed<T>;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, Parsed<T>>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        poll_lines(&mut self.lines, out, count_max, |line| {
            serde_json::from_str::<T>(line)
                .map_err(|e| format!("not valid JSON for the record type: {e}"))
        })
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(self.lines.offset())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.lines.seek(offset)
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        self.lines.seek_rescaled(offsets)
    }
}

/// A text file, one `String` record per non-empty line.
pub struct TextLinesSource {
    lines: LineSplit,
}

impl TextLinesSource {
    /// Opens `path` for `split`.
    pub fn open(path: &Path, split: SplitInfo) -> Result<Self> {
        Ok(Self {
            lines: LineSplit::open(path, split, 0)?,
        })
    }
}

impl Source for TextLinesSource {
    type Item = String;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, String>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        for _ in 0..count_max {
            if self.lines.next_line()?.is_none() {
                return Ok(SourcePoll::Exhausted);
            }
            out.collect(self.lines.text().to_string());
        }
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(self.lines.offset())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.lines.seek(offset)
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        self.lines.seek_rescaled(offsets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::message::Rec;

    fn split(index: usize, count: usize) -> SplitInfo {
        SplitInfo { index, count }
    }

    /// Polls up to `n` records of `src` into `seen` (the CSV's one field).
    fn read(src: &mut CsvSource<(u32,)>, n: usize, seen: &mut Vec<u32>) {
        let mut out: Vec<Rec<Parsed<(u32,)>>> = Vec::new();
        src.poll(&mut SourceCollector { out: &mut out }, n).unwrap();
        seen.extend(out.into_iter().map(|r| r.value.unwrap().0));
    }

    #[test]
    fn a_csv_source_restored_with_another_parallelism_reads_each_line_once() {
        let path = std::env::temp_dir().join(format!("spate-rescale-{}.csv", std::process::id()));
        let body: String = (0..100).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, format!("n\n{body}")).unwrap();
        let mut first: Vec<_> = (0..2)
            .map(|i| CsvSource::<(u32,)>::open(&path, true, split(i, 2)).unwrap())
            .collect();
        let mut seen = Vec::new();
        read(&mut first[0], 20, &mut seen);
        read(&mut first[1], 3, &mut seen);
        let offsets: Vec<Vec<u8>> = first.iter().map(|s| s.offset().unwrap()).collect();
        for i in 0..3 {
            let mut s = CsvSource::<(u32,)>::open(&path, true, split(i, 3)).unwrap();
            s.seek_rescaled(&offsets).unwrap();
            let before = seen.len();
            read(&mut s, 1000, &mut seen);
            let mine = &seen[before..];
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "in order: {mine:?}");
        }
        let _ = std::fs::remove_file(&path);
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
