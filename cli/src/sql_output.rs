//! How `spate sql` shows outcomes: messages, plans, an INSERT's summary,
//! and a query's rows in the session's result mode (Flink's
//! `sql-client.execution.result-mode`): `changelog` (every change, one a
//! line, the default), `tableau` (every change in a table with an `op`
//! column) or `table` (the rows the changelog leaves, in a table).

use std::collections::BTreeMap;

use spate_sql::{Outcome, RESULT_MODE};

use crate::sql_live_table::LiveTable;

/// What the job's checkpoints did, when it took any.
fn checkpoint_line(c: &spate::metrics::CheckpointMetrics) -> Option<String> {
    if c.completed + c.aborted == 0 {
        return None;
    }
    let mut uploads = c.uploaded_bytes_by_checkpoint.clone();
    uploads.sort_unstable();
    let median = uploads.get(uploads.len() / 2).copied().unwrap_or(0);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    Some(format!(
        "[INFO] checkpoints: {} completed, {} aborted, {} restarts; longest trigger to durable \
         {} ms, longest synchronous part {:.1} ms; {:.1} MiB uploaded (median {:.1} MiB a \
         checkpoint)",
        c.completed,
        c.aborted,
        c.restarts,
        c.duration_ms_max,
        c.sync_ns_max as f64 / 1e6,
        mib(c.uploaded_bytes),
        mib(median)
    ))
}

/// Prints `o` as `settings` ask.
pub(crate) fn print_outcome(o: &Outcome, settings: &BTreeMap<String, String>) {
    match o {
        Outcome::Done(msg) => println!("{msg}"),
        Outcome::Explain(text) => println!("{text}"),
        Outcome::Inserted { table, result } => {
            println!(
                "[INFO] INSERT INTO {table} finished: {} rows, checksum {:#018x}, {} late rows dropped, {:.3} s on {} cores",
                result.metrics.sink_records(),
                result.metrics.sink_checksum(),
                result.metrics.late_records,
                result.wall.as_secs_f64(),
                result.cores
            );
            if let Some(line) = checkpoint_line(&result.metrics.checkpoints) {
                println!("{line}");
            }
        }
        Outcome::Rows {
            schema,
            rows,
            result,
        } => {
            let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
            let mode = settings
                .get(RESULT_MODE)
                .map_or("changelog", String::as_str);
            let summary = format!(
                "checksum {:#018x}, {} late rows dropped, {:.3} s",
                result.metrics.sink_checksum(),
                result.metrics.late_records,
                result.wall.as_secs_f64()
            );
            match mode {
                "table" => {
                    let mut table = LiveTable::default();
                    rows.iter().for_each(|r| table.apply(r));
                    let kept = table.rows();
                    print!("{}", boxed(&names, &kept));
                    println!(
                        "[INFO] {} rows in the result, from {} changes; {summary}",
                        kept.len(),
                        rows.len()
                    );
                    return;
                }
                "tableau" => {
                    let mut header = vec!["op".to_string()];
                    header.extend(names);
                    let cells: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| {
                            let mut c = vec![r.kind.short().to_string()];
                            c.extend(r.values.iter().map(ToString::to_string));
                            c
                        })
                        .collect();
                    print!("{}", boxed(&header, &cells));
                }
                _ => {
                    println!("op, {}", names.join(", "));
                    for r in rows {
                        println!("{r}");
                    }
                }
            }
            println!("[INFO] {} rows, {summary}", rows.len());
        }
    }
}

/// A table with a border, a header and one line per row.
pub(crate) fn boxed(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let rule = rule(&widths);
    let mut out = rule.clone();
    out.push_str(&line(&widths, header));
    out.push_str(&rule);
    for r in rows {
        out.push_str(&line(&widths, r));
    }
    out.push_str(&rule);
    out
}

/// A table's border line for columns of `widths`.
pub(crate) fn rule(widths: &[usize]) -> String {
    widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n"
}

/// A table line: each cell padded to its column's width.
pub(crate) fn line(widths: &[usize], cells: &[String]) -> String {
    widths
        .iter()
        .zip(cells)
        .map(|(w, c)| format!("| {c:<w$} "))
        .collect::<String>()
        + "|\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_a_border_a_header_and_cells_padded_to_their_column() {
        let kept = vec![
            vec!["a".to_string(), "1".into()],
            vec!["bob".into(), "2".into()],
        ];
        let text = boxed(&["who".into(), "n".into()], &kept);
        assert_eq!(
            text,
            "+-----+---+\n| who | n |\n+-----+---+\n| a   | 1 |\n| bob | 2 |\n+-----+---+\n"
        );
    }
}
