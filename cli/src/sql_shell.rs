//! `spate sql` without a file: an interactive shell. Lines are read until
//! a statement ends (a `;` outside quotes and comments); in a terminal the
//! editor keeps a statement's lines together (Enter inside an unfinished
//! statement adds a line), with history in `~/.spate_sql_history`. A
//! failing statement prints its error and the shell goes on. Input from a
//! pipe is read line by line without the editor (and without prompts).

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, Helper};
use spate::config::Config;
use spate_sql::Session;
use spate_sql::script::ends_a_statement;
use spate_sql::script_job::{ScriptKind, script_kind};

use crate::sql::ClusterTarget;
use crate::sql_output::print_outcome;

/// The most statements the history file keeps.
const HISTORY_ENTRIES_MAX: usize = 1_000;

const HELP: &str = "\
Statements end with ';' and may span lines. Besides SQL (CREATE TABLE, CREATE VIEW,
SET, RESET, SELECT, INSERT INTO, EXPLAIN):
  HELP;   this text
  QUIT;   leave (also EXIT; or Ctrl-D); Ctrl-C discards the statement being typed
Rows are shown as SET 'sql-client.execution.result-mode' says: 'changelog' (the
default: every change on its own line), 'tableau' (every change, in a table) or
'table' (the rows the changes leave, in a table), each as the query runs. Ctrl-C
while a query runs cancels it (windows still open are not closed).";

/// Validates input as SQL statements: Enter completes only a whole one.
struct SqlHelper;

impl Helper for SqlHelper {}
impl Completer for SqlHelper {
    type Candidate = String;
}
impl Hinter for SqlHelper {
    type Hint = String;
}
impl Highlighter for SqlHelper {}
impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let done = input.trim().is_empty() || ends_a_statement(input) || command(input).is_some();
        Ok(if done {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

/// A shell command rather than SQL.
#[derive(Debug, PartialEq, Eq)]
enum ShellCommand {
    Quit,
    Help,
}

fn command(input: &str) -> Option<ShellCommand> {
    let word = input
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_ascii_uppercase();
    match word.as_str() {
        "QUIT" | "EXIT" => Some(ShellCommand::Quit),
        "HELP" => Some(ShellCommand::Help),
        _ => None,
    }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".spate_sql_history"))
}

/// Runs the shell until QUIT, EXIT or the end of the input.
pub(crate) fn shell(config: Config, cluster: Option<ClusterTarget>) -> anyhow::Result<()> {
    let terminal = std::io::stdin().is_terminal();
    let editor_config = rustyline::Config::builder()
        .max_history_size(HISTORY_ENTRIES_MAX)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<SqlHelper, DefaultHistory> = Editor::with_config(editor_config)?;
    editor.set_helper(Some(SqlHelper));
    let history = history_path();
    if let Some(h) = &history {
        // A first run has no history yet.
        let _ = editor.load_history(h);
    }
    if terminal {
        println!("Spate SQL: Flink SQL on the embedded engine. HELP; for help, QUIT; to leave.");
    }
    let mut session = Session::new(config);
    // Ctrl-C while a job runs stops it (its scans end without draining)
    // and the shell goes on; registered before any statement runs.
    let cancel = Arc::new(AtomicBool::new(false));
    let _ctrl_c = crate::sql_live::CtrlC::cancels(cancel.clone())?;
    session.set_cancel(Some(cancel.clone()));
    let mut cluster = cluster.map(|target| OnCluster {
        target,
        prepared: String::new(),
    });
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "Spate SQL> "
        } else {
            "         > "
        };
        let line = if terminal {
            match editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    pending.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(anyhow::anyhow!("reading the next line failed: {e}")),
            }
        } else {
            // The editor would swallow an unfinished statement at the end
            // of piped input: plain lines instead.
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => line.trim_end_matches(['\n', '\r']).to_string(),
                Err(e) => return Err(anyhow::anyhow!("reading standard input failed: {e}")),
            }
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        if pending.trim().is_empty() {
            pending.clear();
            continue;
        }
        let cmd = command(&pending);
        if cmd.is_none() && !ends_a_statement(&pending) {
            continue;
        }
        let statement = std::mem::take(&mut pending);
        if terminal {
            let _ = editor.add_history_entry(statement.trim());
        }
        match cmd {
            Some(ShellCommand::Quit) => break,
            Some(ShellCommand::Help) => println!("{HELP}"),
            None => {
                cancel.store(false, Ordering::Release);
                let result = match &mut cluster {
                    Some(c) => c.run(&mut session, &statement),
                    None => run_statement(&mut session, &statement, terminal),
                };
                if cancel.load(Ordering::Acquire) {
                    eprintln!("[INFO] Cancelled: the job ended with what it had written.");
                }
                if let Err(e) = result {
                    eprintln!("{e}");
                }
            }
        }
    }
    if let (true, Some(h)) = (terminal, &history)
        && let Err(e) = editor.save_history(h)
    {
        eprintln!(
            "warning: the history could not be saved to {}: {e}",
            h.display()
        );
    }
    if !pending.trim().is_empty() {
        eprintln!("warning: the input ended inside a statement (no ';'); it was not run");
    }
    Ok(())
}

/// Runs one statement: a `SELECT` live (rows as they come, Ctrl-C
/// cancels it), anything else to its outcome.
fn run_statement(session: &mut Session, statement: &str, terminal: bool) -> anyhow::Result<()> {
    match session.start_query(statement)? {
        Some(live) => crate::sql_live::show_live(live, session.settings(), terminal),
        None => {
            session.execute_each(statement, &mut |o, settings| print_outcome(&o, settings))?;
            Ok(())
        }
    }
}

/// A shell on a cluster: each INSERT entered runs there as a job, after
/// the DDL and SETs entered so far (which also run here, to check them).
struct OnCluster {
    target: ClusterTarget,
    /// The DDL and SET statements entered so far, in order.
    prepared: String,
}

impl OnCluster {
    fn run(&mut self, session: &mut Session, statement: &str) -> anyhow::Result<()> {
        match script_kind(statement)? {
            ScriptKind::Writes => {
                let script = format!("{}{statement}\n", self.prepared);
                crate::sql::submit_script(&self.target, &script)
            }
            ScriptKind::Mixed => anyhow::bail!(
                "on a cluster, enter an INSERT INTO or an EXPLAIN on its own (not with other statements)"
            ),
            ScriptKind::Reads => anyhow::bail!(
                "a SELECT does not run on a cluster from the shell (its rows would have no \
                 client to go to); INSERT INTO a table instead"
            ),
            // EXPLAIN plans here.
            ScriptKind::Explains => run_statement(session, statement, false),
            ScriptKind::Prepares => {
                session.execute_each(statement, &mut |o, settings| print_outcome(&o, settings))?;
                self.prepared.push_str(statement);
                self.prepared.push('\n');
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_commands_are_recognised_with_or_without_semicolons() {
        assert_eq!(command("quit;"), Some(ShellCommand::Quit));
        assert_eq!(command(" EXIT "), Some(ShellCommand::Quit));
        assert_eq!(command("help;"), Some(ShellCommand::Help));
        assert_eq!(command("SELECT 1;"), None);
    }
}
