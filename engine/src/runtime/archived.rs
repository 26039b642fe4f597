//! A batch of records as it arrived from another process: the receive
//! buffer itself, not yet deserialized. The first operator of the receiving
//! chain decides how to read it: in place (see
//! [`crate::DataStream::filter_in_place`]), or deserialized record by record.

use rkyv::util::AlignedVec;

use super::message::Rec;
use super::output::TaskCx;
use super::wire::DecodeEachFn;
use crate::error::SpateError;

/// Records still in their receive buffer. Dropping the batch returns the
/// buffer to the core's pool, which grants the sender a credit.
pub(crate) struct ArchivedBatch<T> {
    payload: Box<dyn AsRef<[u8]>>,
    decode_each: DecodeEachFn<T>,
    /// Monotonic time the batch was received (ns).
    pub(crate) created_ns: u64,
}

impl<T> ArchivedBatch<T> {
    pub(crate) fn new(
        payload: Box<dyn AsRef<[u8]>>,
        decode_each: DecodeEachFn<T>,
        created_ns: u64,
    ) -> Self {
        Self {
            payload,
            decode_each,
            created_ns,
        }
    }

    /// The archive: aligned when it came from a receive pool.
    pub(crate) fn bytes(&self) -> &[u8] {
        (*self.payload).as_ref()
    }

    /// Validates the archive and hands every record, deserialized, to `f`;
    /// returns how many. `scratch` is used only for a misaligned payload.
    pub(crate) fn decode_each(
        &self,
        scratch: &mut AlignedVec,
        f: &mut dyn FnMut(Rec<T>),
    ) -> Result<u64, String> {
        (self.decode_each)(self.bytes(), scratch, f)
    }
}

/// Fails the task because a received batch could not be read.
pub(crate) fn fail_invalid_batch(cx: &mut TaskCx, reason: &str) {
    cx.fail(SpateError::Runtime {
        core: cx.subtask,
        reason: format!("a batch from another process failed validation: {reason}"),
    });
}
