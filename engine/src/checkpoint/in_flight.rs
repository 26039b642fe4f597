//! The in-flight records of an unaligned checkpoint: what a task's input
//! channels delivered after its snapshot and before their own barrier.
//!
//! They travel as a state of the task's head node, named
//! [`IN_FLIGHT_STATE`], through the same files, CRCs and manifest as keyed
//! state. Each entry is one delivered batch, still encoded as on the wire:
//! the stored key is the first key group of the task's range (so a restore
//! with the same parallelism reads it back on the same subtask), then the
//! port, the channel and the batch's place among that channel's recorded
//! batches, all big-endian so the entries sort in delivery order per
//! channel.

use spate_state::KeyGroup;
use spate_state::canonical::CanonicalEntry;

use super::operator_state::{Captured, CapturedState, state_name};
use crate::error::{Result, SpateError};

/// The state name of a task's in-flight records (under its head node).
pub(crate) const IN_FLIGHT_STATE: &str = "in-flight";

/// The kind of that state in manifests.
pub(crate) const IN_FLIGHT_KIND: &str = "in-flight";

const KEY_BYTES: usize = 2 + 4 + 4 + 8;

/// One recorded batch: where it came from and its encoded records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InFlightBatch {
    /// The task's input port.
    pub(crate) port: u32,
    /// The channel of that port.
    pub(crate) channel: u32,
    /// The records, encoded as on the wire.
    pub(crate) bytes: Vec<u8>,
}

/// The state holding `batches` (in delivery order per channel) of the task
/// headed by `node` whose key groups start at `first_key_group`.
pub(crate) fn captured(
    node: usize,
    first_key_group: KeyGroup,
    batches: Vec<InFlightBatch>,
) -> CapturedState {
    let mut seq = std::collections::HashMap::<(u32, u32), u64>::new();
    let mut entries: Vec<CanonicalEntry> = batches
        .into_iter()
        .map(|b| {
            let n = seq.entry((b.port, b.channel)).or_default();
            let mut key = Vec::with_capacity(KEY_BYTES);
            key.extend_from_slice(&first_key_group.to_be_bytes());
            key.extend_from_slice(&b.port.to_be_bytes());
            key.extend_from_slice(&b.channel.to_be_bytes());
            key.extend_from_slice(&n.to_be_bytes());
            *n += 1;
            (key, b.bytes)
        })
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    CapturedState {
        name: state_name(node, IN_FLIGHT_STATE),
        kind: IN_FLIGHT_KIND.to_owned(),
        entries: Captured::Whole(entries),
    }
}

/// Reads restored entries back into batches, in the order to replay them.
pub(crate) fn batches(node: usize, entries: Vec<CanonicalEntry>) -> Result<Vec<InFlightBatch>> {
    let mut out = Vec::with_capacity(entries.len());
    for (key, bytes) in entries {
        let field = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?))
        };
        let (Some(port), Some(channel), true) = (field(2), field(6), key.len() == KEY_BYTES) else {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "an in-flight record batch of node {node} has a stored key of {} bytes, \
                     not {KEY_BYTES}; the checkpoint is damaged",
                    key.len()
                ),
            });
        };
        out.push(InFlightBatch {
            port,
            channel,
            bytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(port: u32, channel: u32, bytes: &[u8]) -> InFlightBatch {
        InFlightBatch {
            port,
            channel,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn batches_come_back_in_delivery_order_per_channel() {
        let recorded = vec![
            batch(1, 0, b"c"),
            batch(0, 1, b"a"),
            batch(0, 1, b"b"),
            batch(1, 0, b"d"),
        ];
        let state = captured(7, 64, recorded);
        assert_eq!(state.name, "7/in-flight");
        let Captured::Whole(entries) = state.entries else {
            panic!("captured whole");
        };
        assert!(
            entries
                .iter()
                .all(|(k, _)| k.starts_with(&64u16.to_be_bytes()))
        );
        let back = batches(7, entries).unwrap();
        assert_eq!(
            back,
            vec![
                batch(0, 1, b"a"),
                batch(0, 1, b"b"),
                batch(1, 0, b"c"),
                batch(1, 0, b"d"),
            ]
        );
    }

    #[test]
    fn a_damaged_key_is_a_clear_error() {
        let err = batches(3, vec![(vec![0, 1, 2], b"x".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("node 3"), "{err}");
    }
}
