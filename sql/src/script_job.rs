//! A script as one job for a cluster (`spate sql -f job.sql --cluster`):
//! its DDL and SET statements run in the session, and its INSERT INTO
//! statements (and statement sets) become one job, built but not run.
//! Every worker builds the same job from the same text, as the client
//! did to check it, so the job graph is the same everywhere.

use std::sync::Arc;

use sqlparser::ast::{self, Statement};

use spate::Job;

use crate::error::{Errors, Result};
use crate::script::{ScriptStatement, parse_script};
use crate::session::Session;

/// What a shell input does, for a shell on a cluster: write (its
/// INSERTs run there), read (a SELECT or EXPLAIN, shown here), or neither
/// (DDL and SETs, which the session keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// Only INSERT INTO statements and statement sets.
    Writes,
    /// A SELECT, nothing that writes.
    Reads,
    /// EXPLAIN (and DDL or SETs), nothing that writes or reads.
    Explains,
    /// DDL and SETs only.
    Prepares,
    /// Writes, or EXPLAIN, mixed with other statements.
    Mixed,
}

/// What `sql` does (see [`ScriptKind`]).
pub fn script_kind(sql: &str) -> Result<ScriptKind> {
    let (mut writes, mut reads, mut explains, mut other) = (false, false, false, false);
    for located in parse_script(sql)? {
        match located.stmt {
            ScriptStatement::StatementSet(_) => writes = true,
            ScriptStatement::Sql(stmt) => match *stmt {
                Statement::Insert(_) => writes = true,
                Statement::Query(_) => reads = true,
                Statement::Explain { .. } => explains = true,
                _ => other = true,
            },
            _ => other = true,
        }
    }
    Ok(if writes {
        if reads || explains || other {
            ScriptKind::Mixed
        } else {
            ScriptKind::Writes
        }
    } else if reads {
        ScriptKind::Reads
    } else if explains {
        if other {
            ScriptKind::Mixed
        } else {
            ScriptKind::Explains
        }
    } else {
        ScriptKind::Prepares
    })
}

/// The job of a script and the tables it writes.
pub struct ScriptJob {
    /// The job, built and not run.
    pub job: Job,
    /// The tables its INSERTs write, in order, comma-separated.
    pub tables: String,
}

impl Session {
    /// Runs `script`'s DDL and SET statements and builds the job of its
    /// INSERT INTO statements and statement sets, all in one job (as one
    /// statement set). A SELECT or EXPLAIN is refused (a cluster job has
    /// no client to show rows to), and so is a script that writes nothing.
    pub fn job_of_script(&mut self, script: &str) -> Result<ScriptJob> {
        let source: Arc<str> = Arc::from(script);
        let errors = Errors::new(&source);
        let mut inserts: Vec<ast::Insert> = Vec::new();
        for located in parse_script(script)? {
            match located.stmt {
                ScriptStatement::StatementSet(set) => inserts.extend(set),
                ScriptStatement::Sql(stmt) => match *stmt {
                    Statement::Insert(ins) => inserts.push(ins),
                    Statement::Query(_) | Statement::Explain { .. } => {
                        return Err(errors.unsupported(
                            located.pos,
                            "a SELECT or EXPLAIN in a script for a cluster (its rows \
                             would have no client to go to; write them with INSERT INTO)",
                        ));
                    }
                    other => {
                        let stmt = ScriptStatement::Sql(Box::new(other));
                        let pos = located.pos;
                        self.statement(crate::script::Located { stmt, pos }, &source)?;
                    }
                },
                stmt => {
                    let pos = located.pos;
                    self.statement(crate::script::Located { stmt, pos }, &source)?;
                }
            }
        }
        if inserts.is_empty() {
            return Err(errors.semantic(
                Default::default(),
                "the script writes nothing: a cluster runs its INSERT INTO statements",
            ));
        }
        let (job, tables) = self.inserts_job(&inserts, &errors, "sql")?;
        Ok(ScriptJob { job, tables })
    }
}
