//! A batch of JSON lines, parsed whole before any record is ingested.

use serde::de::DeserializeOwned;
use spate::embed::{Durable, EmbedError, Ingest};

use crate::stats::{IngestStats, Refusal};

/// Why a batch was not taken: the sentence a producer sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchRejection {
    /// A line is not a record of the job's type.
    #[error("line {line}: {reason}; nothing of this batch was ingested")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// More records than `batch_records_max`.
    #[error(
        "the batch has more than {records_max} records; nothing of it was ingested, \
         split it into smaller batches"
    )]
    TooManyRecords {
        /// The limit.
        records_max: usize,
    },
}

/// Parses one record per line (empty lines and a trailing `\r` are
/// allowed). All or nothing: the first bad line rejects the batch.
pub fn parse_json_lines<T: DeserializeOwned>(
    body: &[u8],
    records_max: usize,
) -> Result<Vec<T>, BatchRejection> {
    let mut records = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if records.len() == records_max {
            return Err(BatchRejection::TooManyRecords { records_max });
        }
        let record = serde_json::from_slice(line).map_err(|e| BatchRejection::Malformed {
            line: i + 1,
            reason: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
}

/// A batch in the engine's queue, to acknowledge once [`Taken::durable`].
pub(crate) struct Taken {
    records: usize,
    /// Set when the engine is checkpointed: the batch is durable once a
    /// completed checkpoint holds it.
    wait: Option<Durable>,
}

impl Taken {
    /// Waits until the batch is durable per the engine's guarantee and
    /// counts it; `Ok(records)` is the acknowledgement. Without
    /// checkpoints, a queued batch is as durable as it gets.
    pub(crate) async fn durable(self, stats: &IngestStats) -> Result<usize, (Refusal, String)> {
        if let Some(wait) = self.wait {
            wait.wait().await.map_err(|e| match e {
                EmbedError::NotDurable { .. } => (Refusal::NotDurable, e.to_string()),
                e => (Refusal::Unavailable, e.to_string()),
            })?;
        }
        stats.accepted(self.records);
        Ok(self.records)
    }
}

/// Parses `body` and queues its records in the engine, whole or not at
/// all; both endpoints take batches this way. A refusal says which kind it
/// is (each endpoint answers and counts it in its own way) and gives the
/// sentence.
pub(crate) async fn take_batch<T: DeserializeOwned>(
    ingest: &Ingest<T>,
    records_max: usize,
    body: &[u8],
) -> Result<Taken, (Refusal, String)> {
    let records = parse_json_lines::<T>(body, records_max).map_err(|e| {
        let why = match e {
            BatchRejection::TooManyRecords { .. } => Refusal::Oversized,
            BatchRejection::Malformed { .. } => Refusal::Malformed,
        };
        (why, e.to_string())
    })?;
    let n = records.len();
    let unavailable = |e: EmbedError| (Refusal::Unavailable, e.to_string());
    let wait = if ingest.is_checkpointed() {
        Some(ingest.send_durable(records).await.map_err(unavailable)?)
    } else {
        ingest.send_batch(records).await.map_err(unavailable)?;
        None
    };
    Ok(Taken { records: n, wait })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Event = (String, u64);

    #[test]
    fn lines_become_records_and_blank_lines_are_skipped() {
        let body = b"[\"a\",1]\r\n\n[\"b\",2]\n";
        let got: Vec<Event> = parse_json_lines(body, 10).unwrap();
        assert_eq!(got, vec![("a".into(), 1), ("b".into(), 2)]);
        assert!(parse_json_lines::<Event>(b"", 10).unwrap().is_empty());
    }

    #[test]
    fn a_bad_line_rejects_the_batch_and_names_the_line() {
        let err = parse_json_lines::<Event>(b"[\"a\",1]\n[\"b\",\"x\"]\n", 10).unwrap_err();
        let BatchRejection::Malformed { line, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*line, 2);
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let invalid_utf8 = parse_json_lines::<Event>(b"[\"\xff\",1]", 10).unwrap_err();
        assert!(matches!(
            invalid_utf8,
            BatchRejection::Malformed { line: 1, .. }
        ));
    }

    #[test]
    fn more_records_than_the_limit_reject_the_batch() {
        let err = parse_json_lines::<Event>(b"[\"a\",1]\n[\"b\",2]\n[\"c\",3]", 2).unwrap_err();
        assert_eq!(err, BatchRejection::TooManyRecords { records_max: 2 });
    }
}
