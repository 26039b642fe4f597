//! `'connector' = 'datagen'`: generated rows, deterministic per row number.
//!
//! As in Flink, each column is a `sequence` (`fields.<col>.start`/`end`;
//! the table ends after the shortest sequence) or `random` (`min`/`max` for
//! numbers, `length` for strings). Random values are a hash of (seed, row
//! number, column), so every run and core count gives the same rows.
//! Timestamps are event time: row `n` is stamped `2026-01-01 +
//! n * 1000 / rows-per-second` ms (Flink stamps the wall clock instead).

use spate::sources::{RateLimiter, SplitInfo};
use spate_state::stable_hash;

use super::{ReadPoll, RowReader, connector_error, number_option};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::{DataType, Value};

const BASE_TIME_MS: i64 = 1_767_225_600_000;

#[derive(Clone, Debug)]
enum Gen {
    Sequence { start: i64, end: i64 },
    Random { min: i64, max: i64, length: usize },
}

#[derive(Clone, Debug)]
struct Column {
    ty: DataType,
    generator: Gen,
}

/// What a table's options resolve to.
pub struct DatagenPlan {
    table: String,
    columns: Vec<Column>,
    rows: Option<u64>,
    rows_per_s: u64,
    throttle: bool,
}

/// One split of a datagen table.
pub struct DatagenReader {
    plan: DatagenPlan,
    next: u64,
    step: u64,
    pace: Option<RateLimiter>,
}

impl DatagenReader {
    /// Resolves the options.
    pub fn plan(table: &TableDef) -> Result<DatagenPlan, SqlError> {
        for key in table.options.keys() {
            let known = matches!(
                key.as_str(),
                "connector" | "number-of-rows" | "rows-per-second" | "throttle"
            ) || key.starts_with("fields.");
            if !known {
                return Err(connector_error(
                    table,
                    format!(
                        "unknown option '{key}' for connector 'datagen'; expected number-of-rows, rows-per-second, throttle or fields.<column>.<kind|start|end|min|max|length>"
                    ),
                ));
            }
        }
        let mut rows: Option<u64> = number_option(table, "number-of-rows")?;
        let rows_per_s: u64 = number_option(table, "rows-per-second")?.unwrap_or(10_000);
        if rows_per_s == 0 {
            return Err(connector_error(
                table,
                "'rows-per-second' must be positive".into(),
            ));
        }
        let throttle = match table.option("throttle") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(connector_error(
                    table,
                    format!("'throttle' = '{other}'; expected 'true' or 'false'"),
                ));
            }
        };
        let mut columns = Vec::new();
        for i in table.physical_columns() {
            let Some(f) = table.schema.fields.get(i) else {
                continue;
            };
            let key = |k: &str| format!("fields.{}.{k}", f.name);
            let num = |k: &str| number_option::<i64>(table, &key(k));
            let kind = table.option(&key("kind")).unwrap_or("random");
            let generator = match kind {
                "sequence" => {
                    let (Some(start), Some(end)) = (num("start")?, num("end")?) else {
                        return Err(connector_error(
                            table,
                            format!(
                                "a sequence column needs '{}' and '{}'",
                                key("start"),
                                key("end")
                            ),
                        ));
                    };
                    if end < start {
                        return Err(connector_error(
                            table,
                            format!("'{}' must not be below '{}'", key("end"), key("start")),
                        ));
                    }
                    let len = (end - start) as u64 + 1;
                    rows = Some(rows.map_or(len, |r| r.min(len)));
                    Gen::Sequence { start, end }
                }
                "random" => Gen::Random {
                    min: num("min")?.unwrap_or(0),
                    max: num("max")?.unwrap_or(i64::from(i32::MAX)),
                    length: num("length")?.unwrap_or(10).clamp(0, 1 << 20) as usize,
                },
                other => {
                    return Err(connector_error(
                        table,
                        format!(
                            "'{}' = '{other}'; expected 'sequence' or 'random'",
                            key("kind")
                        ),
                    ));
                }
            };
            columns.push(Column {
                ty: f.ty,
                generator,
            });
        }
        Ok(DatagenPlan {
            table: table.name.clone(),
            columns,
            rows,
            rows_per_s,
            throttle,
        })
    }

    /// Opens split `split`: rows `n ≡ split.index (mod split.count)`.
    pub fn open(table: &TableDef, split: SplitInfo) -> Result<Self, SqlError> {
        let plan = Self::plan(table)?;
        let pace = plan
            .throttle
            .then(|| RateLimiter::new(plan.rows_per_s as f64 / split.count.max(1) as f64));
        Ok(DatagenReader {
            plan,
            next: split.index as u64,
            step: split.count.max(1) as u64,
            pace,
        })
    }

    fn value(&self, n: u64, col: usize, c: &Column) -> Value {
        let h = stable_hash(&(n, col as u64));
        match (&c.generator, c.ty) {
            (_, DataType::Timestamp) => Value::Timestamp(
                BASE_TIME_MS.saturating_add((n.saturating_mul(1000) / self.plan.rows_per_s) as i64),
            ),
            (Gen::Sequence { start, end }, ty) => {
                let v = start.saturating_add(n as i64).min(*end);
                match ty {
                    DataType::String => Value::Str(v.to_string().into()),
                    DataType::Double => Value::Double(v as f64),
                    _ => Value::Int(v),
                }
            }
            (Gen::Random { min, max, length }, ty) => {
                let span = (*max as i128 - *min as i128 + 1).max(1) as u128;
                let v = (*min as i128 + (h as u128 % span) as i128) as i64;
                match ty {
                    DataType::Boolean => Value::Bool(h & 1 == 1),
                    DataType::Double => Value::Double(
                        *min as f64 + (h >> 11) as f64 / (1u64 << 53) as f64 * (*max - *min) as f64,
                    ),
                    DataType::String => {
                        let mut s = String::with_capacity(*length);
                        let mut x = h;
                        for _ in 0..*length {
                            s.push(char::from(b'a' + (x % 26) as u8));
                            x = x.rotate_right(5) ^ 0x9e37_79b9_7f4a_7c15;
                        }
                        Value::Str(s.into())
                    }
                    _ => Value::Int(v),
                }
            }
        }
    }
}

impl RowReader for DatagenReader {
    fn read(&mut self, out: &mut Vec<Row>, count_max: usize) -> spate::Result<ReadPoll> {
        let mut count = count_max;
        if let Some(p) = &self.pace {
            count = p.due(count_max);
            if count == 0 {
                return Ok(ReadPoll::Pending(p.wait_us()));
            }
        }
        let end = self.plan.rows.unwrap_or(u64::MAX);
        let mut produced = 0;
        while produced < count {
            if self.next >= end {
                if let Some(p) = &mut self.pace {
                    p.emitted(produced);
                }
                return Ok(ReadPoll::Exhausted);
            }
            let n = self.next;
            let values = self
                .plan
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| self.value(n, i, c))
                .collect();
            out.push(Row::insert(values));
            self.next = self.next.saturating_add(self.step);
            produced += 1;
        }
        if let Some(p) = &mut self.pace {
            p.emitted(produced);
        }
        Ok(ReadPoll::Ready)
    }

    fn position(&self) -> u64 {
        self.next
    }

    fn seek(&mut self, position: u64) -> spate::Result<()> {
        let index = self.next % self.step;
        spate::sources::check_split_position(&self.plan.table, position, index, self.step)?;
        self.next = position;
        Ok(())
    }
}
