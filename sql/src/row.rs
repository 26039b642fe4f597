//! `Row`: the record every SQL operator passes, and its changelog kind.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::value::Value;

/// The change a row stands for, as Flink's `RowKind`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert,
    /// `-U`: the old version of an updated row.
    UpdateBefore,
    /// `+U`: the new version of an updated row.
    UpdateAfter,
    /// `-D`: a row removed.
    Delete,
}

impl RowKind {
    /// `+I`, `-U`, `+U` or `-D`.
    pub fn short(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// True for `+I` and `+U` (the row is added), false for retractions.
    pub fn is_addition(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// One row: its changelog kind and its fields in schema order. Crosses
/// exchanges (rkyv) and is the key type of grouped state (`Vec<Value>`).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Row {
    /// Insert, update or delete.
    pub kind: RowKind,
    /// The fields.
    pub values: Vec<Value>,
}

impl Row {
    /// An insert (`+I`) row.
    pub fn insert(values: Vec<Value>) -> Self {
        Row {
            kind: RowKind::Insert,
            values,
        }
    }

    /// A row of `kind`.
    pub fn of(kind: RowKind, values: Vec<Value>) -> Self {
        Row { kind, values }
    }

    /// Field `i`, NULL when out of range (the planner checks indices).
    pub fn get(&self, i: usize) -> &Value {
        self.values.get(i).unwrap_or(&Value::Null)
    }

    /// This change's share of a sink's checksum: an insert or update-after
    /// adds its row's hash, a delete or update-before takes it back, so the
    /// checksum is that of the rows the changelog leaves, whatever order
    /// its changes came in (which differs between runs and core counts for
    /// an updating result). An insert's share is its `Hash`, as before.
    pub fn checksum_share(&self) -> u64 {
        let h = spate_state::checksum_hash(&Fields(&self.values));
        match self.kind {
            RowKind::Insert | RowKind::UpdateAfter => h,
            RowKind::UpdateBefore | RowKind::Delete => h.wrapping_neg(),
        }
    }
}

/// A row's fields, hashed one after the other (as an insert row hashes).
struct Fields<'a>(&'a [Value]);

impl Hash for Fields<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0 {
            v.hash(state);
        }
    }
}

impl Hash for Row {
    /// An insert hashes as its fields alone (like a struct of them); other
    /// kinds are prefixed with their kind, so a retraction never cancels out.
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.kind != RowKind::Insert {
            state.write_u8(self.kind as u8 + 1);
        }
        Fields(&self.values).hash(state);
    }
}

impl fmt::Display for Row {
    /// `+I[1, abc]`, as Flink's `print` connector writes a row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.kind.short())?;
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_bench::nexmark::stable_hash;

    #[test]
    fn a_retraction_takes_back_its_rows_share_of_the_checksum() {
        let a1 = vec![Value::Int(1), Value::Str("a".into())];
        let a2 = vec![Value::Int(2), Value::Str("a".into())];
        let sum = |rows: &[Row]| {
            rows.iter()
                .fold(0u64, |s, r| s.wrapping_add(r.checksum_share()))
        };
        let changelog = [
            Row::insert(a1.clone()),
            Row::of(RowKind::UpdateBefore, a1.clone()),
            Row::of(RowKind::UpdateAfter, a2.clone()),
        ];
        assert_eq!(sum(&changelog), sum(&[Row::insert(a2.clone())]));
        let insert = Row::insert(a1);
        assert_eq!(insert.checksum_share(), spate_state::checksum_hash(&insert));
        let deleted = [Row::insert(a2.clone()), Row::of(RowKind::Delete, a2)];
        assert_eq!(sum(&deleted), 0);
    }

    #[test]
    fn insert_rows_hash_like_tuples_and_print_like_flink() {
        let r = Row::insert(vec![Value::Int(1), Value::Str("x".into())]);
        assert_eq!(stable_hash(&r), stable_hash(&(1u64, "x")));
        assert_eq!(r.to_string(), "+I[1, x]");
        let u = Row::of(RowKind::UpdateBefore, r.values.clone());
        assert_ne!(stable_hash(&u), stable_hash(&r));
        assert_eq!(u.to_string(), "-U[1, x]");
    }
}
