//! What travels on an exchange channel: batches of records, watermarks and
//! end-of-input, in order.

use crate::time::Timestamp;

/// A record and its event timestamp. Archived as is when a batch crosses a
/// process boundary.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Rec<T> {
    /// Event time in ms, or [`crate::time::WATERMARK_MIN`] when the stream has none.
    pub ts: Timestamp,
    /// The record itself.
    pub value: T,
}

/// A batch of records. Channels always carry batches, never single records,
/// because the per-message cost of a cross-core channel (~0.5 µs) is far
/// above the per-record cost of the operators.
#[derive(Debug)]
pub struct Batch<T> {
    /// The records, in the order they were produced.
    pub records: Vec<Rec<T>>,
    /// Monotonic creation stamp (ns) of the oldest input that contributed:
    /// the basis of end-to-end latency, without a per-record timestamp.
    pub created_ns: u64,
    /// A watermark that came before every record of this batch (it arrived
    /// while the channel's buffer was empty).
    pub watermark_before: Option<Timestamp>,
    /// A watermark that came after every record of this batch. Watermarks
    /// ride on batches, in their exact place among the records, so the
    /// receiver sees the same order the sender produced.
    pub watermark_after: Option<Timestamp>,
}

/// One message on a channel.
#[derive(Debug)]
pub enum Message<T> {
    /// Records (and possibly a watermark after them).
    Batch(Batch<T>),
    /// A watermark with no records before it.
    Watermark {
        /// The watermark.
        wm: Timestamp,
        /// Creation stamp of the input that produced it.
        created_ns: u64,
    },
    /// The sending side became idle (true) or active again (false).
    Idle(bool),
    /// Checkpoint barrier: every message before it belongs to the checkpoint.
    Barrier(crate::checkpoint::CheckpointBarrier),
    /// The sender has finished; nothing follows on this channel.
    End,
}
