//! `config explain`: every key, its effective value and the layer that set it.

use super::keys::KEYS;
use super::loaded::LoadedConfig;

/// One row of `config explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRow {
    /// Full key, `section.name`.
    pub key: &'static str,
    /// Effective value, in the form `--set` accepts.
    pub value: String,
    /// The layer that set it: `default`, `profile low-latency (deploy/profiles/low-latency.toml)`,
    /// `file ./job.toml` or `cli --set`.
    pub source: String,
}

impl LoadedConfig {
    /// Every key in table order, with its effective value and source.
    pub fn explain(&self) -> Vec<ExplainRow> {
        KEYS.iter()
            .zip(&self.sources)
            .map(|(def, source)| ExplainRow {
                key: def.key,
                value: (def.read)(&self.config).to_string(),
                source: source.to_string(),
            })
            .collect()
    }

    /// [`explain`](Self::explain) as an aligned text table with a `KEY VALUE SOURCE` header.
    pub fn explain_table(&self) -> String {
        const HEADER: [&str; 3] = ["KEY", "VALUE", "SOURCE"];
        let rows: Vec<[String; 3]> = self
            .explain()
            .into_iter()
            .map(|row| {
                // An empty value (a path left to its default) shows as `""`.
                let value = match row.value.as_str() {
                    "" => "\"\"".to_string(),
                    _ => row.value,
                };
                [row.key.to_string(), value, row.source]
            })
            .collect();
        let width = |column: usize| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([HEADER[column].len()])
                .max()
                .unwrap_or(0)
        };
        let (key_width, value_width) = (width(0), width(1));
        let mut table = String::new();
        let mut line = |key: &str, value: &str, source: &str| {
            let text = format!("{key:<key_width$}  {value:<value_width$}  {source}");
            table.push_str(text.trim_end());
            table.push('\n');
        };
        line(HEADER[0], HEADER[1], HEADER[2]);
        for [key, value, source] in &rows {
            line(key, value, source);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_aligned_and_complete() {
        let mut loaded = LoadedConfig::defaults();
        loaded.apply_override("runtime.cores=2").unwrap();
        let table = loaded.explain_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), KEYS.len() + 1);
        assert!(lines[0].starts_with("KEY "), "{table}");
        let value_column = lines[0].find("VALUE").unwrap();
        let source_column = lines[0].find("SOURCE").unwrap();
        assert_eq!(value_column, "runtime.channel_capacity_batches".len() + 2);
        for line in &lines[1..] {
            assert_eq!(line.as_bytes()[value_column - 1], b' ', "{line}");
            assert_ne!(line.as_bytes()[value_column], b' ', "{line}");
            assert_ne!(line.as_bytes()[source_column], b' ', "{line}");
        }
        assert!(lines[1].starts_with("runtime.cores "), "{table}");
        assert!(lines[1].ends_with(" cli --set"), "{table}");
        assert!(table.contains("checkpoint.dir"));
    }
}
