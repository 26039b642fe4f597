//! A `SELECT` in the `spate sql` shell shows its rows while it runs, in the
//! session's result mode: `changelog` and `tableau` print each change as it
//! comes, `table` redraws the rows the changelog leaves (on a terminal,
//! twice a second). Ctrl-C (the session's cancel flag, set by `CtrlC`)
//! cancels the query, not the shell; a second Ctrl-C leaves the shell.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use signal_hook::consts::SIGINT;
use spate_sql::live::{LiveQuery, LiveRow};
use spate_sql::schema::Schema;
use spate_sql::{DataType, RESULT_MODE, Row};

use crate::sql_live_table::{LiveTable, TABLE_ROWS_MAX};
use crate::sql_output::{boxed, line, rule};

/// How long the reader waits for a row before it looks at the clock.
const ROW_WAIT_MS: u64 = 100;
/// How often `table` mode redraws on a terminal.
const REDRAW_INTERVAL_MS: u64 = 500;
/// Characters a streamed `tableau` cell shows at most (longer text is cut).
const CELL_CHARS_MAX: usize = 30;

/// Shows `live`'s rows until it ends or Ctrl-C cancels it; then its summary.
pub(crate) fn show_live(
    live: LiveQuery,
    settings: &BTreeMap<String, String>,
    terminal: bool,
) -> anyhow::Result<()> {
    let mode = settings
        .get(RESULT_MODE)
        .map_or("changelog", String::as_str);
    let started = Instant::now();
    let mut view = View::new(mode, &live.schema, terminal);
    if terminal {
        eprintln!("[INFO] Running; rows appear as they come. Ctrl-C cancels the query.");
    }
    loop {
        match live.next_row(Duration::from_millis(ROW_WAIT_MS)) {
            LiveRow::Row(r) => view.add(r),
            LiveRow::Waiting => {}
            LiveRow::Ended => break,
        }
        view.tick();
    }
    let cancelled = live.is_cancelled();
    let result = live.finish();
    view.end();
    let result = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    let summary = format!(
        "checksum {:#018x}, {} late rows dropped, {:.3} s{}",
        result.metrics.sink_checksum(),
        result.metrics.late_records,
        started.elapsed().as_secs_f64(),
        if cancelled {
            "; cancelled (windows still open were not closed)"
        } else {
            ""
        }
    );
    match view.mode {
        Mode::Table => {
            let dropped = match view.table.dropped {
                0 => String::new(),
                n => format!(" ({n} older rows dropped to keep {TABLE_ROWS_MAX})"),
            };
            println!(
                "[INFO] {} rows in the result{dropped}, from {} changes; {summary}",
                view.table.rows().len(),
                view.changes
            )
        }
        _ => println!("[INFO] {} rows, {summary}", view.changes),
    }
    Ok(())
}

/// Ctrl-C sets a flag while this lives (the whole shell): the first press
/// cancels the running job, a second (the flag still set) exits.
pub(crate) struct CtrlC {
    ids: [signal_hook::SigId; 2],
}

impl CtrlC {
    /// Ctrl-C sets `flag` until the guard is dropped.
    pub(crate) fn cancels(flag: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let exit = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone())?;
        let cancel = signal_hook::flag::register(SIGINT, flag)?;
        Ok(CtrlC {
            ids: [exit, cancel],
        })
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        for id in self.ids {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What has been shown so far.
struct View {
    mode: Mode,
    names: Vec<String>,
    widths: Vec<usize>,
    terminal: bool,
    table: LiveTable,
    changes: u64,
    drawn_at: Instant,
    dirty: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Changelog,
    Tableau,
    Table,
}

impl View {
    fn new(mode: &str, schema: &Schema, terminal: bool) -> Self {
        let mode = match mode {
            "table" => Mode::Table,
            "tableau" => Mode::Tableau,
            _ => Mode::Changelog,
        };
        let mut names = vec!["op".to_string()];
        names.extend(schema.fields.iter().map(|f| f.name.clone()));
        let mut widths = vec![2];
        widths.extend(
            schema
                .fields
                .iter()
                .map(|f| f.name.chars().count().max(type_width(f.ty))),
        );
        let view = View {
            mode,
            names,
            widths,
            terminal,
            table: LiveTable::default(),
            changes: 0,
            drawn_at: Instant::now(),
            dirty: false,
        };
        match mode {
            Mode::Changelog => println!("{}", view.names.join(", ")),
            Mode::Tableau => print!("{}{}{}", view.rule(), view.line(&view.names), view.rule()),
            Mode::Table => {}
        }
        view
    }

    fn add(&mut self, r: Row) {
        self.changes += 1;
        match self.mode {
            Mode::Changelog => println!("{r}"),
            Mode::Tableau => {
                let mut cells = vec![r.kind.short().to_string()];
                cells.extend(r.values.iter().map(ToString::to_string));
                print!("{}", self.line(&cells));
            }
            Mode::Table => {
                self.table.apply(&r);
                self.dirty = true;
            }
        }
    }

    /// Redraws `table` mode when rows changed and the interval passed.
    fn tick(&mut self) {
        let due = self.drawn_at.elapsed() >= Duration::from_millis(REDRAW_INTERVAL_MS);
        if self.mode == Mode::Table && self.terminal && self.dirty && due {
            // Clear the screen and draw from its top.
            print!("\x1b[2J\x1b[H{}", self.table());
            println!("[INFO] {} changes so far; Ctrl-C cancels.", self.changes);
            self.drawn_at = Instant::now();
            self.dirty = false;
        }
        let _ = std::io::stdout().flush();
    }

    fn end(&mut self) {
        match self.mode {
            Mode::Tableau => print!("{}", self.rule()),
            Mode::Table => {
                if self.terminal {
                    print!("\x1b[2J\x1b[H");
                }
                print!("{}", self.table());
            }
            Mode::Changelog => {}
        }
        let _ = std::io::stdout().flush();
    }

    fn table(&self) -> String {
        let names = self.names.get(1..).unwrap_or_default();
        boxed(names, &self.table.rows())
    }

    fn rule(&self) -> String {
        rule(&self.widths)
    }

    /// One streamed line: cells padded to their column, cut when longer.
    fn line(&self, cells: &[String]) -> String {
        let cut: Vec<String> = self
            .widths
            .iter()
            .zip(cells)
            .map(|(w, c)| cut(c, *w))
            .collect();
        line(&self.widths, &cut)
    }
}

/// The width a streamed column gets before any row is seen.
fn type_width(ty: DataType) -> usize {
    match ty {
        DataType::Boolean => 5,
        DataType::BigInt => 12,
        DataType::Double => 14,
        DataType::Timestamp => 23,
        DataType::String => CELL_CHARS_MAX,
        _ => 12,
    }
}

/// `text` in at most `width` characters, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_sql::schema::Field;

    #[test]
    fn streamed_tableau_lines_keep_their_columns_and_cut_long_text() {
        let schema = Schema {
            fields: vec![
                Field::new("name", DataType::String),
                Field::new("n", DataType::BigInt),
            ],
            ..Schema::default()
        };
        let view = View::new("tableau", &schema, false);
        let long = "x".repeat(40);
        let line = view.line(&["+I".into(), long, "7".into()]);
        assert_eq!(
            line,
            format!("| +I | {}… | 7            |\n", "x".repeat(29))
        );
        assert_eq!(line.chars().count(), view.rule().chars().count());
        assert_eq!(cut("short", 10), "short");
    }
}
