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
}

impl Hash for Row {
    /// An insert hashes as its fields alone (like a struct of them); other
    /// kinds are prefixed with their kind, so a retraction never cancels out.
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.kind != RowKind::Insert {
            state.write_u8(self.kind as u8 + 1);
        }
        for v in &self.values {
            v.hash(state);
        }
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
    fn insert_rows_hash_like_tuples_and_print_like_flink() {
        let r = Row::insert(vec![Value::Int(1), Value::Str("x".into())]);
        assert_eq!(stable_hash(&r), stable_hash(&(1u64, "x")));
        assert_eq!(r.to_string(), "+I[1, x]");
        let u = Row::of(RowKind::UpdateBefore, r.values.clone());
        assert_ne!(stable_hash(&u), stable_hash(&r));
        assert_eq!(u.to_string(), "-U[1, x]");
    }
}
