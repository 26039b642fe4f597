//! Tables and views created by DDL.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast::Query;

use crate::expr::ScalarExpr;
use crate::function::Func;
use crate::schema::Schema;

/// A table: its columns, how computed columns and the watermark derive from
/// the physical ones, and its connector options.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    /// The name as declared.
    pub name: String,
    /// Every column, physical and computed, in declared order.
    pub schema: Schema,
    /// For each column, `None` if physical, or its expression over the row
    /// of physical columns (in their order).
    pub computed: Vec<Option<ScalarExpr>>,
    /// `WATERMARK FOR column AS expr`: the column index and the expression,
    /// over the full row.
    pub watermark: Option<(usize, ScalarExpr)>,
    /// `WITH` options (keys as written).
    pub options: BTreeMap<String, String>,
    /// `CREATE TEMPORARY TABLE`.
    pub temporary: bool,
    /// `PRIMARY KEY (...) NOT ENFORCED`: its columns' indices, declared
    /// and not checked (as in Flink); empty when none is declared.
    pub primary_key: Vec<usize>,
    /// `PARTITIONED BY (...)`: its columns' indices, in order; a
    /// filesystem table writes each partition to its own directory.
    pub partition_keys: Vec<usize>,
}

impl TableDef {
    /// The physical columns' indices in the schema.
    pub fn physical_columns(&self) -> Vec<usize> {
        (0..self.schema.len())
            .filter(|i| self.computed.get(*i).is_none_or(|c| c.is_none()))
            .collect()
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// A view: its query and the script text it was defined in (so errors in
/// its body point at the right place).
#[derive(Clone, Debug)]
pub struct ViewDef {
    /// The name as declared.
    pub name: String,
    /// The defining query.
    pub query: Box<Query>,
    /// The text the query's positions refer to.
    pub source: Arc<str>,
}

/// A catalog entry.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A table.
    Table(Arc<TableDef>),
    /// A view.
    View(Arc<ViewDef>),
}

/// Tables and views by name, and the functions `CREATE FUNCTION`
/// registered (lookups ignore case).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<String, Entry>,
    functions: BTreeMap<String, Func>,
}

impl Catalog {
    fn key(name: &str) -> String {
        name.to_ascii_lowercase()
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(&Self::key(name))
    }

    /// Adds or replaces an entry; returns false if `name` existed and `replace` is false.
    pub fn put(&mut self, name: &str, entry: Entry, replace: bool) -> bool {
        let key = Self::key(name);
        if !replace && self.entries.contains_key(&key) {
            return false;
        }
        self.entries.insert(key, entry);
        true
    }

    /// The function `CREATE FUNCTION` registered as `name`.
    pub fn function(&self, name: &str) -> Option<Func> {
        self.functions.get(&Self::key(name)).copied()
    }

    /// Registers `func` as `name`; returns false if `name` existed and
    /// `replace` is false.
    pub fn put_function(&mut self, name: &str, func: Func, replace: bool) -> bool {
        let key = Self::key(name);
        if !replace && self.functions.contains_key(&key) {
            return false;
        }
        self.functions.insert(key, func);
        true
    }

    /// The names of all entries, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .values()
            .map(|e| match e {
                Entry::Table(t) => t.name.clone(),
                Entry::View(v) => v.name.clone(),
            })
            .collect()
    }
}
