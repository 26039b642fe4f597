//! A table's rows as an engine source: computed columns, rowtime and watermark.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::sources::{
    Source, SourceCollector, SourcePoll, SplitInfo, decode_offset, encode_offset,
};

use super::{ReadPoll, RowReader, open_reader};
use crate::catalog::TableDef;
use crate::compiled::CompiledExpr;
use crate::row::Row;
use crate::value::DataType;

/// One split of a table as a Spate source.
pub struct TableSource {
    reader: Box<dyn RowReader>,
    table: Arc<TableDef>,
    physical: Vec<usize>,
    buf: Vec<Row>,
    /// The largest watermark-expression value so far (Flink's watermark).
    watermark: Option<i64>,
    /// `WATERMARK FOR t AS t - INTERVAL ...` (the usual form) as the offset
    /// added to `t`, which spares evaluating the expression per row.
    watermark_shift: Option<i64>,
    /// Set when the query is cancelled: the scan stops without draining.
    cancel: Option<Arc<AtomicBool>>,
    /// Each column's expression over the physical row (`None`: physical).
    computed: Vec<Option<CompiledExpr>>,
    /// The watermark expression over the full row.
    watermark_expr: Option<CompiledExpr>,
}

impl TableSource {
    /// Opens split `split` of `table`.
    pub fn open(table: Arc<TableDef>, split: SplitInfo) -> spate::Result<Self> {
        let watermark_shift = table.watermark.as_ref().and_then(|(col, e)| {
            crate::interval_bounds::shifted_column(e).and_then(|(c, ms)| (c == *col).then_some(ms))
        });
        let physical = table.physical_columns();
        let physical_types: Vec<DataType> = physical
            .iter()
            .filter_map(|&i| table.schema.fields.get(i).map(|f| f.ty))
            .collect();
        let computed = table
            .computed
            .iter()
            .map(|c| c.as_ref().map(|e| CompiledExpr::new(e, &physical_types)))
            .collect();
        let watermark_expr = table
            .watermark
            .as_ref()
            .map(|(_, e)| CompiledExpr::new(e, &table.schema.types()));
        Ok(TableSource {
            reader: open_reader(&table, split)?,
            computed,
            watermark_expr,
            physical,
            table,
            buf: Vec::new(),
            watermark: None,
            watermark_shift,
            cancel: None,
        })
    }

    /// Stops without draining once `cancel` is set.
    pub fn with_cancel(mut self, cancel: Option<Arc<AtomicBool>>) -> Self {
        self.cancel = cancel;
        self
    }

    /// The full row (physical and computed columns) of a physical row.
    fn complete(&self, physical: Row) -> spate::Result<Row> {
        if self.physical.len() == self.table.schema.len() {
            return Ok(physical);
        }
        let mut values = Vec::with_capacity(self.table.schema.len());
        let mut next_physical = physical.values.iter();
        for c in &self.computed {
            match c {
                None => values.push(next_physical.next().cloned().unwrap_or(crate::Value::Null)),
                Some(e) => values.push(e.eval(&physical).map_err(|m| self.fail(m))?),
            }
        }
        Ok(Row::of(physical.kind, values))
    }

    fn fail(&self, message: String) -> spate::SpateError {
        spate::SpateError::Operator {
            operator: format!("source `{}`", self.table.name),
            reason: message,
        }
    }
}

impl Source for TableSource {
    type Item = Row;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, Row>,
        count_max: usize,
    ) -> spate::Result<SourcePoll> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Acquire))
        {
            return Ok(SourcePoll::Stopped);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let poll = self.reader.read(&mut buf, count_max)?;
        for physical in buf.drain(..) {
            let row = self.complete(physical)?;
            match &self.table.watermark {
                Some((col, _)) => {
                    let ts = row.get(*col).as_i64().ok_or_else(|| {
                        self.fail(format!(
                            "the time attribute `{}` is NULL",
                            self.table
                                .schema
                                .fields
                                .get(*col)
                                .map(|f| f.name.as_str())
                                .unwrap_or("?")
                        ))
                    })?;
                    let wm = match self.watermark_shift {
                        Some(ms) => Some(ts.saturating_add(ms)),
                        None => match &self.watermark_expr {
                            Some(e) => e.eval(&row).map_err(|m| self.fail(m))?.as_i64(),
                            None => None,
                        },
                    };
                    if let Some(wm) = wm {
                        self.watermark = Some(self.watermark.map_or(wm, |w| w.max(wm)));
                    }
                    out.collect_with_timestamp(row, ts);
                }
                None => out.collect(row),
            }
        }
        self.buf = buf;
        Ok(match poll {
            ReadPoll::Ready => SourcePoll::Ready,
            ReadPoll::Pending(us) => SourcePoll::Pending { retry_after_us: us },
            ReadPoll::Exhausted => SourcePoll::Exhausted,
        })
    }

    fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    fn offset(&self) -> Option<Vec<u8>> {
        let (has, wm) = (
            u64::from(self.watermark.is_some()),
            self.watermark.unwrap_or(0),
        );
        Some(encode_offset(&[self.reader.position(), has, wm as u64]))
    }

    fn seek(&mut self, offset: &[u8]) -> spate::Result<()> {
        let [position, has, wm] = decode_offset::<3>(&self.table.name, offset)?;
        self.reader.seek(position)?;
        self.watermark = (has == 1).then_some(wm as i64);
        Ok(())
    }
}
