//! The columns of a table, view or intermediate result.

use crate::value::DataType;

/// One column.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Its name as declared (lookups ignore case).
    pub name: String,
    /// Its type.
    pub ty: DataType,
    /// The table or alias it comes from while it is in a `FROM` clause's
    /// scope (`p` in `p.id`); `None` for computed columns.
    pub qualifier: Option<String>,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, ty: DataType) -> Self {
        Field {
            name: name.into(),
            ty,
            qualifier: None,
        }
    }

    /// True when `qualifier.name` (or `name` alone) names this field.
    fn is(&self, qualifier: Option<&str>, name: &str, exact: bool) -> bool {
        let q = match (qualifier, &self.qualifier) {
            (None, _) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (Some(_), None) => false,
        };
        q && if exact {
            self.name == name
        } else {
            self.name.eq_ignore_ascii_case(name)
        }
    }
}

/// Why a column reference does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// No column has that name.
    Unknown,
    /// Several columns have it; their qualified names.
    Ambiguous(Vec<String>),
}

impl Field {
    /// `q.name`, or `name` without a qualifier.
    pub fn qualified(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{q}.{}", self.name),
            None => self.name.clone(),
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
    /// The column `PROCTIME()` defined (a processing-time attribute), if
    /// any survives to this relation: what a processing-time window or a
    /// lookup join's `FOR SYSTEM_TIME AS OF` names.
    pub proctime: Option<usize>,
}

impl Schema {
    /// A schema without event time.
    pub fn new(fields: Vec<Field>) -> Self {
        Schema {
            fields,
            rowtime: None,
            proctime: None,
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

    /// The column `qualifier.name`, or `name` in any relation: an exact
    /// match first, then ignoring case. A name two joined relations share
    /// needs its qualifier.
    pub fn resolve(&self, qualifier: Option<&str>, name: &str) -> Result<usize, Unresolved> {
        for exact in [true, false] {
            let found: Vec<usize> = (0..self.fields.len())
                .filter(|&i| self.fields[i].is(qualifier, name, exact))
                .collect();
            match found.as_slice() {
                [] => continue,
                [one] => return Ok(*one),
                many => {
                    return Err(Unresolved::Ambiguous(
                        many.iter().map(|&i| self.fields[i].qualified()).collect(),
                    ));
                }
            }
        }
        Err(Unresolved::Unknown)
    }

    /// The same columns, all from the relation named `qualifier`.
    pub fn qualified(mut self, qualifier: &str) -> Self {
        for f in &mut self.fields {
            f.qualifier = Some(qualifier.to_string());
        }
        self
    }

    /// These columns with a window TVF's `window_start`, `window_end` and
    /// `window_time` after them, windowing by `time_col`: `window_time` is
    /// the new time attribute, of processing time when `time_col` is the
    /// proctime, of event time otherwise.
    pub fn with_window_columns(&self, time_col: usize) -> Schema {
        let mut fields = self.fields.clone();
        for name in ["window_start", "window_end", "window_time"] {
            fields.push(Field::new(name, DataType::Timestamp));
        }
        let window_time = fields.len().checked_sub(1);
        if self.proctime == Some(time_col) {
            Schema {
                fields,
                rowtime: None,
                proctime: window_time,
            }
        } else {
            Schema {
                fields,
                rowtime: window_time,
                proctime: self.proctime,
            }
        }
    }

    /// The names, comma-separated (for "expected one of" messages).
    pub fn names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The names for messages: qualified when the columns come from
    /// several relations (a join), plain otherwise.
    pub fn column_list(&self) -> String {
        let first = self.fields.first().and_then(|f| f.qualifier.as_deref());
        if self.fields.iter().all(|f| f.qualifier.as_deref() == first) {
            return self.names();
        }
        let names: Vec<String> = self.fields.iter().map(Field::qualified).collect();
        names.join(", ")
    }

    /// Each column's type.
    pub fn types(&self) -> Vec<DataType> {
        self.fields.iter().map(|f| f.ty).collect()
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}
