//! The columns of a table, view or intermediate result.

use crate::value::DataType;

/// One column.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Its name as declared (lookups ignore case).
    pub name: String,
    /// Its type.
    pub ty: DataType,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, ty: DataType) -> Self {
        Field {
            name: name.into(),
            ty,
        }
    }
}

/// The columns of a relation, with the index of its event-time attribute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// The columns in order.
    pub fields: Vec<Field>,
    /// The column records' event time comes from (declared by `WATERMARK
    /// FOR`, or a window's `window_time`), if any survives to this relation.
    pub rowtime: Option<usize>,
}

impl Schema {
    /// A schema without event time.
    pub fn new(fields: Vec<Field>) -> Self {
        Schema {
            fields,
            rowtime: None,
        }
    }

    /// The index of `name`: an exact match first, then ignoring case.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name).or_else(|| {
            self.fields
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(name))
        })
    }

    /// The names, comma-separated (for "expected one of" messages).
    pub fn names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}
