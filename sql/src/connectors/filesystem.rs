//! `'connector' = 'filesystem'`: a bounded CSV or JSON-lines file.
//!
//! The file is read whole when a split opens; split `i` of `n` takes lines
//! `l ≡ i (mod n)`, so the union is the file for every core count. A line
//! that does not parse fails the job with the file, line and reason.

use std::sync::Arc;

use spate::SpateError;
use spate::sources::SplitInfo;

use super::{ReadPoll, RowReader, check_known_options, connector_error};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::expr::cast;
use crate::row::Row;
use crate::value::{DataType, Value};

const OPTIONS: &[&str] = &[
    "path",
    "format",
    "csv.field-delimiter",
    "csv.ignore-first-line",
];

/// Every option of a filesystem table: the reader's and the partitioned
/// sink's (one table may be written and read).
pub(super) fn known_options() -> Vec<&'static str> {
    OPTIONS
        .iter()
        .chain(super::partitions::OPTIONS)
        .copied()
        .collect()
}

/// The text formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated (no quoting of the delimiter).
    Csv,
    /// One JSON object per line, fields by column name.
    Json,
}

/// What a table's options resolve to.
#[derive(Clone, Debug)]
pub struct FilePlan {
    /// The file.
    pub path: String,
    /// Its format.
    pub format: Format,
    /// CSV delimiter.
    pub delimiter: char,
    /// Skip a CSV header line.
    pub skip_first: bool,
    names: Vec<String>,
    types: Vec<DataType>,
}

/// One split of a file table.
pub struct FileReader {
    plan: FilePlan,
    lines: Arc<Vec<String>>,
    next: usize,
    step: usize,
}

impl FileReader {
    /// Resolves the options (the file is not opened yet).
    pub fn plan(table: &TableDef) -> Result<FilePlan, SqlError> {
        check_known_options(table, &known_options(), &[])?;
        super::partitions::PartitionSpec::of(table)?;
        let Some(path) = table.option("path") else {
            return Err(connector_error(
                table,
                "the 'path' option is missing".into(),
            ));
        };
        let format = match table.option("format") {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            Some(other) => {
                return Err(connector_error(
                    table,
                    format!("'format' = '{other}' is not supported; expected 'csv' or 'json'"),
                ));
            }
            None => {
                return Err(connector_error(
                    table,
                    "the 'format' option is missing; expected 'csv' or 'json'".into(),
                ));
            }
        };
        let delimiter = match table.option("csv.field-delimiter") {
            None => ',',
            Some(d) => {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(connector_error(
                            table,
                            format!("'csv.field-delimiter' = '{d}' must be one character"),
                        ));
                    }
                }
            }
        };
        let physical = table.physical_columns();
        Ok(FilePlan {
            path: super::local_path(path).to_owned(),
            format,
            delimiter,
            skip_first: table.option("csv.ignore-first-line") == Some("true"),
            names: physical
                .iter()
                .filter_map(|&i| table.schema.fields.get(i).map(|f| f.name.clone()))
                .collect(),
            types: physical
                .iter()
                .filter_map(|&i| table.schema.fields.get(i).map(|f| f.ty))
                .collect(),
        })
    }

    /// Opens split `split`, reading the file.
    pub fn open(table: &TableDef, split: SplitInfo) -> spate::Result<Self> {
        let plan = Self::plan(table).map_err(|e| SpateError::invalid_job(e.to_string()))?;
        if !table.partition_keys.is_empty() {
            return Err(SpateError::invalid_job(format!(
                "table `{}` is PARTITIONED BY some of its columns; reading a partitioned \
                 filesystem table is not supported yet (Spate writes one)",
                table.name
            )));
        }
        let text = std::fs::read_to_string(&plan.path).map_err(|source| SpateError::Io {
            op: "reading",
            path: plan.path.clone().into(),
            source,
        })?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let first = usize::from(plan.skip_first);
        Ok(FileReader {
            plan,
            lines: Arc::new(lines),
            next: first + split.index,
            step: split.count.max(1),
        })
    }

    fn bad(&self, line_no: usize, reason: String) -> SpateError {
        SpateError::BadInput {
            path: self.plan.path.clone().into(),
            line: line_no as u64 + 1,
            reason,
        }
    }

    fn parse(&self, line_no: usize, line: &str) -> spate::Result<Row> {
        match self.plan.format {
            Format::Csv => {
                let parts: Vec<&str> = line.split(self.plan.delimiter).collect();
                if parts.len() != self.plan.types.len() {
                    return Err(self.bad(
                        line_no,
                        format!(
                            "expected {} fields, found {}",
                            self.plan.types.len(),
                            parts.len()
                        ),
                    ));
                }
                let mut values = Vec::with_capacity(parts.len());
                for (i, (p, ty)) in parts.iter().zip(&self.plan.types).enumerate() {
                    let v = if p.is_empty() && *ty != DataType::String {
                        Value::Null
                    } else {
                        cast(Value::Str((*p).into()), *ty).map_err(|m| {
                            self.bad(
                                line_no,
                                format!(
                                    "field {} (`{}`): {m}",
                                    i + 1,
                                    self.plan.names.get(i).map(String::as_str).unwrap_or("?")
                                ),
                            )
                        })?
                    };
                    values.push(v);
                }
                Ok(Row::insert(values))
            }
            Format::Json => {
                let obj: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| self.bad(line_no, format!("invalid JSON: {e}")))?;
                let mut values = Vec::with_capacity(self.plan.types.len());
                for (name, ty) in self.plan.names.iter().zip(&self.plan.types) {
                    let v = match obj.get(name) {
                        None | Some(serde_json::Value::Null) => Ok(Value::Null),
                        Some(serde_json::Value::Bool(b)) => cast(Value::Bool(*b), *ty),
                        Some(serde_json::Value::Number(n)) => match n.as_i64() {
                            Some(i) if *ty != DataType::Timestamp => cast(Value::Int(i), *ty),
                            Some(i) => Ok(Value::Timestamp(i)),
                            None => cast(Value::Double(n.as_f64().unwrap_or(f64::NAN)), *ty),
                        },
                        Some(serde_json::Value::String(s)) => {
                            cast(Value::Str(s.as_str().into()), *ty)
                        }
                        Some(other) => Err(format!("a nested value ({other}) is not supported")),
                    }
                    .map_err(|m| self.bad(line_no, format!("field `{name}`: {m}")))?;
                    values.push(v);
                }
                Ok(Row::insert(values))
            }
        }
    }
}

impl RowReader for FileReader {
    fn read(&mut self, out: &mut Vec<Row>, count_max: usize) -> spate::Result<ReadPoll> {
        for _ in 0..count_max {
            let Some(line) = self.lines.get(self.next) else {
                return Ok(ReadPoll::Exhausted);
            };
            if !line.trim().is_empty() {
                out.push(self.parse(self.next, line)?);
            }
            self.next += self.step;
        }
        Ok(ReadPoll::Ready)
    }

    fn position(&self) -> u64 {
        self.next as u64
    }

    fn seek(&mut self, position: u64) -> spate::Result<()> {
        let first = usize::from(self.plan.skip_first);
        let index = (self.next.saturating_sub(first) % self.step) as u64;
        let relative = position.saturating_sub(first as u64);
        spate::sources::check_split_position(&self.plan.path, relative, index, self.step as u64)?;
        self.next = usize::try_from(position).unwrap_or(usize::MAX);
        Ok(())
    }
}
