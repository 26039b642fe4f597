//! The rows a live query's changelog leaves, kept as the changes come (the
//! shell's `table` result mode): each distinct row with how many times it
//! is left, in the order rows first appeared. At most `TABLE_ROWS_MAX`
//! distinct rows are kept, the oldest dropped beyond (Flink's SQL client
//! bounds its table mode the same way), so an unbounded query cannot grow
//! the shell without limit.

use std::collections::{BTreeMap, HashMap};

use spate_sql::Row;

/// Distinct rows the live table keeps.
pub(crate) const TABLE_ROWS_MAX: usize = 100_000;

#[derive(Default)]
pub(crate) struct LiveTable {
    /// Row cells → (when first seen, how many times left).
    rows: HashMap<Vec<String>, (u64, i64)>,
    /// When first seen → row cells.
    order: BTreeMap<u64, Vec<String>>,
    seen: u64,
    /// Distinct rows dropped to stay within the bound.
    pub(crate) dropped: u64,
}

impl LiveTable {
    /// Applies one change.
    pub(crate) fn apply(&mut self, r: &Row) {
        let cells: Vec<String> = r.values.iter().map(ToString::to_string).collect();
        let sign = if r.kind.is_addition() { 1 } else { -1 };
        let (seen, count) = match self.rows.get_mut(&cells) {
            Some(entry) => {
                entry.1 += sign;
                *entry
            }
            None if sign > 0 => {
                self.seen += 1;
                self.order.insert(self.seen, cells.clone());
                self.rows.insert(cells.clone(), (self.seen, 1));
                (self.seen, 1)
            }
            // A retraction of a row dropped for the bound (or never seen).
            None => return,
        };
        if count <= 0 {
            self.rows.remove(&cells);
            self.order.remove(&seen);
        }
        while self.rows.len() > TABLE_ROWS_MAX {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.rows.remove(&oldest);
            self.dropped += 1;
        }
    }

    /// The rows left, each as many times as it is left, in first-seen order.
    pub(crate) fn rows(&self) -> Vec<Vec<String>> {
        self.order
            .values()
            .flat_map(|cells| {
                let n = self.rows.get(cells).map_or(0, |e| e.1).max(0) as usize;
                std::iter::repeat_n(cells.clone(), n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_sql::{RowKind, Value};

    fn r(kind: RowKind, who: &str, n: i64) -> Row {
        Row::of(kind, vec![Value::Str(who.into()), Value::Int(n)])
    }

    #[test]
    fn changes_leave_the_rows_a_materialized_changelog_leaves() {
        let mut t = LiveTable::default();
        for c in [
            r(RowKind::Insert, "b", 1),
            r(RowKind::Insert, "a", 1),
            r(RowKind::UpdateBefore, "b", 1),
            r(RowKind::UpdateAfter, "b", 2),
            r(RowKind::Insert, "c", 1),
            r(RowKind::Insert, "c", 1),
            r(RowKind::Delete, "c", 1),
        ] {
            t.apply(&c);
        }
        let row = |a: &str, n: &str| vec![a.to_string(), n.to_string()];
        assert_eq!(t.rows(), vec![row("a", "1"), row("b", "2"), row("c", "1")]);
        assert_eq!(t.dropped, 0);
    }

    #[test]
    fn beyond_the_bound_the_oldest_rows_go() {
        let mut t = LiveTable::default();
        for i in 0..TABLE_ROWS_MAX as i64 + 3 {
            t.apply(&r(RowKind::Insert, "k", i));
        }
        let rows = t.rows();
        assert_eq!(rows.len(), TABLE_ROWS_MAX);
        assert_eq!(rows[0], vec!["k".to_string(), "3".to_string()]);
        assert_eq!(t.dropped, 3);
        // Retracting a dropped row changes nothing.
        t.apply(&r(RowKind::Delete, "k", 0));
        assert_eq!(t.rows().len(), TABLE_ROWS_MAX);
    }
}
